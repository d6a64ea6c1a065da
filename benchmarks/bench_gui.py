"""File-open-to-results-shown time in the real window, and the longest GUI-thread stall.

Run from the repository root: ``python -m benchmarks.bench_gui`` (offscreen; uses the shipped
``assets/`` or ``--assets DIR``). The window is created, its finder loads in the background
(the load time is reported separately), then ``--runs`` different PTB-XL WFDB records from
``ptbxl/records100`` are opened one after another through ``MainWindow.open_file``, after
``--warmup`` untimed opens. Each open is timed from the call to the ``results_shown`` signal
(read, heart rate, embedding, search and listing; thumbnails follow and are not included).

A 10 ms QTimer heartbeat runs the whole time on the GUI thread; the longest gap between its
ticks, minus the 10 ms period, is the longest the window could not respond (a stall). It is
reported over the whole session and over the timed opens only.

Results go to ``benchmarks/results/gui.json`` and ``gui.md``. ``--mechanics`` builds the
stand-in library of the tests (real records 1-100, spectrum+PCA embedding) to check that the
script runs; its numbers are printed, not written, since they say nothing about the real model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from benchmarks._common import (  # noqa: E402
    REPO_ROOT, machine_facts, shared_data, summary_ms, write_results,
)

HEARTBEAT_MS = 10


class _Heartbeat:
    """Records the largest gap between ticks of a 10 ms timer on the GUI thread."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.timer = QTimer()
        self.timer.setInterval(HEARTBEAT_MS)
        self.timer.timeout.connect(self._tick)
        self.last = time.perf_counter()
        self.max_gap_ms = 0.0

    def _tick(self) -> None:
        now = time.perf_counter()
        self.max_gap_ms = max(self.max_gap_ms, (now - self.last) * 1e3)
        self.last = now

    def reset(self) -> None:
        self.last = time.perf_counter()
        self.max_gap_ms = 0.0

    @property
    def stall_ms(self) -> float:
        return max(0.0, self.max_gap_ms - HEARTBEAT_MS)


def _wait(app, signals, timeout_s: float = 120.0):
    """Run the event loop until one of ``signals`` fires; return (signal index, args)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    got: list = []
    slots = []
    for i, sig in enumerate(signals):
        def slot(*args, i=i):
            got.append((i, args))
            loop.quit()
        sig.connect(slot)
        slots.append((sig, slot))
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    for sig, slot in slots:
        sig.disconnect(slot)
    if not got:
        sys.exit(f"timed out after {timeout_s:.0f} s waiting for the window")
    return got[0]


def _records(data: Path, n: int) -> list[Path]:
    files = sorted((data / "ptbxl" / "records100").glob("*/*_lr.hea"))
    if len(files) < n:
        sys.exit(f"need {n} WFDB records under {data / 'ptbxl' / 'records100'}; "
                 f"found {len(files)}")
    # Spread over the folder rather than the first n.
    idx = np.linspace(0, len(files) - 1, n).round().astype(int)
    return [files[i] for i in idx]


def _finder(args, tmp: Path):
    from desktop_app.service import CaseFinder

    if args.mechanics:
        from tests.library.conftest import build_mechanics_assets

        built = build_mechanics_assets(shared_data(), tmp / "mechanics")
        return CaseFinder(assets_root=built.assets_root, clinic_path=tmp / "clinic.sqlite",
                          image_encoder=built.embedder), "mechanics stand-in"
    root = Path(args.assets) if args.assets else REPO_ROOT / "assets"
    return (CaseFinder(assets_root=root, clinic_path=tmp / "clinic.sqlite",
                       include_clinic=False), str(root))


def run(args) -> dict:
    from PySide6.QtWidgets import QApplication

    from desktop_app.gui import MainWindow
    from desktop_app.settings import Settings

    app = QApplication.instance() or QApplication(["bench_gui"])
    files = _records(shared_data(), args.runs + args.warmup)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["ECGFINDER_CONFIG_DIR"] = str(Path(tmp) / "config")  # no user settings
        finder, assets = _finder(args, Path(tmp))
        beat = _Heartbeat()
        beat.timer.start()
        window = MainWindow(Settings(), finder=finder)
        window.resize(1366, 768)
        t0 = time.perf_counter()
        window.show()
        which, payload = _wait(app, [window.finder_ready, window.finder_failed])
        load_ms = (time.perf_counter() - t0) * 1e3
        if which == 1:
            sys.exit(f"the finder did not load: {payload[0]}")
        times = []
        timed_stall = 0.0
        for i, path in enumerate(files):
            beat.reset()
            t = time.perf_counter()
            window.open_file(path)
            which, payload = _wait(app, [window.results_shown, window.search_failed,
                                         window.load_failed])
            elapsed = (time.perf_counter() - t) * 1e3
            if which != 0:
                sys.exit(f"{path.name}: {payload[0]}")
            # Let the thumbnails finish so they do not overlap the next open.
            if window._thumb_request is not None:  # not already delivered in that loop
                _wait(app, [window.thumbnails_shown])
            if i >= args.warmup:
                times.append(elapsed)
                timed_stall = max(timed_stall, beat.stall_ms)
        session_stall = beat.stall_ms
        window.close()
        beat.timer.stop()
    stats = summary_ms(np.asarray(times))
    return {
        "machine": machine_facts(), "assets": assets, "top_k": Settings().top_k,
        "finder_load_ms": round(load_ms, 1),
        "open_to_results": {**stats, "p50_ms": stats["median_ms"]},
        "max_gui_stall_ms_during_opens": round(timed_stall, 1),
        "heartbeat_ms": HEARTBEAT_MS,
        "files": [p.name for p in files[args.warmup:]],
        "session_stall_ms": round(session_stall, 1),
    }


def markdown(r: dict) -> str:
    o = r["open_to_results"]
    m = r["machine"]
    return (
        "# GUI: file open to results shown\n\n"
        f"Assets: `{r['assets']}`; top_k {r['top_k']}; {m['cpu']} ({m['cpus']} CPUs), "
        f"Python {m['python']}, {m['date_utc']}.\n\n"
        "| measure | value |\n|---|---|\n"
        f"| open to results, p50 | {o['p50_ms']:.1f} ms |\n"
        f"| open to results, IQR | {o['iqr_ms'][0]:.1f}-{o['iqr_ms'][1]:.1f} ms |\n"
        f"| open to results, p95 | {o['p95_ms']:.1f} ms |\n"
        f"| opens timed | {o['runs']} |\n"
        f"| longest GUI-thread stall during opens ({r['heartbeat_ms']} ms heartbeat) | "
        f"{r['max_gui_stall_ms_during_opens']:.1f} ms |\n"
        f"| finder load after the window is shown | {r['finder_load_ms']:.0f} ms |\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", help="assets folder (default: the checkout's assets/)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--mechanics", action="store_true",
                        help="use the tests' stand-in library (smoke run; nothing written)")
    args = parser.parse_args(argv)
    result = run(args)
    md = markdown(result)
    print(md)
    if not args.mechanics:
        print(f"wrote {write_results('gui', result, md)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
