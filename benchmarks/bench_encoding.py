"""Time each ECG -> image encoding on this CPU, per query and per record in a batch.

Run from the repository root: ``python -m benchmarks.bench_encoding`` (about half a minute).
Input: PTB-XL record 1 (100 Hz, already the canonical (12, 1000) shape) read from the shared data
folder (``../shared/data`` or ``$ECGFINDER_SHARED_DATA``); the batch uses rescaled noisy copies so
that every record differs. Writes ``benchmarks/results/encoding.json`` and ``encoding.md`` and
prints the markdown table. The ratio column is against ``paper_gaf_rp_mtf`` measured in the same
run (the VM's timings drift 15-40 % between runs, see PLATFORM.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import scipy
import wfdb

from benchmarks._common import RESULTS_DIR, cpu_model, shared_data, time_ms
from desktop_app.ecg._record import LEADS_12
from desktop_app.encoding import ENCODINGS

BASELINE = "paper_gaf_rp_mtf"


def _record_1() -> np.ndarray:
    rec = wfdb.rdrecord(str(shared_data() / "records" / "00001_lr"))
    names = [n.upper() for n in rec.sig_name]
    return rec.p_signal[:, [names.index(lead.upper()) for lead in LEADS_12]].T.astype(np.float32)


def run(runs: int = 50, warmup: int = 5, batch: int = 64, batch_runs: int = 5) -> dict:
    """Benchmark every registered encoding; return the results as a JSON-ready dict."""
    signal = _record_1()
    rng = np.random.default_rng(0)
    batch_signals = (signal[None] * rng.uniform(0.5, 2.0, (batch, 1, 1))
                     + rng.normal(0, 0.02, (batch, 12, 1000))).astype(np.float32)
    rows = {}
    for name, enc in ENCODINGS.items():
        single = time_ms(lambda: enc.encode(signal), runs, warmup)
        batched = time_ms(lambda: enc.encode_batch(batch_signals), batch_runs, 1) / batch
        q1, med, q3 = np.percentile(single, [25, 50, 75])
        rows[name] = {
            "output_shape": list(enc.output_shape),
            "single_ms_median": round(float(med), 4),
            "single_ms_iqr": [round(float(q1), 4), round(float(q3), 4)],
            "batch_ms_per_record_median": round(float(np.median(batched)), 4),
            "runs": runs,
            "warmup": warmup,
            "batch_size": batch,
            "batch_runs": batch_runs,
        }
    base = rows[BASELINE]["single_ms_median"]
    for row in rows.values():
        row["ratio_vs_paper"] = round(row["single_ms_median"] / base, 4)
    return {
        "benchmark": "encoding",
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "input": "PTB-XL record 1, (12, 1000) float32 mV; batch: rescaled noisy copies",
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        },
        "results": rows,
    }


def markdown(result: dict) -> str:
    """The results as a markdown table."""
    lines = [
        f"Encoding time on {result['machine']['cpu']} ({result['machine']['cpu_count']} CPUs), "
        f"{result['date_utc']}; median of {next(iter(result['results'].values()))['runs']} "
        "runs after warm-up.",
        "",
        "| encoding | output (C, H, W) | ms per query (median) | IQR ms | ms per record, batch "
        "| ratio vs paper |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in result["results"].items():
        q1, q3 = row["single_ms_iqr"]
        lines.append(
            f"| {name} | {tuple(row['output_shape'])} | {row['single_ms_median']:.3f} "
            f"| {q1:.3f}-{q3:.3f} | {row['batch_ms_per_record_median']:.3f} "
            f"(n={row['batch_size']}) | {row['ratio_vs_paper']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    result = run(runs=args.runs, warmup=args.warmup, batch=args.batch)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "encoding.json").write_text(json.dumps(result, indent=2) + "\n")
    table = markdown(result)
    (args.out_dir / "encoding.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
