"""``search`` and ``search-text`` on the command line: one JSON line per input, errors as lines.

The CLI's finder is the stand-in library of tests/library (real PTB-XL records, spectrum+PCA
embedding), put in place of the shipped models through ``cli._make_finder`` because the trained
encoder does not exist yet.
"""

from __future__ import annotations

import json
import shutil

import pytest

from desktop_app import cli
from desktop_app.service import CaseFinder

RECORDS = "ptbxl/records100/00000"


@pytest.fixture()
def stand_in(mechanics_assets, monkeypatch, tmp_path):
    made = []

    def make():
        made.append(CaseFinder(assets_root=mechanics_assets.assets_root,
                               clinic_path=tmp_path / "clinic.sqlite",
                               image_encoder=mechanics_assets.embedder))
        return made[-1]

    monkeypatch.setattr(cli, "_make_finder", make)
    return made


def _lines(capsys):
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines()]


def test_cli_search_bad_file_gives_error_line_and_batch_goes_on(stand_in, shared_data, tmp_path,
                                                                capsys):
    bad = tmp_path / "broken.hea"
    bad.write_text("this is not a WFDB header\n")
    good = shared_data / RECORDS / "00012_lr.hea"
    code = cli.main(["search", str(bad), str(good), "--top-k", "4", "--json"])
    assert code == cli.EXIT_INPUT == 3
    first, second = _lines(capsys)
    assert first["input"] == str(bad) and first["ok"] is False
    assert set(first) == {"input", "ok", "error"}
    assert first["error"]["type"] == "EcgReadError"
    assert "broken.hea" in first["error"]["message"] and "\n" not in first["error"]["message"]
    assert second["ok"] is True and second["input"] == str(good)
    assert len(second["hits"]) == 4 and second["k"] == 4
    hit = second["hits"][0]
    assert {"ecg_id", "source", "similarity", "statements", "report_en"} <= set(hit)
    assert all({"code", "description", "likelihood", "level"} == set(s)
               for s in hit["statements"])
    assert second["consensus"]["k"] == 4
    assert second["disclaimer"] == "Decision aid: similar confirmed cases, not a diagnosis."
    assert len(stand_in) == 1  # one finder (models load once) for the whole batch


def test_cli_search_folder_all_ok(stand_in, shared_data, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in (3, 4):
        for suffix in (".hea", ".dat"):
            shutil.copy(shared_data / RECORDS / f"{i:05d}_lr{suffix}", folder)
    (folder / "notes.md").write_text("not an ECG")
    assert cli.main(["search", str(folder), "--json", "--top-k", "2"]) == 0
    lines = _lines(capsys)
    assert [line["input"] for line in lines] == [str(folder / "00003_lr.hea"),
                                                 str(folder / "00004_lr.hea")]
    assert all(line["ok"] and len(line["hits"]) == 2 for line in lines)


def test_cli_search_missing_file_error_line(stand_in, tmp_path, capsys):
    assert cli.main(["search", str(tmp_path / "nope.xml"), "--json"]) == 3
    (line,) = _lines(capsys)
    assert line["ok"] is False and "nope.xml" in line["error"]["message"]


def test_cli_search_text_json(mechanics_assets, shared_data, capsys, monkeypatch, tmp_path):
    finder_vector = {}

    class Text:
        def embed_texts(self, texts):
            return finder_vector["v"][None]

    def make():
        f = CaseFinder(assets_root=mechanics_assets.assets_root,
                       clinic_path=tmp_path / "clinic.sqlite",
                       image_encoder=mechanics_assets.embedder, text_encoder=Text())
        finder_vector["v"] = f.embed(f.load(shared_data / RECORDS / "00020_lr.hea"))
        return f

    monkeypatch.setattr(cli, "_make_finder", make)
    assert cli.main(["search-text", "sinus rhythm", "--json", "--top-k", "3"]) == 0
    (doc,) = _lines(capsys)
    assert doc["query_text"] == "sinus rhythm" and doc["input"] is None
    assert len(doc["hits"]) == 3


def test_cli_search_without_assets_exits_4(tmp_path, shared_data, capsys, monkeypatch):
    monkeypatch.setattr(cli, "_make_finder",
                        lambda: CaseFinder(assets_root=tmp_path / "none",
                                           clinic_path=tmp_path / "c.sqlite"))
    code = cli.main(["search", str(shared_data / RECORDS / "00001_lr.hea"), "--json"])
    assert code == cli.EXIT_INSTALL
    assert "manifest" in capsys.readouterr().err
