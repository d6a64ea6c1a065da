"""The case store built from real PTB-XL records: facts and traces round-trip.

Built by model_export.build_library with the stand-in embedding (tests/library/_real.py); the
store's contents do not depend on the embedding.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from desktop_app.ecg import read_ecg
from desktop_app.errors import AssetError, EcgValueError
from desktop_app.library import CaseStore, Statement


@pytest.fixture(scope="module")
def store(mechanics_assets):
    return CaseStore(mechanics_assets.library_dir / "cases.sqlite")


def _library_cases(mechanics_assets):
    return [c for c in mechanics_assets.cases if c["strat_fold"] != 10]


def test_store_holds_folds_1_to_9_only(store, mechanics_assets):
    expected = sorted(c["ecg_id"] for c in _library_cases(mechanics_assets))
    assert store.ecg_ids().tolist() == expected
    assert len(store) == len(expected) == mechanics_assets.build.n_cases


def test_store_traces_match_wfdb_record_at_drawn_scale(store, shared_data):
    for ecg_id in store.ecg_ids()[::9]:
        record = read_ecg(shared_data / "ptbxl" / "records100" / "00000" / f"{ecg_id:05d}_lr.hea")
        traces, fs_hz = store.traces(int(ecg_id))
        assert fs_hz == record.fs_hz == 100.0
        assert traces.shape == record.signal.shape
        assert float(np.max(np.abs(traces - record.signal))) < 0.010  # 10 µV


def test_store_facts_match_prepared_cases(store, mechanics_assets, shared_data):
    from model_export import _text

    scp = _text.load_scp_statements(shared_data / "ptbxl" / "scp_statements.csv")
    cases = {c["ecg_id"]: c for c in _library_cases(mechanics_assets)}
    got = store.get_cases(list(cases))
    assert set(got) == set(cases)
    for ecg_id, case in cases.items():
        lib = got[ecg_id]
        assert (lib.age, lib.sex) == (case["age"], case["sex"])
        assert lib.report == case["report"] and lib.report_en == case["report_en"]
        assert [s.code for s in lib.statements] == [s["code"] for s in case["statements"]]
        for st, src in zip(lib.statements, case["statements"]):
            assert isinstance(st, Statement) and st.description
            # PTB-XL's 0 means "no likelihood recorded": stored as None, never as 0 %.
            want = src["likelihood"] if src["likelihood"] else None
            assert st.likelihood == want
            if st.level == "statement":
                assert st.description == scp[st.code].description
            else:
                assert st.description == _text.SUBCLASS_DESCRIPTIONS[st.code]


def test_store_heart_axis_where_ptbxl_gives_it(store, shared_data):
    axes = {}
    with open(shared_data / "ptbxl" / "ptbxl_database-ids1-500.csv", newline="",
              encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            axes[int(row["ecg_id"])] = (row["heart_axis"] or None, row["infarction_stadium1"])
    got = store.get_cases(store.ecg_ids().tolist())
    with_axis = [i for i in got if axes[i][0]]
    assert with_axis, "records 1-100 include some with a heart axis"
    for ecg_id, case in got.items():
        assert case.heart_axis == axes[ecg_id][0]
        if axes[ecg_id][1]:
            assert axes[ecg_id][1] in case.infarction_stadium


def test_store_meta_records_encoder(store, mechanics_assets):
    assert store.meta["encoder_version"] == mechanics_assets.embedder.version
    assert store.meta["encoder_sha256"] == mechanics_assets.embedder.sha256
    assert int(store.meta["embedding_dim"]) == mechanics_assets.embedder.dim


def test_store_unknown_case_raises(store):
    with pytest.raises(EcgValueError, match="no case 999999"):
        store.traces(999999)


def test_store_not_a_store_raises_asset_error(tmp_path):
    (tmp_path / "cases.sqlite").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(AssetError, match="cases.sqlite"):
        CaseStore(tmp_path / "cases.sqlite")
    with pytest.raises(AssetError, match="missing"):
        CaseStore(tmp_path / "none.sqlite")


def test_store_statement_prevalence_counts_exact_codes(mechanics_assets):
    from desktop_app.library import CaseStore

    store = CaseStore(mechanics_assets.library_dir / "cases.sqlite")
    lib_cases = [c for c in mechanics_assets.cases if c["strat_fold"] != 10]
    for code in ("NORM", "SR", "IMI"):
        want = sum(any(s["code"] == code for s in c["statements"]) for c in lib_cases)
        assert store.statement_prevalence(code) == pytest.approx(want / len(store))
    assert store.statement_prevalence("NOT_A_CODE") == 0.0
