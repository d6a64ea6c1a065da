"""What every benchmark shares: finding the data, timing with warm-up, machine facts, results.

The VM's timings drift 15-40 % between runs (PLATFORM.md), so benchmarks report medians and
IQRs, and compare A against B only within one run.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"


def shared_data() -> Path:
    """The real data folder (``../shared/data`` or ``$ECGFINDER_SHARED_DATA``)."""
    env = os.environ.get("ECGFINDER_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    if not (path / "records" / "00001_lr.hea").is_file():
        sys.exit(f"real ECG data not found under {path}; set ECGFINDER_SHARED_DATA")
    return path


def time_ms(fn: Callable[[], object], runs: int, warmup: int) -> np.ndarray:
    """Wall times of ``runs`` calls in ms, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        fn()
        times[i] = (time.perf_counter() - t0) * 1e3
    return times


def summary_ms(times: np.ndarray) -> dict[str, float]:
    q1, med, q3 = np.percentile(times, [25, 50, 75])
    p95 = np.percentile(times, 95)
    return {"median_ms": round(float(med), 3), "iqr_ms": [round(float(q1), 3), round(float(q3), 3)],
            "p95_ms": round(float(p95), 3), "runs": int(times.size)}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_facts() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write_results(name: str, payload: dict, markdown: str) -> Path:
    """Write ``results/<name>.json`` and ``results/<name>.md``; return the markdown path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / f"{name}.json").write_text(json.dumps(payload, indent=2) + "\n")
    md = RESULTS_DIR / f"{name}.md"
    md.write_text(markdown)
    return md
