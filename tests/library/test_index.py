"""hnswlib index against exact search, on vectors of real PTB-XL records.

The vectors come from the stand-in embedding (model_export._mechanics.SpectrumPCA) of the 1,000
records of PTB-XL folder 00000: real signals, not a trained model (see tests/library/_real.py).
"""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.errors import AssetError, EcgValueError
from desktop_app.library import VectorIndex, exact_search, recall_at_k, tune_ef
from model_export._mechanics import SpectrumPCA
from desktop_app.signal import bandpass
from tests.library._real import pack_signals


@pytest.fixture(scope="module")
def real_vectors(shared_data):
    ids, signals = pack_signals(shared_data)
    canon = bandpass(signals.astype(np.float64), 100.0).astype(np.float32)
    embedder = SpectrumPCA(canon[::4], dim=64)
    return ids, embedder.embed_signals(canon)


def test_index_recall_at_10_vs_exact(real_vectors):
    ids, vectors = real_vectors
    library, queries = vectors[100:], vectors[:100]  # queries held out of the index
    index = VectorIndex.build(library, ids[100:])
    ef, tuned = tune_ef(index, queries, k=10, target=0.99)
    truth, truth_sims = exact_search(library, ids[100:], queries, 10)
    found, sims = index.query(queries, 10)
    assert recall_at_k(found, truth) >= 0.99
    assert tuned >= 0.99 and ef == index.ef
    # Similarities are cosines: the exact and approximate values agree for the same labels.
    for f, s, t, ts in zip(found, sims, truth, truth_sims):
        common = dict(zip(t.tolist(), ts.tolist()))
        for lab, sim in zip(f.tolist(), s.tolist()):
            if lab in common:
                assert sim == pytest.approx(common[lab], abs=1e-5)


def test_index_build_is_deterministic(real_vectors, tmp_path):
    ids, vectors = real_vectors
    VectorIndex.build(vectors, ids).save(tmp_path / "a.hnsw")
    VectorIndex.build(vectors, ids).save(tmp_path / "b.hnsw")
    assert (tmp_path / "a.hnsw").read_bytes() == (tmp_path / "b.hnsw").read_bytes()


def test_index_save_load_roundtrip(real_vectors, tmp_path):
    ids, vectors = real_vectors
    index = VectorIndex.build(vectors, ids, ef=64)
    index.save(tmp_path / "i.hnsw")
    loaded = VectorIndex.load(tmp_path / "i.hnsw", vectors.shape[1], 64)
    a, sa = index.query(vectors[:20], 5)
    b, sb = loaded.query(vectors[:20], 5)
    assert np.array_equal(a, b) and np.allclose(sa, sb)
    assert np.array_equal(a[:, 0], ids[:20])  # each record's nearest case is itself
    assert np.allclose(sa[:, 0], 1.0, atol=1e-5)


def test_index_refuses_wrong_dimension(real_vectors):
    ids, vectors = real_vectors
    index = VectorIndex.build(vectors[:50], ids[:50])
    with pytest.raises(EcgValueError, match="dimensions"):
        index.query(np.ones(vectors.shape[1] + 1, np.float32), 3)


def test_index_load_missing_or_garbage_raises_asset_error(tmp_path):
    with pytest.raises(AssetError, match="missing"):
        VectorIndex.load(tmp_path / "none.hnsw", 8, 10)
    (tmp_path / "bad.hnsw").write_bytes(b"\x00" * 10)
    with pytest.raises(AssetError, match="bad.hnsw"):
        VectorIndex.load(tmp_path / "bad.hnsw", 8, 10)


def test_index_k_larger_than_library(real_vectors):
    ids, vectors = real_vectors
    index = VectorIndex.build(vectors[:5], ids[:5])
    labels, _ = index.query(vectors[0], 50)
    assert sorted(labels[0].tolist()) == sorted(ids[:5].tolist())
