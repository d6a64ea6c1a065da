"""The main window: open an ECG file, see it on paper.

The window holds no ECG logic: it forwards the user's choices (a file, a layout) to the core
(``desktop_app.ecg.read_ecg``, ``desktop_app.render``) and shows what comes back. Files are read
by a :class:`~desktop_app.gui.workers.Worker` so a slow or large file never freezes the window.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from pathlib import Path

import PySide6
from PySide6.QtCore import QSettings, Qt, QThreadPool, Signal, qVersion
from PySide6.QtGui import (
    QAction, QCloseEvent, QDragEnterEvent, QDragMoveEvent, QDropEvent, QKeySequence,
)
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QLabel, QMainWindow, QMessageBox, QProgressBar, QVBoxLayout,
    QWidget,
)

from desktop_app import __version__
from desktop_app.ecg import FORMATS, EcgRecord, LeadSource, read_ecg
from desktop_app.errors import EcgError
from desktop_app.gui._crash import show_crash_dialog
from desktop_app.gui.ecg_view import EcgView
from desktop_app.gui.workers import Worker
from desktop_app.render import LAYOUT_NAMES
from desktop_app.settings import (
    Settings, config_dir, load_settings, save_settings, with_recent_file,
)

log = logging.getLogger(__name__)

APP_TITLE = "ECG Case Finder"
DISCLAIMER = "Decision aid only \u2014 this app does not diagnose."
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


def _file_filter() -> str:
    patterns = sorted({f"*{suffix}" for spec in FORMATS for suffix in spec.suffixes})
    return f"ECG files ({' '.join(patterns)});;All files (*)"


class MainWindow(QMainWindow):
    """The app's main window.

    Parameters
    ----------
    settings : user settings; loaded from the user's config folder when None.

    Signals
    -------
    record_loaded(EcgRecord) : a file was read and is now shown.
    load_failed(str) : a file could not be read; the text is what the user was shown.
    """

    record_loaded = Signal(object)
    load_failed = Signal(str)

    def __init__(self, settings: Settings | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings if settings is not None else load_settings()
        self._record: EcgRecord | None = None
        self._workers: dict[int, Worker] = {}
        self._current_request: int | None = None
        self._last_error_box: QMessageBox | None = None
        self._about_box: QMessageBox | None = None

        self.setWindowTitle(APP_TITLE)
        self.setAcceptDrops(True)
        self._build_central()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status_bar()
        self._rebuild_recent_menu()
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
        layout.addWidget(self.disclaimer_label)
        layout.addWidget(self.ecg_view, 1)
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

        self.about_action = QAction("&About ECG Case Finder", self)
        self.about_action.triggered.connect(self.show_about)

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.open_action)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.zoom_in_action)
        view_menu.addAction(self.zoom_out_action)
        view_menu.addAction(self.zoom_reset_action)
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
        bar.addWidget(self.progress_bar)
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
        worker = Worker(read_ecg, path)
        rid = worker.request_id
        self._current_request = rid
        self._workers[rid] = worker
        worker.signals.progressed.connect(functools.partial(self._on_load_progressed, rid))
        worker.signals.returned.connect(functools.partial(self._on_load_returned, rid))
        worker.signals.errored.connect(functools.partial(self._on_load_errored, rid, path))
        worker.signals.finished.connect(functools.partial(self._on_load_finished, rid))
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

    def show_about(self) -> QMessageBox:
        """Open the About box (non-blocking) and return it."""
        box = QMessageBox(self)
        box.setWindowTitle(f"About {APP_TITLE}")
        box.setIcon(QMessageBox.Icon.Information)
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(f"<b>{APP_TITLE}</b> {__version__}")
        box.setInformativeText(
            f"<p>{DISCLAIMER} It shows confirmed cases similar to an ECG; a clinician "
            "decides.</p>"
            "<p><b>Licences</b><br>"
            f"Qt for Python (PySide6 {PySide6.__version__}, Qt {qVersion()}): LGPL v3<br>"
            "onnxruntime: MIT<br>"
            "Case library: PTB-XL (Wagner P. et al., \u201cPTB-XL, a large publicly available "
            "electrocardiography dataset\u201d, <i>Scientific Data</i> 7, 154, 2020), "
            "distributed by PhysioNet under CC BY 4.0.</p>"
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

    def _on_load_returned(self, rid: int, record: EcgRecord) -> None:
        if not self._is_current(rid, "result"):
            return
        self._record = record
        self.ecg_view.paper.set_record(record)
        self._update_status(record)
        if record.source_path is not None:
            self._remember_recent(record.source_path)
        name = record.source_path.name if record.source_path else "ECG"
        self.setWindowTitle(f"{name} \u2014 {APP_TITLE}")
        self.statusBar().showMessage(f"Opened {name}", 5000)
        self.record_loaded.emit(record)

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
            self.progress_bar.hide()

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
