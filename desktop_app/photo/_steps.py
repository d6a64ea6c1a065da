"""Classical digitisation of a paper ECG picture, one testable function per step.

1. :func:`load_picture` - decode, orient, bound the size.
2. :func:`find_page` - the page's quadrilateral; undo perspective and small rotations.
3. :func:`find_grid` - pixels per mm from the period of the printed grid (1 mm minor, 5 mm major).
4. :func:`ink_mask` and :func:`find_layout` - the trace rows, the calibration pulse, the layout
   (3 x 4 with rhythm strips, 6 x 2, 12 x 1), speed and gain.
5. :func:`extract_traces` - each lead's trace as millivolts on a time axis.

Only numpy, scipy and Pillow: no OpenCV, so the app stays small; every step is projections,
spectra and connected runs of pixels, which these cover.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage
from scipy.signal import find_peaks

from desktop_app.errors import EcgReadError

log = logging.getLogger(__name__)

FORMAT = "photo"
#: Longer sides are shrunk to this: 3000 px keeps a 280 mm page at >= 10 px/mm, plenty for a
#: 0.3 mm trace, and bounds memory and time on a 2-core laptop.
MAX_SIDE_PX = 3000
# Pillow refuses larger images (decompression bombs); a 100-megapixel photo is not an ECG page.
MAX_PIXELS = 100_000_000
# Plausible scales of a legible ECG picture: below 2 px/mm the 1 mm grid and a 0.3 mm trace
# merge; above 40 px/mm the picture would be a close-up of a few centimetres.
MIN_PX_PER_MM = 2.0
MAX_PX_PER_MM = 40.0
# A grid's spectral peak must stand this far above the spectrum's median (noise floor):
# random noise reaches about 13 (the largest of a few thousand exponential bins), printed
# grids 70 and far more.
_GRID_PEAK_RATIO = 40.0
_STANDARD_GAINS_MM_MV = (5.0, 10.0, 20.0)
_STANDARD_SPEEDS_MM_S = (25.0, 50.0)
PAGE_DURATION_S = 10.0

_GRID_HINT = "photograph the whole page flat, in even light, with the grid in focus"

LAYOUT_LEADS: dict[str, tuple[tuple[str, ...], ...]] = {
    "3x4": (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")),
    "6x2": (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"),
            ("aVF", "V6")),
    "12x1": tuple((n,) for n in ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4",
                                 "V5", "V6")),
}


@dataclass(frozen=True)
class GridFit:
    """The printed grid: scale in both directions and how clearly it was seen.

    Attributes
    ----------
    px_per_mm_x, px_per_mm_y : picture pixels per mm of paper along x and y.
    peak_ratio : spectral peak over the noise floor (larger = clearer grid).
    """

    px_per_mm_x: float
    px_per_mm_y: float
    peak_ratio: float

    @property
    def px_per_mm(self) -> float:
        return 0.5 * (self.px_per_mm_x + self.px_per_mm_y)


@dataclass(frozen=True)
class Row:
    """One row of traces: its 0 mV line and band, in rectified-picture pixels."""

    baseline_y: float
    top_y: int
    bottom_y: int
    x_start: float
    x_end: float
    pulse_height_px: float | None = None


@dataclass(frozen=True)
class LayoutFit:
    """What the page shows and how it is printed.

    Attributes
    ----------
    name : ``"3x4"``, ``"6x2"`` or ``"12x1"``.
    rows : the lead rows, top to bottom, then rhythm strips (3x4 only).
    n_rhythm : number of full-length rhythm strips under a 3x4 grid.
    speed_mm_s, gain_mm_mv : paper speed and gain.
    x_start, x_end : the traces' common start and end (pixels): 0 s and ``PAGE_DURATION_S``.
    notes : how speed and gain were decided (``"calibration pulse"`` or ``"default"``).
    """

    name: str
    rows: tuple[Row, ...]
    n_rhythm: int
    speed_mm_s: float
    gain_mm_mv: float
    x_start: float
    x_end: float
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Trace:
    """One extracted strip: times in s from the page start and values in mV (NaN = gap)."""

    lead: str
    t_s: np.ndarray
    mv: np.ndarray
    y_px: np.ndarray
    x_px: np.ndarray
    row: int
    col: int
    confidence: float


def _refuse(path, found: str, hint: str = _GRID_HINT) -> EcgReadError:
    return EcgReadError(path, FORMAT, "a photo or scan of a printed 12-lead ECG", found, hint)


def load_picture(path: str | Path) -> np.ndarray:
    """Decode a picture file into an RGB float32 array, upright and at most ``MAX_SIDE_PX``.

    Parameters
    ----------
    path : PNG, JPEG, BMP, TIFF or any other format Pillow decodes.

    Returns
    -------
    np.ndarray
        float32 array (height, width, 3), values 0..255.

    Raises
    ------
    EcgReadError
        When the file is not a picture Pillow can decode, or is too large or too small.
    """
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise _refuse(path, f"a {im.width} x {im.height} px picture",
                              "use a picture of at most 100 megapixels")
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGB")
            if max(im.size) > MAX_SIDE_PX:
                im.thumbnail((MAX_SIDE_PX, MAX_SIDE_PX), Image.Resampling.LANCZOS)
            arr = np.asarray(im, dtype=np.float32)
    except EcgReadError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _refuse(path, f"an undecodable picture ({exc})",
                      "save the picture again as JPEG or PNG") from exc
    if min(arr.shape[:2]) < 100:
        raise _refuse(path, f"a picture of only {arr.shape[1]} x {arr.shape[0]} px",
                      "photograph the page so that it fills the picture")
    return arr


def find_page(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Find the paper and map it to a flat, upright rectangle.

    The page is the largest bright region (Otsu threshold on a small copy) that stands clearly
    brighter than what surrounds it; a straight line is fitted to each of its four edges and
    their crossings are the corners, so a page that touches the frame (a phone held close, a
    tilted page cropped to its bounding box) is rectified as well. A picture with no darker
    surround (a scan, a screenshot) is kept whole. A small remaining rotation is removed by the
    angle that makes the horizontal ink/grid projection sharpest.

    Parameters
    ----------
    rgb : (h, w, 3) float32 picture.

    Returns
    -------
    page : (H, W, 3) float32, the rectified page.
    quad : (4, 2) float64 corners (x, y) of the page in the picture: top-left, top-right,
        bottom-right, bottom-left.
    """
    h, w = rgb.shape[:2]
    quad = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], dtype=np.float64)
    page = rgb
    found = _page_quad(rgb)
    if found is not None:
        out_w, out_h = _quad_size(found)
        if out_w > 100 and out_h > 100:
            quad = found
            # The same bound as load_picture: a page handed over as an array (or a large page
            # found in a photo) costs no more time than one read from a file.
            k = min(1.0, MAX_SIDE_PX / max(out_w, out_h))
            page = warp_quad(rgb, quad, int(round(k * out_w)), int(round(k * out_h)))
    elif max(h, w) > MAX_SIDE_PX:
        im = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
        im.thumbnail((MAX_SIDE_PX, MAX_SIDE_PX), Image.Resampling.LANCZOS)
        page = np.asarray(im, dtype=np.float32)
    return deskew(page), quad


def deskew(page: np.ndarray) -> np.ndarray:
    """The page with a small remaining rotation (:func:`_skew_angle`) undone; corners that
    the rotation uncovers are filled with the page's median colour."""
    angle = _skew_angle(page)
    if abs(angle) <= 0.15:
        return page
    im = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8))
    fill = tuple(int(v) for v in np.median(page.reshape(-1, 3), axis=0))
    return np.asarray(im.rotate(angle, Image.Resampling.BICUBIC, fillcolor=fill),
                      dtype=np.float32)


def _quad_size(quad: np.ndarray) -> tuple[int, int]:
    """Output width and height for a quad: the mean lengths of its opposite edges."""
    out_w = 0.5 * (np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3]))
    out_h = 0.5 * (np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1]))
    return int(round(out_w)), int(round(out_h))


def _page_quad(rgb: np.ndarray) -> np.ndarray | None:
    """Corners (TL, TR, BR, BL; picture pixels) of a bright page on a darker surround, or None."""
    h, w = rgb.shape[:2]
    lum = rgb.mean(axis=2)
    step = max(1, int(max(h, w) // 500))
    # The brightest pixel of each step x step block (about 0.6 mm of a page that fills the
    # picture): grid lines and traces are thinner and vanish, the table stays. Subsampling
    # instead keeps the grid lines, and with little table in view Otsu then splits paper from
    # grid lines and the page falls apart into grid cells.
    hb, wb = h // step, w // step
    small = lum[:hb * step, :wb * step].reshape(hb, step, wb, step).max(axis=(1, 3))
    mask = ndimage.binary_opening(small > _otsu(small), iterations=2)
    mask = ndimage.binary_fill_holes(mask)
    labels, n = ndimage.label(mask)
    if not n:
        return None
    sizes = ndimage.sum_labels(mask, labels, index=np.arange(1, n + 1))
    big = labels == (1 + int(np.argmax(sizes)))
    frac = float(big.mean())
    outside = small[~big]
    # The page must be most of the picture and clearly brighter than what surrounds it. A
    # surround of under 0.5 % of the picture is a dark frame edge or a shadow, not a table.
    if not (frac > 0.2 and outside.size > 0.005 * small.size
            and small[big].mean() - outside.mean() > 25):
        return None
    ys, xs = np.nonzero(big)
    s, d = xs + ys, xs - ys
    rough = np.array([[xs[np.argmin(s)], ys[np.argmin(s)]], [xs[np.argmax(d)], ys[np.argmax(d)]],
                      [xs[np.argmax(s)], ys[np.argmax(s)]], [xs[np.argmin(d)], ys[np.argmin(d)]]],
                     dtype=np.float64)
    fitted = _fit_edges(big, rough)
    corners = rough if fitted is None else fitted
    if not _plausible_page(corners):
        return None
    # Small-copy pixel k is the block of full pixels k * step .. (k + 1) * step - 1.
    corners = (corners + 0.5) * step - 0.5
    return corners if _sharp_edges(lum, corners) else None


def _plausible_page(quad: np.ndarray) -> bool:
    """Whether a quad can be a flat page seen at a slant: every corner within 90 +- 20 degrees
    and opposite edges within 25 % of each other's length. A shadow across the paper or a dark
    band of print cuts the bright region along a line that fails this (found on a real photo)."""
    for i in range(4):
        a = quad[i - 1] - quad[i]
        b = quad[(i + 1) % 4] - quad[i]
        cos = float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-9)
        if abs(np.degrees(np.arccos(np.clip(cos, -1, 1))) - 90.0) > 20.0:
            return False
    sides = np.linalg.norm(np.roll(quad, -1, axis=0) - quad, axis=1)
    return bool(min(sides[0], sides[2]) >= 0.75 * max(sides[0], sides[2])
                and min(sides[1], sides[3]) >= 0.75 * max(sides[1], sides[3]))


def _sharp_edges(lum: np.ndarray, corners: np.ndarray) -> bool:
    """Whether the quad's edges inside the picture are sharp steps, as a paper's edge is.

    A shadow across the page (a phone, a hand) also bounds a bright region with a straight
    line, but fades over several per cent of the picture; a page edge, even blurred, rises
    within a few pixels. Edges along the picture's frame are not judged.
    """
    h, w = lum.shape
    reach = max(6.0, 0.02 * max(h, w))
    offs = np.linspace(-reach, reach, 2 * int(reach) + 1)
    centre = corners.mean(axis=0)
    for i in range(4):
        a, b = corners[i], corners[(i + 1) % 4]
        u = (b - a) / max(float(np.linalg.norm(b - a)), 1e-9)
        nrm = np.array([u[1], -u[0]])
        if np.dot(centre - a, nrm) > 0:
            nrm = -nrm  # pointing out of the page
        ts = np.linspace(0.2, 0.8, 15)
        base = a[None, :] + ts[:, None] * (b - a)[None, :]
        pts = base[:, None, :] + offs[None, :, None] * nrm[None, None, :]
        inside = ((pts[..., 0] >= 0) & (pts[..., 0] <= w - 1)
                  & (pts[..., 1] >= 0) & (pts[..., 1] <= h - 1)).all(axis=1)
        if inside.sum() < 5:
            continue  # the edge runs along the frame
        prof = ndimage.map_coordinates(lum, [pts[inside, :, 1].ravel(), pts[inside, :, 0].ravel()],
                                       order=1).reshape(int(inside.sum()), offs.size)
        prof = np.median(prof, axis=0)[::-1]  # outside (dark) first
        lo, hi = float(np.median(prof[:offs.size // 4])), float(np.median(prof[-offs.size // 4:]))
        if hi - lo < 10:
            return False
        level = (prof - lo) / (hi - lo)
        rise = np.flatnonzero(level > 0.8)[0] - np.flatnonzero(level > 0.2)[0] if (level > 0.8).any() and (level > 0.2).any() else offs.size
        if rise * (offs[1] - offs[0]) > 0.5 * reach:
            return False
    return True

def _fit_edges(mask: np.ndarray, rough: np.ndarray) -> np.ndarray | None:
    """Refine a quad's corners by fitting a line to each edge of a region's outline.

    Diagonal extremes alone are a pixel or two off and sit on rounded or dog-eared corners;
    lines through the middle 70 % of each edge are not. Returns None when an edge is not
    straight (a curled page, an irregular region): then the rough corners are kept.
    """
    edge = mask & ~ndimage.binary_erosion(mask, border_value=0)
    pts = np.column_stack(np.nonzero(edge)[::-1]).astype(np.float64)  # (x, y)
    centre = rough.mean(axis=0)
    lines = []
    for i in range(4):
        a, b = rough[i], rough[(i + 1) % 4]
        length = float(np.linalg.norm(b - a))
        if length < 10:
            return None
        u = (b - a) / length
        nrm = np.array([u[1], -u[0]])
        if np.dot(centre - a, nrm) > 0:  # normal points out of the page
            nrm = -nrm
        t = (pts - a) @ u
        off = (pts - a) @ nrm
        sel = (t > 0.15 * length) & (t < 0.85 * length) & (np.abs(off) < 0.05 * length + 3)
        p = pts[sel]
        if len(p) < 10:
            return None
        for _ in range(3):  # total least squares, dropping points far from the line
            c = p.mean(axis=0)
            _, _, vt = np.linalg.svd(p - c, full_matrices=False)
            nn = vt[1]
            dist = (p - c) @ nn
            keep = np.abs(dist) < max(1.5, 2.5 * float(np.std(dist)))
            if keep.sum() < 10:
                return None
            p = p[keep]
        c = p.mean(axis=0)
        _, _, vt = np.linalg.svd(p - c, full_matrices=False)
        nn = vt[1] if np.dot(vt[1], nrm) > 0 else -vt[1]
        resid = (p - c) @ nn
        if float(np.percentile(np.abs(resid), 90)) > 2.0 + 0.01 * length:
            return None
        # An outline block is the outermost block with paper in it: the edge runs through it.
        lines.append((nn, float(nn @ c)))
    corners = []
    for i in range(4):
        (n1, c1), (n2, c2) = lines[i - 1], lines[i]
        m = np.array([n1, n2])
        if abs(np.linalg.det(m)) < 1e-6:
            return None
        corners.append(np.linalg.solve(m, [c1, c2]))
    corners = np.asarray(corners)
    if np.max(np.linalg.norm(corners - rough, axis=1)) > 0.1 * max(mask.shape):
        return None
    return corners


def warp_quad(rgb: np.ndarray, quad: np.ndarray, out_w: int, out_h: int) -> np.ndarray:
    """Resample the quadrilateral ``quad`` (TL, TR, BR, BL) of ``rgb`` to an upright rectangle."""
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float64)
    H = homography(dst, quad)  # output pixel -> picture pixel, what Pillow wants
    im = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    out = im.transform((out_w, out_h), Image.Transform.PERSPECTIVE, tuple(H.ravel()[:8]),
                       Image.Resampling.BICUBIC)
    return np.asarray(out, dtype=np.float32)


def homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 matrix H (H[2, 2] = 1) with ``dst ~ H @ src`` for four point pairs (x, y)."""
    rows = []
    for (x, y), (u, v) in zip(np.asarray(src, float), np.asarray(dst, float)):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    H = vt[-1].reshape(3, 3)
    return H / H[2, 2]


def _skew_angle(page: np.ndarray) -> float:
    """Rotation (degrees, Pillow's sign) that makes horizontal lines horizontal, within ±5°.

    Rows are summed along slanted lines (a shear, which equals a rotation for small angles);
    the angle whose row sums vary most is the one that lines up grid lines and baselines.
    """
    dark = 255.0 - page.min(axis=2)
    step = max(1, int(max(dark.shape) // 400))
    h, w = (dark.shape[0] // step) * step, (dark.shape[1] // step) * step
    small = dark[:h, :w].reshape(h // step, step, w // step, step).mean(axis=(1, 3))
    # Lines only: uneven light (a brightness ramp across the page) has no direction of its own,
    # yet its row sums are flat at 0° and vary at any other angle, which would tilt the page.
    small = small - ndimage.uniform_filter(small, size=15, mode="nearest")
    ys, xs = np.mgrid[0:small.shape[0], 0:small.shape[1]]
    weights = (small - small.mean()).ravel()
    xs = (xs - xs.mean()).ravel()
    ys = ys.ravel()
    n_bins = small.shape[0] + small.shape[1]

    def score(a: float) -> float:
        idx = np.round(ys + xs * np.tan(np.deg2rad(a))).astype(np.int64) + small.shape[1] // 2
        sums = np.bincount(np.clip(idx, 0, n_bins - 1), weights=weights, minlength=n_bins)
        return float(np.sum(sums ** 2))

    best = max(np.arange(-5.0, 5.01, 0.5), key=score)
    best = max(best + np.arange(-0.5, 0.51, 0.1), key=score)
    # Without clear lines (noise, a blank page) every angle scores alike: leave it unrotated,
    # as resampling noise at an angle would itself print a periodic pattern.
    # Nor when no angle lines up more than noise does: rows of independent noise sum to about
    # sum(weights**2) in total, so lines must beat that several times over (a smooth ramp, or
    # lines only across, give nothing to line up).
    if score(best) < 1.2 * score(0.0) or score(best) < 4.0 * float(np.sum(weights ** 2)):
        return 0.0
    # Pillow rotates counter-clockwise for positive angles; the shear above measured the
    # clockwise slope of the lines in image coordinates (y down).
    return -float(best)


def find_grid(page: np.ndarray, *, path=None) -> GridFit:
    """Pixels per mm from the period of the printed grid.

    The grid is seen in a "colourfulness" image (max - min channel) when the paper is coloured,
    which leaves out the black ink, and in plain darkness otherwise. Column and row medians
    give two profiles that traces barely touch; the lowest strong peak of their spectra is the
    5 mm major period, refined by its highest strong harmonic (the 1 mm minor lines).

    Parameters
    ----------
    page : (h, w, 3) float32 rectified page.
    path : the picture's path, for the error message.

    Returns
    -------
    GridFit

    Raises
    ------
    EcgReadError
        When no periodic grid is found ("no ECG grid found").
    """
    colour = page.max(axis=2) - page.min(axis=2)
    dark = 255.0 - page.mean(axis=2)
    use = colour if np.percentile(colour[::4, ::4], 90) > 20 else dark
    fits = []
    for axis in (0, 1):
        # A median over up to 800 evenly spread lines reads the same profile as over all of
        # them, at a fraction of the time on a 3000 px page.
        k = max(1, use.shape[axis] // 800)
        lines = use[::k] if axis == 0 else use[:, ::k]
        profile = np.median(lines, axis=axis)
        fits.append(_grid_period(profile))
    (px_x, ratio_x), (px_y, ratio_y) = fits
    if px_x is None and px_y is None:
        raise _refuse(path, "no ECG grid (no regular 1 mm / 5 mm lines)")
    px_x = px_x if px_x is not None else px_y
    px_y = px_y if px_y is not None else px_x
    if abs(px_x - px_y) > 0.1 * max(px_x, px_y):
        # Printed grids are square: a large mismatch means one direction locked on a harmonic
        # or on the rows of traces (periodic down the page); the columns have no such rhythm.
        px_y = px_x
    return GridFit(px_x, px_y, float(max(ratio_x, ratio_y)))


def _grid_period(profile: np.ndarray) -> tuple[float | None, float]:
    """Pixels per mm from one profile, or None; and the peak-to-floor ratio."""
    x = np.asarray(profile, dtype=np.float64)
    if x.size < 64:
        return None, 0.0
    trend = ndimage.uniform_filter1d(x, size=max(9, int(x.size // 20)))
    x = (x - trend) * np.hanning(x.size)
    n_fft = 1 << int(np.ceil(np.log2(x.size * 8)))
    power = np.abs(np.fft.rfft(x, n_fft)) ** 2
    freqs = np.fft.rfftfreq(n_fft)
    # Major (5 mm) period between 5 * MIN and 5 * MAX px/mm.
    lo, hi = 1.0 / (5 * MAX_PX_PER_MM), 1.0 / (5 * MIN_PX_PER_MM)
    band = (freqs >= lo) & (freqs <= 0.5)
    floor = float(np.median(power[band])) + 1e-12
    peaks, _ = find_peaks(power)
    peaks = peaks[band[peaks]]
    if not peaks.size:
        return None, 0.0
    top = float(power[peaks].max())
    ratio = top / floor
    if ratio < _GRID_PEAK_RATIO:
        return None, ratio
    i_top = int(peaks[np.argmax(power[peaks])])
    f_top = _refine(power, freqs, i_top)
    # The strongest peak is some harmonic n of the 5 mm major period (n = 5: the 1 mm minor
    # lines). Take the largest n whose fundamental f_top / n is itself a clear peak, as long as
    # that period is plausible.
    best_f, best_k = f_top, 1
    for n_h in range(10, 1, -1):
        f = f_top / n_h
        if f < lo:
            continue
        j = int(np.argmin(np.abs(freqs - f)))
        win = slice(max(0, j - 3), j + 4)
        jj = win.start + int(np.argmax(power[win]))
        if power[jj] >= max(30.0 * floor, 0.01 * top) and 0 < jj < power.size - 1 \
                and power[jj] >= power[jj - 1] and power[jj] >= power[jj + 1]:
            best_k = n_h
            break
    major_f = best_f / best_k
    ppm = 1.0 / (5.0 * major_f)
    if not MIN_PX_PER_MM <= ppm <= MAX_PX_PER_MM:
        return None, ratio
    return ppm, ratio


def _refine(power: np.ndarray, freqs: np.ndarray, i: int) -> float:
    """Sub-bin peak frequency by a parabola through the log power at i-1, i, i+1."""
    if 0 < i < power.size - 1:
        a, b, c = np.log(power[i - 1: i + 2] + 1e-12)
        denom = a - 2 * b + c
        if denom < 0:
            return float(freqs[i] + 0.5 * (a - c) / denom * (freqs[1] - freqs[0]))
    return float(freqs[i])


def _otsu(values: np.ndarray) -> float:
    hist, edges = np.histogram(values, bins=128)
    centres = 0.5 * (edges[1:] + edges[:-1])
    w0 = np.cumsum(hist)
    w1 = w0[-1] - w0
    m0 = np.cumsum(hist * centres) / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(centres[int(np.argmax(between))])


def ink_mask(page: np.ndarray) -> np.ndarray:
    """Boolean mask of dark ink (traces, pulses, text), without the grid.

    The channel in which the paper and grid are brightest hides a coloured grid best; it is
    divided by its local background (uneven light, shadows) and thresholded.
    """
    ch = page[..., int(np.argmax(page.reshape(-1, 3).mean(axis=0)))]
    h, w = ch.shape
    b = 16
    hp, wp = -(-h // b) * b, -(-w // b) * b
    padded = np.pad(ch, ((0, hp - h), (0, wp - w)), mode="edge")
    blocks = padded.reshape(hp // b, b, wp // b, b)
    # 90th percentile of each block: the paper under thin lines and traces.
    bg_small = np.percentile(blocks.transpose(0, 2, 1, 3).reshape(hp // b, wp // b, -1), 90,
                             axis=2)
    bg_small = ndimage.median_filter(bg_small, size=3)
    bg = ndimage.zoom(bg_small, (hp / bg_small.shape[0], wp / bg_small.shape[1]), order=1)
    darkness = np.clip(1.0 - ch / np.maximum(bg[:h, :w], 1.0), 0.0, 1.0)
    cand = darkness[darkness > 0.08]
    thr = 0.3 if cand.size < 100 else float(np.clip(_otsu(cand), 0.25, 0.55))
    ink = darkness > thr
    # A grey grid can be as dark as faint ink: drop pixel rows and columns that are ink across
    # a third of the page or more (grid lines; a trace is never that straight and long).
    # Only the line's own shade goes: ink crossing or lying on a grid line is darker and stays.
    for axis in (1, 0):
        lines = np.flatnonzero(ink.mean(axis=axis) > 0.35)
        if not lines.size:
            continue
        d = darkness[lines, :] if axis == 1 else darkness[:, lines]
        level = np.median(d, axis=axis, keepdims=True)
        faint = d < level + 0.25
        if axis == 1:
            ink[lines, :] &= ~faint
        else:
            ink[:, lines] &= ~faint
    return ink


def find_layout(ink: np.ndarray, grid: GridFit, *, path=None,
                layout: tuple[str, int] | None = None) -> LayoutFit:
    """Rows of traces, the layout, speed and gain.

    Rows are where ink spans most of the page width (a row's baseline is its most inked pixel
    row). Their count gives the layout: 12 rows (or more) 12 x 1; 6 or 7 rows 6 x 2 unless the
    first rows show 4 columns (then 3 x 4 with rhythm strips); 3 to 5 rows 3 x 4 with 0-2 rhythm
    strips. The traces span ``PAGE_DURATION_S``, so their length gives the speed; the calibration
    pulse's height gives the gain (defaults 25 mm/s and 10 mm/mV).

    Parameters
    ----------
    ink : boolean ink mask of the rectified page.
    grid : the grid's scale.
    path : for error messages.
    layout : the layout a clinician set, as (name in ``LAYOUT_LEADS``, number of rhythm
        strips); the rows it needs are then the clearest ones found (looked for less strictly
        when too few stand out), instead of the layout following from the rows.

    Returns
    -------
    LayoutFit

    Raises
    ------
    EcgReadError
        When the rows of traces do not form a known layout (or fewer rows than ``layout``
        needs are found).
    """
    h, w = ink.shape
    ppm_y, ppm_x = grid.px_per_mm_y, grid.px_per_mm_x
    near = ndimage.maximum_filter1d(ink, size=max(3, int(round(2 * ppm_y))), axis=0)
    cover = near.mean(axis=1)
    proj = ndimage.gaussian_filter1d(ink.sum(axis=1).astype(np.float64), max(1.0, 0.3 * ppm_y))
    peaks, _ = find_peaks(cover, height=0.3, distance=max(2, int(round(9 * ppm_y))),
                          prominence=0.1)
    if layout is not None:
        need = len(LAYOUT_LEADS[layout[0]]) + int(layout[1])
        if peaks.size < need:
            peaks, _ = find_peaks(cover, height=0.15, distance=max(2, int(round(6 * ppm_y))),
                                  prominence=0.05)
        if peaks.size < need:
            raise _refuse(path, f"{peaks.size} row(s) of traces, fewer than the {need} that "
                          f"layout {layout[0]} with {layout[1]} rhythm strip(s) needs",
                          "choose the layout printed on the page, or set its corners so "
                          "that every row is inside")
        peaks = peaks[np.sort(np.argsort(cover[peaks])[-need:])]
    if peaks.size < 3:
        raise _refuse(path, f"{peaks.size} row(s) of traces across the page",
                      "photograph the whole printout, all leads in the picture")
    win = int(round(3 * ppm_y))
    baselines = np.array([max(0, p - win) + int(np.argmax(proj[max(0, p - win): p + win + 1]))
                          for p in peaks], dtype=np.float64)
    n = baselines.size
    if n > 12:
        keep = np.sort(np.argsort(cover[peaks])[-12:])
        baselines = baselines[keep]
        n = 12
    spacing = float(np.median(np.diff(baselines)))
    rows = []
    for i, b in enumerate(baselines):
        up = (b - baselines[i - 1]) if i > 0 else spacing
        down = (baselines[i + 1] - b) if i < n - 1 else spacing
        top = int(max(0, b - 0.65 * up))
        bottom = int(min(h - 1, b + 0.65 * down))
        rows.append(_row_extent(ink, b, top, bottom, ppm_x, ppm_y))
    four_cols = _has_column_marks(ink, rows[:3], 4, ppm_x, ppm_y)
    if layout is not None:
        name, n_rhythm = layout[0], int(layout[1])
    elif n >= 10:
        name, n_rhythm = "12x1", 0
        rows = rows[:12]
    elif n in (6, 7) and not four_cols:
        name, n_rhythm = "6x2", 0
        rows = rows[:6]
    elif 3 <= n <= 7:
        name, n_rhythm = "3x4", n - 3
    else:
        raise _refuse(path, f"{n} rows of traces (expected 3-7 or 12)",
                      "open a standard 12-lead printout (3 x 4, 6 x 2 or 12 x 1)")
    starts = np.array([r.x_start for r in rows])
    ends = np.array([r.x_end for r in rows])
    x0 = float(np.median(starts))
    x1 = float(np.median(ends))
    notes = {}
    span_mm = (x1 - x0) / ppm_x
    speed = 25.0
    notes["speed"] = "default"
    for s in _STANDARD_SPEEDS_MM_S:
        if abs(span_mm / PAGE_DURATION_S - s) < 0.2 * s:
            speed = s
            notes["speed"] = "trace length"
    heights = [r.pulse_height_px / ppm_y for r in rows if r.pulse_height_px]
    gain = 10.0
    notes["gain"] = "default"
    if heights:
        h_mm = float(np.median(heights))
        for g in _STANDARD_GAINS_MM_MV:
            if abs(h_mm - g) < 0.2 * g:
                gain = g
                notes["gain"] = "calibration pulse"
    return LayoutFit(name, tuple(rows), n_rhythm, speed, gain, x0, x1, notes)


def _row_extent(ink: np.ndarray, baseline: float, top: int, bottom: int, ppm_x: float,
                ppm_y: float) -> Row:
    """Where a row's trace starts and ends, skipping a calibration pulse at its start."""
    band = ink[top:bottom + 1]
    occupied = band.any(axis=0)
    gap = max(1, int(round(3 * ppm_x)))
    closed = ndimage.binary_closing(occupied, structure=np.ones(gap))
    labels, n = ndimage.label(closed)
    if not n:
        return Row(baseline, top, bottom, 0.0, float(ink.shape[1] - 1))
    sizes = ndimage.sum_labels(closed, labels, np.arange(1, n + 1))
    run = np.flatnonzero(labels == 1 + int(np.argmax(sizes)))
    x_a, x_b = int(run[0]), int(run[-1])
    # The pulse may stand alone just before the trace (a short run) or lead into it.
    pulse_h = None
    start = x_a
    search_from = x_a
    left = np.flatnonzero(occupied[max(0, x_a - int(15 * ppm_x)):x_a])
    if left.size:
        search_from = max(0, x_a - int(15 * ppm_x)) + int(left[0])
    seg = band[:, search_from: search_from + int(14 * ppm_x)]
    if seg.size:
        has = seg.any(axis=0)
        top_ink = np.where(has, np.argmax(seg, axis=0), band.shape[0])
        height_px = (baseline - top) - top_ink
        plateau = _plateau(height_px, ppm_x, ppm_y)
        if plateau is not None:
            p_a, p_b, p_h = plateau
            pulse_h = p_h
            # After the falling edge: a gap means the trace starts after it.
            after = occupied[search_from + p_b + 1: search_from + p_b + 1 + int(5 * ppm_x)]
            holes = np.flatnonzero(~after)
            if holes.size:
                k = int(holes[-1]) + 1
                start = search_from + p_b + 1 + k
            else:
                start = search_from + p_b + 1 + max(1, int(round(0.3 * ppm_x)))
            start = max(start, x_a) if start < x_b else x_a
    return Row(float(baseline), top, bottom, float(start), float(x_b), pulse_h)


def _plateau(height_px: np.ndarray, ppm_x: float, ppm_y: float
             ) -> tuple[int, int, float] | None:
    """A flat top 2.5-12 mm long and 3-25 mm above the baseline: the 1 mV pulse."""
    ok = height_px > 3 * ppm_y
    labels, n = ndimage.label(ok)
    for k in range(1, n + 1):
        idx = np.flatnonzero(labels == k)
        hs = height_px[idx]
        med = float(np.median(hs))
        flat = np.abs(hs - med) <= max(1.0, 0.5 * ppm_y)
        length_mm = flat.sum() / ppm_x
        if 2.5 <= length_mm <= 12 and med <= 25 * ppm_y:
            return int(idx[0]), int(idx[-1]), med
    return None


def _has_column_marks(ink: np.ndarray, rows, n_cols: int, ppm_x: float, ppm_y: float) -> bool:
    """Whether the first rows change lead at quarters of their length (a vertical mark or a
    break), which a 6 x 2 page does not do at 1/4 and 3/4."""
    votes = 0
    for r in rows:
        span = r.x_end - r.x_start
        for frac in (0.25, 0.75):
            x = int(round(r.x_start + frac * span))
            lo = max(0, x - int(round(1.5 * ppm_x)))
            cols = ink[int(r.baseline_y - 2.5 * ppm_y): int(r.baseline_y + 2.5 * ppm_y) + 1,
                       lo: x + int(round(1.5 * ppm_x)) + 1]
            if cols.size == 0:
                continue
            if cols.mean(axis=0).max() > 0.9:
                votes += 1
    return votes >= max(2, 2 * len(rows) - 1)


def extract_traces(ink: np.ndarray, layout: LayoutFit, grid: GridFit,
                   rhythm_leads: tuple[str, ...] = ()) -> list[Trace]:
    """Each panel's trace, followed column by column through the ink of its row.

    In every pixel column the run of ink nearest the previous point is kept (continuity keeps
    the trace off its neighbours' spikes and off labels). Its centre is the value, except at a
    peak, where the run's extreme is (a steep R wave fills one column from base to apex).

    Parameters
    ----------
    ink : boolean ink mask of the rectified page.
    layout : from :func:`find_layout`.
    grid : from :func:`find_grid`.
    rhythm_leads : names to give the rhythm strips (unnamed strips are returned as ``"?"``).

    Returns
    -------
    list of Trace, one per panel (rhythm strips last).
    """
    ppm_x, ppm_y = grid.px_per_mm_x, grid.px_per_mm_y
    px_per_s = ppm_x * layout.speed_mm_s
    px_per_mv = ppm_y * layout.gain_mm_mv
    grid_leads = LAYOUT_LEADS[layout.name]
    n_cols = len(grid_leads[0])
    x_start, x_end = layout.x_start, layout.x_end
    col_px = (x_end - x_start) / n_cols
    traces = []
    for r, row in enumerate(layout.rows):
        xs = np.arange(int(np.floor(x_start)), int(np.ceil(x_end)) + 1)
        xs = xs[(xs >= 0) & (xs < ink.shape[1])]
        # One value per column, at the column's own index: the coordinates of ``x_start``.
        y = _value(*_track(ink, row, xs, ppm_y))
        if r < len(grid_leads):
            panels = [(grid_leads[r][c], c) for c in range(n_cols)]
        else:
            k = r - len(grid_leads)
            panels = [(rhythm_leads[k] if k < len(rhythm_leads) else "?", -1)]
        for lead, c in panels:
            if c >= 0:
                # Skip 0.5 mm either side of a column change, where the separator mark is.
                a = x_start + c * col_px + (0.5 * ppm_x if c > 0 else 0)
                b = x_start + (c + 1) * col_px - (0.5 * ppm_x if c < n_cols - 1 else 0)
            else:
                a, b = x_start, x_end
            sel = (xs >= a) & (xs <= b)
            x_sel = xs[sel].astype(np.float64)
            y_sel = y[sel]
            good = np.isfinite(y_sel)
            conf = float(good.mean()) if good.size else 0.0
            t = (x_sel - x_start) / px_per_s
            mv = (row.baseline_y - y_sel) / px_per_mv
            traces.append(Trace(lead, t, mv, y_sel, x_sel, r, c, conf))
    return traces


def _track(ink: np.ndarray, row: Row, xs: np.ndarray, ppm_y: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom (pixels) of the ink run followed in each column; NaN where none."""
    band = ink[row.top_y: row.bottom_y + 1, :]
    top = np.full(xs.size, np.nan)
    bot = np.full(xs.size, np.nan)
    prev = row.baseline_y - row.top_y
    max_jump = 4.0 * ppm_y
    baseline = row.baseline_y - row.top_y
    # After this many columns without a run near the last point the trace was lost (it had
    # followed a mark or a label): pick it up again at the run nearest the baseline.
    lost_after = max(2, int(round(1.0 * ppm_y)))
    misses = 0
    for i, x in enumerate(xs):
        col = band[:, x]
        if not col.any():
            misses += 1
            continue
        # A run's edges: where the column changes from paper to ink and back.
        d = np.diff(np.concatenate(([0], col.view(np.int8), [0])))
        starts = np.flatnonzero(d == 1)
        stops = np.flatnonzero(d == -1) - 1
        ref = prev if misses < lost_after else baseline
        dist = np.where(ref < starts, starts - ref, np.where(ref > stops, ref - stops, 0))
        j = int(np.argmin(dist))
        if dist[j] > max_jump:
            misses += 1
            continue
        misses = 0
        top[i], bot[i] = starts[j], stops[j]
        prev = 0.5 * (starts[j] + stops[j])
    return top + row.top_y, bot + row.top_y


def _value(top: np.ndarray, bot: np.ndarray) -> np.ndarray:
    """Pixel y of the signal in each column, from the ink run followed there.

    Where the line passes straight through a column (flat or steep alike) the run is the
    stroke swept along the segment and its middle is the value. Where the run sticks out
    above both neighbours' runs the column holds a peak, whose value is the run's top plus
    half a stroke (a steep R wave fills the column from base to apex); a trough likewise.
    Returns one value per column, NaN where the column is empty.
    """
    length = bot - top + 1
    ok = np.isfinite(length)
    if ok.sum() < 2:
        return np.full(top.size, np.nan)
    half = 0.5 * float(np.median(length[ok]))
    y = 0.5 * (top + bot)
    inf = np.array([np.inf])
    t_prev = np.concatenate((inf, top[:-1]))
    t_next = np.concatenate((top[1:], inf))
    b_prev = np.concatenate((-inf, bot[:-1]))
    b_next = np.concatenate((bot[1:], -inf))
    with np.errstate(invalid="ignore"):
        tall = length > 3 * half
        # fmin/fmax skip an empty neighbour (NaN): beside a gap the other side decides.
        peak = tall & ~(top > np.fmin(t_prev, t_next))
        trough = tall & ~(bot < np.fmax(b_prev, b_next))
    y = np.where(peak & ~trough, top + half, y)
    y = np.where(trough & ~peak, bot - half, y)
    return y
