"""Scores of the digitiser on generated pictures: SNR and Pearson r per lead.

SNR follows the PhysioNet Challenge 2024 definition, ``10 log10(sum(x^2) / sum((x - y)^2))``
with x the true and y the digitised signal, after its alignment allowances: a small time shift
(the best of a few samples either way, by cross-correlation) and a constant vertical offset
(the mean difference). Only the time window a lead is printed in is scored.

``python -m model_export.photo_eval --ptbxl DIR --fold 10 --n 20`` prints medians for clean and
damaged pictures; with ``--report model_export/PHOTO_RESULTS.md`` it writes the results document
(per-lead SNR and r for clean renders and for every damage at two strengths, refusals and
missing leads, seconds per picture, sizes, and retrieval from the picture against retrieval
from the file when ``assets/`` holds the shipped encoder and library).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import time
from datetime import datetime, timezone
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


#: Damage strengths reported for each damage type (0..1, see ``synth_picture``).
STRENGTHS = (0.3, 0.8)
_NOT_MEASURED = "not yet measured: needs the shipped encoder"


def _conditions(strengths: Sequence[float]) -> list[tuple[str, tuple[str, ...] | None, float]]:
    out: list[tuple[str, tuple[str, ...] | None, float]] = [("clean", (), 0.0)]
    out += [(d, (d,), s) for d in DAMAGES for s in strengths]
    out.append(("mixed", None, 0.5))
    return out


def _superclasses(metadata_csv: str | Path) -> dict[int, frozenset[str]]:
    classes = ("NORM", "MI", "STTC", "CD", "HYP")
    with open(metadata_csv, newline="", encoding="utf-8") as fh:
        return {int(r["ecg_id"]): frozenset(c for c in classes if r.get(c) == "1")
                for r in csv.DictReader(fh)}


def _search_finder(assets_root: Path):
    """A CaseFinder over the shipped assets, or None when the encoder or library is absent."""
    from desktop_app.assets import SEARCH_ASSETS

    if not all((assets_root / name).is_file() for name in SEARCH_ASSETS):
        return None
    from desktop_app.service import CaseFinder

    return CaseFinder(assets_root=assets_root, include_clinic=False)


def run_report(ids_by_condition: dict[str, Sequence[int]], ptbxl_root: str | Path,
               metadata_csv: str | Path, *, seed: int = 0,
               strengths: Sequence[float] = STRENGTHS,
               assets_root: str | Path | None = None) -> dict[str, Any]:
    """Score every condition and, when the shipped assets exist, retrieval from pictures.

    Parameters
    ----------
    ids_by_condition : condition name (``"clean"``, a damage name, ``"mixed"``) -> PTB-XL ids.
    ptbxl_root : folder holding ``records100``.
    metadata_csv : ``ptbxl_metadata.csv`` (diagnostic superclasses for precision at 10).
    seed : picture seeds are ``seed * 1_000_003 + ecg_id``.
    strengths : damage strengths.
    assets_root : the app's ``assets/``; default: the checkout's.

    Returns
    -------
    dict with ``rows`` (one per condition and strength: per-lead SNR and r medians, refusals,
    pictures with missing leads, seconds) and ``retrieval`` (None when not measurable).
    """
    from desktop_app.assets import default_assets_root

    root = Path(assets_root) if assets_root else default_assets_root()
    finder = _search_finder(root)
    labels = _superclasses(metadata_csv) if finder is not None else {}
    rows, retrieval = [], {"overlap": [], "p10_picture": [], "p10_file": []}
    by_layout: dict[str, dict[str, list[float]]] = {}
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    for name, damages, strength in _conditions(strengths):
        ids = ids_by_condition.get(name, ())
        per_lead_snr = {lead: [] for lead in LEADS_12}
        per_lead_r = {lead: [] for lead in LEADS_12}
        refused, missing, secs, pics_snr = [], 0, [], []
        for ecg_id in ids:
            rec = read_ecg(ptbxl_record_path(ecg_id, ptbxl_root))
            pic = synth_picture(rec, seed * 1_000_003 + ecg_id, damages=damages,
                                strength=strength)
            t = time.perf_counter()
            try:
                d = digitise_array(np.asarray(pic.image), fs_hz=rec.fs_hz)
            except EcgReadError as exc:
                refused.append(f"{ecg_id}: {exc.found}")
                for lead in LEADS_12:  # an empty output, as the Challenge scores it
                    per_lead_snr[lead].append(0.0)
                    per_lead_r[lead].append(0.0)
                pics_snr.append(0.0)
                continue
            finally:
                secs.append(time.perf_counter() - t)
            scores = score_record(rec, d.record)
            missing += int(any(s is LeadSource.MISSING for s in d.record.lead_sources))
            for lead, sc in scores.items():
                per_lead_snr[lead].append(sc["snr_db"])
                per_lead_r[lead].append(sc["r"])
            pics_snr.append(float(np.median([sc["snr_db"] for sc in scores.values()])))
            if finder is not None and name in ("clean", "mixed"):
                from_pic = finder.find_similar(d.record, 10).hits
                from_file = finder.find_similar(rec, 10).hits
                keys_pic = {h.case_key for h in from_pic}
                retrieval["overlap"].append(len(keys_pic & {h.case_key for h in from_file}) / 10)
                mine = labels.get(ecg_id, frozenset())
                per = by_layout.setdefault(d.record.meta["photo"]["layout"],
                                           {"p10_picture": [], "p10_file": []})
                for key, hits in (("p10_picture", from_pic), ("p10_file", from_file)):
                    if mine:
                        value = float(np.mean([
                            bool(mine & labels.get(h.ecg_id, frozenset())) for h in hits]))
                        retrieval[key].append(value)
                        per[key].append(value)
        all_snr = np.concatenate([per_lead_snr[lead] for lead in LEADS_12]) if pics_snr else []
        all_r = np.concatenate([per_lead_r[lead] for lead in LEADS_12]) if pics_snr else []
        rows.append({
            "condition": name, "strength": strength, "n": len(ids),
            "read": len(ids) - len(refused),
            "refused": refused, "with_missing_leads": missing,
            "median_snr_db": float(np.median(all_snr)) if len(all_snr) else float("nan"),
            "median_r": float(np.median(all_r)) if len(all_r) else float("nan"),
            "picture_median_snr_db": pics_snr,
            "lead_snr_db": {k: float(np.median(v)) if v else float("nan")
                            for k, v in per_lead_snr.items()},
            "lead_r": {k: float(np.median(v)) if v else float("nan")
                       for k, v in per_lead_r.items()},
            "seconds": secs,
        })
        log_row = rows[-1]
        print(f"{name:12s} s={strength:.1f} SNR {log_row['median_snr_db']:6.2f} dB "
              f"r {log_row['median_r']:.3f} refused {len(refused)}/{len(ids)} "
              f"{np.median(secs) if secs else float('nan'):.2f} s", flush=True)
    measured = finder is not None and retrieval["overlap"]
    return {"rows": rows, "retrieval": {k: float(np.mean(v)) if v else float("nan")
                                        for k, v in retrieval.items()} if measured else None,
            "retrieval_by_layout": {name: {"n": len(v["p10_file"]),
                                           **{k: float(np.mean(x)) for k, x in v.items() if x}}
                                    for name, v in sorted(by_layout.items())},
            "load_at_start": load_start,
            "assets_root": str(root), "encoder_bytes": _size(root / "models" / "image_encoder.onnx")}


def _size(path: Path) -> int | None:
    return path.stat().st_size if path.is_file() else None


def _code_bytes() -> int:
    folder = Path(__file__).resolve().parents[1] / "desktop_app" / "photo"
    return sum(p.stat().st_size for p in folder.glob("*.py"))


def write_report(result: dict[str, Any], out: str | Path, *, sample: str, seed: int) -> Path:
    """Write ``PHOTO_RESULTS.md`` from :func:`run_report`'s result."""
    rows = result["rows"]
    clean = next(r for r in rows if r["condition"] == "clean")
    damaged = [r for r in rows if r["condition"] not in ("clean",)]
    dmg_snr = [v for r in damaged for v in r["picture_median_snr_db"]]
    secs = [v for r in rows for v in r["seconds"]]
    n_all = sum(r["n"] for r in rows)
    n_ref = sum(len(r["refused"]) for r in rows)
    n_miss = sum(r["with_missing_leads"] for r in rows)

    def f(v, digits=1):
        return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"

    lines = [
        "# Photo digitisation results",
        "",
        "Generated by `python -m model_export.photo_eval --report` "
        f"({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC); do not edit by hand.",
        "",
        f"Sample: {sample}; picture seed {seed}. Pictures are PTB-XL fold-10 records (100 Hz) "
        "drawn by the app's renderer and restyled/damaged by `model_export/photo_synth.py` "
        "(random layout 3x4/6x2/12x1, 4-12 px/mm, grid palette, ink width).",
        "",
        "**Scoring.** SNR = 10 log10(sum x^2 / sum (x - y)^2) per lead (x true, y digitised), as "
        "the PhysioNet Challenge 2024 defines it, after its alignment allowances: the best "
        f"integer-sample time shift within ±{MAX_SHIFT_S * 1000:.0f} ms and removal of a constant "
        "vertical offset. Only the time window each lead is printed in is scored (a 3x4 page "
        "shows a lead for 2.5 s); a missing lead or a refused picture scores 0 dB and r = 0 "
        "in the per-lead rows, as the Challenge scores an empty output. Pearson r on the same "
        "aligned window.",
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| median SNR, clean renders >= 20 dB | {f(np.median(clean['picture_median_snr_db']) if clean['picture_median_snr_db'] else None)} dB | "
        f"{'yes' if clean['picture_median_snr_db'] and np.median(clean['picture_median_snr_db']) >= 20 else 'no'} |",
        f"| median SNR, damaged pictures >= 12 dB | {f(np.median(dmg_snr) if dmg_snr else None)} dB | "
        f"{'yes' if dmg_snr and np.median(dmg_snr) >= 12 else 'no'} |",
        f"| picture to digitised record <= 3 s (median; 95th percentile) | "
        f"{f(np.median(secs), 2)} s; {f(np.percentile(secs, 95), 2)} s | "
        f"{'yes' if secs and np.percentile(secs, 95) <= 3 else 'no'} |",
        "",
        "Medians over pictures of each picture's median over its 12 leads; a refused picture "
        "counts as 0 dB.",
        "",
        "## By condition",
        "",
        "| condition | strength | pictures | refused | with missing leads | median SNR dB | "
        "median r | s/picture |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['condition']} | {r['strength']:.1f} | {r['n']} | {len(r['refused'])} | "
            f"{r['with_missing_leads']} | {f(r['median_snr_db'])} | {f(r['median_r'], 3)} | "
            f"{f(np.median(r['seconds']) if r['seconds'] else None, 2)} |")
    lines += ["", "Median SNR and r here are over all leads of all read pictures. "
              "`mixed`: a random subset of all damages at strength 0.5.", "",
              "## Per lead (median SNR dB / median r)", "",
              "| condition | strength | " + " | ".join(LEADS_12) + " |",
              "|---|---|" + "---|" * 12]
    for r in rows:
        cells = [f"{f(r['lead_snr_db'][k])} / {f(r['lead_r'][k], 2)}" for k in LEADS_12]
        lines.append(f"| {r['condition']} | {r['strength']:.1f} | " + " | ".join(cells) + " |")
    lines += ["", "## Refusals and missing leads", "",
              f"{n_ref} of {n_all} pictures refused ({100 * n_ref / max(n_all, 1):.1f}%); "
              f"{n_miss} of {n_all - n_ref} read pictures have at least one lead missing.", ""]
    for r in rows:
        for reason in r["refused"]:
            lines.append(f"- {r['condition']} {r['strength']:.1f}: {reason}")
    ret = result["retrieval"]
    lines += ["", "## Retrieval from the picture against retrieval from the file", ""]
    if ret is None:
        lines.append(f"{_NOT_MEASURED} (`assets/models/image_encoder.onnx` and `assets/library/`"
                     f" were not found under `{result['assets_root']}`). Rerun this script once "
                     "`model_export.publish` has written them.")
    else:
        lines += [
            "Clean and mixed-damage pictures; the same k = 10 search run on the digitised "
            "record and on the original record.", "",
            "| measure | value |", "|---|---|",
            f"| top-10 overlap (picture vs file) | {f(ret['overlap'], 3)} |",
            f"| precision at 10, shares a superclass, from the picture | {f(ret['p10_picture'], 3)} |",
            f"| precision at 10, shares a superclass, from the file | {f(ret['p10_file'], 3)} |",
            "", "By the layout the picture was read as (precision at 10, picture / file):", "",
            "| layout read | pictures | from the picture | from the file |", "|---|---|---|---|",
        ]
        for name, v in result.get("retrieval_by_layout", {}).items():
            lines.append(f"| {name} | {v['n']} | {f(v.get('p10_picture', float('nan')), 3)} | "
                         f"{f(v.get('p10_file', float('nan')), 3)} |")
        lines += [
            "", "A page that prints each lead for 2.5 s (3 x 4) or 5 s (6 x 2) is searched with "
            "each lead's printed stretch continued over the 10 s "
            "(`desktop_app.photo.fill_unseen`); the encoder was trained on whole 10-s "
            "recordings only, which is what the gap for those layouts measures.",
        ]
    enc = result["encoder_bytes"]
    lines += [
        "", "## Time and size", "",
        f"- Seconds per picture (decode excluded, digitise only) on this machine: median "
        f"{f(np.median(secs), 2)} s, 95th percentile {f(np.percentile(secs, 95), 2)} s, max "
        f"{f(max(secs), 2)} s over {len(secs)} pictures. Machine: {platform.machine()}, "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}; 1-minute load "
        f"average {f(result.get('load_at_start', float('nan')), 1)} when the run started "
        "(above 1, other work shared the cores and these times are upper bounds).",
        f"- Digitiser: classical (numpy/scipy/Pillow), no learned weights; its code is "
        f"{_code_bytes() / 1000:.0f} kB.",
        "- Image encoder used for retrieval: " + (
            f"{enc / 1e6:.1f} MB (`assets/models/image_encoder.onnx`)." if enc else
            f"{_NOT_MEASURED}."),
        "",
    ]
    path = Path(out)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m model_export.photo_eval", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ptbxl", type=Path, required=True, help="folder holding records100")
    ap.add_argument("--metadata", type=Path, default=None)
    ap.add_argument("--fold", type=int, default=10)
    ap.add_argument("--n", type=int, default=20,
                    help="pictures per condition (clean: twice as many with --report)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--report", type=Path, default=None,
                    help="write the results document (e.g. model_export/PHOTO_RESULTS.md)")
    ap.add_argument("--assets", type=Path, default=None, help="the app's assets/ folder")
    args = ap.parse_args(argv)
    meta = args.metadata or args.ptbxl / "ptbxl_metadata.csv"
    ids = fold_ids(meta, args.fold, available_under=args.ptbxl)
    if args.report is not None:
        # A seeded sample: distinct records per condition (one odd record cannot weigh on
        # every row); a damage uses the same records at each strength (same pages, harder hit).
        names = ["clean"] + list(DAMAGES) + ["mixed"]
        per = {name: args.n for name in names}
        per["clean"] = 2 * args.n
        pool = np.random.default_rng(args.seed).permutation(ids).tolist()
        by_cond, k = {}, 0
        for name in names:
            by_cond[name] = sorted(int(v) for v in pool[k: k + per[name]])
            k += per[name]
        res = run_report(by_cond, args.ptbxl, meta, seed=args.seed, assets_root=args.assets)
        sample = (f"{2 * args.n} clean pictures; {args.n} records per damage type, each drawn "
                  f"at strengths {' and '.join(map(str, STRENGTHS))}; {args.n} pictures with "
                  f"mixed damage: {k} distinct fold-10 records (numpy seed {args.seed}) of "
                  f"{len(ids)}, {sum(per.values()) + args.n * len(DAMAGES)} pictures")
        write_report(res, args.report, sample=sample, seed=args.seed)
        print(args.report)
        return 0
    ids = ids[: args.n]
    for name, damages in [("clean", ())] + [(d, (d,)) for d in DAMAGES] + [("mixed", None)]:
        res = evaluate(ids, args.ptbxl, damages=damages, seed=args.seed)
        print(f"{name:12s} SNR {res['median_snr_db']:6.2f} dB  r {res['median_r']:.3f}  "
              f"refused {len(res['refused'])}/{res['n']}  layout {res['layout_accuracy']:.2f}  "
              f"ppm err {res['median_px_per_mm_error']:.4f}  {res['median_seconds']:.2f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
