"""CaseFinder on a library built from real PTB-XL records with the stand-in embedding.

The trained encoder does not exist yet, so the finder is given the stand-in
(model_export._mechanics.SpectrumPCA) that built the library; these tests check the facade's
mechanics (loading, merging stores, consensus, errors, threads), not clinical similarity.
"""

from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from desktop_app import assets as A
from desktop_app.errors import AssetError, EcgValueError
from desktop_app.library import DISCLAIMER, Statement
from desktop_app.service import CaseFinder, SearchResult

RECORDS = "ptbxl/records100/00000"


@pytest.fixture()
def finder(mechanics_assets, tmp_path):
    return CaseFinder(assets_root=mechanics_assets.assets_root,
                      clinic_path=tmp_path / "clinic.sqlite",
                      image_encoder=mechanics_assets.embedder)


def _library_id(mechanics_assets, nth=0):
    return [c["ecg_id"] for c in mechanics_assets.cases if c["strat_fold"] != 10][nth]


def test_service_find_similar_library_record_finds_itself(finder, mechanics_assets,
                                                          shared_data):
    ecg_id = _library_id(mechanics_assets, 5)
    result = finder.find_similar(shared_data / RECORDS / f"{ecg_id:05d}_lr.hea", k=7)
    assert isinstance(result, SearchResult)
    assert len(result.hits) == 7 and [h.rank for h in result.hits] == list(range(1, 8))
    top = result.hits[0]
    assert (top.source, top.ecg_id, top.case_key) == ("library", ecg_id, f"ptbxl:{ecg_id}")
    assert top.similarity == pytest.approx(1.0, abs=1e-4)
    sims = [h.similarity for h in result.hits]
    assert sims == sorted(sims, reverse=True)
    case = next(c for c in mechanics_assets.cases if c["ecg_id"] == ecg_id)
    assert top.report_original == case["report"] and top.report_en == case["report_en"]
    assert [s.code for s in top.statements] == [s["code"] for s in case["statements"]]
    assert result.disclaimer == DISCLAIMER
    assert DISCLAIMER == "Decision aid: similar confirmed cases, not a diagnosis."
    assert result.consensus.k == 7
    assert result.query.source_format == "wfdb" and result.query.fs_hz == 100.0
    assert result.encoder_version == mechanics_assets.embedder.version


def test_service_search_matches_exact_neighbours(finder, mechanics_assets, shared_data):
    from desktop_app.library import CaseStore
    from desktop_app.library._index import exact_search

    record = finder.load(shared_data / RECORDS / "00050_lr.hea")
    vector = finder.embed(record)
    hits = finder.search(vector, 5)
    _, index = finder._library()
    matrix, labels = index.vectors()
    truth, sims = exact_search(matrix, labels, vector[None], 5)
    assert [h.ecg_id for h in hits] == truth[0].tolist()
    assert [h.similarity for h in hits] == pytest.approx(sims[0].tolist(), abs=1e-5)
    assert len(CaseStore(mechanics_assets.assets_root / A.LIBRARY_STORE)) == len(labels)


def test_service_refuses_short_record(finder, shared_data):
    record = finder.load(shared_data / RECORDS / "00001_lr.hea")
    short = record.replace(signal=record.signal[:, :400])  # 4 s
    with pytest.raises(EcgValueError, match="at least 5 s"):
        finder.find_similar(short)


def test_service_clinic_case_found_with_source_marked(finder, mechanics_assets, shared_data):
    record = finder.load(shared_data / RECORDS / "00007_lr.hea")
    case = finder.add_clinic_case(record, "confirmed: early repolarisation",
                                  statements=[Statement("", "early repolarisation")])
    result = finder.find_similar(record, k=5)
    sources = [h.source for h in result.hits]
    assert "clinic" in sources
    clinic_hit = next(h for h in result.hits if h.source == "clinic")
    assert clinic_hit.clinic_case_id == case.case_id and clinic_hit.diagnosis == case.diagnosis
    assert clinic_hit.similarity == pytest.approx(1.0, abs=1e-4)
    # Record 7 is also in the library (unless it is fold 10): both copies tie at the top.
    if 7 in [c["ecg_id"] for c in mechanics_assets.cases if c["strat_fold"] != 10]:
        assert {result.hits[0].source, result.hits[1].source} == {"library", "clinic"}
    finder.remove_clinic_case(case.case_id)
    assert "clinic" not in [h.source for h in finder.find_similar(record, k=5).hits]


def test_service_clinic_export_import_reembeds(finder, mechanics_assets, shared_data, tmp_path):
    record = finder.load(shared_data / RECORDS / "00011_lr.hea")
    finder.add_clinic_case(record, "sinus rhythm, confirmed")
    out = tmp_path / "share.zip"
    assert finder.export_clinic_cases(out) == 1
    other = CaseFinder(assets_root=mechanics_assets.assets_root,
                       clinic_path=tmp_path / "other.sqlite",
                       image_encoder=mechanics_assets.embedder)
    report = other.import_clinic_cases(out)
    assert report.added == 1
    hits = other.find_similar(record, k=3).hits
    assert any(h.source == "clinic" for h in hits)


def test_service_search_text_uses_text_encoder(finder, mechanics_assets, shared_data):
    target = _library_id(mechanics_assets, 3)
    vector = finder.embed(finder.load(shared_data / RECORDS / f"{target:05d}_lr.hea"))

    class WordsToVector:  # a text encoder that maps one phrase onto one ECG's embedding
        def embed_texts(self, texts):
            assert texts == ["left bundle branch block"]
            return vector[None]

    finder._text_encoder = WordsToVector()
    result = finder.search_text("  left bundle branch block ", k=3)
    assert result.query is None and result.query_text == "left bundle branch block"
    assert result.hits[0].ecg_id == target
    with pytest.raises(EcgValueError, match="needs some words"):
        finder.search_text("   ")


def test_service_search_text_without_text_model_names_it(finder):
    with pytest.raises(AssetError, match="text_encoder.onnx"):
        finder.search_text("atrial fibrillation")


def test_service_threads_share_one_finder(finder, shared_data):
    paths = [shared_data / RECORDS / f"{i:05d}_lr.hea" for i in (2, 3, 4, 5)]
    expected = {p: [h.case_key for h in finder.find_similar(p, k=5).hits] for p in paths}
    fresh = CaseFinder(assets_root=finder.assets_root, clinic_path=finder.clinic_path,
                       image_encoder=finder._image_encoder)
    got, errors = {}, []

    def work(p):
        try:
            got[p] = [h.case_key for h in fresh.find_similar(p, k=5).hits]
        except Exception as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(p,)) for p in paths * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and got == expected


def test_service_damaged_library_refused_naming_file(mechanics_assets, tmp_path, shared_data):
    root = tmp_path / "assets"
    shutil.copytree(mechanics_assets.assets_root, root)
    path = root / A.LIBRARY_INDEX
    data = bytearray(path.read_bytes())
    data[100] ^= 0x10
    path.write_bytes(bytes(data))
    finder = CaseFinder(assets_root=root, clinic_path=tmp_path / "c.sqlite",
                        image_encoder=mechanics_assets.embedder)
    with pytest.raises(AssetError, match="index.hnsw"):
        finder.find_similar(shared_data / RECORDS / "00001_lr.hea")


def test_service_library_from_other_encoder_refused(mechanics_assets, tmp_path, shared_data):
    from model_export._mechanics import SpectrumPCA
    from model_export.build_library import canonical_signals

    other = SpectrumPCA(canonical_signals(mechanics_assets.cases[:30]), 16)
    finder = CaseFinder(assets_root=mechanics_assets.assets_root,
                        clinic_path=tmp_path / "c.sqlite", image_encoder=other)
    with pytest.raises(AssetError, match="built with encoder"):
        finder.find_similar(shared_data / RECORDS / "00001_lr.hea")


def test_service_missing_assets_is_asset_error(tmp_path, shared_data):
    finder = CaseFinder(assets_root=tmp_path / "nowhere", clinic_path=tmp_path / "c.sqlite")
    with pytest.raises(AssetError, match="manifest"):
        finder.find_similar(shared_data / RECORDS / "00001_lr.hea")


def test_service_embedding_is_frozen(finder, shared_data):
    result = finder.find_similar(shared_data / RECORDS / "00001_lr.hea", k=2)
    assert result.embedding.dtype == np.float32 and not result.embedding.flags.writeable
