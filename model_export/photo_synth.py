"""Training and test pictures of paper ECGs, with their ground truth.

Real PTB-XL records are drawn by the app's own paper renderer
(:func:`desktop_app.render.render_image`), then restyled (grid colour, ink colour and line
width, as different electrocardiographs print them) and damaged the way phone photos and scans
are (perspective, rotation, a table around the page, uneven light and shadow, colour cast, blur,
sensor noise, JPEG). Everything is drawn from one ``numpy`` generator seeded by the caller, so a
seed gives the same picture on every machine.

Ground truth comes with every picture: the record, the layout, speed, gain, the renderer's
pixels per mm, and the homography that maps rendered-page pixels to picture pixels.

``python -m model_export.photo_synth --out DIR --ids 9,38 --seed 0`` writes PNGs and their
truth as JSON (a cache: an existing pair is not drawn again).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from desktop_app.ecg import EcgRecord, read_ecg
from desktop_app.render import LAYOUT_NAMES, render_image

log = logging.getLogger(__name__)

#: Kinds of photo damage, in the order they are applied.
DAMAGES = ("perspective", "rotation", "background", "light", "cast", "blur", "noise", "jpeg")

# Grid palettes printed by real machines and paper stocks: (paper, minor, major, ink), RGB.
PALETTES: dict[str, tuple[tuple[int, int, int], ...]] = {
    "pink": ((255, 250, 248), (248, 206, 206), (226, 120, 120), (20, 20, 28)),
    "orange": ((252, 246, 236), (246, 196, 160), (228, 110, 60), (40, 30, 70)),
    "red": ((255, 255, 255), (250, 190, 190), (235, 80, 80), (0, 0, 0)),
    "grey": ((250, 250, 250), (215, 215, 215), (150, 150, 150), (10, 10, 10)),
    "green": ((248, 252, 248), (200, 232, 200), (110, 180, 110), (20, 30, 20)),
    "blue": ((248, 250, 255), (200, 215, 245), (110, 140, 215), (15, 15, 40)),
}
# Renderer colours the recolouring starts from (desktop_app.render._raster).
_RENDER_PAPER = np.array((255, 250, 248), dtype=np.float32)
_RENDER_MAJOR = np.array((226, 120, 120), dtype=np.float32)
_RENDER_INK = np.array((20, 20, 28), dtype=np.float32)

# Printout scales seen in scans and photos: 4 px/mm (100 dpi) to 12 px/mm (300 dpi).
PX_PER_MM_RANGE = (4.0, 12.0)


@dataclass
class SynthPicture:
    """A picture of a paper ECG and what is on it.

    Attributes
    ----------
    image : RGB picture.
    record : the ECG that was drawn (its first 10 s are on the page).
    layout : ``"3x4"``, ``"6x2"`` or ``"12x1"``.
    speed_mm_s, gain_mm_mv : paper speed and gain of the printout.
    px_per_mm : the renderer's scale (pixels per mm on the flat page, before damage).
    homography : 3x3, maps rendered-page pixel (x, y, 1) to picture pixel coordinates.
    page_size_px : (width, height) of the flat rendered page.
    palette : name in :data:`PALETTES`.
    damages : damage name -> its parameters (empty for a clean render).
    seed : the seed that made it.
    """

    image: Image.Image
    record: EcgRecord
    layout: str
    speed_mm_s: float
    gain_mm_mv: float
    px_per_mm: float
    homography: np.ndarray
    page_size_px: tuple[int, int]
    palette: str
    damages: dict[str, Any] = field(default_factory=dict)
    seed: int = 0

    def truth_json(self) -> dict[str, Any]:
        """Ground truth as plain JSON types (the record by its source path)."""
        return {
            "record": str(self.record.source_path) if self.record.source_path else None,
            "layout": self.layout, "speed_mm_s": self.speed_mm_s,
            "gain_mm_mv": self.gain_mm_mv, "px_per_mm": self.px_per_mm,
            "homography": self.homography.tolist(), "page_size_px": list(self.page_size_px),
            "palette": self.palette, "damages": self.damages, "seed": self.seed,
        }


def ptbxl_record_path(ecg_id: int, root: str | Path) -> Path:
    """Header path of a PTB-XL record at 100 Hz under ``root`` (a folder holding ``records100``).

    Parameters
    ----------
    ecg_id : PTB-XL ``ecg_id``.
    root : folder with ``records100/NNNNN/NNNNN_lr.hea`` (the shared data's ``ptbxl`` folder or
        an unpacked cache).

    Returns
    -------
    Path
    """
    return Path(root) / "records100" / f"{ecg_id // 1000 * 1000:05d}" / f"{ecg_id:05d}_lr.hea"


def fold_ids(metadata_csv: str | Path, fold: int, *, available_under: str | Path | None = None
             ) -> list[int]:
    """PTB-XL ``ecg_id`` of one stratified fold (1-8 train, 9 choose, 10 report).

    Parameters
    ----------
    metadata_csv : ``ptbxl_metadata.csv``.
    fold : ``strat_fold`` value.
    available_under : when given, keep only ids whose header exists under this root.

    Returns
    -------
    list of int, ascending.
    """
    with open(metadata_csv, newline="", encoding="utf-8") as fh:
        ids = sorted(int(r["ecg_id"]) for r in csv.DictReader(fh) if int(r["strat_fold"]) == fold)
    if available_under is not None:
        ids = [i for i in ids if ptbxl_record_path(i, available_under).is_file()]
    return ids


def synth_picture(
    record: EcgRecord,
    seed: int,
    *,
    layout: str | None = None,
    px_per_mm: float | None = None,
    speed_mm_s: float = 25.0,
    gain_mm_mv: float = 10.0,
    palette: str | None = None,
    damages: Sequence[str] | None = None,
    strength: float = 0.5,
    thick_ink: bool | None = None,
) -> SynthPicture:
    """Draw one picture of a paper ECG.

    Parameters
    ----------
    record : the ECG to draw.
    seed : seeds every random choice.
    layout : one of ``LAYOUT_NAMES``; random when None.
    px_per_mm : renderer scale in px/mm; random in :data:`PX_PER_MM_RANGE` when None.
    speed_mm_s, gain_mm_mv : printout speed (mm/s) and gain (mm/mV).
    palette : grid palette name (:data:`PALETTES`); random when None.
    damages : names from :data:`DAMAGES` to apply; ``()`` gives a clean render; None picks a
        random subset.
    strength : 0..1, how hard each damage hits.
    thick_ink : draw the trace thicker (some printers); random when None.

    Returns
    -------
    SynthPicture
    """
    rng = np.random.default_rng(seed)
    layout = layout or str(rng.choice(LAYOUT_NAMES))
    ppm = float(px_per_mm) if px_per_mm is not None else float(rng.uniform(*PX_PER_MM_RANGE))
    palette = palette or str(rng.choice(sorted(PALETTES)))
    if damages is None:
        damages = tuple(d for d in DAMAGES if rng.random() < 0.5)
    unknown = set(damages) - set(DAMAGES)
    if unknown:
        raise ValueError(f"unknown damages {sorted(unknown)}; expected names from {DAMAGES}")
    if thick_ink is None:
        thick_ink = bool(rng.random() < 0.3)
    strength = float(np.clip(strength, 0.0, 1.0))
    page = render_image(record, layout=layout, speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv,
                        px_per_mm=ppm)
    rgb = _restyle(np.asarray(page, dtype=np.float32), PALETTES[palette], thick_ink, ppm)
    applied: dict[str, Any] = {}
    img, H = _geometry(rgb, damages, strength, rng, applied)
    img = _photometric(img, damages, strength, ppm, rng, applied)
    return SynthPicture(
        image=Image.fromarray(img), record=record, layout=layout, speed_mm_s=speed_mm_s,
        gain_mm_mv=gain_mm_mv, px_per_mm=ppm, homography=H, page_size_px=page.size,
        palette=palette, damages=applied, seed=int(seed),
    )


def _restyle(rgb: np.ndarray, colours: tuple[tuple[int, int, int], ...], thick: bool,
             ppm: float) -> np.ndarray:
    """Recolour the renderer's pink page: separate ink and grid, then mix the new colours."""
    paper, minor, major, ink = (np.array(c, dtype=np.float32) for c in colours)
    r, g = rgb[..., 0], rgb[..., 1]
    # The red channel barely sees the pink grid, so it measures ink coverage; red minus green
    # measures grid strength (paper 5, minor 42, major 106, ink ~0).
    ink_a = np.clip((_RENDER_PAPER[0] - r) / (_RENDER_PAPER[0] - _RENDER_INK[0]), 0, 1)
    ink_a = np.where(ink_a > 0.13, ink_a, 0.0)  # major grid lines have r = 226 (0.12)
    grid = np.clip((r - g - 5.0) / (_RENDER_MAJOR[0] - _RENDER_MAJOR[1] - 5.0), 0, 1)
    if thick:
        ink_a = ndimage.grey_dilation(ink_a, size=(2 if ppm < 8 else 3,) * 2)
    minor_level = (248 - 206 - 5.0) / 101.0
    # Piecewise: paper -> minor colour up to the minor level, then -> major colour.
    t1 = np.clip(grid / minor_level, 0, 1)[..., None]
    t2 = np.clip((grid - minor_level) / (1 - minor_level), 0, 1)[..., None]
    bg = paper * (1 - t1) + minor * t1
    bg = bg * (1 - t2) + major * t2
    out = bg * (1 - ink_a[..., None]) + ink * ink_a[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def _geometry(rgb: np.ndarray, damages: Sequence[str], strength: float,
              rng: np.random.Generator, applied: dict[str, Any]
              ) -> tuple[np.ndarray, np.ndarray]:
    h, w = rgb.shape[:2]
    if not {"perspective", "rotation", "background"} & set(damages):
        return rgb, np.eye(3)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    dst = src.copy()
    centre = np.array([w / 2, h / 2])
    if "rotation" in damages:
        angle = float(rng.uniform(-1, 1) * 6.0 * strength)
        a = np.deg2rad(angle)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        dst = (dst - centre) @ rot.T + centre
        applied["rotation"] = {"angle_deg": angle}
    if "perspective" in damages:
        jitter = rng.uniform(-1, 1, size=(4, 2)) * 0.06 * strength * np.array([w, h])
        dst = dst + jitter
        applied["perspective"] = {"corner_shift_px": jitter.round(1).tolist()}
    margin = 0.0
    if "background" in damages:
        margin = float(rng.uniform(0.04, 0.04 + 0.12 * strength))
        applied["background"] = {"margin": margin}
    lo = dst.min(axis=0)
    span = dst.max(axis=0) - lo
    pad = span * margin
    dst = dst - lo + pad
    out_w, out_h = (int(np.ceil(v)) for v in span + 2 * pad)
    H = _homography(src, dst)
    Hinv = np.linalg.inv(H)
    Hinv = Hinv / Hinv[2, 2]
    coeffs = tuple(Hinv.ravel()[:8])
    page = Image.fromarray(rgb).transform((out_w, out_h), Image.Transform.PERSPECTIVE, coeffs,
                                          Image.Resampling.BILINEAR)
    alpha = Image.new("L", (w, h), 255).transform((out_w, out_h), Image.Transform.PERSPECTIVE,
                                                  coeffs, Image.Resampling.BILINEAR)
    base = _table(out_h, out_w, rng)
    a = np.asarray(alpha, dtype=np.float32)[..., None] / 255.0
    out = np.asarray(page, dtype=np.float32) * a + base * (1 - a)
    return np.clip(out, 0, 255).astype(np.uint8), H


def _table(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A desk: a dull colour with a smooth texture, darker than most paper."""
    colour = rng.uniform(40, 170, size=3).astype(np.float32)
    small = rng.normal(0, 1, size=(max(2, h // 64), max(2, w // 64))).astype(np.float32)
    texture = ndimage.zoom(small, (h / small.shape[0], w / small.shape[1]), order=1)[:h, :w]
    texture = np.pad(texture, ((0, h - texture.shape[0]), (0, w - texture.shape[1])), "edge")
    return colour[None, None, :] * (1 + 0.12 * texture[..., None])


def _photometric(img: np.ndarray, damages: Sequence[str], strength: float, ppm: float,
                 rng: np.random.Generator, applied: dict[str, Any]) -> np.ndarray:
    out = img.astype(np.float32)
    h, w = out.shape[:2]
    if "light" in damages:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        gx, gy = rng.uniform(-1, 1, size=2)
        plane = (gx * (xx / w - 0.5) + gy * (yy / h - 0.5))
        field_ = 1 - 0.35 * strength * (plane - plane.min()) / max(np.ptp(plane), 1e-6)
        # One soft shadow edge, as from a phone or a hand over the page.
        nx, ny = rng.normal(size=2)
        c = rng.uniform(0.2, 0.8)
        d = (nx * (xx / w - c) + ny * (yy / h - 0.5)) / np.hypot(nx, ny)
        shadow = 1 - 0.3 * strength / (1 + np.exp(-d * 30))
        out *= (field_ * shadow)[..., None]
        applied["light"] = {"gradient": [float(gx), float(gy)], "shadow_centre": float(c)}
    if "cast" in damages:
        gains = 1 + rng.uniform(-1, 1, size=3) * 0.12 * strength
        out *= gains[None, None, :].astype(np.float32)
        applied["cast"] = {"gains": gains.round(3).tolist()}
    out = np.clip(out, 0, 255).astype(np.uint8)
    pil = Image.fromarray(out)
    if "blur" in damages:
        radius = float(rng.uniform(0.3, 0.3 + 1.2 * strength) * ppm / 8.0)
        pil = pil.filter(ImageFilter.GaussianBlur(radius))
        applied["blur"] = {"radius_px": radius}
    if "noise" in damages:
        sigma = float(rng.uniform(2, 2 + 14 * strength))
        arr = np.asarray(pil, dtype=np.float32) + rng.normal(0, sigma, size=(h, w, 1))
        pil = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
        applied["noise"] = {"sigma": sigma}
    if "jpeg" in damages:
        quality = int(rng.integers(max(10, int(90 - 70 * strength)), 92))
        buf = io.BytesIO()
        pil.save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        pil = Image.open(buf).convert("RGB")
        applied["jpeg"] = {"quality": quality}
    return np.asarray(pil)


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """3x3 H with dst ~ H @ src, from four point pairs (direct linear transform)."""
    rows = []
    for (x, y), (u, v) in zip(src, dst):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.asarray(rows, dtype=np.float64))
    H = vt[-1].reshape(3, 3)
    return H / H[2, 2]


def write_pictures(ids: Sequence[int], ptbxl_root: str | Path, out_dir: str | Path, seed: int,
                   **kwargs: Any) -> list[Path]:
    """Draw one picture per record into ``out_dir`` (PNG + ``.json`` truth), reusing existing ones.

    Parameters
    ----------
    ids : PTB-XL ``ecg_id`` values.
    ptbxl_root : folder holding ``records100``.
    out_dir : output folder (created).
    seed : base seed; picture ``k`` uses ``seed * 1_000_003 + ecg_id``.
    **kwargs : passed to :func:`synth_picture`.

    Returns
    -------
    list of Path, the PNG files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ecg_id in ids:
        png = out / f"{ecg_id:05d}_s{seed}.png"
        paths.append(png)
        if png.is_file() and png.with_suffix(".json").is_file():
            continue
        pic = synth_picture(read_ecg(ptbxl_record_path(ecg_id, ptbxl_root)),
                            seed * 1_000_003 + ecg_id, **kwargs)
        pic.image.save(png)
        png.with_suffix(".json").write_text(json.dumps(pic.truth_json(), indent=1))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_export.photo_synth", description=__doc__)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--ptbxl", type=Path, default=Path(__file__).resolve().parents[2]
                    / "shared" / "data" / "ptbxl")
    ap.add_argument("--ids", required=True, help="comma-separated ecg_id values")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clean", action="store_true", help="no damage")
    args = ap.parse_args(argv)
    ids = [int(v) for v in args.ids.split(",") if v.strip()]
    kw = {"damages": ()} if args.clean else {}
    for p in write_pictures(ids, args.ptbxl, args.out, args.seed, **kw):
        print(p)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
