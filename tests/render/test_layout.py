"""Layout maths: where each lead sits on the paper, in millimetres."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.ecg import LEADS_12
from desktop_app.render import MAJOR_GRID_MM, compute_layout, trace_mm


def test_layout_3x4_has_twelve_panels_and_lead_ii_rhythm_strip():
    page = compute_layout("3x4")
    grid = [p for p in page.panels if p.col >= 0]
    rhythm = [p for p in page.panels if p.col == -1]
    assert sorted(p.lead for p in grid) == sorted(LEADS_12)
    assert len(rhythm) == 1
    strip = rhythm[0]
    assert strip.lead == "II"
    assert (strip.t0_s, strip.t1_s) == (0.0, 10.0)
    assert strip.width_mm == pytest.approx(250.0)
    # The strip lies below every lead row.
    assert strip.baseline_mm > max(p.baseline_mm for p in grid)


def test_layout_3x4_columns_cover_consecutive_quarters():
    page = compute_layout("3x4")
    by_col = {}
    for p in page.panels:
        if p.col >= 0:
            by_col.setdefault(p.col, set()).add((p.t0_s, p.t1_s))
    assert by_col == {c: {(2.5 * c, 2.5 * (c + 1))} for c in range(4)}
    first_row = sorted((p for p in page.panels if p.row == 0), key=lambda p: p.col)
    assert [p.lead for p in first_row] == ["I", "aVR", "V1", "V4"]
    for left, right in zip(first_row, first_row[1:]):
        assert right.x_mm == pytest.approx(left.x_mm + left.width_mm)


@pytest.mark.parametrize("speed", [25.0, 50.0])
def test_trace_mm_one_second_spans_speed_millimetres(speed):
    page = compute_layout("12x1", speed_mm_s=speed)
    panel = page.panel_for("II")
    fs = 500.0
    x, _ = trace_mm(panel, np.zeros(5000), fs, page)
    assert x[0] == pytest.approx(panel.x_mm)
    assert x[500] - x[0] == pytest.approx(speed)  # 1 s later


@pytest.mark.parametrize("gain", [5.0, 10.0, 20.0])
def test_trace_mm_one_millivolt_rises_gain_millimetres(gain):
    page = compute_layout("3x4", gain_mm_mv=gain)
    panel = page.panel_for("V2")
    samples = np.zeros(1000)
    samples[600] = 1.0  # inside V2's window (5 s to 7.5 s at 100 Hz)
    x, y = trace_mm(panel, samples, 100.0, page)
    assert np.nanmax(panel.baseline_mm - y) == pytest.approx(gain)
    assert y[0] == pytest.approx(panel.baseline_mm)


def test_trace_mm_keeps_nan_gaps():
    page = compute_layout("3x4")
    samples = np.zeros(1000)
    samples[10:20] = np.nan
    _, y = trace_mm(page.panel_for("I"), samples, 100.0, page)
    assert np.isnan(y[10:20]).all() and np.isfinite(y[:10]).all()


def test_trace_mm_recording_shorter_than_panel_gives_empty():
    page = compute_layout("3x4")
    x, y = trace_mm(page.panel_for("V4"), np.zeros(300), 100.0, page)  # 3 s; V4 starts at 7.5 s
    assert x.size == 0 and y.size == 0


def test_calibration_pulse_is_one_millivolt_by_two_tenths_second():
    page = compute_layout("3x4")
    assert len(page.pulses) == 4  # three lead rows and the rhythm strip
    for pulse in page.pulses:
        assert pulse.width_mm == pytest.approx(5.0)
        assert pulse.height_mm == pytest.approx(10.0)
        assert pulse.x_mm >= page.grid_x0_mm
        assert pulse.x_mm + pulse.width_mm <= min(p.x_mm for p in page.panels)
    assert sorted(p.baseline_mm for p in page.pulses) == sorted(
        {p.baseline_mm for p in page.panels})
    fast = compute_layout("3x4", speed_mm_s=50.0, gain_mm_mv=20.0)
    assert (fast.pulses[0].width_mm, fast.pulses[0].height_mm) == (10.0, 20.0)


@pytest.mark.parametrize("name", ["3x4", "6x2", "12x1"])
def test_grid_ends_on_major_lines(name):
    page = compute_layout(name)
    for span in (page.grid_x1_mm - page.grid_x0_mm, page.grid_y1_mm - page.grid_y0_mm):
        assert span / MAJOR_GRID_MM == pytest.approx(round(span / MAJOR_GRID_MM))
    for p in page.panels:
        assert page.grid_x0_mm <= p.x_mm and p.x_mm + p.width_mm <= page.grid_x1_mm
        assert page.grid_y0_mm < p.baseline_mm < page.grid_y1_mm
    assert page.width_mm > page.grid_x1_mm and page.height_mm > page.grid_y1_mm


@pytest.mark.parametrize("name, n_rows, n_cols, window_s", [
    ("6x2", 6, 2, 5.0), ("12x1", 12, 1, 10.0),
])
def test_layout_panel_counts(name, n_rows, n_cols, window_s):
    page = compute_layout(name)
    assert len(page.panels) == 12
    assert sorted(p.lead for p in page.panels) == sorted(LEADS_12)
    assert {p.row for p in page.panels} == set(range(n_rows))
    assert {p.col for p in page.panels} == set(range(n_cols))
    assert all(p.t1_s - p.t0_s == pytest.approx(window_s) for p in page.panels)
    assert len(page.pulses) == n_rows


def test_layout_12x1_lists_leads_in_standard_order():
    page = compute_layout("12x1")
    assert [p.lead for p in sorted(page.panels, key=lambda p: p.row)] == list(LEADS_12)


def test_layout_separators_mark_column_changes():
    page = compute_layout("3x4")
    xs = sorted({x for x, _, _ in page.separators})
    starts = sorted({p.x_mm for p in page.panels if p.col > 0})
    assert xs == pytest.approx(starts)
    assert len(page.separators) == 3 * 3


@pytest.mark.parametrize("kwargs", [
    {"name": "4x3"}, {"name": ""}, {"name": "3x4", "speed_mm_s": 0.0},
    {"name": "3x4", "gain_mm_mv": -10.0}, {"name": "3x4", "rhythm_leads": ("II", "X9")},
])
def test_compute_layout_invalid_raises(kwargs):
    with pytest.raises(ValueError):
        compute_layout(**kwargs)
