"""The main window: open an ECG, see it on paper, and the similar confirmed cases beside it.

The window holds no ECG logic: it forwards the user's choices (a file, a case, some words) to
the core (``desktop_app.ecg.read_ecg``, :class:`desktop_app.service.CaseFinder`) and shows what
comes back. Every read, search, trace fetch and thumbnail runs in a
:class:`~desktop_app.gui.workers.Worker`, tagged with a request id: a result whose request was
superseded or cancelled is dropped. The finder is created once; its models and library load in
the background after the window is shown, and if they cannot load the window still opens and
draws ECGs, saying why search is unavailable.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import PySide6
import shiboken6
from PySide6.QtCore import QSettings, Qt, QThreadPool, QTimer, Signal, qVersion
from PySide6.QtGui import (
    QAction, QCloseEvent, QColor, QDragEnterEvent, QDragMoveEvent, QDropEvent, QImage,
    QKeySequence, QPalette, QShowEvent,
)
from PySide6.QtWidgets import (
    QApplication, QComboBox, QDialog, QFileDialog, QLabel, QMainWindow, QMessageBox,
    QProgressBar, QSplitter, QToolButton, QVBoxLayout, QWidget,
)

from desktop_app import __version__
from desktop_app import assets as _assets
from desktop_app.ecg import FORMATS, EcgRecord, LeadSource, read_ecg, sniff_format
from desktop_app.errors import AssetError, EcgError
from desktop_app.gui._crash import show_crash_dialog
from desktop_app.gui._wording import APP_TITLE, DISCLAIMER, PTBXL_CITATION
from desktop_app.gui.case_view import CaseView, case_record
from desktop_app.gui.clinic_dialog import AddClinicCaseDialog, ClinicCasesDialog
from desktop_app.gui.consensus_panel import ConsensusPanel
from desktop_app.gui.ecg_view import EcgView
from desktop_app.gui.pdf_export import (
    SummaryContent, paint_summary, render_summary_page, write_summary_pdf,
)
from desktop_app.gui.picture_review import (
    PictureReading, PictureReviewDialog, read_picture, refusal_text,
)
from desktop_app.gui.results_panel import THUMB_SIZE, ResultsPanel
from desktop_app.gui.settings_dialog import SettingsDialog
from desktop_app.gui.text_search import TextSearchWidget
from desktop_app.gui.workers import Worker
from desktop_app.render import LAYOUT_NAMES, render_thumbnail
from desktop_app.service import CaseFinder, Hit, SearchResult
from desktop_app.settings import (
    Settings, config_dir, load_settings, save_settings, with_recent_file,
)
from desktop_app.signal import heart_rate_bpm

log = logging.getLogger(__name__)
# How long closing the window waits for a running file read before giving up on it.
CLOSE_WAIT_MS = 5000
# WFDB records are opened through their header; when a .hea and its .dat are dropped together,
# the header is the one to read.
_PREFERRED_SUFFIXES = (".hea",)


def _qsettings() -> QSettings:
    """The one QSettings store: window geometry only (everything else is ``settings.json``).

    It is an INI file beside ``settings.json`` rather than the platform registry, so the whole
    configuration lives in one folder and tests can redirect it.
    """
    return QSettings(str(config_dir() / "window.ini"), QSettings.Format.IniFormat)


def _read_for_view(path: Path) -> tuple[EcgRecord | None, float | None, PictureReading | None]:
    """Read a file and measure its heart rate (both off the GUI thread).

    A picture is read for the review as well (its page, traces and overlay); when it is
    refused, the record is None and the reading says why.
    """
    try:
        is_picture = sniff_format(path) == "photo"
    except OSError:
        is_picture = False  # read_ecg says what is wrong with the file
    if is_picture:
        reading = read_picture(path)
        return reading.record, reading.heart_rate_bpm, reading
    record = read_ecg(path)
    try:
        bpm = heart_rate_bpm(record)
    except (EcgError, ValueError) as exc:  # a rate is a courtesy; never fail the open for it
        log.info("no heart rate for %s: %s", path.name, exc)
        bpm = None
    return record, bpm, None


def _warm_up(finder: CaseFinder) -> str:
    """Open the library and the image encoder and run one embedding, so the first search
    does not pay for loading. Returns the encoder version."""
    version = finder.encoder_version  # verifies the assets, opens store and index
    # A flat 10 s record through the public path loads the encoder and its session.
    flat = EcgRecord(np.zeros((12, 1000), dtype=np.float32), 100.0)
    finder.embed(flat)
    return version


def _search(finder: CaseFinder, query: EcgRecord | str, k: int, progress,
            is_cancelled) -> SearchResult | None:
    """One search (an ECG or words); None when it was cancelled before it began."""
    if is_cancelled():
        return None
    progress(10)
    if isinstance(query, str):
        result = finder.search_text(query, k)
    else:
        result = finder.find_similar(query, k)
    progress(100)
    return result


def _case_previews(finder: CaseFinder, hits: tuple[Hit, ...], width_px: int, progress,
                   is_cancelled) -> dict[str, tuple[EcgRecord, object]]:
    """Traces and a thumbnail (PIL image) of each hit, stopping early when cancelled."""
    out: dict[str, tuple[EcgRecord, object]] = {}
    for i, hit in enumerate(hits):
        if is_cancelled():
            break
        signal, fs_hz = finder.case_traces(hit)
        record = case_record(signal, fs_hz)
        out[hit.case_key] = (record, render_thumbnail(record, width_px))
        progress(int(100 * (i + 1) / max(1, len(hits))))
    return out


def _case_trace_record(finder: CaseFinder, hit: Hit) -> EcgRecord:
    signal, fs_hz = finder.case_traces(hit)
    return case_record(signal, fs_hz)


def _pil_to_qimage(img) -> QImage:
    rgb = img.convert("RGB")
    return QImage(rgb.tobytes(), rgb.width, rgb.height, 3 * rgb.width,
                  QImage.Format.Format_RGB888).copy()


def _dark_palette() -> QPalette:
    pal = QPalette()
    base, text, window = QColor(37, 37, 40), QColor(230, 230, 230), QColor(50, 50, 54)
    for role, colour in ((QPalette.ColorRole.Window, window),
                         (QPalette.ColorRole.WindowText, text),
                         (QPalette.ColorRole.Base, base),
                         (QPalette.ColorRole.AlternateBase, window),
                         (QPalette.ColorRole.Text, text),
                         (QPalette.ColorRole.Button, window),
                         (QPalette.ColorRole.ButtonText, text),
                         (QPalette.ColorRole.ToolTipBase, base),
                         (QPalette.ColorRole.ToolTipText, text),
                         (QPalette.ColorRole.Highlight, QColor(42, 110, 200)),
                         (QPalette.ColorRole.HighlightedText, QColor(255, 255, 255))):
        pal.setColor(role, colour)
    return pal


def _file_filter() -> str:
    patterns = sorted({f"*{suffix}" for spec in FORMATS for suffix in spec.suffixes})
    return f"ECG files ({' '.join(patterns)});;All files (*)"


class MainWindow(QMainWindow):
    """The app's main window.

    Parameters
    ----------
    settings : user settings; loaded from the user's config folder when None.
    finder : the :class:`CaseFinder` to search with (tests and benchmarks inject one); one on
        the shipped assets is made when None. Its models load in the background once the
        window is shown.

    Signals
    -------
    record_loaded(EcgRecord) : a file was read and is now shown.
    load_failed(str) : a file could not be read; the text is what the user was shown.
    finder_ready(str) : models and library are loaded (the encoder version).
    finder_failed(str) : they could not be loaded; search is unavailable (the message shown).
    search_started(int) : a search began (its request id).
    results_shown(SearchResult) : a search's results are listed.
    search_failed(str) : a search failed; the text is what the user was shown.
    search_cancelled() : the user cancelled the running search.
    thumbnails_shown() : the listed cases' thumbnails are drawn.
    case_shown(Hit) : a similar case is shown beside the patient's ECG.
    clinic_case_added(ClinicCase) : the current ECG was added to the clinic's cases.
    pdf_exported(str) : the summary PDF was written to this path.
    """

    record_loaded = Signal(object)
    load_failed = Signal(str)
    finder_ready = Signal(str)
    finder_failed = Signal(str)
    search_started = Signal(int)
    results_shown = Signal(object)
    search_failed = Signal(str)
    search_cancelled = Signal()
    thumbnails_shown = Signal()
    case_shown = Signal(object)
    clinic_case_added = Signal(object)
    pdf_exported = Signal(str)

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None, *,
                 finder: CaseFinder | None = None) -> None:
        super().__init__(parent)
        self._closed = False
        self._settings = settings if settings is not None else load_settings()
        self._finder = finder if finder is not None else CaseFinder(self._settings)
        self._finder_state = "loading"  # "loading", "ready" or "failed"
        self._finder_error: str | None = None
        self._warm_started = False
        self._record: EcgRecord | None = None
        self._heart_rate: float | None = None
        self._workers: dict[int, Worker] = {}
        self._current_request: int | None = None
        self._search_request: int | None = None
        self._pending_query: EcgRecord | str | None = None
        self._thumb_request: int | None = None
        self._case_request: int | None = None
        self._clinic_request: int | None = None
        self._case_records: dict[str, EcgRecord] = {}
        self._thumbnails: dict[str, QImage] = {}
        self._last_error_box: QMessageBox | None = None
        self._about_box: QMessageBox | None = None
        self._dialog: QDialog | None = None
        self._review: PictureReviewDialog | None = None

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self._build_central()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._rebuild_recent_menu()
        self._rebuild_examples_menu()
        self._apply_theme(self._settings.theme)
        self._restore_geometry()

    # -- construction ------------------------------------------------------------------------
    def _build_central(self) -> None:
        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.disclaimer_label = QLabel(DISCLAIMER, central)
        self.disclaimer_label.setObjectName("disclaimer")
        self.disclaimer_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.disclaimer_label.setStyleSheet(
            "QLabel#disclaimer { background: #fff4d6; color: #5a4300; padding: 4px;"
            " border-bottom: 1px solid #e6d29a; font-weight: bold; }"
        )
        self.ecg_view = EcgView(central)
        self.ecg_view.paper.set_paper(self._settings.paper_speed_mm_s,
                                      self._settings.gain_mm_mv)
        self.ecg_view.paper.set_layout(self._settings.layout)
        self.case_view = CaseView(self.ecg_view, central)
        self.case_view.set_paper(self._settings.paper_speed_mm_s, self._settings.gain_mm_mv)
        self.case_view.hide()  # until a case is selected
        self.ecg_splitter = QSplitter(Qt.Orientation.Vertical, central)
        self.ecg_splitter.addWidget(self.ecg_view)
        self.ecg_splitter.addWidget(self.case_view)
        self.ecg_splitter.setChildrenCollapsible(False)

        side = QWidget(central)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(2)
        self.text_search = TextSearchWidget(side)
        self.text_search.search_requested.connect(self.search_words)
        self.results_panel = ResultsPanel(side)
        self.results_panel.case_selected.connect(self._on_case_selected)
        self.consensus_panel = ConsensusPanel(side)
        side_split = QSplitter(Qt.Orientation.Vertical, side)
        side_split.addWidget(self.results_panel)
        side_split.addWidget(self.consensus_panel)
        side_split.setStretchFactor(0, 3)
        side_split.setStretchFactor(1, 2)
        side_layout.addWidget(self.text_search)
        side_layout.addWidget(side_split, 1)
        side.setMinimumWidth(300)

        self.main_splitter = QSplitter(Qt.Orientation.Horizontal, central)
        self.main_splitter.addWidget(self.ecg_splitter)
        self.main_splitter.addWidget(side)
        self.main_splitter.setStretchFactor(0, 3)
        self.main_splitter.setStretchFactor(1, 1)
        self.main_splitter.setSizes([900, 400])
        layout.addWidget(self.disclaimer_label)
        layout.addWidget(self.main_splitter, 1)
        self.setCentralWidget(central)

    def _build_actions(self) -> None:
        self.open_action = QAction("&Open\u2026", self)
        self.open_action.setShortcut(QKeySequence("Ctrl+O"))
        self.open_action.setStatusTip("Open an ECG file")
        self.open_action.triggered.connect(self._on_open_triggered)

        self.clear_recent_action = QAction("Clear list", self)
        self.clear_recent_action.triggered.connect(self._on_clear_recent_triggered)

        self.quit_action = QAction("&Quit", self)
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.triggered.connect(self.close)

        paper = self.ecg_view.paper
        self.zoom_in_action = QAction("Zoom &in", self)
        self.zoom_in_action.setShortcuts([QKeySequence("Ctrl+="), QKeySequence("Ctrl++")])
        self.zoom_in_action.triggered.connect(paper.zoom_in)
        self.zoom_out_action = QAction("Zoom &out", self)
        self.zoom_out_action.setShortcut(QKeySequence("Ctrl+-"))
        self.zoom_out_action.triggered.connect(paper.zoom_out)
        self.zoom_reset_action = QAction("&Fit to window", self)
        self.zoom_reset_action.setShortcut(QKeySequence("Ctrl+0"))
        self.zoom_reset_action.triggered.connect(paper.reset_zoom)

        self.cancel_action = QAction("&Cancel search", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.setStatusTip("Stop the running search")
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.cancel_search)

        self.find_words_action = QAction("Search by &words", self)
        self.find_words_action.setShortcut(QKeySequence("Ctrl+F"))
        self.find_words_action.triggered.connect(self._on_find_words_triggered)

        self.add_clinic_action = QAction("&Add ECG to clinic cases\u2026", self)
        self.add_clinic_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.add_clinic_action.setEnabled(False)
        self.add_clinic_action.triggered.connect(self.show_add_clinic_case)
        self.manage_clinic_action = QAction("&Manage clinic cases\u2026", self)
        self.manage_clinic_action.setShortcut(QKeySequence("Ctrl+Shift+M"))
        self.manage_clinic_action.triggered.connect(self.show_clinic_cases)

        self.export_pdf_action = QAction("&Export summary PDF\u2026", self)
        self.export_pdf_action.setShortcut(QKeySequence("Ctrl+E"))
        self.export_pdf_action.setEnabled(False)
        self.export_pdf_action.triggered.connect(self._on_export_pdf_triggered)
        self.print_action = QAction("&Print summary\u2026", self)
        self.print_action.setShortcut(QKeySequence("Ctrl+P"))
        self.print_action.setEnabled(False)
        self.print_action.triggered.connect(self._on_print_triggered)

        self.settings_action = QAction("&Settings\u2026", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.triggered.connect(self.show_settings)

        self.clear_caliper_action = QAction("Clear &calipers", self)
        self.clear_caliper_action.setShortcut(QKeySequence("Ctrl+K"))
        self.clear_caliper_action.triggered.connect(paper.clear_caliper)

        self.next_case_action = QAction("&Next similar case", self)
        self.next_case_action.setShortcut(QKeySequence("Ctrl+Down"))
        self.next_case_action.triggered.connect(lambda: self._step_case(+1))
        self.prev_case_action = QAction("&Previous similar case", self)
        self.prev_case_action.setShortcut(QKeySequence("Ctrl+Up"))
        self.prev_case_action.triggered.connect(lambda: self._step_case(-1))

        self.about_action = QAction("&About ECG Case Finder", self)
        self.about_action.triggered.connect(self.show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.examples_menu = bar.addMenu("E&xamples")
        file_menu.addSeparator()
        file_menu.addAction(self.export_pdf_action)
        file_menu.addAction(self.print_action)
        file_menu.addSeparator()
        file_menu.addAction(self.settings_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.zoom_in_action)
        view_menu.addAction(self.zoom_out_action)
        view_menu.addAction(self.zoom_reset_action)
        view_menu.addSeparator()
        view_menu.addAction(self.clear_caliper_action)
        search_menu = bar.addMenu("&Search")
        search_menu.addAction(self.find_words_action)
        search_menu.addAction(self.cancel_action)
        search_menu.addSeparator()
        search_menu.addAction(self.next_case_action)
        search_menu.addAction(self.prev_case_action)
        clinic_menu = bar.addMenu("&Clinic")
        clinic_menu.addAction(self.add_clinic_action)
        clinic_menu.addAction(self.manage_clinic_action)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.about_action)

    def _build_toolbar(self) -> None:
        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main_toolbar")
        toolbar.setMovable(False)
        toolbar.addAction(self.open_action)
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Layout: ", toolbar))
        self.layout_combo = QComboBox(toolbar)
        self.layout_combo.addItems(list(LAYOUT_NAMES))
        self.layout_combo.setCurrentText(self.ecg_view.paper.layout_name)
        self.layout_combo.setToolTip("Page layout: 3 x 4 with rhythm strip, 6 x 2, or 12 x 1")
        self.layout_combo.currentTextChanged.connect(self._on_layout_changed)
        toolbar.addWidget(self.layout_combo)
        toolbar.addSeparator()
        toolbar.addAction(self.add_clinic_action)
        toolbar.addAction(self.export_pdf_action)

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.file_label = QLabel("No file", bar)
        self.format_label = QLabel("", bar)
        self.fs_label = QLabel("", bar)
        self.duration_label = QLabel("", bar)
        self.leads_label = QLabel("", bar)
        self.hr_label = QLabel("HR \u2014 bpm", bar)
        self.hr_label.setToolTip("Heart rate: not measured yet")
        self.progress_bar = QProgressBar(bar)
        self.progress_bar.setMaximumWidth(160)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.hide()
        self.cancel_button = QToolButton(bar)
        self.cancel_button.setDefaultAction(self.cancel_action)
        self.cancel_button.setText("Cancel")
        self.cancel_button.hide()
        self.caliper_label = QLabel("", bar)
        self.caliper_label.setToolTip("Calipers: drag on the ECG to measure; Ctrl+K clears")
        # Room for the longest reading, so the status bar does not re-flow while dragging.
        self.caliper_label.setMinimumWidth(self.caliper_label.fontMetrics().horizontalAdvance(
            "\u0394t -10000 ms  (600 /min)   \u0394 -10.00 mV") + 8)
        # Permanent widgets: QStatusBar hides normal ones while a message is shown, and the
        # progress and its Cancel button must stay visible during "Searching...".
        bar.addPermanentWidget(self.progress_bar)
        bar.addPermanentWidget(self.cancel_button)
        bar.addPermanentWidget(self.caliper_label)
        self.ecg_view.paper.caliper_changed.connect(self._on_caliper_changed)
        for label in (self.file_label, self.format_label, self.fs_label, self.duration_label,
                      self.leads_label, self.hr_label):
            label.setStyleSheet("QLabel { padding: 0 8px; border-left: 1px solid #c8c8c8; }")
            bar.addPermanentWidget(label)
        for label in (self.format_label, self.fs_label, self.duration_label, self.leads_label):
            label.hide()  # shown once a record is loaded

    # -- public API --------------------------------------------------------------------------
    @property
    def record(self) -> EcgRecord | None:
        """The ECG on screen (None before the first successful load)."""
        return self._record

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def finder(self) -> CaseFinder:
        return self._finder

    @property
    def finder_state(self) -> str:
        """``"loading"``, ``"ready"`` or ``"failed"``."""
        return self._finder_state

    @property
    def heart_rate(self) -> float | None:
        """Heart rate of the ECG on screen in bpm (None if not measurable)."""
        return self._heart_rate

    @property
    def picture_review(self) -> PictureReviewDialog | None:
        """The review of the last picture opened (None before the first picture)."""
        return self._review

    @property
    def search_result(self) -> SearchResult | None:
        """The results listed now."""
        return self.results_panel.result

    def load_finder(self) -> int | None:
        """Load the models and library in the background (once); returns the request id."""
        if self._warm_started:
            return None
        self._warm_started = True
        self.results_panel.show_message("Loading the case library and models\u2026")
        return self._start(Worker(_warm_up, self._finder), self._on_finder_returned,
                           self._on_finder_errored)

    def open_file(self, path: str | Path) -> int:
        """Start reading ``path`` off the GUI thread; the result arrives as a signal.

        Parameters
        ----------
        path : an ECG file in any format :func:`desktop_app.ecg.read_ecg` reads.

        Returns
        -------
        int
            The request id. Only the latest request's result is shown; an earlier one still
            running is dropped when it finishes.
        """
        path = Path(path)
        worker = Worker(_read_for_view, path)
        rid = worker.request_id
        self._current_request = rid
        self._workers[rid] = worker
        worker.signals.progressed.connect(self._guard(self._on_load_progressed, rid))
        worker.signals.returned.connect(self._guard(self._on_load_returned, rid))
        worker.signals.errored.connect(self._guard(self._on_load_errored, rid, path))
        worker.signals.finished.connect(self._guard(self._on_load_finished, rid))
        self.statusBar().showMessage(f"Loading {path.name}\u2026")
        self.progress_bar.setRange(0, 0)  # busy indicator until a reader reports percent
        self.progress_bar.show()
        log.info("reading %s (request %d)", path.name, rid)
        worker.start()
        return rid

    def set_layout(self, name: str) -> None:
        """Show the ECG in layout ``name`` (one of ``LAYOUT_NAMES``) and remember the choice."""
        self.layout_combo.setCurrentText(name)  # emits currentTextChanged if it changed
        if self.ecg_view.paper.layout_name != name:
            self._on_layout_changed(name)

    def search_words(self, words: str) -> int | None:
        """Search the library for ECGs near ``words``; results replace the list."""
        words = words.strip()
        if not words:
            return None
        self.text_search.edit.setText(words)
        return self._request_search(words)

    def cancel_search(self) -> None:
        """Stop waiting for the running search; its result, when it comes, is dropped."""
        was = self._search_request is not None or self._pending_query is not None
        for rid in (self._search_request, self._thumb_request):
            if rid is not None and rid in self._workers:
                self._workers[rid].cancel()
        self._search_request = None
        self._thumb_request = None
        self._pending_query = None
        self._set_busy(False)
        if was:
            self.results_panel.show_message("Search cancelled.")
            self.statusBar().showMessage("Search cancelled", 5000)
            self.search_cancelled.emit()

    def select_case(self, row: int) -> None:
        """Select the ``row``-th similar case (0 = most similar)."""
        self.results_panel.select(row)

    def show_add_clinic_case(self) -> AddClinicCaseDialog | None:
        """Ask for the confirmed diagnosis of the ECG on screen (non-blocking dialog)."""
        if self._record is None:
            return None
        name = self._record.source_path.name if self._record.source_path else "this ECG"
        dialog = AddClinicCaseDialog(name, self)
        dialog.accepted.connect(lambda d=dialog: self.add_clinic_case(**d.values()))
        self._dialog = dialog
        dialog.open()
        return dialog

    def add_clinic_case(self, diagnosis: str, note: str = "",
                        keep_identifiers: bool = False) -> int | None:
        """Add the ECG on screen to the clinic's cases (embedding runs on a worker)."""
        if self._record is None:
            return None
        worker = Worker(self._finder.add_clinic_case, self._record, diagnosis, note=note,
                        keep_identifiers=keep_identifiers)
        self._clinic_request = worker.request_id
        self.statusBar().showMessage("Adding the ECG to the clinic's cases\u2026")
        return self._start(worker, self._on_clinic_returned, self._on_clinic_errored)

    def show_clinic_cases(self) -> ClinicCasesDialog:
        """Open the clinic cases manager (non-blocking)."""
        dialog = ClinicCasesDialog(self._finder, self)
        self._dialog = dialog
        dialog.open()
        return dialog

    def show_settings(self) -> SettingsDialog:
        """Open the settings dialog (non-blocking); OK applies and saves."""
        dialog = SettingsDialog(self._settings, self)
        dialog.accepted.connect(lambda d=dialog: self.apply_settings(d.settings()))
        self._dialog = dialog
        dialog.open()
        return dialog

    def apply_settings(self, settings: Settings) -> None:
        """Use ``settings`` now (layout, paper, theme; top_k from the next search) and save."""
        self._settings = settings
        paper = self.ecg_view.paper
        paper.set_paper(settings.paper_speed_mm_s, settings.gain_mm_mv)
        self.case_view.set_paper(settings.paper_speed_mm_s, settings.gain_mm_mv)
        self.set_layout(settings.layout)
        self._apply_theme(settings.theme)
        self._save_settings()

    def export_pdf(self, path: str | Path, *, include_identifiers: bool = False) -> int | None:
        """Write a summary PDF of the ECG on screen and its results; ``pdf_exported`` tells
        when it is written. Identifiers only with ``include_identifiers``."""
        return self._summary(lambda content: self._write_pdf(Path(path), content),
                             include_identifiers)

    def print_summary(self, printer, *, include_identifiers: bool = False) -> int | None:
        """Paint the summary onto a configured ``QPrinter``."""
        return self._summary(lambda content: paint_summary(printer, content),
                             include_identifiers)

    def show_about(self) -> QMessageBox:
        """Open the About box (non-blocking) and return it."""
        box = QMessageBox(self)
        box.setWindowTitle(f"About {APP_TITLE}")
        box.setIcon(QMessageBox.Icon.Information)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(f"<b>{APP_TITLE}</b> {__version__}")
        import hnswlib
        import onnxruntime
        import scipy

        encoder = (self._finder.encoder_version if self._finder_state == "ready"
                   else "not loaded")
        box.setInformativeText(
            f"<p>{DISCLAIMER} It shows confirmed cases similar to an ECG; a clinician "
            "decides.</p>"
            f"<p>Encoder: {encoder}<br>Assets: {self._finder.assets_root}</p>"
            "<p><b>Licences</b><br>"
            f"Qt for Python (PySide6 {PySide6.__version__}, Qt {qVersion()}): LGPL v3<br>"
            f"onnxruntime {onnxruntime.__version__}: MIT<br>"
            f"hnswlib {getattr(hnswlib, '__version__', '')}: Apache 2.0<br>"
            f"NumPy {np.__version__}, SciPy {scipy.__version__}: BSD<br>"
            "wfdb: MIT; Pillow: MIT-CMU; platformdirs: MIT<br>"
            f"Case library: {PTBXL_CITATION}.</p>"
        )
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        self._about_box = box
        box.open()
        return box

    # -- loading slots -----------------------------------------------------------------------
    def _is_current(self, rid: int, what: str) -> bool:
        if rid != self._current_request:
            # A newer file was asked for while this one was being read; showing this one now
            # would replace what the user asked for last.
            log.debug("dropping %s of superseded request %d", what, rid)
            return False
        return True

    def _on_load_progressed(self, rid: int, percent: int) -> None:
        if self._is_current(rid, "progress"):
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(int(percent))

    def _on_load_returned(self, rid: int,
                          value: tuple[EcgRecord | None, float | None, PictureReading | None]
                          ) -> None:
        if not self._is_current(rid, "result"):
            return
        record, bpm, reading = value
        if reading is not None:
            self._show_picture_review(reading)
            if record is None:
                # Refused: the review says why and what to try; the window keeps its ECG.
                text = refusal_text(reading.error)
                log.warning("could not read picture %s: %s", reading.path.name, reading.error)
                self.statusBar().showMessage(f"Could not read {reading.path.name}", 8000)
                self.load_failed.emit(text)
                return
        elif self._review is not None:
            self._review.hide()  # it belongs to the picture opened before
        self._show_record(record, bpm)

    def _show_picture_review(self, reading: PictureReading) -> None:
        if self._review is None:
            self._review = PictureReviewDialog(self)
            self._review.search_requested.connect(self._on_review_search_requested)
        self._review.show_reading(reading)
        self._review.show()
        self._review.raise_()

    def _on_review_search_requested(self, reading: PictureReading) -> None:
        """The clinician checked (or corrected) a picture's reading: show it and search."""
        if self._closed or reading.record is None:
            return
        self._current_request = None  # a file still being read must not replace this reading
        self._show_record(reading.record, reading.heart_rate_bpm)

    def _show_record(self, record: EcgRecord, bpm: float | None) -> None:
        """Show ``record`` as the patient's ECG and search for similar cases."""
        self._record = record
        self._heart_rate = bpm
        self.ecg_view.paper.set_record(record)
        self.case_view.set_patient(record)
        self._update_status(record)
        self.add_clinic_action.setEnabled(True)
        self.export_pdf_action.setEnabled(True)
        self.print_action.setEnabled(True)
        if record.source_path is not None:
            self._remember_recent(record.source_path)
        name = record.source_path.name if record.source_path else "ECG"
        self.setWindowTitle(f"{name} \u2014 {APP_TITLE}")
        self.statusBar().showMessage(f"Opened {name}", 5000)
        self.record_loaded.emit(record)
        self._request_search(record)

    def _on_load_errored(self, rid: int, path: Path, exc: BaseException) -> None:
        if not self._is_current(rid, "error"):
            return
        if isinstance(exc, EcgError):
            text = str(exc)
            log.warning("could not open %s: %s", path.name, text)
            self._show_error(f"Could not open {path.name}", text)
        else:
            # Not the user's fault: a bug in a reader. Log it whole and show the crash dialog;
            # the window keeps the ECG it had.
            text = f"unexpected error while reading {path.name}: {type(exc).__name__}: {exc}"
            log.error("bug while reading %s", path.name,
                      exc_info=(type(exc), exc, exc.__traceback__))
            self._last_error_box = show_crash_dialog(type(exc), exc, exc.__traceback__, self)
        self.statusBar().showMessage(f"Could not open {path.name}", 8000)
        self.load_failed.emit(text)

    def _on_load_finished(self, rid: int) -> None:
        self._workers.pop(rid, None)
        if rid == self._current_request:
            self._current_request = None
            if self._search_request is None and self._pending_query is None:
                self._set_busy(False)

    # -- workers -------------------------------------------------------------------------------
    def _guard(self, slot, *args):
        """``slot`` with ``args`` bound, called only while this window is alive and open.

        A worker's outcome is queued to the GUI thread; when the window was closed (or its
        C++ side deleted) in between, the slot must not touch its widgets. The connection is
        to a plain callable, which Qt cannot disconnect when the window goes away, so the
        check is made here.
        """
        def call(*more):
            if self._closed or not shiboken6.isValid(self):
                log.debug("dropping a worker's report to a closed window")
                return None
            return slot(*args, *more)

        return call

    def _start(self, worker: Worker, on_returned, on_errored, on_progressed=None) -> int:
        """Run ``worker``, routing its outcome to slots that receive its request id first."""
        rid = worker.request_id
        self._workers[rid] = worker
        worker.signals.returned.connect(self._guard(on_returned, rid))
        worker.signals.errored.connect(self._guard(on_errored, rid))
        if on_progressed is not None:
            worker.signals.progressed.connect(self._guard(on_progressed, rid))
        worker.signals.finished.connect(self._guard(self._workers.pop, rid, None))
        worker.start()
        return rid

    def _set_busy(self, busy: bool, text: str | None = None) -> None:
        self.progress_bar.setVisible(busy)
        self.cancel_button.setVisible(busy and self._search_request is not None
                                      or busy and self._pending_query is not None)
        self.cancel_action.setEnabled(self._search_request is not None
                                      or self._pending_query is not None)
        if busy:
            self.progress_bar.setRange(0, 0)
        if text:
            self.statusBar().showMessage(text)

    def _report_bug(self, exc: BaseException, what: str) -> str:
        log.error("bug while %s", what, exc_info=(type(exc), exc, exc.__traceback__))
        self._last_error_box = show_crash_dialog(type(exc), exc, exc.__traceback__, self)
        return f"unexpected error while {what}: {type(exc).__name__}: {exc}"

    # -- the finder ----------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if not self._warm_started:
            # After the first paint: the window appears before the models load.
            QTimer.singleShot(0, self.load_finder)

    def _on_finder_returned(self, rid: int, version: str) -> None:
        self._finder_state = "ready"
        log.info("case finder ready (encoder %s)", version)
        if self._pending_query is not None:
            query, self._pending_query = self._pending_query, None
            self._request_search(query)
        elif self.results_panel.result is None:
            self.results_panel.show_message(
                "Open an ECG (Ctrl+O, or Examples) to find similar confirmed cases.")
        self.finder_ready.emit(version)

    def _on_finder_errored(self, rid: int, exc: BaseException) -> None:
        self._finder_state = "failed"
        if isinstance(exc, EcgError):
            text = (f"Search for similar cases is unavailable: {exc}\nECGs can still be "
                    "opened and viewed.")
            log.warning("case finder could not load: %s", exc)
        else:
            text = self._report_bug(exc, "loading the case library")
        self._finder_error = text
        had_pending = self._pending_query is not None
        self._pending_query = None
        self.results_panel.show_message(text, clear=True)
        self.statusBar().showMessage("Search unavailable: the case library could not load",
                                     10000)
        if had_pending:
            self._set_busy(False)
        self.finder_failed.emit(text)

    # -- searching -----------------------------------------------------------------------------
    def _request_search(self, query: EcgRecord | str) -> int | None:
        what = f"\u201c{query}\u201d" if isinstance(query, str) else "similar cases"
        if self._finder_state == "failed":
            self.results_panel.show_message(self._finder_error or "Search is unavailable.",
                                            clear=True)
            return None
        # A new search supersedes the previous one (its result will be dropped).
        self._search_request = None
        self._thumb_request = None
        if self._finder_state == "loading":
            self._pending_query = query
            self.results_panel.show_message(
                f"Waiting for the case library to load, then searching {what}\u2026")
            self._set_busy(True, "Loading the case library\u2026")
            if not self._warm_started:
                self.load_finder()
            return None
        worker = Worker(_search, self._finder, query, self._settings.top_k)
        self._search_request = worker.request_id
        self.results_panel.show_message(f"Searching {what}\u2026")
        self._set_busy(True, f"Searching {what}\u2026")
        rid = self._start(worker, self._on_search_returned, self._on_search_errored,
                          self._on_search_progressed)
        self.search_started.emit(rid)
        return rid

    def _on_search_progressed(self, rid: int, percent: int) -> None:
        if rid == self._search_request and percent < 100:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(int(percent))

    def _on_search_returned(self, rid: int, result: SearchResult | None) -> None:
        if rid != self._search_request or result is None:
            log.debug("dropping results of superseded or cancelled search %d", rid)
            return
        self._search_request = None
        self._set_busy(False)
        self._case_records.clear()
        self._thumbnails.clear()
        self.case_view.show_case(None, None)
        self.case_view.hide()
        self.results_panel.show_result(result)
        self.consensus_panel.show_consensus(result.consensus)
        self.statusBar().showMessage(
            f"{len(result.hits)} similar cases in {result.elapsed_ms:.0f} ms", 5000)
        self.results_shown.emit(result)
        if result.hits:
            worker = Worker(_case_previews, self._finder, result.hits, THUMB_SIZE.width())
            self._thumb_request = worker.request_id
            self._start(worker, self._on_previews_returned, self._on_previews_errored)

    def _on_search_errored(self, rid: int, exc: BaseException) -> None:
        if rid != self._search_request:
            return
        self._search_request = None
        self._set_busy(False)
        if isinstance(exc, EcgError):
            text = str(exc)
            log.warning("search failed: %s", text)
            self.results_panel.show_message(f"No search: {text}", clear=True)
            self.consensus_panel.show_consensus(None)
        else:
            text = self._report_bug(exc, "searching")
        self.statusBar().showMessage("Search failed", 8000)
        self.search_failed.emit(text)

    def _on_previews_returned(self, rid: int, previews: dict) -> None:
        if rid != self._thumb_request:
            return
        self._thumb_request = None
        for key, (record, thumb) in previews.items():
            self._case_records[key] = record
            image = _pil_to_qimage(thumb)
            self._thumbnails[key] = image
            self.results_panel.set_thumbnail(key, image)
        self.thumbnails_shown.emit()

    def _on_previews_errored(self, rid: int, exc: BaseException) -> None:
        if rid != self._thumb_request:
            return
        self._thumb_request = None
        if isinstance(exc, EcgError):
            log.warning("case thumbnails failed: %s", exc)
            self.statusBar().showMessage(f"Thumbnails unavailable: {exc}", 8000)
        else:
            self._report_bug(exc, "drawing case thumbnails")

    # -- the selected case ---------------------------------------------------------------------
    def _on_case_selected(self, hit: Hit | None) -> None:
        self._case_request = None
        if hit is None:
            self.case_view.show_case(None, None)
            return
        record = self._case_records.get(hit.case_key)
        if record is not None:
            self._show_case(hit, record)
            return
        worker = Worker(_case_trace_record, self._finder, hit)
        self._case_request = worker.request_id
        self._start(worker, functools.partial(self._on_case_returned, hit=hit),
                    self._on_case_errored)

    def _on_case_returned(self, rid: int, record: EcgRecord, hit: Hit) -> None:
        if rid != self._case_request:
            return
        self._case_request = None
        self._case_records[hit.case_key] = record
        self._show_case(hit, record)

    def _on_case_errored(self, rid: int, exc: BaseException) -> None:
        if rid != self._case_request:
            return
        self._case_request = None
        if isinstance(exc, EcgError):
            self._show_error("Could not show the case", str(exc))
        else:
            self._report_bug(exc, "reading a case's traces")

    def _show_case(self, hit: Hit, record: EcgRecord) -> None:
        if self.case_view.isHidden():
            # First case: split the height evenly, patient above, case below.
            self.case_view.show()
            half = max(1, self.ecg_splitter.height() // 2)
            self.ecg_splitter.setSizes([half, half])
        self.case_view.show_case(hit, record)
        self.case_shown.emit(hit)

    def _step_case(self, step: int) -> None:
        n = len(self.results_panel.hits)
        if n:
            row = self.results_panel.list.currentRow()
            self.select_case(min(n - 1, max(0, row + step)) if row >= 0 else 0)

    # -- clinic --------------------------------------------------------------------------------
    def _on_clinic_returned(self, rid: int, case) -> None:
        if rid != self._clinic_request:
            return
        self._clinic_request = None
        self.statusBar().showMessage(f"Added to the clinic's cases: {case.diagnosis}", 8000)
        self.clinic_case_added.emit(case)

    def _on_clinic_errored(self, rid: int, exc: BaseException) -> None:
        if rid != self._clinic_request:
            return
        self._clinic_request = None
        if isinstance(exc, EcgError):
            self._show_error("Could not add the clinic case", str(exc))
        else:
            self._report_bug(exc, "adding a clinic case")

    # -- summary (PDF and print) ---------------------------------------------------------------
    def _summary(self, then, include_identifiers: bool) -> int | None:
        if self._record is None:
            return None
        s = self._settings
        worker = Worker(render_summary_page, self._record, layout=self.ecg_view.paper.layout_name,
                        speed_mm_s=s.paper_speed_mm_s, gain_mm_mv=s.gain_mm_mv,
                        include_identifiers=include_identifiers)
        content = functools.partial(
            SummaryContent, self._record, result=self.results_panel.result,
            heart_rate_bpm=self._heart_rate, include_identifiers=include_identifiers,
            thumbnails=dict(self._thumbnails))

        def returned(rid: int, page) -> None:
            try:
                then(content(page_image=page))
            except OSError as exc:
                self._show_error("Could not write the summary", str(exc))

        def errored(rid: int, exc: BaseException) -> None:
            if isinstance(exc, EcgError):
                self._show_error("Could not draw the summary", str(exc))
            else:
                self._report_bug(exc, "drawing the summary")

        self.statusBar().showMessage("Preparing the summary\u2026")
        return self._start(worker, returned, errored)

    def _write_pdf(self, path: Path, content: SummaryContent) -> None:
        write_summary_pdf(path, content)
        self.statusBar().showMessage(f"Summary written to {path.name}", 8000)
        self.pdf_exported.emit(str(path))

    def _on_export_pdf_triggered(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export summary PDF", "ecg_summary.pdf",
                                              "PDF files (*.pdf)")
        if not name:
            return
        ids = QMessageBox.question(
            self, "Patient identifiers",
            "Print the patient's name, id and file name in the PDF? Choose No for a summary "
            "without identifiers.", defaultButton=QMessageBox.StandardButton.No)
        self.export_pdf(name, include_identifiers=ids == QMessageBox.StandardButton.Yes)

    def _on_print_triggered(self) -> None:
        from PySide6.QtPrintSupport import QPrintDialog, QPrinter

        printer = QPrinter(QPrinter.PrinterMode.HighResolution)
        dialog = QPrintDialog(printer, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.print_summary(printer)

    # -- examples, theme, calipers -------------------------------------------------------------
    def _rebuild_examples_menu(self) -> None:
        menu = self.examples_menu
        menu.clear()
        examples = _assets.example_records(self._finder.assets_root)
        for path in examples:
            action = menu.addAction(path.stem)
            action.setData(str(path))
            action.setStatusTip(f"Open the bundled example {path.name}")
            action.triggered.connect(functools.partial(self._on_recent_triggered, str(path)))
        if not examples:
            none = menu.addAction("No examples bundled")
            none.setEnabled(False)

    def _apply_theme(self, theme: str) -> None:
        app = QApplication.instance()
        if app is None:
            return
        # The ECG paper keeps its own colours; only the surrounding widgets change.
        if theme == "dark":
            app.setPalette(_dark_palette())
        else:
            app.setPalette(app.style().standardPalette())

    def _on_caliper_changed(self, measurement) -> None:
        self.caliper_label.setText("" if measurement is None else measurement.text)

    def _on_find_words_triggered(self) -> None:
        self.text_search.edit.setFocus()
        self.text_search.edit.selectAll()

    def _show_error(self, title: str, text: str) -> None:
        if self._last_error_box is not None:
            self._last_error_box.close()
            self._last_error_box.deleteLater()
        box = QMessageBox(QMessageBox.Icon.Warning, title, title,
                          QMessageBox.StandardButton.Ok, self)
        box.setInformativeText(text)
        # open(), not exec(): the window stays responsive and tests are not blocked.
        box.open()
        self._last_error_box = box

    def _update_status(self, record: EcgRecord) -> None:
        self.file_label.setText(record.source_path.name if record.source_path else "(memory)")
        self.file_label.setToolTip(str(record.source_path or ""))
        self.format_label.setText(record.source_format.upper())
        self.fs_label.setText(f"{record.fs_hz:g} Hz")
        self.duration_label.setText(f"{record.duration_s:.1f} s")
        n_recorded = sum(s is LeadSource.RECORDED for s in record.lead_sources)
        n_derived = sum(s is LeadSource.DERIVED for s in record.lead_sources)
        n_missing = sum(s is LeadSource.MISSING for s in record.lead_sources)
        parts = [f"{n_recorded} recorded"]
        if n_derived:
            parts.append(f"{n_derived} derived")
        if n_missing:
            parts.append(f"{n_missing} missing")
        self.leads_label.setText("Leads: " + ", ".join(parts))
        if self._heart_rate is None:
            self.hr_label.setText("HR \u2014 bpm")
            self.hr_label.setToolTip("Heart rate: could not be measured on this ECG")
        else:
            self.hr_label.setText(f"HR {self._heart_rate:.0f} bpm")
            self.hr_label.setToolTip("Heart rate from R-R intervals (display only, not a "
                                     "diagnosis)")
        for label in (self.format_label, self.fs_label, self.duration_label, self.leads_label):
            label.show()

    # -- recent files ------------------------------------------------------------------------
    def _remember_recent(self, path: Path) -> None:
        self._settings = with_recent_file(self._settings, path)
        self._save_settings()
        self._rebuild_recent_menu()

    def _save_settings(self) -> None:
        try:
            save_settings(self._settings)
        except OSError as exc:
            # Not worth interrupting the user: the app works, only the memory is lost.
            log.warning("could not save settings: %s", exc)
            self.statusBar().showMessage(f"Settings not saved: {exc}", 8000)

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        for name in self._settings.recent_files:
            action = menu.addAction(Path(name).name)
            action.setToolTip(name)
            action.setStatusTip(name)
            action.setData(name)
            action.triggered.connect(functools.partial(self._on_recent_triggered, name))
        if self._settings.recent_files:
            menu.addSeparator()
        menu.addAction(self.clear_recent_action)
        self.clear_recent_action.setEnabled(bool(self._settings.recent_files))

    def _on_recent_triggered(self, name: str, _checked: bool = False) -> None:
        self.open_file(name)

    def _on_clear_recent_triggered(self) -> None:
        self._settings = replace(self._settings, recent_files=())
        self._save_settings()
        self._rebuild_recent_menu()

    # -- other slots -------------------------------------------------------------------------
    def _on_open_triggered(self) -> None:
        start = ""
        if self._settings.recent_files:
            start = str(Path(self._settings.recent_files[0]).parent)
        name, _ = QFileDialog.getOpenFileName(self, "Open ECG", start, _file_filter())
        if name:
            self.open_file(name)

    def _on_layout_changed(self, name: str) -> None:
        if name not in LAYOUT_NAMES:
            return
        self.ecg_view.paper.set_layout(name)
        self.layout_combo.setCurrentText(name)
        if self._settings.layout != name:
            self._settings = replace(self._settings, layout=name)
            self._save_settings()

    # -- drag and drop -----------------------------------------------------------------------
    @staticmethod
    def _local_files(event: QDragEnterEvent | QDragMoveEvent | QDropEvent) -> list[Path]:
        mime = event.mimeData()
        if mime is None or not mime.hasUrls():
            return []
        return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()]

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        if self._local_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 (Qt API)
        if self._local_files(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        files = self._local_files(event)
        if not files:
            event.ignore()
            return
        preferred = [f for f in files if f.suffix.lower() in _PREFERRED_SUFFIXES]
        if len(files) > 1:
            log.info("%d files dropped; opening one", len(files))
        self.open_file((preferred or files)[0])
        event.acceptProposedAction()

    # -- geometry and closing ----------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geometry = _qsettings().value("main_window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            # First start: fill most of the screen, never more (clinic laptops are often
            # 1366 x 768, where a fixed 1280 x 800 window would hide the status bar).
            screen = self.screen().availableGeometry() if self.screen() else None
            if screen is None or screen.width() < 400:
                self.resize(1280, 720)
            else:
                self.resize(min(1280, int(screen.width() * 0.95)),
                            min(800, int(screen.height() * 0.92)))

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        self._closed = True
        self._pending_query = None
        for worker in list(self._workers.values()):
            worker.cancel()
        # A reader cannot be interrupted mid-call; wait for it rather than let it emit into a
        # deleted window.
        if not QThreadPool.globalInstance().waitForDone(CLOSE_WAIT_MS):
            log.warning("a background task did not finish within %d ms", CLOSE_WAIT_MS)
        store = _qsettings()
        store.setValue("main_window/geometry", self.saveGeometry())
        store.sync()
        super().closeEvent(event)
