"""build_library and publish on real PTB-XL records 1-100.

The embedding is the stand-in model_export._mechanics.SpectrumPCA (the trained encoder does not
exist yet): these tests check the step's mechanics, determinism and bookkeeping, not search
quality. Tests against the shipped ONNX model come when it lands.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from desktop_app.ecg import read_ecg
from model_export import build_library as bl
from model_export.publish import publish
from tests.library._real import prepared_cases
from tests.library.conftest import mechanics_assets  # noqa: F401  (session fixture)


def test_build_library_fast_reader_matches_read_ecg(shared_data):
    folder = shared_data / "ptbxl" / "records100" / "00000"
    for hea in sorted(folder.glob("*_lr.hea"))[::7]:
        sig, fs_hz = bl.read_ptbxl_signal(hea)
        record = read_ecg(hea)
        assert fs_hz == record.fs_hz
        np.testing.assert_allclose(sig, record.signal, atol=1e-6)


def test_build_library_main_is_deterministic_and_skips_rerun(shared_data, tmp_path):
    prep = prepared_cases(shared_data, tmp_path / "prep", ids=(1, 60))
    cases_file = next((tmp_path / "prep").glob("prepare-*/cases.jsonl"))
    assert len(prep) == 60
    args = ["--cases", str(cases_file), "--mechanics-embedding", "8", "--mechanics-fit", "40"]
    assert bl.main([*args, "--out", str(tmp_path / "a")]) == 0
    assert bl.main([*args, "--out", str(tmp_path / "b")]) == 0
    (a,) = (tmp_path / "a").glob("build_library-*")
    (b,) = (tmp_path / "b").glob("build_library-*")
    assert a.name == b.name
    for name in ("library/index.hnsw", "library/cases.sqlite"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["library"]["n_cases"] == sum(1 for c in prep if c["strat_fold"] != 10)
    assert manifest["library"]["encoder"]["name"] == "mechanics-spectrum-pca"
    mtime = (a / "library" / "cases.sqlite").stat().st_mtime_ns
    # manifest matches: skipped, and run() names the folder it found (ship.py publishes it)
    assert bl.run([*args, "--out", str(tmp_path / "a")]) == a
    assert (a / "library" / "cases.sqlite").stat().st_mtime_ns == mtime


def test_build_library_rejects_bad_embedding_shape(shared_data, tmp_path):
    cases = prepared_cases(shared_data, tmp_path / "prep", ids=(1, 20))
    with pytest.raises(ValueError, match="embed_fn returned shape"):
        bl.build_library(cases, tmp_path / "lib", lambda x: np.ones((1, 4)),
                         encoder_info={"name": "x", "version": "1", "sha256": "0"})


def test_publish_refuses_library_built_with_another_encoder(mechanics_assets, tmp_path):
    fake_model = tmp_path / "image_encoder.onnx"
    fake_model.write_bytes(b"not the encoder the library was built with")
    with pytest.raises(ValueError, match="rebuild the library"):
        publish(mechanics_assets.library_dir, tmp_path / "assets", image_encoder=fake_model)
    assert not (tmp_path / "assets").exists()
