"""``--self-test``: prove that an installed or packaged app works, one timed step at a time.

``ECGCaseFinder --self-test`` (the packaged app) and ``python -m desktop_app --self-test`` run
the same steps a clinic relies on: the shipped assets are intact, the models and the case
library load, one bundled example ECG finds similar cases, and a few words find cases. With
``QT_QPA_PLATFORM=offscreen`` (or ``--window``) the main window is also built and shown once,
which proves that the Qt platform plugins were bundled. Each step prints its time; the first
step that fails prints what failed and why, and the exit status is non-zero (4 when the
installation is damaged, as for the command line, else 1).

The self-test never touches the clinic's data: settings, window geometry and the clinic's case
store point at a temporary folder while it runs. This module imports no Qt; the window step
imports :mod:`desktop_app.gui` only when it runs.

``--quit-after-shown`` (used by ``benchmarks/bench_packaging.py``) starts the window as a user
would, prints when it is first painted and when the case library has loaded, then quits.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

from desktop_app import __version__
from desktop_app import assets as _assets
from desktop_app.errors import AssetError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INSTALL = 4  # the command line's "damaged installation"
#: The words of the text-query step.
TEXT_QUERY = "sinus rhythm"
#: Hits asked for in the query steps.
TOP_K = 5
#: How long the window step waits for the case library to load in the window's worker, s.
WINDOW_TIMEOUT_S = 60.0
#: Qt platform plugins the bundle must carry on each OS (base names, without lib/.so/.dll).
PLATFORM_PLUGINS = {
    "linux": ("qoffscreen", "qminimal", "qxcb"),
    "win32": ("qoffscreen", "qminimal", "qwindows"),
    "darwin": ("qoffscreen", "qminimal", "qcocoa"),
}
# Settings and the clinic store read these (desktop_app.settings); pointed at a temp folder.
_USER_DIR_VARS = ("ECGFINDER_CONFIG_DIR", "ECGFINDER_DATA_DIR")


@dataclass(frozen=True)
class StepResult:
    """One self-test step.

    Attributes
    ----------
    name : what was checked ("assets", "load models", ...).
    ok : whether it passed.
    elapsed_ms : wall time of the step.
    detail : what it found (passed) or what went wrong and what to do (failed).
    finished_epoch_s : ``time.time()`` when the step ended, so a parent process can measure
        from its own start (cold start to first answer).
    """

    name: str
    ok: bool
    elapsed_ms: float
    detail: str
    finished_epoch_s: float


@dataclass(frozen=True)
class SelfTestReport:
    """Every step that ran, in order; the run stops at the first failure.

    Attributes
    ----------
    steps : the steps run.
    assets_root : the assets folder that was tested.
    frozen : whether this is the packaged (PyInstaller) app.
    version : the app's version.
    error_type : class name of the exception that failed the last step, or None.
    """

    steps: tuple[StepResult, ...]
    assets_root: str
    frozen: bool
    version: str = __version__
    error_type: str | None = field(default=None)

    @property
    def ok(self) -> bool:
        """True when every step passed (and at least one ran)."""
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def exit_status(self) -> int:
        """0 when all passed, 4 for a damaged installation, else 1."""
        if self.ok:
            return EXIT_OK
        return EXIT_INSTALL if self.error_type == "AssetError" else EXIT_FAILED

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``ok``, ``exit_status``, ``steps``, ...)."""
        return {"ok": self.ok, "exit_status": self.exit_status, "version": self.version,
                "frozen": self.frozen, "assets_root": self.assets_root,
                "error_type": self.error_type, "steps": [asdict(s) for s in self.steps]}


class _StepFailed(Exception):
    """A step's own check failed (not an exception from the app)."""


@contextlib.contextmanager
def _private_user_dirs() -> Iterator[Path]:
    saved = {name: os.environ.get(name) for name in _USER_DIR_VARS}
    with tempfile.TemporaryDirectory(prefix="ecgfinder-selftest-") as tmp:
        for name in _USER_DIR_VARS:
            os.environ[name] = str(Path(tmp) / name.rsplit("_", 2)[-2].lower())
        try:
            yield Path(tmp)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _wants_window() -> bool:
    return os.environ.get("QT_QPA_PLATFORM", "").split(":")[0] == "offscreen"


def run_self_test(assets_root: str | Path | None = None, *, window: bool | None = None,
                  out: TextIO | None = None) -> SelfTestReport:
    """Run the self-test steps and print one line per step.

    Parameters
    ----------
    assets_root : the assets folder; :func:`desktop_app.assets.default_assets_root` (inside
        the bundle when frozen) if None.
    window : also build and show the main window; by default only when
        ``QT_QPA_PLATFORM=offscreen`` (no display is needed then).
    out : where the lines go; ``sys.stdout`` if None.

    Returns
    -------
    SelfTestReport
        The steps run; it stops at the first failing step.
    """
    out = sys.stdout if out is None else out
    root = Path(assets_root) if assets_root is not None else _assets.default_assets_root()
    window = _wants_window() if window is None else window
    frozen = bool(getattr(sys, "frozen", False))
    out.write(f"ECG Case Finder {__version__} self-test ({'packaged' if frozen else 'Python'} "
              f"{sys.version.split()[0]}, {sys.platform})\nassets: {root}\n")
    steps: list[StepResult] = []
    state: dict[str, Any] = {}
    error_type: str | None = None
    with _private_user_dirs() as tmp:
        plan: list[tuple[str, Callable[[], str]]] = [
            ("assets", lambda: _step_assets(root, state)),
            ("load models", lambda: _step_load(root, tmp, state)),
            ("file query", lambda: _step_file_query(state)),
            ("text query", lambda: _step_text_query(state)),
        ]
        if window:
            plan += [("qt plugins", _step_qt_plugins),
                     ("window", lambda: _step_window(state))]
        for name, fn in plan:
            t0 = time.perf_counter()
            try:
                detail, ok = fn(), True
            except Exception as exc:  # the self-test reports every failure as a failed step
                ok, error_type = False, type(exc).__name__
                detail = (str(exc) if isinstance(exc, _StepFailed)
                          else f"{type(exc).__name__}: {' '.join(str(exc).split())}")
            step = StepResult(name, ok, round((time.perf_counter() - t0) * 1000, 1), detail,
                              time.time())
            steps.append(step)
            out.write(f"[{' ok ' if ok else 'FAIL'}] {name:<12} {step.elapsed_ms:>8.1f} ms  "
                      f"{detail}\n")
            out.flush()
            if not ok:
                break
        state.clear()  # close the finder's stores before the temp folder goes
    report = SelfTestReport(tuple(steps), str(root), frozen, error_type=error_type)
    total = sum(s.elapsed_ms for s in steps)
    if report.ok:
        out.write(f"self-test passed: {len(steps)} steps in {total:.0f} ms\n")
    else:
        failed = steps[-1]
        out.write(f"self-test FAILED at step '{failed.name}': {failed.detail}\n")
    out.flush()
    return report


def _step_assets(root: Path, state: dict[str, Any]) -> str:
    required = (*_assets.SEARCH_ASSETS, _assets.TEXT_ENCODER, _assets.TEXT_TOKENIZER)
    manifest = _assets.verify_assets(root, required=required)
    examples = _assets.example_records(root)
    if not examples:
        raise AssetError(root / _assets.EXAMPLES_DIR,
                         "the manifest lists no example ECG (examples/*.hea) to test with")
    state["examples"] = examples
    total_mb = manifest.get("total_bytes", 0) / 1e6
    return (f"{len(manifest['files'])} files, {total_mb:.1f} MB, sizes and SHA-256 match; "
            f"{len(examples)} examples")


def _step_load(root: Path, tmp: Path, state: dict[str, Any]) -> str:
    from desktop_app.service import CaseFinder
    from desktop_app.settings import Settings

    finder = CaseFinder(Settings(), root, clinic_path=tmp / "clinic.sqlite",
                        include_clinic=False)
    version = finder.encoder_version  # opens the case store and the index
    import numpy as np

    from desktop_app.ecg import EcgRecord

    # A flat 10 s record through the public path loads the image encoder's session.
    finder.embed(EcgRecord(np.zeros((12, 1000), dtype=np.float32), 100.0))
    state["finder"] = finder
    return f"encoder {version}"


def _check_hits(result: Any, what: str) -> str:
    import math

    if not result.hits:
        raise _StepFailed(f"{what} returned no similar cases")
    sims = [h.similarity for h in result.hits]
    if not all(math.isfinite(s) and -1.001 <= s <= 1.001 for s in sims):
        raise _StepFailed(f"{what} returned similarities outside [-1, 1]: {sims}")
    if sims != sorted(sims, reverse=True):
        raise _StepFailed(f"{what} returned hits out of order: {sims}")
    if not result.disclaimer:
        raise _StepFailed(f"{what} returned no disclaimer")
    top = result.hits[0]
    ident = f"PTB-XL {top.ecg_id}" if top.ecg_id is not None else top.case_key
    return f"{len(result.hits)} hits, top {ident} (similarity {top.similarity:.3f})"


def _step_file_query(state: dict[str, Any]) -> str:
    example = state["examples"][0]
    result = state["finder"].find_similar(example, TOP_K)
    return f"{example.name}: {_check_hits(result, f'the example {example.name}')}"


def _step_text_query(state: dict[str, Any]) -> str:
    result = state["finder"].search_text(TEXT_QUERY, TOP_K)
    return f"\u201c{TEXT_QUERY}\u201d: {_check_hits(result, 'the text query')}"


def _qt_application() -> Any:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "selftest"])


def _step_qt_plugins() -> str:
    from PySide6.QtCore import QLibraryInfo

    plugins = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    wanted = PLATFORM_PLUGINS.get(sys.platform, ("qoffscreen", "qminimal"))
    found = {p.name.split(".")[0].removeprefix("lib") for p in (plugins / "platforms").glob("*")}
    missing = [w for w in wanted if w not in found]
    if missing:
        raise _StepFailed(f"Qt platform plugins missing from {plugins / 'platforms'}: "
                          f"{', '.join(missing)} (found: {', '.join(sorted(found)) or 'none'})")
    app = _qt_application()
    return f"platforms {', '.join(wanted)} present; running on '{app.platformName()}'"


def _step_window(state: dict[str, Any]) -> str:
    from PySide6.QtCore import QEventLoop, QTimer

    from desktop_app import gui
    from desktop_app.settings import Settings

    app = _qt_application()
    window = gui.MainWindow(Settings(), finder=state["finder"])
    outcome: dict[str, str] = {}
    loop = QEventLoop()

    def finish(kind: str, text: str) -> None:
        outcome.setdefault(kind, text)
        loop.quit()

    window.finder_ready.connect(lambda v: finish("ready", v))
    window.finder_failed.connect(lambda t: finish("failed", t))
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: finish("timeout", f"{WINDOW_TIMEOUT_S:g} s"))
    window.show()  # loads the finder in a worker once shown
    timer.start(int(WINDOW_TIMEOUT_S * 1000))
    loop.exec()
    timer.stop()
    size = window.size()
    shown = window.isVisible()
    window.close()  # waits for the window's workers
    window.deleteLater()
    app.processEvents()
    if not shown:
        raise _StepFailed("the main window did not show")
    if "ready" not in outcome:
        kind, text = next(iter(outcome.items()))
        raise _StepFailed(f"the window could not load the case library ({kind}: {text})")
    return f"main window {size.width()}x{size.height()} shown on '{app.platformName()}'"


def run_window_benchmark(out: TextIO | None = None) -> int:
    """Open the main window as the app does, print when it is first painted and when the
    case library is ready (or failed), then quit.

    Lines printed (``time.time()`` epoch seconds, so a parent can subtract its start time):
    ``shown <epoch>``, then ``ready <epoch> <rss_mb>`` or ``failed <epoch> <rss_mb> <why>``.

    Returns
    -------
    int
        0 when the library loaded, 1 when it failed or took more than
        :data:`WINDOW_TIMEOUT_S`.
    """
    out = sys.stdout if out is None else out
    from PySide6.QtCore import QEvent, QObject, QTimer

    from desktop_app import gui

    app = _qt_application()
    window = gui.MainWindow()
    status = {"code": 1}

    class _FirstPaint(QObject):
        def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
            if event.type() == QEvent.Type.Paint and "shown" not in status:
                status["shown"] = time.time()
                out.write(f"shown {status['shown']:.6f}\n")
                out.flush()
            return False

    def done(ok: bool, why: str = "") -> None:
        if "done" in status:
            return
        status["done"] = time.time()
        status["code"] = 0 if ok else 1
        rss = resident_mb()
        out.write(f"{'ready' if ok else 'failed'} {status['done']:.6f} {rss:.1f}"
                  f"{' ' + ' '.join(why.split()) if why else ''}\n")
        out.flush()
        QTimer.singleShot(0, window.close)

    watcher = _FirstPaint()
    app.installEventFilter(watcher)
    window.finder_ready.connect(lambda v: done(True))
    window.finder_failed.connect(lambda t: done(False, t))
    QTimer.singleShot(int(WINDOW_TIMEOUT_S * 1000), lambda: done(False, "timeout"))
    window.show()
    app.exec()
    app.removeEventFilter(watcher)
    return int(status["code"])


def resident_mb() -> float:
    """This process's resident memory in MB (Linux ``/proc``; elsewhere the peak so far)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024 if sys.platform == "darwin" else 1024)


def main(argv: Sequence[str] | None = None) -> int:
    """``--self-test [--assets DIR] [--window] [--json]``: run and return the exit status.

    Parameters
    ----------
    argv : the arguments after ``--self-test``.

    Returns
    -------
    int
        0 when every step passed; 4 for a damaged installation; 1 for any other failure.
    """
    parser = argparse.ArgumentParser(
        prog="ecg-case-finder --self-test",
        description="Check that the app works: assets, models, one ECG query, one text query "
                    "and, offscreen, the window. Prints each step's time.")
    parser.add_argument("--assets", type=Path, default=None,
                        help="assets folder to test (default: the app's own)")
    parser.add_argument("--window", action="store_true",
                        help="also show the main window (default: only when "
                             "QT_QPA_PLATFORM=offscreen)")
    parser.add_argument("--json", action="store_true",
                        help="print the report as one JSON object on the last line")
    try:
        args = parser.parse_args(list(argv or []))
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 2
    report = run_self_test(args.assets, window=True if args.window else None)
    if args.json:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
    return report.exit_status


__all__ = ["SelfTestReport", "StepResult", "main", "resident_mb", "run_self_test",
           "run_window_benchmark"]
