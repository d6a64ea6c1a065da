"""The packaged app: size on disk, start-up time and memory, against the targets of issue 6.

``python -m benchmarks.bench_packaging [--bundle dist/ECGCaseFinder] [--runs 3]``

Build the bundle first (``packaging/build.sh``). Measured, each in a fresh process:

* **bundle size**: every file under ``dist/ECGCaseFinder`` (and the largest parts);
* **start to window shown**: ``ECGCaseFinder --quit-after-shown`` prints the wall-clock time of
  the window's first paint, then of the case library being loaded (models and index), and its
  resident memory then (**idle RSS**); measured from just before the process is started;
* **start to first answer**: ``ECGCaseFinder --self-test --json``; the file-query step's end
  (one bundled example searched) measured from just before the process is started;
* **peak RSS**: the child's ``ru_maxrss`` from ``os.wait4`` (the self-test run includes the
  window, so it is the larger of the two).

The same commands run from the checkout (``python -m desktop_app``, this interpreter) as the
baseline in the same run, on the bundle's assets where the window cannot be pointed elsewhere.
Qt runs offscreen (no display on CI). "Cold" here means a new process; the OS file cache is
not dropped (that would need root and disturb other work), so the first run of each kind is
also reported on its own: it is the one closest to a clinic's first start of the day.
Linux only (``/proc``, ``os.wait4``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._common import REPO_ROOT, machine_facts, write_results

TARGETS = {"bundle_mb": 350.0, "window_shown_s": 2.0, "first_answer_s": 4.0,
           "peak_rss_mb": 600.0}


def _size_mb(path: Path) -> tuple[float, dict[str, float]]:
    total = 0
    parts: dict[str, int] = {}
    for f in path.rglob("*"):
        if f.is_file() and not f.is_symlink():
            size = f.stat().st_size
            total += size
            rel = f.relative_to(path).parts
            key = "/".join(rel[:2]) if rel[0] == "_internal" and len(rel) > 2 else rel[0]
            parts[key] = parts.get(key, 0) + size
    top = dict(sorted(((k, round(v / 1e6, 1)) for k, v in parts.items()),
                      key=lambda kv: -kv[1])[:12])
    return round(total / 1e6, 1), top


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, str, int, float]:
    """Run ``cmd``; return (start epoch, stdout, exit status, peak RSS MB)."""
    with tempfile.TemporaryFile(mode="w+") as out:
        t0 = time.time()
        pid = os.posix_spawn(cmd[0], cmd, env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out.fileno(), 1),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
        _, status, usage = os.wait4(pid, 0)
        out.seek(0)
        text = out.read()
    return t0, text, os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024


def _window(cmd: list[str], env: dict[str, str]) -> dict[str, float | None]:
    t0, text, code, peak = _run([*cmd, "--quit-after-shown"], env)
    shown = ready = rss = None
    for line in text.splitlines():
        fields = line.split()
        if fields and fields[0] == "shown":
            shown = float(fields[1]) - t0
        elif fields and fields[0] in ("ready", "failed"):
            rss = float(fields[2])
            ready = float(fields[1]) - t0 if fields[0] == "ready" else None
    if shown is None:
        raise RuntimeError(f"{' '.join(cmd)} --quit-after-shown printed no 'shown' line "
                           f"(exit {code}): {text[-500:]}")
    return {"window_shown_s": shown, "library_ready_s": ready, "idle_rss_mb": rss,
            "peak_rss_mb": peak}


def _answer(cmd: list[str], env: dict[str, str], assets: Path | None) -> dict[str, float]:
    args = [*cmd, "--self-test", "--json"] + (["--assets", str(assets)] if assets else [])
    t0, text, code, peak = _run(args, env)
    try:
        report = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"self-test printed no report (exit {code}): {text[-500:]}") from None
    if not report["ok"]:
        raise RuntimeError(f"self-test failed (exit {code}): {report['steps'][-1]}")
    steps = {s["name"]: s for s in report["steps"]}
    return {"first_answer_s": steps["file query"]["finished_epoch_s"] - t0,
            "text_answer_s": steps["text query"]["finished_epoch_s"] - t0,
            "selftest_total_s": report["steps"][-1]["finished_epoch_s"] - t0,
            "peak_rss_mb": peak}


def _stats(values: list[float | None]) -> dict[str, float | None]:
    vals = np.array([v for v in values if v is not None], dtype=float)
    if vals.size == 0:
        return {"median": None, "iqr": None, "first": None, "runs": 0}
    q1, med, q3 = np.percentile(vals, [25, 50, 75])
    return {"median": round(float(med), 3), "iqr": [round(float(q1), 3), round(float(q3), 3)],
            "first": round(float(vals[0]), 3), "runs": int(vals.size)}


def measure(cmd: list[str], runs: int, assets: Path | None) -> dict[str, dict]:
    with tempfile.TemporaryDirectory() as home:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home,
               "LANG": "C.UTF-8", "QT_QPA_PLATFORM": "offscreen",
               "ECGFINDER_CONFIG_DIR": f"{home}/config", "ECGFINDER_DATA_DIR": f"{home}/data"}
        if "PYTHONPATH" in os.environ or cmd[0] == sys.executable:
            env["PYTHONPATH"] = str(REPO_ROOT)
        window = [_window(cmd, env) for _ in range(runs)]
        answer = [_answer(cmd, env, assets) for _ in range(runs)]
    out = {k: _stats([w[k] for w in window])
           for k in ("window_shown_s", "library_ready_s", "idle_rss_mb")}
    out.update({k: _stats([a[k] for a in answer])
                for k in ("first_answer_s", "text_answer_s", "selftest_total_s")})
    out["peak_rss_mb"] = _stats([max(w["peak_rss_mb"], a["peak_rss_mb"])
                                 for w, a in zip(window, answer)])
    return out


def _fmt(s: dict | None, unit: str) -> str:
    if not s or s["median"] is None:
        return "n/a"
    return f"{s['median']:.2f} {unit} (IQR {s['iqr'][0]:.2f}-{s['iqr'][1]:.2f}; first {s['first']:.2f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, default=REPO_ROOT / "dist" / "ECGCaseFinder")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the from-source runs")
    args = p.parse_args(argv)
    exe = args.bundle / ("ECGCaseFinder.exe" if sys.platform == "win32" else "ECGCaseFinder")
    if not exe.is_file():
        sys.exit(f"{exe} not found; build it with packaging/build.sh")
    size_mb, parts = _size_mb(args.bundle)
    bundle_assets = args.bundle / "_internal" / "assets"
    frozen = measure([str(exe.resolve())], args.runs, None)
    source = None if args.no_baseline else measure(
        [sys.executable, "-m", "desktop_app"], args.runs,
        None if (REPO_ROOT / "assets" / "manifest.json").is_file() else bundle_assets)
    manifest = json.loads((bundle_assets / "manifest.json").read_text(encoding="utf-8"))
    checks = {
        "bundle_mb": size_mb <= TARGETS["bundle_mb"],
        "window_shown_s": (frozen["window_shown_s"]["median"] or 1e9) <= TARGETS["window_shown_s"],
        "first_answer_s": (frozen["first_answer_s"]["median"] or 1e9) <= TARGETS["first_answer_s"],
        "peak_rss_mb": (frozen["peak_rss_mb"]["median"] or 1e9) <= TARGETS["peak_rss_mb"],
    }
    payload = {"machine": machine_facts(), "bundle": str(args.bundle), "bundle_mb": size_mb,
               "largest_parts_mb": parts, "assets_mb": round(manifest["total_bytes"] / 1e6, 1),
               "assets_encoder": manifest.get("library", {}).get("encoder_version"),
               "frozen": frozen, "source_baseline": source, "targets": TARGETS,
               "meets_target": checks, "runs": args.runs}
    ratio = ""
    if source and source["first_answer_s"]["median"]:
        ratio = (f"\nFrozen / from-source, same run: window shown "
                 f"{frozen['window_shown_s']['median'] / source['window_shown_s']['median']:.2f}x,"
                 f" first answer "
                 f"{frozen['first_answer_s']['median'] / source['first_answer_s']['median']:.2f}x.\n")
    ok = lambda k: "yes" if checks[k] else "**no**"  # noqa: E731
    md = f"""# Packaged app (issue 6)

`python -m benchmarks.bench_packaging` on {payload['machine']['cpu']} ({payload['machine']['cpus']}
CPUs), {payload['machine']['date_utc']}; {args.runs} runs each, offscreen, file cache not dropped.
Assets bundled: {payload['assets_mb']} MB (encoder {payload['assets_encoder']}).

| measure | packaged app | from source (baseline) | target | met |
|---|---|---|---|---|
| bundle on disk | {size_mb:.1f} MB | - | <= {TARGETS['bundle_mb']:.0f} MB | {ok('bundle_mb')} |
| start to window shown | {_fmt(frozen['window_shown_s'], 's')} | {_fmt(source and source['window_shown_s'], 's')} | <= {TARGETS['window_shown_s']:g} s | {ok('window_shown_s')} |
| start to library loaded (window) | {_fmt(frozen['library_ready_s'], 's')} | {_fmt(source and source['library_ready_s'], 's')} | - | - |
| start to first answer (self-test, example ECG) | {_fmt(frozen['first_answer_s'], 's')} | {_fmt(source and source['first_answer_s'], 's')} | <= {TARGETS['first_answer_s']:g} s | {ok('first_answer_s')} |
| start to text answer | {_fmt(frozen['text_answer_s'], 's')} | {_fmt(source and source['text_answer_s'], 's')} | - | - |
| idle RSS (window, library loaded) | {_fmt(frozen['idle_rss_mb'], 'MB')} | {_fmt(source and source['idle_rss_mb'], 'MB')} | - | - |
| peak RSS | {_fmt(frozen['peak_rss_mb'], 'MB')} | {_fmt(source and source['peak_rss_mb'], 'MB')} | <= {TARGETS['peak_rss_mb']:.0f} MB | {ok('peak_rss_mb')} |
{ratio}
Largest parts of the folder (MB): {', '.join(f'{k} {v}' for k, v in parts.items())}.
"""
    print(write_results("packaging", payload, md))
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
