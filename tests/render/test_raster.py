"""PNG rendering: the page looks like ECG paper and every lead is drawn where the layout says."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource, read_ecg
from desktop_app.errors import EcgValueError
from desktop_app.render import (
    compute_layout, lead_notes, render_image, render_png, render_thumbnail, trace_mm,
)
from desktop_app.render._raster import (
    MAJOR_GRID_RGB, MINOR_GRID_RGB, MUTED_RGB, PAPER_RGB, WARNING_RGB,
)

PPM = 8.0


@pytest.fixture(scope="module")
def ptbxl_record(shared_data: Path) -> EcgRecord:
    return read_ecg(shared_data / "records" / "00001_lr.hea")


@pytest.fixture(scope="module")
def ptbxl_image(ptbxl_record) -> np.ndarray:
    return np.asarray(render_image(ptbxl_record, px_per_mm=PPM))


def _ink(rgb: np.ndarray) -> np.ndarray:
    """Dark, grey pixels: the trace (and label text), never the pink grid or paper."""
    rgb = rgb.astype(int)
    return (rgb.max(axis=-1) < 120) & (np.ptp(rgb, axis=-1) < 40)


def _box(rgb: np.ndarray, x0_mm, x1_mm, y0_mm, y1_mm, ppm=PPM) -> np.ndarray:
    return rgb[int(round(y0_mm * ppm)):int(round(y1_mm * ppm)),
               int(round(x0_mm * ppm)):int(round(x1_mm * ppm))]


def _trace_band(rgb, panel, ppm=PPM):
    """The strip of a panel around its baseline, clear of the label (above) and of the column
    separators (at its ends)."""
    return _box(rgb, panel.x_mm + 1.0, panel.x_mm + panel.width_mm - 1.0,
                panel.baseline_mm - 5.0, panel.baseline_mm + 5.0, ppm)


def _trace_found(rgb, record, panel, layout, ppm=PPM, n_points=60) -> float:
    """Fraction of points along the lead's expected path (from the layout maths) that have ink
    within 0.6 mm: the trace is drawn, and drawn where the layout puts it."""
    page = compute_layout(layout)
    x_mm, y_mm = trace_mm(panel, record.lead(panel.lead), record.fs_hz, page)
    picks = np.linspace(0, x_mm.size - 1, n_points).astype(int)
    r = int(round(0.6 * ppm))
    hits = 0
    for i in picks:
        cx, cy = int(round(x_mm[i] * ppm)), int(round(y_mm[i] * ppm))
        hits += bool(_ink(rgb[cy - r:cy + r + 1, cx - r:cx + r + 1]).any())
    return hits / n_points


def _label_box(rgb, panel, ppm=PPM):
    return _box(rgb, panel.x_mm, panel.x_mm + 30.0, panel.baseline_mm - 10.0,
                panel.baseline_mm - 4.5, ppm)


def _near(rgb: np.ndarray, colour, tol=6) -> np.ndarray:
    return np.abs(rgb.astype(int) - np.array(colour)).max(axis=-1) <= tol


def _with_lead(record: EcgRecord, lead: str, *, source: LeadSource | None = None,
               flags: tuple[str, ...] | None = None) -> EcgRecord:
    i = LEADS_12.index(lead)
    signal = np.array(record.signal)
    sources = list(record.lead_sources)
    all_flags = list(record.lead_flags)
    if source is not None:
        sources[i] = source
        if source is LeadSource.MISSING:
            signal[i] = np.nan
            all_flags[i] = ()
    if flags is not None:
        all_flags[i] = flags
    return record.replace(signal=signal, lead_sources=tuple(sources), lead_flags=tuple(all_flags))


def test_render_image_size_matches_layout_millimetres(ptbxl_record, ptbxl_image):
    page = compute_layout("3x4")
    assert ptbxl_image.shape == (round(page.height_mm * PPM), round(page.width_mm * PPM), 3)
    img = render_image(ptbxl_record, layout="12x1", px_per_mm=200 / 25.4)
    page = compute_layout("12x1")
    assert img.size == (round(page.width_mm * 200 / 25.4), round(page.height_mm * 200 / 25.4))
    assert img.mode == "RGB"


def test_render_image_draws_grid_on_paper(ptbxl_image):
    page = compute_layout("3x4")
    for colour in (PAPER_RGB, MINOR_GRID_RGB, MAJOR_GRID_RGB):
        assert _near(ptbxl_image, colour, tol=0).sum() > 10_000
    # Along a row of the grid's empty top band, major lines every 5 mm, minor lines between.
    y = int(round((page.grid_y0_mm + 2.5) * PPM))
    row = ptbxl_image[y]
    for k in range(int((page.grid_x1_mm - page.grid_x0_mm) // 5)):
        x_major = int(round((page.grid_x0_mm + 5 * k) * PPM))
        x_minor = int(round((page.grid_x0_mm + 5 * k + 2) * PPM))
        x_paper = int(round((page.grid_x0_mm + 5 * k + 2.5) * PPM))
        assert tuple(row[x_major]) == MAJOR_GRID_RGB
        assert tuple(row[x_minor]) == MINOR_GRID_RGB
        assert tuple(row[x_paper]) == PAPER_RGB


@pytest.mark.parametrize("layout", ["3x4", "6x2", "12x1"])
def test_render_image_puts_trace_ink_in_every_panel(ptbxl_record, layout):
    rgb = np.asarray(render_image(ptbxl_record, layout=layout, px_per_mm=PPM))
    page = compute_layout(layout)
    for panel in page.panels:
        assert _trace_found(rgb, ptbxl_record, panel, layout) > 0.95, panel.lead


def test_render_image_calibration_pulse_has_ink_one_centimetre_up(ptbxl_image):
    page = compute_layout("3x4")
    for pulse in page.pulses:
        top = _box(ptbxl_image, pulse.x_mm + 1, pulse.x_mm + pulse.width_mm - 1,
                   pulse.baseline_mm - pulse.height_mm - 0.3,
                   pulse.baseline_mm - pulse.height_mm + 0.3)
        inside = _box(ptbxl_image, pulse.x_mm + 1, pulse.x_mm + pulse.width_mm - 1,
                      pulse.baseline_mm - pulse.height_mm + 2, pulse.baseline_mm - 2)
        assert _ink(top).any(axis=0).all()
        assert not _ink(inside).any()


def test_render_image_missing_lead_has_no_trace_and_says_not_recorded(ptbxl_record):
    record = _with_lead(ptbxl_record, "V5", source=LeadSource.MISSING)
    rgb = np.asarray(render_image(record, px_per_mm=PPM))
    page = compute_layout("3x4")
    assert not _ink(_trace_band(rgb, page.panel_for("V5"))).any()
    assert _ink(_trace_band(rgb, page.panel_for("V4"))).any()
    assert lead_notes(record, "V5") == (("not recorded", "muted"),)
    assert _near(_label_box(rgb, page.panel_for("V5")), MUTED_RGB).sum() > 20


def test_render_image_derived_lead_is_labelled(ptbxl_record, ptbxl_image):
    record = _with_lead(ptbxl_record, "III", source=LeadSource.DERIVED)
    assert lead_notes(record, "III") == (("(derived)", "muted"),)
    assert lead_notes(ptbxl_record, "III") == ()
    rgb = np.asarray(render_image(record, px_per_mm=PPM))
    page = compute_layout("3x4")
    changed = np.argwhere((rgb != ptbxl_image).any(axis=-1))
    panel = page.panel_for("III")
    # Only the label of III changed, and it gained grey "(derived)" text.
    assert changed.size
    assert changed[:, 0].min() >= (panel.baseline_mm - 10) * PPM
    assert changed[:, 0].max() <= (panel.baseline_mm - 4) * PPM
    assert changed[:, 1].min() >= panel.x_mm * PPM
    assert changed[:, 1].max() <= (panel.x_mm + panel.width_mm) * PPM
    assert _near(_label_box(rgb, panel), MUTED_RGB).sum() > \
        _near(_label_box(ptbxl_image, panel), MUTED_RGB).sum() + 20


@pytest.mark.parametrize("flag", ["noisy", "flat", "clipped"])
def test_render_image_quality_flag_printed_in_warning_colour(ptbxl_record, flag):
    record = _with_lead(ptbxl_record, "V3", flags=(flag,))
    assert (flag, "warning") in lead_notes(record, "V3")
    rgb = np.asarray(render_image(record, px_per_mm=PPM))
    page = compute_layout("3x4")
    assert _near(_label_box(rgb, page.panel_for("V3")), WARNING_RGB, tol=10).sum() > 20
    assert not _near(_label_box(rgb, page.panel_for("V2")), WARNING_RGB, tol=10).any()


def test_render_image_challenge_record_at_500_hz(shared_data):
    record = read_ecg(shared_data / "records" / "JS00001.hea")
    assert record.fs_hz == 500
    rgb = np.asarray(render_image(record, layout="6x2", px_per_mm=PPM))
    page = compute_layout("6x2")
    for panel in page.panels:
        assert _trace_found(rgb, record, panel, "6x2") > 0.95, panel.lead


def test_render_image_long_record_prints_only_first_ten_seconds(shared_data):
    record = read_ecg(shared_data / "records" / "s0010_re.hea")
    assert record.duration_s > 30
    rgb = np.asarray(render_image(record, layout="12x1", px_per_mm=4.0))
    page = compute_layout("12x1")
    end_mm = max(p.x_mm + p.width_mm for p in page.panels)
    right = _box(rgb, end_mm + 0.5, page.width_mm, page.grid_y0_mm, page.grid_y1_mm, ppm=4.0)
    assert not _ink(right).any()
    for panel in page.panels:
        assert _trace_found(rgb, record, panel, "12x1", ppm=4.0) > 0.95, panel.lead


def test_render_image_speed_50_doubles_trace_length(ptbxl_record):
    slow = render_image(ptbxl_record, layout="12x1", px_per_mm=4.0)
    fast = render_image(ptbxl_record, layout="12x1", speed_mm_s=50, px_per_mm=4.0)
    slow_ink = np.flatnonzero(_ink(np.asarray(slow)).any(axis=0))
    fast_ink = np.flatnonzero(_ink(np.asarray(fast)).any(axis=0))
    assert (fast_ink[-1] - fast_ink[0]) > 1.8 * (slow_ink[-1] - slow_ink[0])


@pytest.mark.parametrize("kwargs", [
    {"layout": "4x3"}, {"px_per_mm": 0.0}, {"px_per_mm": float("nan")},
    {"speed_mm_s": -25.0}, {"gain_mm_mv": 0.0},
])
def test_render_image_invalid_arguments_raise(ptbxl_record, kwargs):
    with pytest.raises(EcgValueError):
        render_image(ptbxl_record, **kwargs)


def test_render_png_writes_png_atomically(ptbxl_record, tmp_path):
    out = render_png(ptbxl_record, tmp_path / "ecg.png", layout="6x2", px_per_mm=PPM,
                     title="case 1")
    assert out == tmp_path / "ecg.png"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ecg.png"]  # no temp file left
    with Image.open(out) as img:
        assert img.format == "PNG"
        page = compute_layout("6x2")
        assert img.size == (round(page.width_mm * PPM), round(page.height_mm * PPM))
        assert img.info["dpi"][0] == pytest.approx(PPM * 25.4, abs=0.1)


def test_render_png_replaces_existing_file_and_fails_cleanly(ptbxl_record, tmp_path):
    target = tmp_path / "ecg.png"
    target.write_bytes(b"old")
    render_png(ptbxl_record, target, px_per_mm=2.0)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(OSError):
        render_png(ptbxl_record, tmp_path / "no-such-folder" / "ecg.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ecg.png"]


def test_render_thumbnail_has_requested_width(ptbxl_record):
    thumb = render_thumbnail(ptbxl_record, 320)
    page = compute_layout("3x4")
    assert thumb.width == 320
    assert thumb.height == pytest.approx(320 * page.height_mm / page.width_mm, abs=2)
    # Shrunk strokes are grey rather than black, but they are there.
    assert (np.asarray(thumb).max(axis=-1) < 170).sum() > 500
    with pytest.raises(EcgValueError):
        render_thumbnail(ptbxl_record, 0)
