"""The clinic's own store: add, edit, remove, search, export and import, on real ECGs."""

from __future__ import annotations

import json
import sqlite3
import zipfile

import numpy as np
import pytest

from desktop_app.ecg import read_ecg
from desktop_app.errors import EcgValueError
from desktop_app.library import ClinicStore, Statement, content_hash
from tests.library._real import pack_signals

VERSION = "test-encoder-1"


@pytest.fixture()
def real(shared_data):
    ids, signals = pack_signals(shared_data)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(ids), 8)).astype(np.float32)
    return ids, signals, vectors


def _add(store, real, i, **kw):
    _, signals, vectors = real
    return store.add(signals[i], 100.0, diagnosis=kw.pop("diagnosis", f"confirmed case {i}"),
                     embedding=vectors[i], encoder_version=VERSION, **kw)


def test_clinic_add_get_traces_roundtrip(tmp_path, real):
    store = ClinicStore(tmp_path / "c.sqlite")
    case = _add(store, real, 4, statements=[Statement("AFIB", "atrial fibrillation", 100.0)],
                age=71.0, sex="female", patient_name="Jane Doe")
    assert case.diagnosis == "confirmed case 4" and case.statements[0].code == "AFIB"
    traces, fs_hz = store.traces(case.case_id)
    assert fs_hz == 100.0
    assert np.max(np.abs(traces - real[1][4])) <= 0.0025 + 1e-6  # 5 µV quantum
    assert case.content_hash == content_hash(real[1][4], 100.0)
    assert store.get(case.case_id) == case
    conn = sqlite3.connect(tmp_path / "c.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_clinic_same_ecg_twice_refused(tmp_path, real):
    store = ClinicStore(tmp_path / "c.sqlite")
    first = _add(store, real, 1)
    with pytest.raises(EcgValueError, match=f"case {first.case_id}"):
        _add(store, real, 1, diagnosis="again")
    assert len(store) == 1


def test_clinic_edit_and_remove(tmp_path, real):
    store = ClinicStore(tmp_path / "c.sqlite")
    a, b = _add(store, real, 1), _add(store, real, 2)
    rev = store.revision()
    edited = store.edit(a.case_id, diagnosis="inferior MI, confirmed by angiography",
                        statements=[{"code": "IMI", "description": "inferior MI"}], age=60.0)
    assert edited.diagnosis.startswith("inferior MI") and edited.age == 60.0
    assert edited.statements == (Statement("IMI", "inferior MI"),)
    assert store.revision() == rev + 1
    with pytest.raises(EcgValueError, match="diagnosis"):
        store.edit(a.case_id, diagnosis="  ")
    store.remove(b.case_id)
    assert [c.case_id for c in store.list_cases()] == [a.case_id]
    with pytest.raises(EcgValueError, match="no case"):
        store.remove(b.case_id)
    with pytest.raises(EcgValueError, match="no case"):
        store.get(b.case_id)


def test_clinic_search_is_exact(tmp_path, real):
    _, _, vectors = real
    store = ClinicStore(tmp_path / "c.sqlite")
    cases = [_add(store, real, i) for i in range(30)]
    query = vectors[7] + 0.05 * vectors[3]
    got = store.search(query, 5, VERSION)
    unit = vectors[:30] / np.linalg.norm(vectors[:30], axis=1, keepdims=True)
    sims = unit @ (query / np.linalg.norm(query))
    want = [cases[i].case_id for i in np.argsort(-sims)[:5]]
    assert [cid for cid, _ in got] == want
    assert [s for _, s in got] == pytest.approx(sorted(sims, reverse=True)[:5], abs=1e-5)
    assert store.search(query, 5, "another-encoder") == []
    store.remove(want[0])  # the cached matrix follows the store
    assert want[0] not in [cid for cid, _ in store.search(query, 5, VERSION)]


def test_clinic_export_import_skips_duplicates_and_identifiers(tmp_path, real):
    a = ClinicStore(tmp_path / "a.sqlite")
    for i in range(3):
        _add(a, real, i, patient_name=f"Patient {i}", patient_id=f"ID{i}")
    out = tmp_path / "share.zip"
    assert a.export(out) == 3
    doc = json.loads(zipfile.ZipFile(out).read("cases.json"))
    assert all(c["patient_name"] is None and c["patient_id"] is None for c in doc["cases"])
    assert "Patient" not in zipfile.ZipFile(out).read("cases.json").decode()

    b = ClinicStore(tmp_path / "b.sqlite")
    _add(b, real, 1)  # already there: skipped
    _add(b, real, 10)
    report = b.import_file(out)
    assert (report.added, report.skipped_duplicates, report.total) == (2, 1, 3)
    got = {c.content_hash: c for c in b.list_cases()}
    for case in a.list_cases():
        assert case.content_hash in got
        ta, _ = a.traces(case.case_id)
        tb, _ = b.traces(got[case.content_hash].case_id)
        assert np.array_equal(ta, tb, equal_nan=True)
    again = b.import_file(out)
    assert (again.added, again.skipped_duplicates) == (0, 3)
    with_ids = tmp_path / "with_ids.zip"
    a.export(with_ids, include_identifiers=True)
    doc = json.loads(zipfile.ZipFile(with_ids).read("cases.json"))
    assert sorted(c["patient_name"] for c in doc["cases"]) == ["Patient 0", "Patient 1",
                                                                "Patient 2"]


def test_clinic_import_damaged_file_adds_nothing(tmp_path, real):
    a = ClinicStore(tmp_path / "a.sqlite")
    for i in range(3):
        _add(a, real, i)
    good = tmp_path / "good.zip"
    a.export(good)
    zin = zipfile.ZipFile(good)
    doc = json.loads(zin.read("cases.json"))
    doc["cases"][2]["content_hash"] = "0" * 64  # the last case no longer matches its traces
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zout:
        zout.writestr("cases.json", json.dumps(doc))
        zout.writestr("data.npz", zin.read("data.npz"))
    b = ClinicStore(tmp_path / "b.sqlite")
    with pytest.raises(EcgValueError, match="nothing was imported"):
        b.import_file(bad)
    assert len(b) == 0
    (tmp_path / "junk.zip").write_bytes(b"PK not really")
    with pytest.raises(EcgValueError, match="junk.zip"):
        b.import_file(tmp_path / "junk.zip")


def test_clinic_keeps_other_rates_and_missing_leads(tmp_path, shared_data):
    record = read_ecg(shared_data / "records" / "JS00001.hea")
    store = ClinicStore(tmp_path / "c.sqlite")
    case = store.add(record.signal, record.fs_hz, diagnosis="AF with RBBB",
                     source_format=record.source_format)
    traces, fs_hz = store.traces(case.case_id)
    assert fs_hz == record.fs_hz and traces.shape == record.signal.shape
    assert case.encoder_version is None and store.stale_cases(VERSION) == [case.case_id]


def test_clinic_requires_diagnosis(tmp_path, real):
    store = ClinicStore(tmp_path / "c.sqlite")
    with pytest.raises(EcgValueError, match="diagnosis"):
        _add(store, real, 0, diagnosis=" ")
    assert len(store) == 0
