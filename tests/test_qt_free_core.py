"""The core must import without Qt: only desktop_app/gui may pull in PySide6 (STYLE.md §1)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

_CHECK = textwrap.dedent("""
    import importlib, importlib.abc, json, pkgutil, sys

    class BlockQt(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("PySide6", "shiboken6", "PyQt5", "PyQt6", "PySide2"):
                raise ImportError(f"{name} is blocked: the core must not import Qt")
            return None

    sys.meta_path.insert(0, BlockQt())
    import desktop_app

    # pkgutil.walk_packages imports every package to look inside it, gui included; walk by
    # hand so desktop_app.gui is never imported.
    skip = {"desktop_app.gui", "desktop_app.__main__"}
    names, failed = [], {}

    def visit(name):
        names.append(name)
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            failed[name] = f"{type(exc).__name__}: {exc}"
            return
        for info in pkgutil.iter_modules(getattr(module, "__path__", []), name + "."):
            if info.name not in skip:
                visit(info.name)

    visit("desktop_app")
    if "desktop_app.cli" not in names:
        visit("desktop_app.cli")
    qt = sorted(m for m in sys.modules if m.split(".")[0] in ("PySide6", "shiboken6"))
    print(json.dumps({"imported": names, "failed": failed, "qt": qt}))
""")


def test_core_modules_import_without_qt():
    proc = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True,
                          timeout=300, cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}
    assert result["qt"] == []
    imported = set(result["imported"])
    # The walk really covered the core (guards against an empty walk passing vacuously).
    assert {"desktop_app.cli", "desktop_app.ecg", "desktop_app.signal._preprocess",
            "desktop_app.render._raster", "desktop_app.render._layout"} <= imported
    assert not any(name == "desktop_app.gui" or name.startswith("desktop_app.gui.")
                   for name in imported)


def test_qt_blocker_really_blocks():
    """The finder above must make a Qt import fail, or the test above proves nothing."""
    code = _CHECK.split("import desktop_app\n")[0] + "import desktop_app.gui\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=REPO_ROOT)
    assert proc.returncode != 0
    assert "blocked" in proc.stderr
