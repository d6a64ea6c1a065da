"""The command line's contract with scripts: output on stdout, one error line, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
from PIL import Image

import desktop_app
from desktop_app import cli
from desktop_app.ecg import read_ecg
from desktop_app.errors import AssetError
from desktop_app.render import compute_layout

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "desktop_app", *args], capture_output=True,
                          text=True, timeout=120, cwd=REPO_ROOT)


def test_cli_info_json_ptbxl(ptbxl_record_path):
    proc = _run("info", str(ptbxl_record_path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    info = json.loads(proc.stdout)  # exactly one JSON document
    assert set(info) >= {"path", "format", "fs_hz", "duration_s", "n_samples", "leads",
                         "heart_rate_bpm", "age_years", "sex", "machine"}
    assert info["format"] == "wfdb"
    assert (info["fs_hz"], info["n_samples"], info["duration_s"]) == (100.0, 1000, 10.0)
    assert [lead["name"] for lead in info["leads"]] == [
        "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert all(lead["source"] == "recorded" for lead in info["leads"])
    assert 50 <= info["heart_rate_bpm"] <= 100


def test_cli_info_never_prints_patient_name_or_id(shared_data, capsys):
    path = shared_data / "formats" / "aecg" / "hl7-2003-12-example-aecg.xml"
    demo = read_ecg(path).demographics
    assert demo.name and demo.patient_id  # the file does carry them
    for extra in ([], ["--json"]):
        assert cli.main(["info", str(path), *extra]) == 0
        out, err = capsys.readouterr()
        assert demo.name not in out and demo.patient_id not in out
        assert str(int(demo.age_years)) in out and demo.sex in out
        assert err == ""


def test_cli_info_text_shows_machine_statements_and_lead_sources(shared_data, capsys):
    path = shared_data / "formats" / "dicom" / "pydicom-waveform_ecg.dcm"
    record = read_ecg(path)
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    for statement in record.meta["machine_statements"]:
        assert statement in out
    assert "1000 Hz" in out and "heart rate:" in out
    assert out.count("recorded") == 12


def test_cli_info_json_lists_derived_and_missing_leads(shared_data, capsys):
    path = shared_data / "formats" / "muse" / "guangxi_teaching_sinus_rhythm.xml"
    record = read_ecg(path)
    assert cli.main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [lead["source"] for lead in info["leads"]] == [s.value for s in record.lead_sources]
    assert "derived" in {lead["source"] for lead in info["leads"]}


@pytest.mark.parametrize("layout", ["3x4", "12x1"])
def test_cli_render_writes_png_of_layout_size(ptbxl_record_path, tmp_path, layout):
    out = tmp_path / "ecg.png"
    proc = _run("render", str(ptbxl_record_path), "--layout", layout, "--out", str(out),
                "--dpi", "150", "--speed", "50", "--gain", "20")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out)
    page = compute_layout(layout, speed_mm_s=50, gain_mm_mv=20)
    ppm = 150 / 25.4
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size == (round(page.width_mm * ppm), round(page.height_mm * ppm))


@pytest.mark.parametrize("content", [b"this is not an ECG\n" * 50, b"\x00\x01\x02" * 999])
def test_cli_bad_file_exits_3_with_one_stderr_line(tmp_path, content):
    bad = tmp_path / "broken.hea"
    bad.write_bytes(content)
    proc = _run("info", str(bad))
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "broken.hea" in lines[0]


def test_cli_missing_file_exits_3(tmp_path, capsys):
    assert cli.main(["render", str(tmp_path / "nope.hea"), "--out", str(tmp_path / "x.png")]) == 3
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and "nope.hea" in err
    assert not (tmp_path / "x.png").exists()


def test_cli_unwritable_output_exits_3(ptbxl_record_path, tmp_path, capsys):
    target = tmp_path / "no-such-folder" / "ecg.png"
    assert cli.main(["render", str(ptbxl_record_path), "--out", str(target)]) == 3
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize("args", [
    ["info", "x.hea", "--frobnicate"], ["inf", "x.hea"], ["render", "x.hea"],
    ["render", "x.hea", "--out", "y.png", "--layout", "4x3"],
    ["render", "x.hea", "--out", "y.png", "--speed", "30"],
    ["render", "x.hea", "--out", "y.png", "--dpi", "5"], ["info", "x.hea", "--fs", "abc"],
])
def test_cli_usage_errors_exit_2(args, capsys):
    assert cli.main(args) == 2
    assert capsys.readouterr().out == ""


def test_cli_unknown_option_subprocess_exits_2(ptbxl_record_path):
    proc = _run("info", str(ptbxl_record_path), "--no-such-option")
    assert proc.returncode == 2
    assert proc.stdout == ""


def test_cli_help_documents_exit_codes(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for line in ("0  success", "1  unexpected internal error", "2  usage error",
                 "3  input could not be read", "4  damaged installation"):
        assert line in out
    assert "info" in out and "render" in out


def test_cli_asset_error_exits_4(monkeypatch, ptbxl_record_path, capsys):
    def broken(path, fs_hz):
        raise AssetError("model.onnx", "sha256 does not match")
    monkeypatch.setattr(cli, "_read", broken)
    assert cli.main(["info", str(ptbxl_record_path)]) == 4
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "model.onnx" in err


def test_cli_internal_error_exits_1_and_asks_for_report(monkeypatch, ptbxl_record_path, capsys):
    def buggy(path, fs_hz):
        raise ZeroDivisionError("division by zero\nsecond line")
    monkeypatch.setattr(cli, "_read", buggy)
    assert cli.main(["info", str(ptbxl_record_path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert "please report" in err and "ZeroDivisionError" in err


def test_cli_fs_is_passed_to_the_reader(monkeypatch, ptbxl_record_path, capsys):
    seen = {}
    real = read_ecg

    def spy(path, **kwargs):
        seen.update(kwargs)
        return real(path)
    monkeypatch.setattr("desktop_app.ecg.read_ecg", spy)
    assert cli.main(["info", str(ptbxl_record_path), "--fs", "250"]) == 0
    assert seen == {"fs_hz": 250.0}
    assert cli.main(["info", str(ptbxl_record_path)]) == 0
    assert seen == {"fs_hz": 250.0}  # unchanged: no fs_hz passed without --fs
    capsys.readouterr()


@pytest.fixture
def fake_gui(monkeypatch):
    calls = []
    module = types.ModuleType("desktop_app.gui")
    module.run = lambda argv=None: calls.append(list(argv)) or 0
    monkeypatch.setitem(sys.modules, "desktop_app.gui", module)
    monkeypatch.setattr(desktop_app, "gui", module, raising=False)
    return calls


def test_cli_without_arguments_opens_the_window(fake_gui):
    assert cli.main([]) == 0
    assert fake_gui == [[]]


def test_cli_with_only_a_file_opens_it_in_the_window(fake_gui, ptbxl_record_path):
    assert cli.main([str(ptbxl_record_path)]) == 0
    assert fake_gui == [[str(ptbxl_record_path)]]


def test_cli_typo_in_command_does_not_open_the_window(fake_gui, capsys):
    assert cli.main(["rendr", "x.hea"]) == 2
    assert fake_gui == []
    capsys.readouterr()


def test_cli_console_script_entry_point_runs_the_command_line(capsys):
    import tomllib

    from desktop_app.__main__ import main
    from tests.conftest import REPO_ROOT

    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text("utf-8"))["project"][
        "scripts"]
    assert scripts["ecg-case-finder"] == "desktop_app.__main__:main"
    # Everything but --self-test / --quit-after-shown goes to the command line.
    assert main(["rendr", "x.hea"]) == cli.main(["rendr", "x.hea"]) == 2
    capsys.readouterr()
