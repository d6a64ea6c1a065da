"""The ECG on paper, drawn with QPainter from the shared layout maths (``desktop_app.render``).

Geometry comes only from :func:`desktop_app.render.compute_layout` and
:func:`desktop_app.render.trace_mm`, in millimetres, so this view, the PNG renderer and the
PDF summary put every lead at the same place on the same paper. The widget maps millimetres to
pixels with one uniform scale (fit to the visible area, times a zoom factor): the 1 mm grid
stays square, so amplitudes and intervals can be measured by counting boxes, or with the
calipers: a left-button drag on the page measures the time (ms) and amplitude (mV) between two
points, converted from millimetres with the page's own paper speed and gain.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QColor, QFont, QMouseEvent, QPainter, QPainterPath, QPen, QWheelEvent,
)
from PySide6.QtWidgets import QScrollArea, QSizePolicy, QWidget

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource
from desktop_app.render import (
    MAJOR_GRID_MM, MINOR_GRID_MM, STANDARD_GAIN_MM_MV, STANDARD_SPEED_MM_S, PageLayout,
    compute_layout, trace_mm,
)

log = logging.getLogger(__name__)

EMPTY_TEXT = "Open an ECG file (File > Open, or drop a file here)"

# Colours of classic pink ECG paper; the minor grid is kept faint so the trace dominates.
PAPER_COLOUR = QColor(255, 250, 248)
MINOR_GRID_COLOUR = QColor(248, 206, 206)
MAJOR_GRID_COLOUR = QColor(226, 120, 120)
TRACE_COLOUR = QColor(20, 20, 28)
LABEL_COLOUR = QColor(20, 20, 28)
MUTED_COLOUR = QColor(110, 110, 120)
WARNING_COLOUR = QColor(190, 90, 0)
EMPTY_BACKGROUND = QColor(244, 244, 246)

CALIPER_COLOUR = QColor(0, 90, 200)
# A click without a drag (shorter than this on paper) clears the calipers instead of measuring.
_CALIPER_MIN_MM = 0.5

ZOOM_MIN = 0.5
ZOOM_MAX = 6.0
ZOOM_STEP = 1.25
# Text height on the page in mm; clamped in pixels so labels stay legible when zoomed out.
_LABEL_MM = 3.5
_MIN_TEXT_PX = 12
_MAX_TEXT_PX = 28


def _finite_runs(x_mm: np.ndarray, y_mm: np.ndarray) -> list[tuple[int, int]]:
    """Index ranges [start, stop) of consecutive finite samples (the path breaks at NaN)."""
    ok = np.isfinite(y_mm) & np.isfinite(x_mm)
    if not ok.any():
        return []
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), stops.tolist()))


def trace_path(x_mm: np.ndarray, y_mm: np.ndarray) -> QPainterPath:
    """A QPainterPath through the samples in mm, broken wherever a sample is NaN.

    Parameters
    ----------
    x_mm, y_mm : page coordinates in mm, as :func:`desktop_app.render.trace_mm` returns them.

    Returns
    -------
    QPainterPath
        One subpath per run of finite samples; a lone finite sample becomes a dot.
    """
    path = QPainterPath()
    for start, stop in _finite_runs(x_mm, y_mm):
        xs = x_mm[start:stop].tolist()
        ys = y_mm[start:stop].tolist()
        path.moveTo(xs[0], ys[0])
        if len(xs) == 1:
            path.lineTo(xs[0] + 1e-3, ys[0])
            continue
        for x, y in zip(xs[1:], ys[1:]):
            path.lineTo(x, y)
    return path


@dataclass(frozen=True)
class CaliperMeasurement:
    """Two points on the paper and what lies between them.

    Attributes
    ----------
    start_mm, end_mm : (x, y) page coordinates in mm (y grows downwards).
    dt_ms : time from start to end in ms (paper speed converts mm to s).
    d_mv : amplitude from start to end in mV, positive upwards (gain converts mm to mV).
    """

    start_mm: tuple[float, float]
    end_mm: tuple[float, float]
    dt_ms: float
    d_mv: float

    @property
    def text(self) -> str:
        rate = f"  ({60_000.0 / abs(self.dt_ms):.0f} /min)" if abs(self.dt_ms) >= 100 else ""
        return f"\u0394t {self.dt_ms:+.0f} ms{rate}   \u0394 {self.d_mv:+.2f} mV"


def caliper_measurement(start_mm: tuple[float, float], end_mm: tuple[float, float],
                        speed_mm_s: float, gain_mm_mv: float) -> CaliperMeasurement:
    """Time and amplitude between two page points.

    Parameters
    ----------
    start_mm, end_mm : (x, y) in mm on the page, y downwards.
    speed_mm_s : paper speed (25 mm/s is the clinical standard).
    gain_mm_mv : gain (10 mm/mV is the clinical standard).

    Returns
    -------
    CaliperMeasurement
    """
    dx, dy = end_mm[0] - start_mm[0], end_mm[1] - start_mm[1]
    return CaliperMeasurement(tuple(start_mm), tuple(end_mm),  # type: ignore[arg-type]
                              dt_ms=1000.0 * dx / speed_mm_s, d_mv=-dy / gain_mm_mv)


class EcgPaperWidget(QWidget):
    """A 12-lead ECG on ECG paper.

    The widget's size is the page size in pixels (fit scale x zoom), so a surrounding
    :class:`QScrollArea` scrolls when zoomed in. Use :class:`EcgView` for that pairing.

    Signals
    -------
    zoom_changed(float) : the zoom factor after a change (1.0 = page fits the view).
    geometry_changed() : page size, scale, layout or paper settings changed.
    caliper_changed(object) : the :class:`CaliperMeasurement` being drawn, or None (cleared).
    """

    zoom_changed = Signal(float)
    geometry_changed = Signal()
    caliper_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._record: EcgRecord | None = None
        self._layout_name = "3x4"
        self._speed_mm_s = STANDARD_SPEED_MM_S
        self._gain_mm_mv = STANDARD_GAIN_MM_MV
        self._layout: PageLayout = compute_layout(self._layout_name)
        self._paths: list[QPainterPath] = []
        self._zoom = 1.0
        self._fit_size = QSize(800, 500)
        self._caliper: CaliperMeasurement | None = None
        self._dragging = False
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._apply_size()

    # -- state -------------------------------------------------------------------------------
    @property
    def record(self) -> EcgRecord | None:
        return self._record

    @property
    def page_layout(self) -> PageLayout:
        return self._layout

    @property
    def layout_name(self) -> str:
        return self._layout_name

    @property
    def zoom(self) -> float:
        return self._zoom

    @property
    def speed_mm_s(self) -> float:
        return self._speed_mm_s

    @property
    def gain_mm_mv(self) -> float:
        return self._gain_mm_mv

    @property
    def caliper(self) -> CaliperMeasurement | None:
        """The current caliper measurement, or None."""
        return self._caliper

    def set_record(self, record: EcgRecord | None) -> None:
        """Show ``record`` (None returns to the empty state)."""
        self._record = record
        self.clear_caliper()
        self._rebuild()

    def copy_scale_from(self, other: "EcgPaperWidget") -> None:
        """Use ``other``'s layout, paper speed, gain, fit area and zoom: the same mm per pixel,
        so two ECGs side by side compare box for box."""
        if (other.layout_name, other.speed_mm_s, other.gain_mm_mv) != (
                self._layout_name, self._speed_mm_s, self._gain_mm_mv):
            self._fit_size = QSize(other._fit_size)
            self._zoom = other.zoom
            self._set_paper(other.layout_name, other.speed_mm_s, other.gain_mm_mv)
            return
        if other._fit_size != self._fit_size or other.zoom != self._zoom:
            self._fit_size = QSize(other._fit_size)
            self._zoom = other.zoom
            self._apply_size()
            self.update()

    def set_layout(self, name: str) -> None:
        """Switch the page layout (``"3x4"``, ``"6x2"`` or ``"12x1"``).

        Raises
        ------
        ValueError
            For an unknown layout name.
        """
        self._set_paper(name, self._speed_mm_s, self._gain_mm_mv)

    def set_paper(self, speed_mm_s: float, gain_mm_mv: float) -> None:
        """Change paper speed (mm/s) and gain (mm/mV)."""
        self._set_paper(self._layout_name, speed_mm_s, gain_mm_mv)

    def _set_paper(self, name: str, speed_mm_s: float, gain_mm_mv: float) -> None:
        layout = compute_layout(name, speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv)
        self._layout_name, self._speed_mm_s, self._gain_mm_mv = name, speed_mm_s, gain_mm_mv
        self._layout = layout
        self.clear_caliper()
        self._rebuild()

    def _rebuild(self) -> None:
        # Paths are built once per record and layout, in mm; painting only scales them.
        self._paths = []
        rec = self._record
        if rec is not None:
            for panel in self._layout.panels:
                idx = LEADS_12.index(panel.lead)
                if rec.lead_sources[idx] is LeadSource.MISSING:
                    self._paths.append(QPainterPath())
                    continue
                x_mm, y_mm = trace_mm(panel, rec.signal[idx], rec.fs_hz, self._layout)
                self._paths.append(trace_path(x_mm, y_mm))
        self._apply_size()
        self.update()

    # -- scale and zoom ----------------------------------------------------------------------
    def set_fit_size(self, size: QSize) -> None:
        """The area the page should fit at zoom 1 (the scroll area's viewport), in pixels."""
        if size.width() > 0 and size.height() > 0 and size != self._fit_size:
            self._fit_size = QSize(size)
            self._apply_size()

    def set_zoom(self, zoom: float) -> None:
        zoom = float(min(ZOOM_MAX, max(ZOOM_MIN, zoom)))
        if abs(zoom - self._zoom) > 1e-9:
            self._zoom = zoom
            self._apply_size()
            self.update()
            self.zoom_changed.emit(zoom)

    def zoom_in(self) -> None:
        self.set_zoom(self._zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / ZOOM_STEP)

    def reset_zoom(self) -> None:
        self.set_zoom(1.0)

    def px_per_mm(self) -> float:
        """Pixels per millimetre of paper: the fit scale times the zoom."""
        lay = self._layout
        fit = min(self._fit_size.width() / lay.width_mm, self._fit_size.height() / lay.height_mm)
        return max(fit, 0.5) * self._zoom

    def _apply_size(self) -> None:
        if self._record is None:
            self.setFixedSize(self._fit_size)
        else:
            s = self.px_per_mm()
            self.setFixedSize(QSize(int(np.ceil(self._layout.width_mm * s)),
                                    int(np.ceil(self._layout.height_mm * s))))
        self.geometry_changed.emit()

    # -- calipers ----------------------------------------------------------------------------
    def set_caliper(self, start_mm: tuple[float, float],
                    end_mm: tuple[float, float]) -> CaliperMeasurement:
        """Place the calipers between two page points (mm) and return the measurement."""
        self._caliper = caliper_measurement(start_mm, end_mm, self._speed_mm_s,
                                            self._gain_mm_mv)
        self.update()
        self.caliper_changed.emit(self._caliper)
        return self._caliper

    def clear_caliper(self) -> None:
        if self._caliper is not None:
            self._caliper = None
            self.update()
            self.caliper_changed.emit(None)

    def _mm_at(self, event: QMouseEvent) -> tuple[float, float]:
        s = self.px_per_mm()
        pos = event.position()
        return (pos.x() / s, pos.y() / s)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if event.button() == Qt.MouseButton.LeftButton and self._record is not None:
            self._dragging = True
            start = self._mm_at(event)
            self.set_caliper(start, start)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._dragging and self._caliper is not None:
            self.set_caliper(self._caliper.start_mm, self._mm_at(event))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt API)
        if self._dragging and event.button() == Qt.MouseButton.LeftButton:
            self._dragging = False
            cal = self.set_caliper(self._caliper.start_mm, self._mm_at(event))
            if np.hypot(cal.end_mm[0] - cal.start_mm[0],
                        cal.end_mm[1] - cal.start_mm[1]) < _CALIPER_MIN_MM:
                self.clear_caliper()  # a plain click clears
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _paint_caliper(self, painter: QPainter, s: float) -> None:
        cal = self._caliper
        if cal is None:
            return
        (x0, y0), (x1, y1) = ((p[0] * s, p[1] * s) for p in (cal.start_mm, cal.end_mm))
        painter.save()
        pen = QPen(CALIPER_COLOUR)
        pen.setWidthF(1.5)
        painter.setPen(pen)
        tick = 6.0
        # Two vertical caliper legs and the horizontal and vertical spans between them.
        for x, y in ((x0, y0), (x1, y1)):
            painter.drawLine(QPointF(x, y - tick), QPointF(x, y + tick))
            painter.drawLine(QPointF(x - tick, y), QPointF(x + tick, y))
        dashed = QPen(pen)
        dashed.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(dashed)
        painter.drawLine(QPointF(x0, y0), QPointF(x1, y0))
        painter.drawLine(QPointF(x1, y0), QPointF(x1, y1))
        font = QFont(self.font())
        font.setPixelSize(_MIN_TEXT_PX + 1)
        font.setBold(True)
        painter.setFont(font)
        text = cal.text
        metrics = painter.fontMetrics()
        w, h = metrics.horizontalAdvance(text) + 10, metrics.height() + 6
        bx = min(max(0.0, x1 + 8), max(0.0, self.width() - w))
        by = min(max(0.0, y1 - h - 8), max(0.0, self.height() - h))
        box = QRectF(bx, by, w, h)
        painter.fillRect(box, QColor(255, 255, 255, 235))
        painter.setPen(CALIPER_COLOUR)
        painter.drawRect(box)
        painter.drawText(box, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return self.size()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt API)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier and self._record is not None:
            steps = event.angleDelta().y() / 120.0
            if steps:
                self.set_zoom(self._zoom * ZOOM_STEP ** steps)
            event.accept()
            return
        event.ignore()  # plain wheel scrolls the surrounding scroll area

    # -- painting ----------------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # noqa: N802 (Qt API)
        painter = QPainter(self)
        try:
            painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
            if self._record is None:
                self._paint_empty(painter)
            else:
                self._paint_page(painter)
        finally:
            painter.end()

    def _paint_empty(self, painter: QPainter) -> None:
        painter.fillRect(self.rect(), EMPTY_BACKGROUND)
        font = QFont(self.font())
        font.setPixelSize(max(14, min(22, self.height() // 20)))
        painter.setFont(font)
        painter.setPen(MUTED_COLOUR)
        painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                         EMPTY_TEXT)

    def _paint_page(self, painter: QPainter) -> None:
        lay = self._layout
        s = self.px_per_mm()
        painter.fillRect(self.rect(), PAPER_COLOUR)
        self._paint_grid(painter, lay, s)

        painter.save()
        painter.scale(s, s)
        # Cosmetic pens keep a constant pixel width whatever the zoom.
        pen = QPen(TRACE_COLOUR)
        pen.setCosmetic(True)
        pen.setWidthF(max(1.2, min(2.5, 0.25 * s)))
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for pulse in lay.pulses:
            # The pulse itself is 0.2 s wide; short baseline stubs either side, as printed.
            x0, base = pulse.x_mm, pulse.baseline_mm
            x1, top = x0 + pulse.width_mm, base - pulse.height_mm
            stub = min(2.0, x0 - lay.grid_x0_mm)
            painter.drawPolyline([
                QPointF(x0 - stub, base), QPointF(x0, base), QPointF(x0, top),
                QPointF(x1, top), QPointF(x1, base), QPointF(x1 + stub, base),
            ])
        for x, y0, y1 in lay.separators:
            painter.drawLine(QPointF(x, y0), QPointF(x, y1))
        for path in self._paths:
            if not path.isEmpty():
                painter.drawPath(path)
        painter.restore()

        self._paint_labels(painter, lay, s)
        self._paint_caliper(painter, s)

    def _paint_grid(self, painter: QPainter, lay: PageLayout, s: float) -> None:
        x0, y0, x1, y1 = lay.grid_x0_mm, lay.grid_y0_mm, lay.grid_x1_mm, lay.grid_y1_mm
        # Grid lines snap to whole pixels without antialiasing: crisp, evenly spaced lines.
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        n_x = int(round((x1 - x0) / MINOR_GRID_MM))
        n_y = int(round((y1 - y0) / MINOR_GRID_MM))
        per_major = int(round(MAJOR_GRID_MM / MINOR_GRID_MM))
        for major in (False, True):
            pen = QPen(MAJOR_GRID_COLOUR if major else MINOR_GRID_COLOUR)
            pen.setWidth(1)
            painter.setPen(pen)
            # The minor grid disappears when its lines would be closer than 3 px (zoomed out).
            if not major and s < 3.0:
                continue
            for i in range(n_x + 1):
                if (i % per_major == 0) == major:
                    px = round((x0 + i * MINOR_GRID_MM) * s)
                    painter.drawLine(px, round(y0 * s), px, round(y1 * s))
            for j in range(n_y + 1):
                if (j % per_major == 0) == major:
                    py = round((y0 + j * MINOR_GRID_MM) * s)
                    painter.drawLine(round(x0 * s), py, round(x1 * s), py)
        painter.restore()

    def _paint_labels(self, painter: QPainter, lay: PageLayout, s: float) -> None:
        rec = self._record
        assert rec is not None
        text_px = int(min(_MAX_TEXT_PX, max(_MIN_TEXT_PX, round(_LABEL_MM * s))))
        font = QFont(self.font())
        font.setPixelSize(text_px)
        font.setBold(True)
        small = QFont(font)
        small.setBold(False)
        small.setPixelSize(max(_MIN_TEXT_PX - 1, int(text_px * 0.8)))
        for panel in lay.panels:
            idx = LEADS_12.index(panel.lead)
            source = rec.lead_sources[idx]
            lx, ly = panel.label_xy_mm
            # label_xy_mm is the baseline of the text; drawText(QPointF) uses it as such.
            pos = QPointF(lx * s, ly * s)
            notes: list[tuple[str, QColor]] = []
            if source is LeadSource.MISSING:
                notes.append(("not recorded", MUTED_COLOUR))
            elif source is LeadSource.DERIVED:
                notes.append(("(derived)", MUTED_COLOUR))
            elif source is LeadSource.DIGITISED:
                notes.append(("(digitised)", MUTED_COLOUR))
            flags = rec.lead_flags[idx]
            if flags:
                notes.append(("\u26a0 " + ", ".join(flags), WARNING_COLOUR))
            self._draw_label(painter, pos, panel.lead, font, LABEL_COLOUR)
            for text, colour in notes:
                self._draw_label(painter, pos, text, small, colour)

        painter.setFont(small)
        painter.setPen(LABEL_COLOUR)
        footer = lay.footer_text()
        if rec.duration_s < 10.0 - 1e-6:
            footer += f"   recording {rec.duration_s:.1f} s"
        base_y = (lay.grid_y1_mm + 4.5) * s
        painter.drawText(QPointF(lay.grid_x0_mm * s, base_y), footer)
        if rec.source_path is not None:
            name = rec.source_path.name
            width = painter.fontMetrics().horizontalAdvance(name)
            painter.setPen(MUTED_COLOUR)
            painter.drawText(QPointF(lay.grid_x1_mm * s - width, base_y), name)


    @staticmethod
    def _draw_label(painter: QPainter, pos: QPointF, text: str, font: QFont,
                    colour: QColor) -> None:
        """Draw ``text`` with its baseline at ``pos`` on a paper-coloured patch; advance pos."""
        painter.setFont(font)
        metrics = painter.fontMetrics()
        width = metrics.horizontalAdvance(text)
        pad = 2.0
        # The patch hides the grid under the text only, so labels stay readable when small.
        backing = QColor(PAPER_COLOUR)
        backing.setAlpha(220)
        painter.fillRect(QRectF(pos.x() - pad, pos.y() - metrics.ascent() - 1,
                                width + 2 * pad, metrics.ascent() + metrics.descent() + 2),
                         backing)
        painter.setPen(colour)
        painter.drawText(pos, text)
        pos.setX(pos.x() + width + metrics.horizontalAdvance("  "))


class EcgView(QScrollArea):
    """An :class:`EcgPaperWidget` in a scroll area that keeps the page fitted at zoom 1.

    Parameters
    ----------
    parent : the parent widget.
    leader : another view whose scale this one copies (layout, speed, gain, fit and zoom), so
        a similar case is drawn at exactly the patient's mm per pixel; None fits itself.
    """

    def __init__(self, parent: QWidget | None = None,
                 leader: "EcgView | None" = None) -> None:
        super().__init__(parent)
        self._leader = leader
        self.paper = EcgPaperWidget()
        if leader is not None:
            leader.paper.geometry_changed.connect(self._on_leader_geometry_changed)
            self.paper.copy_scale_from(leader.paper)
        self.setWidget(self.paper)
        self.setWidgetResizable(False)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setBackgroundRole(self.paper.backgroundRole())

    def resizeEvent(self, event) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._fit()

    def _on_leader_geometry_changed(self) -> None:
        if self._leader is not None:
            self.paper.copy_scale_from(self._leader.paper)

    def _fit(self) -> None:
        if self._leader is not None:
            return  # the leader's area decides the scale
        # Fit to the whole area, not the viewport: the viewport shrinks when scroll bars
        # appear, which would change the fit scale and could make them flicker on and off.
        margin = 2 * self.frameWidth() + 4
        self.paper.set_fit_size(QSize(max(1, self.width() - margin),
                                      max(1, self.height() - margin)))


__all__ = [
    "EMPTY_TEXT", "CaliperMeasurement", "EcgPaperWidget", "EcgView", "caliper_measurement",
    "trace_path",
]
