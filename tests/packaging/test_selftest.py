"""``--self-test`` on the shipped ``assets/``: every step passes on intact assets, and a damaged
installation fails at the step that found it, naming the file, with exit status 4.

The packaged app runs the same function (``.ci/package`` runs the frozen one); here it runs from
the checkout, so a broken step is found without building the bundle.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop_app import assets as A
from desktop_app import selftest

REPO_ROOT = Path(__file__).resolve().parents[2]
QUERY_STEPS = ["assets", "load models", "file query", "text query"]


def _linked_copy(src: Path, dst: Path) -> Path:
    """A copy of an assets folder made of hard links (fast, no extra disk); replace a file by
    unlinking it first, never by writing into it, or the original changes too."""
    shutil.copytree(src, dst, copy_function=os.link)
    return dst


def _run(args: list[str], env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "ECGFINDER_CONFIG_DIR": str(tmp_path / "config"),
           "ECGFINDER_DATA_DIR": str(tmp_path / "data"), **env_extra}
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_selftest_passes_every_step_on_shipped_assets(shipped_assets):
    out = io.StringIO()
    report = selftest.run_self_test(shipped_assets, window=False, out=out)
    text = out.getvalue()
    assert report.ok, text
    assert report.exit_status == 0
    assert [s.name for s in report.steps] == QUERY_STEPS
    assert all(s.elapsed_ms > 0 for s in report.steps)
    first_example = A.example_records(shipped_assets)[0].name
    assert first_example in report.steps[2].detail
    assert selftest.TEXT_QUERY in report.steps[3].detail
    for step in QUERY_STEPS:
        assert f"[ ok ] {step}" in text
    assert "self-test passed: 4 steps" in text


def test_selftest_window_step_shows_main_window_offscreen(shipped_assets, qapp):
    out = io.StringIO()
    report = selftest.run_self_test(shipped_assets, window=True, out=out)
    assert report.ok, out.getvalue()
    assert [s.name for s in report.steps] == [*QUERY_STEPS, "qt plugins", "window"]
    assert "offscreen" in report.steps[-1].detail
    assert "qoffscreen" in report.steps[-2].detail


def test_selftest_damaged_encoder_fails_at_assets_step(shipped_assets, tmp_path):
    root = _linked_copy(shipped_assets, tmp_path / "assets")
    encoder = root / A.IMAGE_ENCODER
    data = encoder.read_bytes()
    encoder.unlink()
    encoder.write_bytes(data[: len(data) // 2])
    out = io.StringIO()
    report = selftest.run_self_test(root, window=False, out=out)
    assert not report.ok
    assert [s.name for s in report.steps] == ["assets"]
    assert report.error_type == "AssetError" and report.exit_status == 4
    assert "image_encoder.onnx" in report.steps[0].detail
    assert "self-test FAILED at step 'assets'" in out.getvalue()


def test_selftest_without_examples_fails_naming_them(shipped_assets, tmp_path):
    root = _linked_copy(shipped_assets, tmp_path / "assets")
    manifest = json.loads((root / A.MANIFEST).read_text(encoding="utf-8"))
    kept = [n for n in manifest["files"] if not n.startswith(A.EXAMPLES_DIR + "/")]
    assert len(kept) < len(manifest["files"])  # the shipped assets do carry examples
    extra = {k: v for k, v in manifest.items()
             if k not in ("files", "total_bytes", "manifest_version")}
    (root / A.MANIFEST).unlink()
    (root / A.MANIFEST).write_text(json.dumps(A.build_manifest(root, kept, extra)),
                                   encoding="utf-8")
    report = selftest.run_self_test(root, window=False, out=io.StringIO())
    assert [s.name for s in report.steps] == ["assets"] and not report.ok
    assert "example" in report.steps[0].detail


def test_selftest_leaves_user_folders_untouched(shipped_assets, tmp_path, monkeypatch):
    monkeypatch.setenv("ECGFINDER_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("ECGFINDER_DATA_DIR", str(tmp_path / "data"))
    report = selftest.run_self_test(shipped_assets, window=False, out=io.StringIO())
    assert report.ok
    assert not (tmp_path / "config").exists() and not (tmp_path / "data").exists()
    assert os.environ["ECGFINDER_DATA_DIR"] == str(tmp_path / "data")


def test_main_self_test_json_and_exit_status(shipped_assets, tmp_path):
    ok = _run(["--self-test", "--assets", str(shipped_assets), "--json"], {}, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    doc = json.loads(ok.stdout.strip().splitlines()[-1])
    # Offscreen, the window is part of the self-test.
    assert doc["ok"] and [s["name"] for s in doc["steps"]][-1] == "window"

    root = _linked_copy(shipped_assets, tmp_path / "assets")
    (root / A.LIBRARY_INDEX).unlink()
    bad = _run(["--self-test", "--assets", str(root), "--json"], {}, tmp_path)
    assert bad.returncode == 4
    doc = json.loads(bad.stdout.strip().splitlines()[-1])
    assert not doc["ok"] and doc["steps"][-1]["name"] == "assets"
    assert "index.hnsw" in doc["steps"][-1]["detail"]


def test_main_quit_after_shown_reports_window_then_ready(shipped_assets, tmp_path):
    proc = _run(["--quit-after-shown"], {}, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.split("\n")
    shown = next(ln for ln in lines if ln.startswith("shown "))
    ready = next(ln for ln in lines if ln.startswith("ready "))
    assert lines.index(shown) < lines.index(ready)
    t_shown, t_ready, rss_mb = float(shown.split()[1]), *map(float, ready.split()[1:3])
    assert t_shown <= t_ready and rss_mb > 0


@pytest.mark.parametrize("argv", [["--self-test", "--no-such-option"]])
def test_main_self_test_usage_error_exits_2(argv, tmp_path):
    assert _run(argv, {}, tmp_path).returncode == 2
