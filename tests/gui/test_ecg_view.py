"""EcgPaperWidget: the ECG drawn on paper from the shared layout maths."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QSize, Qt
from PySide6.QtGui import QPainterPath, QWheelEvent

from desktop_app.ecg import LEADS_12, LeadSource, assemble_record
from desktop_app.gui.ecg_view import EcgPaperWidget, trace_path
from desktop_app.render import LAYOUT_NAMES
from tests.gui._pixels import dark_mask, image_rgb, reddish_mask


@pytest.fixture
def paper(qtbot):
    widget = EcgPaperWidget()
    qtbot.addWidget(widget)
    widget.set_fit_size(QSize(1200, 700))
    return widget


def _subpaths(path: QPainterPath) -> int:
    return sum(path.elementAt(i).type == QPainterPath.ElementType.MoveToElement
               for i in range(path.elementCount()))


def _band(rgb: np.ndarray, paper: EcgPaperWidget, lead: str) -> np.ndarray:
    """Pixels of one panel's trace band (±6 mm around baseline, 1 mm in from each end)."""
    panel = paper.page_layout.panel_for(lead)
    s = paper.px_per_mm()
    x0, x1 = int((panel.x_mm + 1) * s), int((panel.x_mm + panel.width_mm - 1) * s)
    y0, y1 = int((panel.baseline_mm - 6) * s), int((panel.baseline_mm + 6) * s)
    return rgb[y0:y1, x0:x1]


def test_trace_path_breaks_at_nan():
    x = np.arange(10, dtype=float)
    y = np.array([0, 1, 2, np.nan, np.nan, 3, 4, 5, np.nan, 6], dtype=float)
    path = trace_path(x, y)
    assert _subpaths(path) == 3  # [0..2], [5..7] and the lone sample 9
    assert _subpaths(trace_path(x, np.full(10, np.nan))) == 0


def test_paper_widget_empty_state_has_no_paper(paper):
    rgb = image_rgb(paper.grab().toImage())
    assert paper.record is None
    assert reddish_mask(rgb).sum() == 0
    assert paper.size() == QSize(1200, 700)


@pytest.mark.parametrize("name", LAYOUT_NAMES)
def test_paper_widget_draws_grid_and_every_lead(paper, ptbxl_record, name):
    paper.set_record(ptbxl_record)
    paper.set_layout(name)
    rgb = image_rgb(paper.grab().toImage())
    assert reddish_mask(rgb).mean() > 0.05  # the grid covers the page
    for lead in LEADS_12:
        assert dark_mask(_band(rgb, paper, lead)).sum() > 50, f"no trace drawn for {lead}"


def test_paper_widget_keeps_mm_aspect_when_fitting(paper, ptbxl_record):
    paper.set_record(ptbxl_record)
    lay = paper.page_layout
    for fit in (QSize(1600, 500), QSize(700, 1400)):
        paper.set_fit_size(fit)
        size = paper.size()
        assert size.width() <= fit.width() + 1 and size.height() <= fit.height() + 1
        assert size.width() / size.height() == pytest.approx(lay.width_mm / lay.height_mm,
                                                             rel=0.01)


def test_paper_widget_missing_lead_has_no_trace(paper, ptbxl_record):
    # Only I, II and V1-V3 recorded: III, aVR, aVL, aVF are derived, V4-V6 missing.
    kept = {lead: ptbxl_record.lead(lead) for lead in ("I", "II", "V1", "V2", "V3")}
    record = assemble_record(kept, ptbxl_record.fs_hz, path=None, format="test")
    assert record.lead_sources[LEADS_12.index("V5")] is LeadSource.MISSING
    paper.set_record(record)
    rgb = image_rgb(paper.grab().toImage())
    for lead in ("V4", "V5", "V6"):
        assert dark_mask(_band(rgb, paper, lead)).sum() == 0, f"{lead} is missing but drawn"
    for lead in ("III", "aVR", "V3"):
        assert dark_mask(_band(rgb, paper, lead)).sum() > 50, f"{lead} should be drawn"


def test_paper_widget_zoom_scales_uniformly(paper, ptbxl_record):
    paper.set_record(ptbxl_record)
    base = paper.size()
    paper.zoom_in()
    zoomed = paper.size()
    assert zoomed.width() / base.width() == pytest.approx(1.25, rel=0.01)
    assert zoomed.height() / base.height() == pytest.approx(1.25, rel=0.01)
    paper.reset_zoom()
    assert paper.size() == base


def test_paper_widget_ctrl_wheel_zooms_plain_wheel_does_not(paper, qtbot, ptbxl_record):
    paper.set_record(ptbxl_record)

    def wheel(modifiers):
        return QWheelEvent(QPointF(50, 50), QPointF(50, 50), QPoint(0, 0), QPoint(0, 120),
                           Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase,
                           False)

    plain = wheel(Qt.KeyboardModifier.NoModifier)
    paper.wheelEvent(plain)
    assert paper.zoom == 1.0
    assert not plain.isAccepted()  # left to the scroll area
    with qtbot.waitSignal(paper.zoom_changed, timeout=1000) as blocker:
        paper.wheelEvent(wheel(Qt.KeyboardModifier.ControlModifier))
    assert blocker.args[0] > 1.0
