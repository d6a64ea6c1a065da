"""Review of a picture's reading: what was found, the clinician's corrections, read again.

A photo of a paper ECG is read by :mod:`desktop_app.photo`, which can be wrong about the page,
the layout, the speed or the gain. This dialog shows the picture with the page corners it used
(four handles the clinician can drag), the straightened page with the rows, lead windows and
traces drawn over it (green: kept, red: below the confidence floor, left out), and each lead's
confidence. The clinician can set the corners, layout, speed and gain and read the picture
again (on a :class:`~desktop_app.gui.workers.Worker`, never on the GUI thread), then search
with that reading. A picture that cannot be read shows why and what to try, and its corners
can still be set by hand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shiboken6
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QPolygonF
from PySide6.QtWidgets import (
    QAbstractItemView, QComboBox, QDialog, QFormLayout, QGraphicsEllipseItem, QGraphicsItem,
    QGraphicsPixmapItem, QGraphicsPolygonItem, QGraphicsScene, QGraphicsView, QHBoxLayout,
    QHeaderView, QLabel, QPushButton, QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout,
    QWidget,
)

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource
from desktop_app.errors import EcgError, EcgReadError
from desktop_app.gui._wording import DISCLAIMER
from desktop_app.gui.workers import Worker
from desktop_app.photo import (
    GAINS_MM_MV, LAYOUT_CHOICES, MIN_CONFIDENCE, SPEEDS_MM_S, Digitised, digitise_array,
    draw_overlay, load_picture,
)
from desktop_app.signal import heart_rate_bpm

log = logging.getLogger(__name__)
# Handles start this far inside the picture's edges when no page was found, so that each one
# can be seen and grabbed.
_HANDLE_INSET = 0.05
_HANDLE_RADIUS_PX = 8  # on screen, whatever the zoom
_KEPT = QColor(0, 150, 0)
_LEFT_OUT = QColor(200, 0, 0)


@dataclass(frozen=True)
class PictureReading:
    """One reading of a picture, made off the GUI thread.

    Attributes
    ----------
    path : the picture file.
    rgb : the decoded picture, (h, w, 3) float32 (kept to read it again without decoding).
    result : the digitiser's output; None when the picture was refused.
    overlay : PIL image of the straightened page with the traces drawn over it (or None).
    heart_rate_bpm : of the reading, None when not measurable.
    error : why the picture was refused (None when it was read).
    corrections : the clinician's settings this reading used (``quad``, ``layout``,
        ``speed_mm_s``, ``gain_mm_mv``; only those that were set).
    """

    path: Path
    rgb: np.ndarray
    result: Digitised | None
    overlay: object | None = None
    heart_rate_bpm: float | None = None
    error: EcgError | None = None
    corrections: dict = field(default_factory=dict)

    @property
    def record(self) -> EcgRecord | None:
        return None if self.result is None else self.result.record


def read_picture(path: str | Path, rgb: np.ndarray | None = None, **corrections
                 ) -> PictureReading:
    """Read a picture (with a clinician's corrections); meant to run on a worker.

    Parameters
    ----------
    path : the picture file.
    rgb : the decoded picture; decoded from ``path`` when None.
    **corrections : ``quad``, ``layout``, ``speed_mm_s``, ``gain_mm_mv`` as
        :func:`desktop_app.photo.digitise_array` takes them; None means "find it".

    Returns
    -------
    PictureReading
        A picture that is not readable as an ECG, or corrections the digitiser cannot use,
        come back in ``error`` rather than raised, so that the review can show them beside
        the picture.

    Raises
    ------
    EcgReadError
        When ``path`` is not a picture that can be decoded (then there is nothing to review).
    """
    path = Path(path)
    if rgb is None:
        rgb = load_picture(path)
    corrections = {k: v for k, v in corrections.items() if v is not None}
    try:
        result = digitise_array(rgb, path=path, **corrections)
    except EcgError as exc:
        return PictureReading(path, rgb, None, error=exc, corrections=corrections)
    try:
        bpm = heart_rate_bpm(result.record)
    except (EcgError, ValueError) as exc:  # a rate is a courtesy; never fail the reading
        log.info("no heart rate for %s: %s", path.name, exc)
        bpm = None
    return PictureReading(path, rgb, result, draw_overlay(result), bpm, None, corrections)


def refusal_text(exc: BaseException) -> str:
    """What the clinician reads when a picture was refused: why, then what to try."""
    if isinstance(exc, EcgReadError):
        text = f"This picture could not be read: found {exc.found}."
        if exc.hint:
            text += f"\nWhat to try: {exc.hint}."
        return text + ("\nIf the page was not found, drag the four corner handles onto the "
                       "page's corners and press Read again.")
    return f"These settings could not be used: {exc}"


def _layout_text(spec: str) -> str:
    name, _, n = spec.partition("+")
    text = name.replace("x", " x ")
    if n:
        text += f" + {n} rhythm strip" + ("s" if n != "1" else "")
    return text


def _qimage(rgb: np.ndarray) -> QImage:
    arr = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8))
    h, w = arr.shape[:2]
    return QImage(arr.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


class _ImageView(QGraphicsView):
    """A picture scaled to fit the view, whatever the view's size."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.pixmap_item = QGraphicsPixmapItem()
        self.pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self.pixmap_item)

    def set_image(self, image: QImage | None) -> None:
        self.pixmap_item.setPixmap(QPixmap() if image is None else QPixmap.fromImage(image))
        self.scene().setSceneRect(self.pixmap_item.boundingRect())
        self._fit()

    def _fit(self) -> None:
        if not self.pixmap_item.pixmap().isNull():
            self.fitInView(self.pixmap_item, Qt.AspectRatioMode.KeepAspectRatio)

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fit()


class _CornerHandle(QGraphicsEllipseItem):
    """A page corner the clinician drags; kept inside the picture."""

    def __init__(self, index: int, owner: "PictureReviewDialog") -> None:
        r = _HANDLE_RADIUS_PX
        super().__init__(-r, -r, 2 * r, 2 * r)
        self.index = index
        self._owner = owner
        flags = (QGraphicsItem.GraphicsItemFlag.ItemIsMovable
                 | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges
                 | QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setFlags(flags)
        self.setBrush(QBrush(QColor(255, 190, 0, 200)))
        self.setPen(QPen(QColor(120, 60, 0), 2))
        self.setCursor(Qt.CursorShape.SizeAllCursor)
        self.setToolTip(("Top-left", "Top-right", "Bottom-right", "Bottom-left")[index]
                        + " corner of the page: drag it onto the paper's corner")
        self.setZValue(2)
        self.placing = False

    def itemChange(self, change, value):  # noqa: N802 (Qt API)
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionChange and self.scene():
            rect = self.scene().sceneRect()
            value = QPointF(min(max(value.x(), rect.left()), rect.right()),
                            min(max(value.y(), rect.top()), rect.bottom()))
        elif change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            self._owner._on_corner_moved(edited=not self.placing)
        return super().itemChange(change, value)


class PictureReviewDialog(QDialog):
    """What the digitiser read from a picture, and the clinician's corrections.

    Non-modal: the main window stays usable beside it.

    Signals
    -------
    reading_shown(PictureReading) : a reading is shown (after opening or Read again).
    reading_refused(str) : the picture (or the corrections) could not be read; the text shown.
    search_requested(PictureReading) : the clinician chose to search with this reading.
    """

    reading_shown = Signal(object)
    reading_refused = Signal(str)
    search_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Picture of a paper ECG: check the reading")
        self.setModal(False)
        self._reading: PictureReading | None = None
        self._path: Path | None = None
        self._rgb: np.ndarray | None = None
        self._request: int | None = None
        self._corners_edited = False
        self._detected: dict[str, str] = {}

        disclaimer = QLabel(DISCLAIMER, self)
        disclaimer.setObjectName("disclaimer")
        disclaimer.setAlignment(Qt.AlignmentFlag.AlignCenter)
        disclaimer.setStyleSheet("QLabel#disclaimer { background: #fff4d6; color: #5a4300;"
                                 " padding: 4px; font-weight: bold; }")
        self.disclaimer_label = disclaimer
        self.message_label = QLabel("", self)
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.overlay_view = _ImageView(self)
        self.overlay_view.setToolTip("The straightened page: rows and lead windows in blue, "
                                     "traces kept in green, traces left out in red")
        self.picture_view = _ImageView(self)
        self._quad_item = QGraphicsPolygonItem()
        self._quad_item.setPen(QPen(QColor(255, 140, 0), 0))
        self._quad_item.setZValue(1)
        self.picture_view.scene().addItem(self._quad_item)
        self.handles = [_CornerHandle(i, self) for i in range(4)]
        for handle in self.handles:
            self.picture_view.scene().addItem(handle)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self.overlay_view, "Reading (traces over the page)")
        self.tabs.addTab(self.picture_view, "Picture and page corners")

        self.layout_combo = QComboBox(self)
        self.layout_combo.addItem("Detected", None)
        for spec in LAYOUT_CHOICES:
            self.layout_combo.addItem(_layout_text(spec), spec)
        self.speed_combo = QComboBox(self)
        self.speed_combo.addItem("Detected", None)
        for v in SPEEDS_MM_S:
            self.speed_combo.addItem(f"{v:g} mm/s", float(v))
        self.gain_combo = QComboBox(self)
        self.gain_combo.addItem("Detected", None)
        for v in GAINS_MM_MV:
            self.gain_combo.addItem(f"{v:g} mm/mV", float(v))
        form = QFormLayout()
        form.addRow("Layout", self.layout_combo)
        form.addRow("Paper speed", self.speed_combo)
        form.addRow("Gain", self.gain_combo)
        self.reset_corners_button = QPushButton("Find the page again", self)
        self.reset_corners_button.setToolTip("Forget the corners set by hand")
        self.reset_corners_button.clicked.connect(self.reset_corners)
        self.read_button = QPushButton("Read again", self)
        self.read_button.setToolTip("Read the picture again with these corners and settings")
        self.read_button.clicked.connect(self.read_again)
        self.search_button = QPushButton("Search with this reading", self)
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search_with_reading)
        self.lead_table = QTableWidget(len(LEADS_12), 3, self)
        self.lead_table.setHorizontalHeaderLabels(["Lead", "Confidence", ""])
        self.lead_table.verticalHeader().hide()
        self.lead_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.lead_table.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.lead_table.setToolTip(f"Share of each lead's trace that was followed; leads under "
                                   f"{MIN_CONFIDENCE:.0%} are left out (missing), never guessed")

        side = QVBoxLayout()
        side.addLayout(form)
        side.addWidget(self.reset_corners_button)
        side.addWidget(self.read_button)
        side.addWidget(self.lead_table, 1)
        side.addWidget(self.search_button)
        body = QHBoxLayout()
        body.addWidget(self.tabs, 1)
        body.addLayout(side)
        outer = QVBoxLayout(self)
        outer.addWidget(disclaimer)
        outer.addWidget(self.message_label)
        outer.addLayout(body, 1)
        self.resize(1100, 640)
        self._update_buttons()

    # -- public API --------------------------------------------------------------------------
    @property
    def reading(self) -> PictureReading | None:
        """The reading shown now (None before the first)."""
        return self._reading

    @property
    def busy(self) -> bool:
        """Whether a reading is running."""
        return self._request is not None

    @property
    def corners_edited(self) -> bool:
        """Whether the corners were set by hand since the last reading found them."""
        return self._corners_edited

    def corners(self) -> np.ndarray:
        """The four handles' positions (TL, TR, BR, BL) in picture pixels, shape (4, 2)."""
        return np.array([[h.pos().x(), h.pos().y()] for h in self.handles], dtype=np.float64)

    def set_corners(self, quad) -> None:
        """Place the page corners by hand (as dragging the handles does)."""
        self._place(np.asarray(quad, dtype=np.float64).reshape(4, 2), edited=True)

    def reset_corners(self) -> None:
        """Let the next reading find the page itself."""
        self._corners_edited = False
        if self._reading is not None and self._reading.result is not None \
                and "quad" not in self._reading.corrections:
            self._place(self._reading.result.quad, edited=False)
        self._update_buttons()

    def corrections(self) -> dict:
        """The clinician's settings for the next reading; None = find it in the picture."""
        return {"quad": self.corners().tolist() if self._corners_edited else None,
                "layout": self.layout_combo.currentData(),
                "speed_mm_s": self.speed_combo.currentData(),
                "gain_mm_mv": self.gain_combo.currentData()}

    def show_reading(self, reading: PictureReading) -> None:
        """Show a reading made elsewhere (the main window's first one) or by Read again."""
        if reading.rgb is not self._rgb:
            # Another picture: a Read again still running on the previous one is dropped.
            self._request = None
            self._rgb = reading.rgb
            self.picture_view.set_image(_qimage(reading.rgb))
            self._corners_edited = False
        self._path = reading.path
        self._reading = reading
        self.setWindowTitle(f"{reading.path.name}: check the reading of the picture")
        if reading.result is None:
            if not self._corners_edited and "quad" not in reading.corrections:
                h, w = reading.rgb.shape[:2]
                dx, dy = _HANDLE_INSET * w, _HANDLE_INSET * h
                self._place(np.array([[dx, dy], [w - 1 - dx, dy], [w - 1 - dx, h - 1 - dy],
                                      [dx, h - 1 - dy]]), edited=False)
            self.overlay_view.set_image(None)
            self._fill_table(None)
            text = refusal_text(reading.error)
            self.message_label.setText(text)
            self.message_label.setStyleSheet("QLabel { color: #a00000; font-weight: bold; }")
            self.tabs.setCurrentWidget(self.picture_view)
            self._update_buttons()
            self.reading_refused.emit(text)
            return
        result = reading.result
        if "quad" not in reading.corrections:
            self._place(result.quad, edited=False)
        self.overlay_view.set_image(_qimage(np.asarray(reading.overlay.convert("RGB"))))
        self._fill_table(result.record)
        self._note_detected(result.record.meta["photo"])
        self.message_label.setText(self._summary(reading))
        self.message_label.setStyleSheet("")
        self.tabs.setCurrentWidget(self.overlay_view)
        self._update_buttons()
        self.reading_shown.emit(reading)

    def read_again(self) -> int | None:
        """Read the picture again with :meth:`corrections`; returns the request id."""
        if self._rgb is None or self._path is None:
            return None
        # Screen values are read here, on the GUI thread, before the worker starts.
        worker = Worker(read_picture, self._path, self._rgb, **self.corrections())
        rid = worker.request_id
        self._request = rid
        worker.signals.returned.connect(self._guard(self._on_read_returned, rid))
        worker.signals.errored.connect(self._guard(self._on_read_errored, rid))
        self.message_label.setText("Reading the picture again\u2026")
        self.message_label.setStyleSheet("")
        self._update_buttons()
        worker.start()
        return rid

    def search_with_reading(self) -> None:
        """Ask the main window to show this reading and search with it."""
        if self._reading is not None and self._reading.result is not None and not self.busy:
            self.search_requested.emit(self._reading)

    # -- slots and helpers ---------------------------------------------------------------------
    def _guard(self, slot, rid: int):
        def call(value):
            if not shiboken6.isValid(self) or rid != self._request:
                # Superseded by a newer Read again (or the dialog is gone): drop it.
                log.debug("dropping picture reading %d", rid)
                return
            self._request = None
            slot(value)
        return call

    def _on_read_returned(self, reading: PictureReading) -> None:
        self.show_reading(reading)

    def _on_read_errored(self, exc: BaseException) -> None:
        self._update_buttons()
        if isinstance(exc, EcgError):
            text = refusal_text(exc)
        else:
            log.error("bug while reading a picture", exc_info=(type(exc), exc, exc.__traceback__))
            text = f"Unexpected error while reading the picture: {type(exc).__name__}: {exc}"
        self.message_label.setText(text)
        self.message_label.setStyleSheet("QLabel { color: #a00000; font-weight: bold; }")
        self.reading_refused.emit(text)

    def _on_corner_moved(self, edited: bool) -> None:
        self._quad_item.setPolygon(QPolygonF([h.pos() for h in self.handles]))
        if edited and not self._corners_edited:
            self._corners_edited = True
            self._update_buttons()

    def _place(self, quad: np.ndarray, *, edited: bool) -> None:
        for handle, (x, y) in zip(self.handles, np.asarray(quad, dtype=np.float64)):
            handle.placing = not edited
            handle.setPos(float(x), float(y))
            handle.placing = False
        self._on_corner_moved(edited)

    def _update_buttons(self) -> None:
        idle = self._request is None
        self.read_button.setEnabled(idle and self._rgb is not None)
        self.search_button.setEnabled(idle and self._reading is not None
                                      and self._reading.result is not None)
        self.reset_corners_button.setEnabled(idle and self._corners_edited)

    def _note_detected(self, photo: dict) -> None:
        """Name what the digitiser found beside "Detected" (not what the clinician set)."""
        if photo.get("layout_from") != "clinician":
            spec = photo["layout"] + (f"+{photo['rhythm_strips']}"
                                      if photo["rhythm_strips"] else "")
            self._detected["layout"] = _layout_text(spec)
        if photo.get("speed_from") != "clinician":
            self._detected["speed"] = f"{photo['speed_mm_s']:g} mm/s ({photo['speed_from']})"
        if photo.get("gain_from") != "clinician":
            self._detected["gain"] = f"{photo['gain_mm_mv']:g} mm/mV ({photo['gain_from']})"
        for key, combo in (("layout", self.layout_combo), ("speed", self.speed_combo),
                           ("gain", self.gain_combo)):
            if key in self._detected:
                combo.setItemText(0, f"Detected: {self._detected[key]}")

    @staticmethod
    def _summary(reading: PictureReading) -> str:
        photo = reading.result.record.meta["photo"]

        def origin(key: str) -> str:
            return "set by you" if photo.get(f"{key}_from") == "clinician" \
                else f"detected from {photo.get(f'{key}_from')}"

        spec = photo["layout"] + (f"+{photo['rhythm_strips']}" if photo["rhythm_strips"] else "")
        kept = sum(s is LeadSource.DIGITISED for s in reading.result.record.lead_sources)
        rate = ("heart rate not measurable" if reading.heart_rate_bpm is None
                else f"heart rate {reading.heart_rate_bpm:.0f} bpm")
        page = "page corners set by you" if photo.get("page_from") == "clinician" \
            else "page found in the picture"
        return (f"Read {reading.path.name}: layout {_layout_text(spec)} ({origin('layout')}), "
                f"{photo['speed_mm_s']:g} mm/s ({origin('speed')}), {photo['gain_mm_mv']:g} "
                f"mm/mV ({origin('gain')}), {page}; {kept} of 12 leads kept, {rate}. "
                "Check the traces against the paper before searching.")

    def _fill_table(self, record: EcgRecord | None) -> None:
        confidence = {} if record is None else record.meta["photo"]["confidence"]
        for i, lead in enumerate(LEADS_12):
            conf = confidence.get(lead)
            if record is None:
                status, colour = "", None
            elif record.lead_sources[i] is LeadSource.DIGITISED:
                status, colour = "kept", _KEPT
            elif conf is None:
                status, colour = "not found", _LEFT_OUT
            else:
                status, colour = "left out", _LEFT_OUT
            cells = (lead, "" if conf is None else f"{conf:.0%}", status)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if colour is not None and col > 0:
                    item.setForeground(QBrush(colour))
                self.lead_table.setItem(i, col, item)
