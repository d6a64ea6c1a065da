"""Draw a 12-lead ECG on paper into a Pillow image (PNG export, thumbnails, reports).

Geometry comes only from :mod:`desktop_app.render._layout`, so the PNG shows every lead at the
same place on the same paper as the window. The grid is drawn pixel-exact at the output scale
(thin lines stay crisp); traces, calibration pulses and separators are drawn into a coverage
mask at 2-3x the output scale and box-filtered down, which anti-aliases them like a thermal
printer's dots instead of a jagged 1-pixel line.
"""

from __future__ import annotations

import logging
import os
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from desktop_app.ecg._record import LEADS_12, EcgRecord, LeadSource
from desktop_app.errors import EcgValueError
from desktop_app.render._layout import (
    LAYOUT_NAMES, MAJOR_GRID_MM, MINOR_GRID_MM, STANDARD_GAIN_MM_MV, STANDARD_SPEED_MM_S,
    PageLayout, compute_layout, trace_mm,
)

log = logging.getLogger(__name__)

# The process umask, read once at import (os.umask can only be read by setting it, which is
# not thread-safe to do while other threads create files).
_UMASK = os.umask(0o022)
os.umask(_UMASK)

# Classic pink ECG paper, the same colours as the window (gui/ecg_view.py); the minor grid is
# faint so the trace dominates, as on thermal printouts.
PAPER_RGB = (255, 250, 248)
MINOR_GRID_RGB = (248, 206, 206)
MAJOR_GRID_RGB = (226, 120, 120)
TRACE_RGB = (20, 20, 28)
LABEL_RGB = (20, 20, 28)
MUTED_RGB = (110, 110, 120)
WARNING_RGB = (190, 90, 0)
_NOTE_RGB = {"muted": MUTED_RGB, "warning": WARNING_RGB}

#: Trace stroke width on paper: thermal ECG printers draw lines about 0.25-0.3 mm wide.
TRACE_WIDTH_MM = 0.3
# Major grid lines are drawn about twice as heavy as minor ones, as printed ECG paper does.
_MINOR_LINE_MM = 0.1
_MAJOR_LINE_MM = 0.2
_LABEL_MM = 3.2
_SMALL_TEXT_MM = 2.6
# Output scale limits: below 1 px/mm the 1 mm grid cannot be shown; above 40 px/mm (about
# 1000 dpi) an A4-wide page would need hundreds of MB.
MIN_PX_PER_MM = 1.0
MAX_PX_PER_MM = 40.0


def render_image(
    record: EcgRecord,
    *,
    layout: str = "3x4",
    speed_mm_s: float = STANDARD_SPEED_MM_S,
    gain_mm_mv: float = STANDARD_GAIN_MM_MV,
    px_per_mm: float = 8.0,
    title: str | None = None,
) -> Image.Image:
    """Draw the ECG as a standard 12-lead printout.

    The page shows the first 10 s: pink 1 mm / 5 mm grid, a 1 mV calibration pulse at the start
    of every row, lead labels (``(derived)`` for computed leads, ``not recorded`` for missing
    ones, quality flags in orange), a header with the file name and duration, and a footer with
    paper speed, gain and sampling rate.

    Parameters
    ----------
    record : the ECG to draw.
    layout : ``"3x4"`` (with a lead II rhythm strip), ``"6x2"`` or ``"12x1"``.
    speed_mm_s : paper speed in mm/s (25 is standard, 50 spreads complexes out).
    gain_mm_mv : gain in mm/mV (10 is standard).
    px_per_mm : output pixels per millimetre of paper (8 px/mm is about 203 dpi).
    title : extra text for the header line (for example a case number).

    Returns
    -------
    PIL.Image.Image
        RGB image of ``round(width_mm * px_per_mm)`` x ``round(height_mm * px_per_mm)`` pixels.

    Raises
    ------
    EcgValueError
        When the layout is unknown, or speed, gain or scale are not positive and sensible.
    """
    page = _layout(layout, speed_mm_s, gain_mm_mv)
    if not (np.isfinite(px_per_mm) and MIN_PX_PER_MM <= px_per_mm <= MAX_PX_PER_MM):
        raise EcgValueError(
            f"px_per_mm must be within {MIN_PX_PER_MM:g}..{MAX_PX_PER_MM:g}; got {px_per_mm}"
        )
    ppm = float(px_per_mm)
    size = (int(round(page.width_mm * ppm)), int(round(page.height_mm * ppm)))
    img = _paper(page, ppm, size)
    # Text before ink: a label's paper-coloured outline may hide grid lines, never the trace.
    _draw_text(ImageDraw.Draw(img), record, page, ppm, title)
    img.paste(TRACE_RGB, (0, 0), _ink_mask(record, page, ppm, size))
    return img


def render_png(
    record: EcgRecord,
    path: str | Path,
    *,
    layout: str = "3x4",
    speed_mm_s: float = STANDARD_SPEED_MM_S,
    gain_mm_mv: float = STANDARD_GAIN_MM_MV,
    px_per_mm: float = 8.0,
    title: str | None = None,
) -> Path:
    """Draw the ECG (see :func:`render_image`) and save it as a PNG, atomically.

    The image goes to a temporary file beside ``path`` that is renamed over it when complete,
    so a crash or a full disk never leaves a half-written PNG under the wanted name.

    Parameters
    ----------
    record, layout, speed_mm_s, gain_mm_mv, px_per_mm, title : as for :func:`render_image`.
    path : the PNG file to write; its folder must exist.

    Returns
    -------
    Path
        ``path``. The PNG records its resolution (``px_per_mm * 25.4`` dpi) so it prints at
        true scale (25 mm per second on paper).

    Raises
    ------
    EcgValueError
        For invalid drawing arguments.
    OSError
        When the file cannot be written.
    """
    path = Path(path)
    img = render_image(record, layout=layout, speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv,
                       px_per_mm=px_per_mm, title=title)
    dpi = px_per_mm * 25.4
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            img.save(fh, format="PNG", dpi=(dpi, dpi), optimize=False)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates the file readable by its owner only; a saved picture gets the
        # permissions any new file of this user would get.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    log.debug("wrote %s (%dx%d px)", path.name, img.width, img.height)
    return path


def render_thumbnail(record: EcgRecord, width_px: int, *, layout: str = "3x4") -> Image.Image:
    """A small picture of the ECG page for lists of files or cases.

    Parameters
    ----------
    record : the ECG.
    width_px : wanted width in pixels (the height follows the page's aspect ratio).
    layout : as for :func:`render_image`.

    Returns
    -------
    PIL.Image.Image
        RGB image exactly ``width_px`` wide.

    Raises
    ------
    EcgValueError
        When ``width_px`` is not between 16 and 4000.
    """
    if not 16 <= int(width_px) <= 4000:
        raise EcgValueError(f"thumbnail width must be 16..4000 px; got {width_px}")
    page = _layout(layout, STANDARD_SPEED_MM_S, STANDARD_GAIN_MM_MV)
    # Draw at about twice the final scale (at least 3 px/mm so the grid and strokes exist),
    # then shrink with a Lanczos filter: a direct tiny render would turn the 1 mm grid solid.
    ppm = min(MAX_PX_PER_MM, max(3.0, 2.0 * width_px / page.width_mm))
    big = render_image(record, layout=layout, px_per_mm=ppm)
    height = max(1, int(round(big.height * width_px / big.width)))
    return big.resize((int(width_px), height), Image.Resampling.LANCZOS)


def lead_notes(record: EcgRecord, lead: str) -> tuple[tuple[str, str], ...]:
    """What is printed after a lead's label, so no drawer forgets a caveat.

    Parameters
    ----------
    record : the ECG.
    lead : standard lead name.

    Returns
    -------
    tuple of (text, kind)
        ``kind`` is ``"muted"`` for ``not recorded`` (missing lead, no trace drawn) and
        ``(derived)`` (computed from I and II, not recorded), ``"warning"`` for quality flags
        (``flat``, ``noisy``, ``clipped``, ...). Empty for a clean recorded lead.
    """
    i = LEADS_12.index(lead)
    src = record.lead_sources[i]
    if src is LeadSource.MISSING:
        return (("not recorded", "muted"),)
    notes: list[tuple[str, str]] = []
    if src is LeadSource.DERIVED:
        notes.append(("(derived)", "muted"))
    if record.lead_flags[i]:
        notes.append((", ".join(record.lead_flags[i]), "warning"))
    return tuple(notes)


def _layout(name: str, speed_mm_s: float, gain_mm_mv: float) -> PageLayout:
    if name not in LAYOUT_NAMES:
        raise EcgValueError(f"layout {name!r}: expected one of {', '.join(LAYOUT_NAMES)}")
    for what, value, lo, hi in (("speed_mm_s", speed_mm_s, 1.0, 200.0),
                                ("gain_mm_mv", gain_mm_mv, 0.5, 100.0)):
        if not (np.isfinite(value) and lo <= value <= hi):
            raise EcgValueError(f"{what} must be within {lo:g}..{hi:g}; got {value}")
    return compute_layout(name, speed_mm_s=float(speed_mm_s), gain_mm_mv=float(gain_mm_mv))


def _paper(page: PageLayout, ppm: float, size: tuple[int, int]) -> Image.Image:
    """Paper colour with the minor and major grid, pixel-exact at the output scale."""
    w, h = size
    rgb = np.empty((h, w, 3), dtype=np.uint8)
    rgb[:] = PAPER_RGB
    x0, x1 = _px(page.grid_x0_mm, ppm), _px(page.grid_x1_mm, ppm)
    y0, y1 = _px(page.grid_y0_mm, ppm), _px(page.grid_y1_mm, ppm)
    n_x = int(round((page.grid_x1_mm - page.grid_x0_mm) / MINOR_GRID_MM))
    n_y = int(round((page.grid_y1_mm - page.grid_y0_mm) / MINOR_GRID_MM))
    per_major = int(round(MAJOR_GRID_MM / MINOR_GRID_MM))
    minor_w = max(1, int(round(_MINOR_LINE_MM * ppm)))
    major_w = max(minor_w + (1 if ppm >= 4 else 0), int(round(_MAJOR_LINE_MM * ppm)))
    # Minor lines first, so major lines are drawn over them where they coincide.
    for major in (False, True):
        colour = MAJOR_GRID_RGB if major else MINOR_GRID_RGB
        lw = major_w if major else minor_w
        for i in range(n_x + 1):
            if (i % per_major == 0) != major:
                continue
            x = _px(page.grid_x0_mm + i * MINOR_GRID_MM, ppm) - lw // 2
            rgb[y0:y1 + 1, max(0, x):min(w, x + lw)] = colour
        for i in range(n_y + 1):
            if (i % per_major == 0) != major:
                continue
            y = _px(page.grid_y0_mm + i * MINOR_GRID_MM, ppm) - lw // 2
            rgb[max(0, y):min(h, y + lw), x0:x1 + 1] = colour
    return Image.fromarray(rgb)  # (h, w, 3) uint8 is RGB


def _ink_mask(
    record: EcgRecord, page: PageLayout, ppm: float, size: tuple[int, int]
) -> Image.Image:
    """Coverage (0-255) of traces, calibration pulses and separators, anti-aliased."""
    # Supersampling: 3x up to 10 px/mm, 2x up to 20 px/mm, then the stroke is wide enough.
    ss = 3 if ppm <= 10 else 2 if ppm <= 20 else 1
    scale = ppm * ss
    mask = Image.new("L", (size[0] * ss, size[1] * ss), 0)
    draw = ImageDraw.Draw(mask)
    stroke = max(1, int(round(TRACE_WIDTH_MM * scale)))
    for pulse in page.pulses:
        lead_in = (page.grid_x0_mm + pulse.x_mm) / 2 - pulse.x_mm  # negative: start of area
        x, b = pulse.x_mm, pulse.baseline_mm
        pts_mm = [(x + lead_in, b), (x, b), (x, b - pulse.height_mm),
                  (x + pulse.width_mm, b - pulse.height_mm), (x + pulse.width_mm, b),
                  (x + pulse.width_mm - lead_in, b)]
        draw.line([(u * scale, v * scale) for u, v in pts_mm], fill=255, width=stroke,
                  joint="curve")
    for x, y_top, y_bottom in page.separators:
        draw.line([(x * scale, y_top * scale), (x * scale, y_bottom * scale)], fill=255,
                  width=stroke)
    # Keep traces on the paper: an enormous artefact should not stroke across other leads
    # for metres of virtual paper (Pillow would draw it, slowly).
    y_lo, y_hi = page.grid_y0_mm - 2.0, page.grid_y1_mm + 2.0
    for panel in page.panels:
        i = LEADS_12.index(panel.lead)
        if record.lead_sources[i] is LeadSource.MISSING:
            continue
        x_mm, y_mm = trace_mm(panel, record.signal[i], record.fs_hz, page)
        for run_x, run_y in _finite_runs(x_mm, np.clip(y_mm, y_lo, y_hi)):
            pts = np.column_stack([run_x * scale, run_y * scale])
            pts = _thin(pts)
            if len(pts) == 1:
                cx, cy = pts[0]
                r = stroke / 2
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
                continue
            draw.line(pts.ravel().tolist(), fill=255, width=stroke, joint="curve")
    if ss > 1:
        mask = mask.reduce(ss)
    return mask


def _finite_runs(x: np.ndarray, y: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Consecutive finite stretches: a trace is broken where samples are NaN (gaps)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return []
    edges = np.diff(np.concatenate(([0], ok.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    return [(x[a:b], y[a:b]) for a, b in zip(starts, stops)]


def _thin(pts: np.ndarray) -> np.ndarray:
    """Keep at most the first, min, max and last point per pixel column (a 1 kHz lead has
    several samples per pixel); the drawn shape, spikes included, does not change."""
    if len(pts) < 4:
        return pts
    cols = np.floor(pts[:, 0]).astype(np.int64)
    if np.all(np.diff(cols) > 0):
        return pts
    keep = np.zeros(len(pts), dtype=bool)
    bounds = np.flatnonzero(np.diff(cols)) + 1
    starts = np.concatenate(([0], bounds))
    stops = np.concatenate((bounds, [len(pts)]))
    for a, b in zip(starts, stops):
        seg = pts[a:b, 1]
        keep[[a, b - 1, a + int(np.argmin(seg)), a + int(np.argmax(seg))]] = True
    return pts[keep]


def _draw_text(draw: ImageDraw.ImageDraw, record: EcgRecord, page: PageLayout, ppm: float,
               title: str | None) -> None:
    label_font = _font(max(8, int(round(_LABEL_MM * ppm))))
    small_font = _font(max(7, int(round(_SMALL_TEXT_MM * ppm))))
    outline = max(1, int(round(0.25 * ppm)))
    for panel in page.panels:
        x, y = (v * ppm for v in panel.label_xy_mm)
        # The paper-coloured outline keeps a label readable where it crosses the grid.
        draw.text((x, y), panel.lead, font=label_font, fill=LABEL_RGB,
                  stroke_width=outline, stroke_fill=PAPER_RGB)
        x = draw.textbbox((x, y), panel.lead, font=label_font)[2] + 0.8 * ppm
        notes = [(text, _NOTE_RGB[kind]) for text, kind in lead_notes(record, panel.lead)]
        y_small = y + (_font_px(label_font) - _font_px(small_font)) * 0.8
        for text, colour in notes:
            draw.text((x, y_small), text, font=small_font, fill=colour,
                      stroke_width=outline, stroke_fill=PAPER_RGB)
            x = draw.textbbox((x, y_small), text, font=small_font)[2] + 0.8 * ppm
    left = page.grid_x0_mm * ppm
    header_y = max(0.0, page.grid_y0_mm - 0.6 - _SMALL_TEXT_MM * 1.2) * ppm
    draw.text((left, header_y), _header_text(record, page, title), font=small_font,
              fill=LABEL_RGB)
    footer_y = (page.grid_y1_mm + 1.5) * ppm
    draw.text((left, footer_y), f"{_footer_text(page)}   {record.fs_hz:g} Hz",
              font=small_font, fill=LABEL_RGB)
    notes_right = _provenance_text(record)
    if notes_right:
        right = page.grid_x1_mm * ppm
        width = draw.textlength(notes_right, font=small_font)
        draw.text((right - width, footer_y), notes_right, font=small_font, fill=MUTED_RGB)


def _footer_text(page: PageLayout) -> str:
    return f"{page.speed_mm_s:g} mm/s   {page.gain_mm_mv:g} mm/mV"


def _header_text(record: EcgRecord, page: PageLayout, title: str | None) -> str:
    name = record.source_path.name if record.source_path is not None else "(not saved)"
    # The page spans 10 s; say so when the recording is longer (only its start is printed).
    page_s = max(p.t1_s for p in page.panels)
    duration = f"{record.duration_s:.1f} s"
    if record.duration_s > page_s + 1e-6:
        duration += f" (first {page_s:g} s shown)"
    parts = [name, duration]
    if title:
        parts.append(" ".join(str(title).split()))
    return "   ".join(parts)


def _provenance_text(record: EcgRecord) -> str:
    sources = set(record.lead_sources)
    notes = []
    if LeadSource.DIGITISED in sources:
        notes.append("traced from a picture of paper")
    n_missing = sum(s is LeadSource.MISSING for s in record.lead_sources)
    if n_missing:
        notes.append(f"{n_missing} lead{'s' if n_missing > 1 else ''} not recorded")
    return "   ".join(notes)


def _font_px(font) -> float:
    return float(getattr(font, "size", 10))


def _px(mm: float, ppm: float) -> int:
    return int(round(mm * ppm))


@lru_cache(maxsize=16)
def _font(size_px: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    # Pillow >= 10.1 ships a scalable default font (needs FreeType); older Pillow or a build
    # without FreeType falls back to the small bitmap font, still legible.
    try:
        return ImageFont.load_default(size=size_px)
    except (TypeError, OSError, ImportError):  # pragma: no cover - depends on the Pillow build
        log.debug("scalable default font unavailable; using the bitmap font")
        return ImageFont.load_default()
