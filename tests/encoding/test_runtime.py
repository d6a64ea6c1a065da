"""Tests of the onnxruntime encoders the app runs (desktop_app.encoding._runtime).

Models are exported here from random micro networks through model_export's real export code
(torch is in the ``train`` extra, which the test command installs); the metadata they carry is
what ``export_onnx`` writes. Tolerance ONNX vs torch: 1e-4 on L2-normalised embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from desktop_app.ecg import read_ecg
from desktop_app.encoding import (PAPER_GAF_RP_MTF, SIGNAL_MV, ImageEncoder, TextEncoder,
                                  model_metadata)
from desktop_app.errors import AssetError, EcgValueError
from desktop_app.signal import preprocess_for_model
from model_export.text_base import export_fp32, quantize_text, set_metadata
from tests.encoding._models import export_image_encoder, torch_embed
from tests.model_export._tiny_bert import write_tiny_bert


@pytest.fixture(scope="module")
def signal_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("img") / "image_encoder.onnx"
    model = export_image_encoder(path, "signal_mv")
    return path, model


@pytest.fixture(scope="module")
def record(shared_data: Path):
    return read_ecg(shared_data / "records" / "00001_lr.hea")


def test_image_encoder_takes_its_encoding_from_the_metadata(signal_model):
    enc = ImageEncoder(signal_model[0])
    assert enc.encoding is SIGNAL_MV
    assert enc.dim == 16


def test_image_encoder_embed_record_matches_torch(signal_model, record):
    path, model = signal_model
    enc = ImageEncoder(path)
    emb = enc.embed_record(record)
    assert emb.shape == (16,) and emb.dtype == np.float32
    assert np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5)
    ref = torch_embed(model, SIGNAL_MV.encode(preprocess_for_model(record))[None])[0]
    assert np.abs(emb - ref).max() <= 1e-4


def test_image_encoder_embed_signals_batches_like_single_calls(signal_model, record):
    enc = ImageEncoder(signal_model[0])
    sig = preprocess_for_model(record)
    batch = np.stack([sig, 0.5 * sig, np.zeros_like(sig)] * 30)  # 90 rows: more than one call
    embs = enc.embed_signals(batch)
    assert embs.shape == (90, 16)
    np.testing.assert_allclose(embs[1], enc.embed_signals(batch[1:2])[0], atol=1e-5)
    np.testing.assert_allclose(embs[88], embs[1], atol=1e-5)
    # Amplitude is information in signal_mv: half the voltage is another embedding.
    assert float(embs[0] @ embs[1]) < 0.9999


def test_image_encoder_int8_embedding_does_not_depend_on_the_batch(tmp_path, signal_model,
                                                                   record):
    from model_export.quantize import quantize_image

    int8 = tmp_path / "int8.onnx"
    quantize_image(signal_model[0], int8)
    set_metadata(int8, {"quantization": "int8_dynamic_per_channel"})
    enc = ImageEncoder(int8)
    sig = preprocess_for_model(record)
    alone = enc.embed_signals(sig[None])[0]
    with_others = enc.embed_signals(np.stack([10 * sig, sig, np.zeros_like(sig)]))[1]
    np.testing.assert_array_equal(alone, with_others)


def test_image_encoder_rejects_wrong_signal_shape(signal_model):
    with pytest.raises(EcgValueError, match=r"\(n, 12, 1000\)"):
        ImageEncoder(signal_model[0]).embed_signals(np.zeros((2, 12, 500), np.float32))


def test_image_encoder_refuses_a_model_of_another_encoding(tmp_path, signal_model):
    path = signal_model[0]
    with pytest.raises(AssetError, match="trained on encoding 'signal_mv', not on"):
        ImageEncoder(path, expected_encoding="paper_gaf_rp_mtf")
    # A signal_mv network whose metadata claims the paper encoding: the shapes disagree.
    relabelled = tmp_path / "relabelled.onnx"
    relabelled.write_bytes(path.read_bytes())
    set_metadata(relabelled, PAPER_GAF_RP_MTF.metadata())
    with pytest.raises(AssetError, match=r"takes inputs of shape \(3, 12, 1000\)"):
        ImageEncoder(relabelled)


def test_image_encoder_refuses_a_paper_model_for_signal_input(tmp_path):
    path = tmp_path / "paper.onnx"
    export_image_encoder(path, "paper_gaf_rp_mtf")
    enc = ImageEncoder(path)
    assert enc.encoding is PAPER_GAF_RP_MTF
    with pytest.raises(AssetError, match="not on 'signal_mv'"):
        ImageEncoder(path, expected_encoding="signal_mv")


@pytest.mark.parametrize("change, match", [
    ({"encoding.name": "gaf_v2"}, "which this version of the app does not have"),
    ({"encoding.version": "99"}, "version 99 of encoding 'signal_mv'"),
    ({"encoding.parameters": json.dumps({**dict(SIGNAL_MV.parameters),
                                         "amplitude_clip_mv": 3.0})},
     "parameters of encoding 'signal_mv'"),
])
def test_image_encoder_refuses_mismatched_encoding_metadata(tmp_path, signal_model, change,
                                                            match):
    path = tmp_path / "changed.onnx"
    path.write_bytes(signal_model[0].read_bytes())
    set_metadata(path, change)
    with pytest.raises(AssetError, match=match):
        ImageEncoder(path)


def test_image_encoder_refuses_a_model_without_encoding_metadata(tmp_path):
    import onnx

    path = tmp_path / "bare.onnx"
    export_image_encoder(path, "signal_mv")
    model = onnx.load(str(path))
    del model.metadata_props[:]
    onnx.save(model, str(path))
    with pytest.raises(AssetError, match="names no encoding"):
        ImageEncoder(path)


def test_image_encoder_missing_or_damaged_file_is_an_asset_error(tmp_path):
    with pytest.raises(AssetError, match="missing"):
        ImageEncoder(tmp_path / "nope.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(AssetError, match="cannot load"):
        ImageEncoder(bad)


@pytest.fixture(scope="module")
def tiny_text(tmp_path_factory):
    """A tiny BERT exported as text_base does, with its torch twin."""
    from model_export._minilm import load_minilm

    folder = tmp_path_factory.mktemp("text")
    bert = write_tiny_bert(folder / "bert")
    path = folder / "text.onnx"
    export_fp32(path, bert)
    set_metadata(path, {"text.tokenizer": "tokenizer.json", "text.max_tokens": "256",
                        "text.pad_id": "0", "text.quantization": "fp32"})
    (folder / "tokenizer.json").write_bytes((bert / "tokenizer.json").read_bytes())
    return path, load_minilm(bert)


TEXTS = ["atrial fibrillation",
         "sinus rhythm; left ventricular hypertrophy; ST depression in V5 and V6, T wave "
         "inversion in the lateral leads, probably strain pattern.",
         "normal ECG"]


def _torch_text(model, tokenizer_json: Path, text: str) -> np.ndarray:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_json))
    tok.no_padding()
    ids = torch.tensor([tok.encode(text).ids])
    with torch.no_grad():
        return model(ids, torch.ones_like(ids))[0].numpy()


def test_text_encoder_matches_torch_whatever_the_padding(tiny_text):
    path, model = tiny_text
    enc = TextEncoder(path)  # tokenizer found through the metadata, beside the model
    got = enc.embed_texts(TEXTS)
    assert got.shape == (3, enc.dim) and enc.dim == 32
    for i, text in enumerate(TEXTS):
        ref = _torch_text(model, path.parent / "tokenizer.json", text)
        assert np.abs(got[i] - ref).max() <= 1e-4, text
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert enc.embed_texts([]).shape == (0, 32)


def test_text_encoder_int8_embedding_does_not_depend_on_the_batch(tmp_path, tiny_text):
    path, _ = tiny_text
    q = tmp_path / "q.onnx"
    quantize_text(path, q, "int8_matmul_pc_gather")
    set_metadata(q, {"text.quantization": "int8_matmul_pc_gather"})
    enc = TextEncoder(q, path.parent / "tokenizer.json")
    np.testing.assert_array_equal(enc.embed_texts(TEXTS)[1], enc.embed_texts(TEXTS[1:2])[0])


def test_text_encoder_errors(tmp_path, tiny_text, signal_model):
    path, _ = tiny_text
    with pytest.raises(AssetError, match="tokenizer file is missing"):
        TextEncoder(path, tmp_path / "tokenizer.json")
    with pytest.raises(AssetError, match="inputs input_ids and attention_mask"):
        TextEncoder(signal_model[0], path.parent / "tokenizer.json")
    with pytest.raises(EcgValueError, match="list of strings"):
        TextEncoder(path).embed_texts("one string")


def test_model_metadata_reads_metadata_props(signal_model):
    meta = model_metadata(signal_model[0])
    assert meta["encoding.name"] == "signal_mv"
    assert meta["embedding.dim"] == "16"
