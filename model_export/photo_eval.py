"""Scores of the digitiser on generated pictures: SNR and Pearson r per lead.

SNR follows the PhysioNet Challenge 2024 definition, ``10 log10(sum(x^2) / sum((x - y)^2))``
with x the true and y the digitised signal, after its alignment allowances: a small time shift
(the best of a few samples either way, by cross-correlation) and a constant vertical offset
(the mean difference). Only the time window a lead is printed in is scored.

``python -m model_export.photo_eval --ptbxl DIR --fold 10 --n 20`` prints medians for clean and
damaged pictures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource, read_ecg
from desktop_app.errors import EcgReadError
from desktop_app.photo._digitise import digitise_array
from model_export.photo_synth import DAMAGES, fold_ids, ptbxl_record_path, synth_picture

#: Largest time shift allowed when aligning, in seconds (a few samples at 100 Hz).
MAX_SHIFT_S = 0.05


def align(x: np.ndarray, y: np.ndarray, max_shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Shift ``y`` against ``x`` by the lag (|lag| <= max_shift samples) that maximises their
    correlation, crop both to the overlap, then remove the mean offset of ``y``.

    Parameters
    ----------
    x, y : equal-length 1-D arrays (true, digitised), mV.
    max_shift : largest lag in samples (at most a quarter of the length is used).

    Returns
    -------
    x, y : aligned, equal-length arrays.
    """
    best, best_c = 0, -np.inf
    n = len(x)
    max_shift = min(max_shift, n // 4)
    for lag in range(-max_shift, max_shift + 1):
        a, b = (x[lag:], y[: n - lag]) if lag >= 0 else (x[: n + lag], y[-lag:])
        if len(a) < 4:
            continue
        c = float(np.dot(a - a.mean(), b - b.mean()))
        if c > best_c:
            best, best_c = lag, c
    lag = best
    a, b = (x[lag:], y[: n - lag]) if lag >= 0 else (x[: n + lag], y[-lag:])
    return a, b - b.mean() + a.mean()


def snr_db(x: np.ndarray, y: np.ndarray) -> float:
    """Signal-to-noise ratio in dB of the digitised ``y`` against the true ``x``."""
    noise = float(np.sum((x - y) ** 2))
    signal = float(np.sum(x ** 2))
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return 10.0 * np.log10(signal / noise)


def score_record(truth: EcgRecord, digitised: EcgRecord) -> dict[str, dict[str, float]]:
    """Per-lead SNR (dB) and Pearson r over each lead's printed window.

    Parameters
    ----------
    truth : the record that was drawn (same rate as ``digitised``).
    digitised : the digitiser's output, with ``meta["photo"]["windows_s"]``.

    Returns
    -------
    dict lead -> {"snr_db", "r"}; a missing lead scores SNR 0 dB and r 0 (as the Challenge
    scores an empty output).
    """
    fs = digitised.fs_hz
    windows = digitised.meta.get("photo", {}).get("windows_s", {})
    out = {}
    for i, lead in enumerate(LEADS_12):
        if digitised.lead_sources[i] is LeadSource.MISSING or lead not in windows:
            out[lead] = {"snr_db": 0.0, "r": 0.0}
            continue
        t0, t1 = windows[lead]
        a = int(np.ceil(t0 * fs))
        b = min(int(np.floor(t1 * fs)) + 1, truth.n_samples, digitised.n_samples)
        if b - a < 8:  # the window lies outside the recording: nothing to score
            out[lead] = {"snr_db": 0.0, "r": 0.0}
            continue
        x = truth.signal[i, a:b].astype(np.float64)
        y = digitised.signal[i, a:b].astype(np.float64)
        x, y = align(x, y, int(round(MAX_SHIFT_S * fs)))
        r = float(np.corrcoef(x, y)[0, 1]) if np.std(x) > 0 and np.std(y) > 0 else 0.0
        out[lead] = {"snr_db": snr_db(x, y), "r": r}
    return out


def evaluate(ids: Sequence[int], ptbxl_root: str | Path, *, damages: Sequence[str] | None,
             seed: int = 0, strength: float = 0.5, **kwargs: Any) -> dict[str, Any]:
    """Draw, digitise and score one picture per record.

    Returns
    -------
    dict with per-picture lists (``snr_db``, ``r``: medians over leads; ``seconds``;
    ``refused``: reasons) and overall medians.
    """
    snrs, rs, secs, refused, ppm_err, layout_ok = [], [], [], [], [], []
    for ecg_id in ids:
        rec = read_ecg(ptbxl_record_path(ecg_id, ptbxl_root))
        pic = synth_picture(rec, seed * 1_000_003 + ecg_id, damages=damages, strength=strength,
                            **kwargs)
        t = time.perf_counter()
        try:
            d = digitise_array(np.asarray(pic.image), fs_hz=rec.fs_hz)
        except EcgReadError as exc:
            refused.append(f"{ecg_id}: {exc.found}")
            continue
        finally:
            secs.append(time.perf_counter() - t)
        scores = score_record(rec, d.record)
        snrs.append(float(np.median([s["snr_db"] for s in scores.values()])))
        rs.append(float(np.median([s["r"] for s in scores.values()])))
        scale = np.sqrt(abs(np.linalg.det(pic.homography[:2, :2])))
        ppm_err.append(abs(d.grid.px_per_mm / (pic.px_per_mm * scale) - 1))
        layout_ok.append(d.layout.name == pic.layout)
    return {
        "n": len(ids), "refused": refused, "snr_db": snrs, "r": rs, "seconds": secs,
        "median_snr_db": float(np.median(snrs)) if snrs else float("nan"),
        "median_r": float(np.median(rs)) if rs else float("nan"),
        "median_seconds": float(np.median(secs)) if secs else float("nan"),
        "median_px_per_mm_error": float(np.median(ppm_err)) if ppm_err else float("nan"),
        "layout_accuracy": float(np.mean(layout_ok)) if layout_ok else float("nan"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_export.photo_eval", description=__doc__)
    ap.add_argument("--ptbxl", type=Path, required=True, help="folder holding records100")
    ap.add_argument("--metadata", type=Path, default=None)
    ap.add_argument("--fold", type=int, default=10)
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    meta = args.metadata or args.ptbxl / "ptbxl_metadata.csv"
    ids = fold_ids(meta, args.fold, available_under=args.ptbxl)[: args.n]
    for name, damages in [("clean", ())] + [(d, (d,)) for d in DAMAGES] + [("mixed", None)]:
        res = evaluate(ids, args.ptbxl, damages=damages, seed=args.seed)
        print(f"{name:12s} SNR {res['median_snr_db']:6.2f} dB  r {res['median_r']:.3f}  "
              f"refused {len(res['refused'])}/{res['n']}  layout {res['layout_accuracy']:.2f}  "
              f"ppm err {res['median_px_per_mm_error']:.4f}  {res['median_seconds']:.2f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
