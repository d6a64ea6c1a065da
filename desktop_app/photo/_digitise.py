"""Picture of a paper ECG -> EcgRecord, by the classical steps of :mod:`._steps`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._record import EcgRecord, LeadSource
from desktop_app.photo._steps import (
    FORMAT, PAGE_DURATION_S, GridFit, LayoutFit, Trace, _refuse, extract_traces, find_grid,
    find_layout, find_page, ink_mask, load_picture,
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


@dataclass(frozen=True)
class Digitised:
    """A digitised picture and everything found on the way (for the overlay and the GUI)."""

    record: EcgRecord
    page: np.ndarray
    quad: np.ndarray
    grid: GridFit
    layout: LayoutFit
    traces: tuple[Trace, ...]


def digitise(path: str | Path, *, fs_hz: float = DEFAULT_FS_HZ) -> EcgRecord:
    """Read a photo or scan of a printed 12-lead ECG.

    Parameters
    ----------
    path : picture file (PNG, JPEG, BMP, TIFF, ...).
    fs_hz : sampling rate of the output in Hz.

    Returns
    -------
    EcgRecord
        Leads traced from the picture are ``digitised``; leads that could not be followed are
        ``missing``. ``meta["photo"]`` holds the layout, speed, gain, scale, page corners, each
        lead's confidence (0-1) and the time window its trace covers. Outside its window a
        lead is 0 mV, because an :class:`EcgRecord` holds only finite samples in a present
        lead (a 3 x 4 page shows each lead for 2.5 s only); ``windows_s`` and
        :func:`desktop_app.photo.known_mask` say which samples the paper showed, and
        :func:`desktop_app.photo.write_digitised` writes the others as WFDB invalid samples.

    Raises
    ------
    EcgReadError
        When the picture is not readable as an ECG (no grid, no rows of traces, unknown layout).
    """
    return digitise_array(load_picture(path), path=path, fs_hz=fs_hz).record


def digitise_array(rgb: np.ndarray, *, path: str | Path | None = None,
                   fs_hz: float = DEFAULT_FS_HZ) -> Digitised:
    """Digitise a decoded picture (see :func:`digitise`); also returns the steps' results.

    Parameters
    ----------
    rgb : (h, w, 3) picture, values 0..255.
    path : the picture's file, for provenance and error messages.
    fs_hz : output sampling rate in Hz.

    Returns
    -------
    Digitised

    Raises
    ------
    EcgReadError
        As :func:`digitise`.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    page, quad = find_page(rgb)
    grid = find_grid(page, path=path)
    ink = ink_mask(page)
    if ink.mean() < _MIN_INK_FRACTION:
        raise _refuse(path, "no dark traces on the grid",
                      "photograph the printout in even light, without glare")
    layout = find_layout(ink, grid, path=path)
    traces = extract_traces(ink, layout, grid)
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
        raise _refuse(path, "no trace that could be followed along its row",
                      "photograph the page sharper and closer, in even light")
    meta = {"photo": {
        "layout": layout.name, "rhythm_strips": layout.n_rhythm,
        "speed_mm_s": layout.speed_mm_s, "gain_mm_mv": layout.gain_mm_mv,
        "speed_from": layout.notes.get("speed"), "gain_from": layout.notes.get("gain"),
        "px_per_mm": round(grid.px_per_mm, 3), "grid_peak_ratio": round(grid.peak_ratio, 1),
        "page_quad_px": np.round(quad, 1).tolist(), "confidence": confidence,
        "windows_s": windows,
    }}
    record = assemble_record(leads, fs_hz, path=path, format=FORMAT, meta=meta,
                             source=LeadSource.DIGITISED)
    return Digitised(record, page, quad, grid, layout, tuple(traces))


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
