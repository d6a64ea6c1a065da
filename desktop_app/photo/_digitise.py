"""Picture of a paper ECG -> EcgRecord, by the classical steps of :mod:`._steps`."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._record import EcgRecord, LeadSource
from desktop_app.errors import EcgReadError, EcgValueError
from desktop_app.photo._steps import (
    FORMAT, PAGE_DURATION_S, GridFit, LayoutFit, Trace, _quad_size, _refuse, deskew,
    extract_traces, find_grid, find_layout, find_page, ink_mask, load_picture, warp_quad,
)

log = logging.getLogger(__name__)

#: Output rate: a picture at 8-12 px/mm and 25 mm/s holds 200-300 pixel columns per second.
DEFAULT_FS_HZ = 250.0
#: Leads whose trace was followed in fewer than this share of its pixel columns are missing.
MIN_CONFIDENCE = 0.6
# A rhythm strip is named after the grid lead it matches this well in the shared window.
_RHYTHM_MATCH_R = 0.9
# Largest start offset between a rhythm strip and the grid panels above it (seconds).
_RHYTHM_MAX_LAG_S = 0.4
# Digitised values beyond this are a misread (a neighbour's trace, text), not an ECG.
_MAX_ABS_MV = 10.0
# Below this share of ink pixels there are no traces to follow (a blank or washed-out page).
_MIN_INK_FRACTION = 0.002
#: Speeds (mm/s) and gains (mm/mV) a clinician may set: the standard settings of
#: electrocardiographs (IEC 60601-2-25).
SPEEDS_MM_S = (25.0, 50.0)
GAINS_MM_MV = (5.0, 10.0, 20.0)
#: Layouts a clinician may set: ``"3x4"`` with ``+n`` rhythm strips, ``"6x2"``, ``"12x1"``.
LAYOUT_CHOICES = ("3x4", "3x4+1", "3x4+2", "3x4+3", "6x2", "12x1")
# A refused picture whose sharpest edges are wider than this (mm of paper) is called blurred:
# measured on generated pages blurred by a Gaussian, readable ones (blur <= 0.6 mm) stay at or
# below 1.2 mm and refused ones (blur >= 1 mm) start at 1.9 mm; sharp scans and photos 0.2-0.9.
_BLURRED_EDGE_MM = 1.5
# Above this there is no print to blur (a blank page, a smooth gradient): say "no grid".
_NO_EDGES_MM = 10.0
# A printed page is about this wide (A4 landscape less margins); it sets the scale for the
# blur measure when no grid was found.
_PAGE_WIDTH_MM = 280.0
_BLUR_HINT = ("hold the phone steady, let it focus on the grid (tap the screen), and "
              "photograph in brighter light")


@dataclass(frozen=True)
class Digitised:
    """A digitised picture and everything found on the way (for the overlay and the GUI)."""

    record: EcgRecord
    page: np.ndarray
    quad: np.ndarray
    grid: GridFit
    layout: LayoutFit
    traces: tuple[Trace, ...]


def digitise(path: str | Path, *, fs_hz: float = DEFAULT_FS_HZ, quad=None,
             layout: str | None = None, speed_mm_s: float | None = None,
             gain_mm_mv: float | None = None) -> EcgRecord:
    """Read a photo or scan of a printed 12-lead ECG.

    Parameters
    ----------
    path : picture file (PNG, JPEG, BMP, TIFF, ...).
    fs_hz : sampling rate of the output in Hz.
    quad, layout, speed_mm_s, gain_mm_mv : a clinician's corrections; see
        :func:`digitise_array`.

    Returns
    -------
    EcgRecord
        Leads traced from the picture are ``digitised``; leads that could not be followed are
        ``missing``. ``meta["photo"]`` holds the layout, speed, gain, scale, page corners, each
        lead's confidence (0-1), the time window its trace covers, and where each setting came
        from (``"clinician"`` for a correction). Outside its window a
        lead is 0 mV, because an :class:`EcgRecord` holds only finite samples in a present
        lead (a 3 x 4 page shows each lead for 2.5 s only); ``windows_s`` and
        :func:`desktop_app.photo.known_mask` say which samples the paper showed, and
        :func:`desktop_app.photo.write_digitised` writes the others as WFDB invalid samples.

    Raises
    ------
    EcgReadError
        When the picture is not readable as an ECG (no grid, too blurred, no rows of traces,
        unknown layout).
    EcgValueError
        When a correction is not one the digitiser can use.
    """
    return digitise_array(load_picture(path), path=path, fs_hz=fs_hz, quad=quad, layout=layout,
                          speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv).record


def parse_layout(spec: str) -> tuple[str, int]:
    """``"3x4+1"`` -> ``("3x4", 1)``: a layout name and its number of rhythm strips.

    Raises
    ------
    EcgValueError
        When ``spec`` is not one of :data:`LAYOUT_CHOICES` (spaces and case are ignored).
    """
    m = re.fullmatch(r"(3x4|6x2|12x1)(?:\+([0-3]))?", str(spec).replace(" ", "").lower())
    if m is None or (m.group(1) != "3x4" and m.group(2) not in (None, "0")):
        raise EcgValueError(f"layout {spec!r}: expected one of {', '.join(LAYOUT_CHOICES)}")
    return m.group(1), int(m.group(2) or 0)


def digitise_array(rgb: np.ndarray, *, path: str | Path | None = None,
                   fs_hz: float = DEFAULT_FS_HZ, quad=None, layout: str | None = None,
                   speed_mm_s: float | None = None,
                   gain_mm_mv: float | None = None) -> Digitised:
    """Digitise a decoded picture (see :func:`digitise`); also returns the steps' results.

    Every correction is optional; one left as None is found in the picture as usual.

    Parameters
    ----------
    rgb : (h, w, 3) picture, values 0..255.
    path : the picture's file, for provenance and error messages.
    fs_hz : output sampling rate in Hz.
    quad : (4, 2) page corners (x, y) in picture pixels, top-left, top-right, bottom-right,
        bottom-left, as a clinician placed them: the page is straightened from them instead
        of being looked for.
    layout : the printed layout, one of :data:`LAYOUT_CHOICES` (``"3x4+1"``: 3 x 4 with one
        rhythm strip).
    speed_mm_s : paper speed, one of :data:`SPEEDS_MM_S`.
    gain_mm_mv : gain, one of :data:`GAINS_MM_MV`.

    Returns
    -------
    Digitised
        ``record.meta["photo"]`` says where each setting came from: ``page_from``,
        ``layout_from``, ``speed_from`` and ``gain_from`` are ``"clinician"`` for a correction,
        and ``clinician_set`` lists the corrected settings.

    Raises
    ------
    EcgReadError
        As :func:`digitise`.
    EcgValueError
        When a correction is malformed (not four finite corners, an unknown layout, a speed
        or gain that is not a standard one).
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    forced_layout = parse_layout(layout) if layout is not None else None
    if speed_mm_s is not None and float(speed_mm_s) not in SPEEDS_MM_S:
        raise EcgValueError(f"paper speed {speed_mm_s} mm/s: expected one of "
                            f"{', '.join(f'{v:g}' for v in SPEEDS_MM_S)}")
    if gain_mm_mv is not None and float(gain_mm_mv) not in GAINS_MM_MV:
        raise EcgValueError(f"gain {gain_mm_mv} mm/mV: expected one of "
                            f"{', '.join(f'{v:g}' for v in GAINS_MM_MV)}")
    set_by_clinician = [name for name, value in (
        ("page", quad), ("layout", layout), ("speed", speed_mm_s), ("gain", gain_mm_mv))
        if value is not None]
    if quad is None:
        page, quad = find_page(rgb)
    else:
        quad = _check_quad(quad, rgb.shape)
        page = _page_from_quad(rgb, quad)
    grid = None
    try:
        grid = find_grid(page, path=path)
        ink = ink_mask(page)
        if ink.mean() < _MIN_INK_FRACTION:
            raise _refuse(path, "no dark traces on the grid",
                          "photograph the printout in even light, without glare")
        lay = find_layout(ink, grid, path=path, layout=forced_layout)
    except EcgReadError as exc:
        blurred = _blurred(page, grid, path)
        if blurred is None:
            raise
        raise blurred from exc
    notes = dict(lay.notes, layout="clinician" if forced_layout else "rows of traces")
    if speed_mm_s is not None:
        notes["speed"] = "clinician"
        lay = replace(lay, speed_mm_s=float(speed_mm_s))
    if gain_mm_mv is not None:
        notes["gain"] = "clinician"
        lay = replace(lay, gain_mm_mv=float(gain_mm_mv))
    lay = replace(lay, notes=notes)
    traces = extract_traces(ink, lay, grid)
    traces = _name_rhythm_strips(traces)
    n = int(round(PAGE_DURATION_S * fs_hz))
    t_out = np.arange(n) / fs_hz
    leads: dict[str, np.ndarray] = {}
    confidence: dict[str, float] = {}
    windows: dict[str, list[float]] = {}
    for tr in sorted(traces, key=lambda t: t.col >= 0):  # grid panels override rhythm strips
        if tr.lead == "?" or tr.lead in leads and tr.col < 0:
            continue
        values, conf, window = _resample(tr, t_out)
        if values is None or conf < MIN_CONFIDENCE:
            confidence.setdefault(tr.lead, round(conf, 3))
            continue
        if tr.lead in leads and windows[tr.lead][1] - windows[tr.lead][0] >= window[1] - window[0]:
            continue
        leads[tr.lead] = values
        confidence[tr.lead] = round(conf, 3)
        windows[tr.lead] = window
    if not leads:
        raise _blurred(page, grid, path) or _refuse(
            path, "no trace that could be followed along its row",
            "photograph the page sharper and closer, in even light")
    meta = {"photo": {
        "layout": lay.name, "rhythm_strips": lay.n_rhythm,
        "speed_mm_s": lay.speed_mm_s, "gain_mm_mv": lay.gain_mm_mv,
        "speed_from": lay.notes.get("speed"), "gain_from": lay.notes.get("gain"),
        "layout_from": lay.notes.get("layout"),
        "page_from": "clinician" if "page" in set_by_clinician else "detected",
        "clinician_set": set_by_clinician,
        "px_per_mm": round(grid.px_per_mm, 3), "grid_peak_ratio": round(grid.peak_ratio, 1),
        "page_quad_px": np.round(quad, 1).tolist(), "confidence": confidence,
        "windows_s": windows,
    }}
    record = assemble_record(leads, fs_hz, path=path, format=FORMAT, meta=meta,
                             source=LeadSource.DIGITISED)
    return Digitised(record, page, quad, grid, lay, tuple(traces))


def _check_quad(quad, shape) -> np.ndarray:
    """Four finite corners, in order, that enclose a page of at least 100 x 100 px."""
    try:
        q = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    except (TypeError, ValueError) as exc:
        raise EcgValueError(f"page corners {quad!r}: expected 4 (x, y) points") from exc
    if not np.all(np.isfinite(q)):
        raise EcgValueError("page corners: expected finite pixel coordinates")
    w, h = _quad_size(q)
    # Twice the signed area (shoelace): positive when TL, TR, BR, BL run clockwise on screen.
    area2 = float(np.sum(q[:, 0] * np.roll(q[:, 1], -1) - np.roll(q[:, 0], -1) * q[:, 1]))
    if w < 100 or h < 100 or area2 <= 0:
        raise EcgValueError(
            f"page corners {np.round(q).astype(int).tolist()} in a {shape[1]} x {shape[0]} px "
            "picture: expected top-left, top-right, bottom-right and bottom-left corners of a "
            "page at least 100 px wide and high")
    return q


def _page_from_quad(rgb: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The page inside corners a clinician set, straightened as :func:`find_page` does.

    As there, a picture's own corners mean "the page fills the frame" and the picture is used
    as it is (no resampling), and a small remaining rotation is removed (corners placed by
    hand are a few pixels off), so giving back the corners it reported reproduces its reading.
    """
    h, w = rgb.shape[:2]
    frame = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
    page = rgb if np.max(np.abs(q - frame)) < 1.0 else warp_quad(rgb, q, *_quad_size(q))
    return deskew(page)


def _edge_width_mm(page: np.ndarray, px_per_mm: float) -> float:
    """How wide the sharpest edges are, in mm of paper: contrast over the steepest gradient.

    A focused print has ink and grid edges one or two pixels wide; blur widens every edge.
    Only the middle of the page is measured: a page rotated upright has filled corners whose
    edges are sharp however blurred the print is.
    """
    h, w = page.shape[:2]
    mh, mw = int(0.05 * h), int(0.05 * w)
    lum = page[mh:h - mh, mw:w - mw].mean(axis=2)
    gy, gx = np.gradient(lum)
    steep = float(np.percentile(np.hypot(gx, gy), 99.9))
    contrast = float(np.percentile(lum, 99) - np.percentile(lum, 1))
    return contrast / max(steep, 1e-6) / max(px_per_mm, 1e-6)


def _blurred(page: np.ndarray, grid: GridFit | None, path) -> EcgReadError | None:
    """A "too blurred" refusal when a picture that could not be read is blurred, else None."""
    ppm = grid.px_per_mm if grid is not None else max(page.shape[:2]) / _PAGE_WIDTH_MM
    width = _edge_width_mm(page, ppm)
    if not _BLURRED_EDGE_MM < width <= _NO_EDGES_MM:
        return None
    return _refuse(path, f"a picture too blurred to read (edges about {width:.1f} mm wide, a "
                   f"sharp print has edges under {_BLURRED_EDGE_MM:g} mm)", _BLUR_HINT)


def _resample(tr: Trace, t_out: np.ndarray) -> tuple[np.ndarray | None, float, list[float]]:
    """A trace on the output time grid: interpolated over gaps inside its window, 0 outside."""
    good = np.isfinite(tr.mv)
    if good.sum() < 4:
        return None, 0.0, [0.0, 0.0]
    t, v = tr.t_s[good], tr.mv[good]
    if np.max(np.abs(v)) > _MAX_ABS_MV:
        return None, 0.0, [0.0, 0.0]
    t0, t1 = float(tr.t_s[0]), float(tr.t_s[-1])
    out = np.zeros(t_out.size)
    inside = (t_out >= t0) & (t_out <= t1)
    out[inside] = np.interp(t_out[inside], t, v)
    return out, tr.confidence, [round(t0, 3), round(t1, 3)]


def _name_rhythm_strips(traces: list[Trace]) -> list[Trace]:
    """Name each rhythm strip after the grid lead it matches in their shared time window.

    Without reading the printed label, the strip's lead is known only when its trace repeats
    one of the panels above it (they are recorded at the same time). Some machines start the
    strip a little later than the grid, so the match allows a lag of up to ``_RHYTHM_MAX_LAG_S``.
    """
    named = []
    panels = [t for t in traces if t.col >= 0]
    for tr in traces:
        if tr.col >= 0:
            named.append(tr)
            continue
        best, best_r = "?", _RHYTHM_MATCH_R
        for p in panels:
            r = _lagged_r(tr, p)
            if r > best_r:
                best, best_r = p.lead, r
        named.append(Trace(best, tr.t_s, tr.mv, tr.y_px, tr.x_px, tr.row, tr.col,
                           tr.confidence))
    return named


def _lagged_r(strip: Trace, panel: Trace) -> float:
    """Largest Pearson r between a panel and the strip shifted by up to ``_RHYTHM_MAX_LAG_S``."""
    ok = np.isfinite(panel.mv)
    good = np.isfinite(strip.mv)
    if ok.sum() < 20 or good.sum() < 20:
        return -1.0
    t, v = panel.t_s[ok], panel.mv[ok]
    dt = float(np.median(np.diff(t))) if t.size > 1 else 0.0
    if dt <= 0 or np.std(v) == 0:
        return -1.0
    best = -1.0
    step = max(dt, 0.008)  # finer steps barely change r; this bounds the cost on big pictures
    for lag in np.arange(-_RHYTHM_MAX_LAG_S, _RHYTHM_MAX_LAG_S + step / 2, step):
        a = np.interp(t + lag, strip.t_s[good], strip.mv[good], left=np.nan, right=np.nan)
        fin = np.isfinite(a)
        if fin.sum() < 0.8 * t.size or np.std(a[fin]) == 0:
            continue
        best = max(best, float(np.corrcoef(a[fin], v[fin])[0, 1]))
    return best


def draw_overlay(result: Digitised) -> Image.Image:
    """The rectified page with the rows, lead windows and extracted traces drawn over it.

    Parameters
    ----------
    result : from :func:`digitise_array`.

    Returns
    -------
    PIL.Image.Image
        RGB image the size of the rectified page.
    """
    img = Image.fromarray(np.clip(result.page, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    lay = result.layout
    for row in lay.rows:
        draw.line([(lay.x_start, row.baseline_y), (lay.x_end, row.baseline_y)],
                  fill=(0, 160, 255), width=1)
        draw.rectangle([lay.x_start, row.top_y, lay.x_end, row.bottom_y], outline=(0, 160, 255))
    width = max(1, int(round(result.grid.px_per_mm * 0.25)))
    for tr in result.traces:
        ok = np.isfinite(tr.y_px)
        colour = (0, 200, 0) if tr.confidence >= MIN_CONFIDENCE else (255, 0, 0)
        pts = np.column_stack([tr.x_px[ok], tr.y_px[ok]])
        if len(pts) > 1:
            draw.line(pts.ravel().tolist(), fill=colour, width=width)
        if len(tr.x_px):
            draw.text((tr.x_px[0] + 3, tr.y_px[ok][0] - 20 if ok.any() else 0), tr.lead,
                      fill=(0, 120, 0))
    return img
