"""The shipped encoders and case library, end to end, on real PTB-XL records.

What is checked is what a user relies on: the assets are intact and within their size budgets,
the library was built with the encoder that ships, a library record finds itself, and a
held-out example finds cases that share its diagnosis far more often than chance.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from desktop_app import assets as A
from desktop_app.encoding import ImageEncoder, TextEncoder
from desktop_app.library import CaseStore


def test_assets_within_budgets(shipped_assets):
    manifest = A.read_manifest(shipped_assets)
    assert manifest["total_bytes"] <= A.ASSETS_BUDGET_BYTES
    models = sum(manifest["files"][n]["bytes"] for n in (A.IMAGE_ENCODER, A.TEXT_ENCODER))
    assert models <= 40e6  # issue 3: shipped model files <= 40 MB


def test_library_was_built_with_the_shipped_encoder(shipped_assets):
    manifest = A.read_manifest(shipped_assets)
    encoder = ImageEncoder(shipped_assets / A.IMAGE_ENCODER)
    store = CaseStore(shipped_assets / A.LIBRARY_STORE)
    version = encoder.metadata["model.version"]
    assert store.meta["encoder_version"] == version == manifest["encoders"]["image"]["version"]
    assert store.meta["encoder_sha256"] == manifest["files"][A.IMAGE_ENCODER]["sha256"]
    assert json.loads(encoder.metadata["data.test_folds"]) == [10]
    assert len(store) > 19000  # folds 1-9 of PTB-XL


def test_library_record_finds_itself(shipped_finder, shared_data):
    # PTB-XL record 1 is in fold 3, so it is a library case.
    result = shipped_finder.find_similar(shared_data / "records" / "00001_lr.hea", k=10)
    top = result.hits[0]
    assert top.ecg_id == 1 and top.similarity == pytest.approx(1.0, abs=2e-3)
    assert result.encoder_version == ImageEncoder(
        shipped_finder.assets_root / A.IMAGE_ENCODER).metadata["model.version"]


def _codes(hit):
    return {s.code for s in hit.statements}


@pytest.mark.parametrize("stem, code", [("example_normal", "NORM"),
                                        ("example_atrial_fibrillation", "AFIB"),
                                        ("example_lbbb", "CLBBB")])
def test_held_out_example_finds_its_diagnosis_far_above_chance(shipped_finder, shipped_assets,
                                                               stem, code):
    store = CaseStore(shipped_assets / A.LIBRARY_STORE)
    chance = store.statement_prevalence(code)
    result = shipped_finder.find_similar(shipped_assets / A.EXAMPLES_DIR / f"{stem}.hea", k=10)
    share = np.mean([code in _codes(h) for h in result.hits])
    # At least three times the share of library cases carrying it, and at least half for
    # the common normal ECG.
    assert share >= min(0.5, 3 * chance) and share > chance
    assert code in {item.code for item in result.consensus.items[:3]}


def test_text_search_finds_ecgs_with_the_statement(shipped_finder, shipped_assets):
    result = shipped_finder.search_text("atrial fibrillation", k=10)
    share = np.mean(["AFIB" in _codes(h) for h in result.hits])
    store = CaseStore(shipped_assets / A.LIBRARY_STORE)
    assert share >= 3 * store.statement_prevalence("AFIB")


def test_text_encoder_puts_synonyms_closer_than_unrelated_words(shipped_assets):
    text = TextEncoder(shipped_assets / A.TEXT_ENCODER, shipped_assets / A.TEXT_TOKENIZER)
    a, b, c = text.embed_texts(["inferior myocardial infarction", "old inferior infarct",
                                "sinus rhythm, normal ECG"])
    assert float(a @ b) > float(a @ c)
