"""English case text of PTB-XL records and the data-preparation step (model_export.prepare)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from model_export import _text, prepare


@pytest.fixture(scope="module")
def ptbxl(shared_data: Path) -> Path:
    return shared_data / "ptbxl"


@pytest.fixture(scope="module")
def metadata_rows(ptbxl: Path) -> dict[int, dict[str, str]]:
    with open(ptbxl / "ptbxl_metadata.csv", newline="", encoding="utf-8") as fh:
        return {int(r["ecg_id"]): r for r in csv.DictReader(fh)}


@pytest.fixture(scope="module")
def statements(ptbxl: Path) -> dict[str, _text.ScpStatement]:
    return _text.load_scp_statements(ptbxl / "scp_statements.csv")


def _first_id(rows, predicate) -> int:
    return next(i for i, r in sorted(rows.items()) if predicate(r))


def test_case_text_record_1_has_its_statements_and_translated_report(metadata_rows, statements):
    # PTB-XL record 1: scp_codes NORM 100, LVOLT, SR; report "sinusrhythmus periphere
    # niederspannung".
    ct = _text.case_text(metadata_rows[1], statements)
    assert ct.text_source == "report+statements"
    assert ct.report_language == "de"
    assert "sinus rhythm" in ct.statements_en
    assert "normal ECG" in ct.statements_en
    assert "low QRS voltages" in ct.statements_en
    assert ct.report_en == "sinus rhythm peripheral low voltage (limb leads)"
    assert ct.statements_en in ct.text and ct.report_en in ct.text


def test_case_text_likelihood_80_is_worded_probable(metadata_rows, statements):
    # Record 2: {'NORM': 80.0, 'SBRAD': 0.0}; 0 is "no likelihood recorded" -> plain.
    ct = _text.case_text(metadata_rows[2], statements)
    assert "probable normal ECG" in ct.statements_en
    assert "sinus bradycardia" in ct.statements_en
    assert "probable sinus bradycardia" not in ct.statements_en


def test_case_text_from_labels_when_report_is_missing(metadata_rows, statements):
    ecg_id = _first_id(metadata_rows, lambda r: not r["scp_codes"].strip()
                       and "SR" in r["merl_rhythm"] and "IMI" in r["merl_sub_class"])
    ct = _text.case_text(metadata_rows[ecg_id], statements)
    assert ct.text_source == "statements-from-labels"
    assert ct.report_en == "" and ct.report_language == ""
    assert "sinus rhythm" in ct.text
    assert "inferior myocardial infarction" in ct.text
    assert all(s["likelihood"] is None for s in ct.statements)


def test_case_text_subclass_labels_use_subclass_names(metadata_rows, statements):
    ecg_id = _first_id(metadata_rows, lambda r: not r["scp_codes"].strip()
                       and "LAFB/LPFB" in r["merl_sub_class"])
    ct = _text.case_text(metadata_rows[ecg_id], statements)
    assert "left anterior or left posterior fascicular block" in ct.text
    assert {"code": "LAFB/LPFB", "likelihood": None, "level": "subclass"} in ct.statements


def test_statements_text_words_each_likelihood(statements):
    text = _text.statements_text({"SR": 0.0, "LVH": 50.0, "IMI": 15.0, "ASMI": 80.0,
                                  "LAFB": 100.0}, statements)
    parts = text.split("; ")
    assert parts[0] == "sinus rhythm"  # rhythm first
    assert "possible left ventricular hypertrophy" in parts
    assert "inferior myocardial infarction cannot be excluded" in parts
    assert "probable anteroseptal myocardial infarction" in parts
    assert "left anterior fascicular block" in parts


def test_clean_report_splits_trailer_and_edit_note():
    clean = _text.clean_report(
        "sinusrhythmus lagetyp normal normales ekg 4.46                          unbestÄtigter bericht")
    assert clean.text == "sinusrhythmus lagetyp normal normales ekg"
    assert clean.unconfirmed and clean.program_version == "4.46"
    truncated = _text.clean_report("vorhofflimmern/-flattern lagetyp normal 4.46 unbestäti")
    assert truncated.text == "vorhofflimmern/-flattern lagetyp normal" and truncated.unconfirmed
    edited = _text.clean_report("sinus rhythm. normal ecg. Edit: NORM 100, (NORM 100)")
    assert edited.text == "sinus rhythm. normal ecg." and edited.edit_note == "NORM 100, (NORM 100)"


@pytest.mark.parametrize(
    ("german", "english"),
    [
        ("sinusrhythmus lagetyp normal normales ekg", "sinus rhythm normal axis normal ECG"),
        ("sinusrhythmus ueberdrehter linkstyp linksanteriorer hemiblock",
         "sinus rhythm marked left axis deviation left anterior hemiblock (left anterior "
         "fascicular block)"),
        ("sinusbradykardie linkstyp sonst normales ekg",
         "sinus bradycardia left axis otherwise normal ECG"),
        ("qrs(t) abnorm anteroseptaler infarkt alter unbest.",
         "QRS(T) abnormal anteroseptal infarction, age undetermined"),
        ("qrs(t) abnorm inferiorer infarkt wahrscheinlich alt",
         "QRS(T) abnormal inferior infarction probably old"),
        ("st & t abnorm, wahrscheinlich anterolaterale ischämie oder linksbelastung",
         "ST & T abnormal, probably anterolateral ischemia or left ventricular strain"),
        ("sinusrhythmus a-v block i linksschenkelblock linkshypertrophie möglich",
         "sinus rhythm first-degree AV block left bundle branch block possible left "
         "ventricular hypertrophy"),
        ("vorhofflimmern/-flattern periphere niederspannung",
         "atrial fibrillation/flutter peripheral low voltage (limb leads)"),
        ("st-senkung in v5,v6 t neg in ii,iii,avf",
         "ST depression in V5, V6 T negative in II, III, aVF"),
        ("anteroseptaler myokardschaden nicht auszuschliessen",
         "anteroseptal myocardial damage cannot be excluded"),
        ("sinusrytm vänster el-axel eljest normalt ekg",
         "sinus rhythm left axis deviation otherwise normal ECG"),
    ],
)
def test_translate_report_known_phrases(german, english):
    assert _text.translate_report(german).english == english


def test_translate_report_marks_unknown_words():
    tr = _text.translate_report("sinusrhythmus lagetyp normal quietschgrün")
    assert tr.english == "sinus rhythm normal axis [de:quietschgrün]"
    assert tr.unknown == ("quietschgrün",)


def test_translate_report_keeps_english_reports(metadata_rows):
    ecg_id = _first_id(metadata_rows, lambda r: r["report"].startswith("sinus rhythm. ")
                       and "edit" not in r["report"].lower())
    original = metadata_rows[ecg_id]["report"]
    tr = _text.translate_report(original)
    assert tr.language == "en"
    assert tr.english == " ".join(original.lower().split())


def test_phrase_table_covers_95_percent_of_report_words(metadata_rows):
    cov = _text.phrase_coverage(r["report"] for r in metadata_rows.values())
    # About two thirds of the 6,131 reports are German or Swedish.
    assert cov.n_reports > 3500
    assert cov.coverage >= 0.95, cov.unknown.most_common(20)


def test_phrase_table_rejects_repeated_source(tmp_path):
    path = tmp_path / "table.tsv"
    path.write_text("de\tlinkstyp\tleft axis\nde\tLinkstyp\tleft axis\n", encoding="utf-8")
    with pytest.raises(ValueError, match="repeats line 1"):
        _text.load_phrase_table(path)


def test_prepare_main_writes_cases_and_skips_a_matching_rerun(tmp_path, ptbxl, metadata_rows,
                                                              caplog):
    args = ["--out", str(tmp_path), "--ptbxl", str(ptbxl),
            "--records", str(ptbxl / "records100" / "00000"), "--limit-ids", "1-20"]
    assert prepare.main(args) == 0
    (out_dir,) = tmp_path.glob("prepare-*")
    cases = [json.loads(line) for line in (out_dir / "cases.jsonl").read_text().splitlines()]
    # Ids 1-20 that v1.0.3 keeps (it dropped a few of the earlier release).
    assert [c["ecg_id"] for c in cases] == [i for i in sorted(metadata_rows) if i <= 20]
    assert cases[0]["superclass"] == {"NORM": 1, "MI": 0, "STTC": 0, "CD": 0, "HYP": 0}
    assert cases[0]["report_en"] == "sinus rhythm peripheral low voltage (limb leads)"
    assert Path(cases[0]["record_path"]).is_file()
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["outputs"]["cases.jsonl"]["sha256"] == prepare.sha256_file(
        out_dir / "cases.jsonl")
    assert manifest["counts"]["cases"] == len(cases)
    mtime = (out_dir / "manifest.json").stat().st_mtime_ns

    caplog.clear()
    with caplog.at_level("INFO", logger="model_export.prepare"):
        assert prepare.main(args) == 0
    assert "skipped" in caplog.text
    assert (out_dir / "manifest.json").stat().st_mtime_ns == mtime
    assert len(list(tmp_path.glob("prepare-*"))) == 1


def test_prepare_reruns_when_cases_were_changed(tmp_path, ptbxl):
    kwargs = {"records": ptbxl / "records100" / "00000", "limit_ids": (1, 3)}
    first = prepare.prepare(tmp_path, ptbxl, **kwargs)
    (first.out_dir / "cases.jsonl").write_text("tampered\n")
    second = prepare.prepare(tmp_path, ptbxl, **kwargs)
    assert not second.skipped and second.out_dir == first.out_dir
    assert (second.out_dir / "cases.jsonl").read_text().count("\n") == 3


def test_prepare_fails_for_records_outside_the_folder(tmp_path, ptbxl):
    with pytest.raises(FileNotFoundError, match="00101_lr"):
        prepare.prepare(tmp_path, ptbxl, records=ptbxl / "records100" / "00000",
                        limit_ids=(95, 105))


def test_parse_id_range_rejects_bad_text():
    assert prepare.parse_id_range("1-20") == (1, 20)
    assert prepare.parse_id_range("7") == (7, 7)
    with pytest.raises(ValueError, match="empty"):
        prepare.parse_id_range("20-1")
    with pytest.raises(ValueError, match="like '1-20'"):
        prepare.parse_id_range("first twenty")
