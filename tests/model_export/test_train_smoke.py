"""16-sample CPU smoke test of the training pipeline, step by step through each ``main``.

prepare (PTB-XL ecg_id 1-16, the shared unpacked ``records100/00000``) -> text_base (a tiny random
BERT with MiniLM's tokenizer, so the export takes seconds) -> render (signal_mv) -> train
(``vit_micro_signal``, 4 steps) -> export_onnx -> quantize. Quality is not the point here; the
plumbing, the parity of every conversion and the caching are.

Tolerances:
* ONNX vs torch: 1e-4 max abs on L2-normalised fp32 embeddings (the exporter lands near 1e-7).
* int8 vs fp32: mean cosine >= 0.98 and min >= 0.95, top-10 overlap >= 0.8. The micro model
  (width 64, 2 layers) is the worst case for dynamic int8: few channels share each scale. A
  ViT-Tiny measures >= 0.999 (PLATFORM.md section 4; the real run's manifest records it).
* render cache vs the app: float16 storage, so 2e-3 relative (values are clipped to +-5).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from desktop_app.ecg import read_ecg
from desktop_app.encoding import ImageEncoder, get_encoding, model_metadata
from desktop_app.signal import preprocess_for_model
from model_export import _cache, export_onnx, prepare, quantize, render, text_base, train
from tests.model_export._tiny_bert import write_tiny_bert

N_RECORDS = 16


def _only(folder: Path, step: str) -> Path:
    found = sorted(folder.glob(f"{step}-*"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, shared_data: Path) -> dict[str, Path]:
    """Run every step once on 16 real records; returns the step folders."""
    out = tmp_path_factory.mktemp("pipeline")
    ptbxl = shared_data / "ptbxl"
    bert = write_tiny_bert(out / "tiny_bert")
    assert prepare.main(["--out", str(out), "--ptbxl", str(ptbxl),
                         "--records", str(ptbxl / "records100" / "00000"),
                         "--limit-ids", f"1-{N_RECORDS}"]) == 0
    dirs = {"prepare": _only(out, "prepare")}
    assert text_base.main(["--out", str(out), "--model-dir", str(bert),
                           "--probe-cases", str(dirs["prepare"] / "cases.jsonl")]) == 0
    dirs["text_base"] = _only(out, "text_base")
    assert render.main(["--out", str(out), "--cases", str(dirs["prepare"]),
                        "--text-base", str(dirs["text_base"]), "--encoding", "signal_mv"]) == 0
    dirs["render"] = _only(out, "render")
    assert train.main(["--out", str(out), "--render", str(dirs["render"]),
                       "--model", "vit_micro_signal", "--steps", "4", "--batch", "16",
                       "--warmup", "1", "--eval-every", "2"]) == 0
    dirs["train"] = _only(out, "train")
    assert export_onnx.main(["--out", str(out), "--train", str(dirs["train"]),
                             "--text-base", str(dirs["text_base"]),
                             "--render", str(dirs["render"])]) == 0
    dirs["export_onnx"] = _only(out, "export_onnx")
    assert quantize.main(["--out", str(out), "--export", str(dirs["export_onnx"]),
                          "--render", str(dirs["render"])]) == 0
    dirs["quantize"] = _only(out, "quantize")
    dirs["out"] = out
    dirs["bert"] = bert
    return dirs


def test_pipeline_steps_write_complete_manifests(smoke):
    for step in ("prepare", "text_base", "render", "train", "export_onnx", "quantize"):
        manifest = _cache.read_manifest(smoke[step])
        assert manifest["step"] == step
        for name, meta in manifest["outputs"].items():
            assert _cache.sha256_file(smoke[step] / name) == meta["sha256"], (step, name)
    counts = _cache.read_manifest(smoke["render"])["counts"]
    assert counts == {"records": N_RECORDS, "failed": 0, "unique_texts": counts["unique_texts"]}
    inputs = np.load(smoke["render"] / "inputs.npy", mmap_mode="r")
    assert inputs.shape == (N_RECORDS, 3, 12, 1000) and inputs.dtype == np.float16
    assert np.load(smoke["render"] / "labels.npy").shape == (N_RECORDS, 5 + 71)


def test_render_rerun_is_skipped(smoke):
    before = (smoke["render"] / "manifest.json").read_text()
    result = render.render(smoke["out"], smoke["prepare"], smoke["text_base"],
                           encoding="signal_mv")
    assert result.skipped and result.out_dir == smoke["render"]
    assert (smoke["render"] / "manifest.json").read_text() == before


def test_render_key_changes_with_encoding(smoke):
    # A different encoding is a different cache entry, never a reuse of the signal_mv arrays.
    result = render.render(smoke["out"], smoke["prepare"], smoke["text_base"],
                           encoding="paper_gaf_rp_mtf")
    assert not result.skipped and result.out_dir != smoke["render"]
    assert np.load(result.out_dir / "inputs.npy", mmap_mode="r").shape == (N_RECORDS, 3, 224, 224)


def test_render_matches_the_apps_preprocessing_and_encoding(smoke, shared_data):
    """The training transform and the app's path give the same array for a real record."""
    header = shared_data / "ptbxl" / "records100" / "00000" / "00001_lr.hea"
    app = get_encoding("signal_mv").encode(preprocess_for_model(read_ecg(header)))
    trained_on = render.transform(header, "signal_mv")
    np.testing.assert_array_equal(trained_on, app)
    index = json.loads((smoke["render"] / "index.json").read_text())
    cached = np.load(smoke["render"] / "inputs.npy")[index["ecg_id"].index(1)]
    np.testing.assert_allclose(cached.astype(np.float32), app, rtol=2e-3, atol=1e-4)


def test_train_loss_is_finite_and_decreases_on_a_fixed_batch(smoke):
    result = train.train(smoke["out"], smoke["render"], model_name="vit_micro_signal",
                         steps=6, batch=16, lr=1e-3, warmup=1, eval_every=6, fixed_batch=True)
    losses = result.losses
    assert len(losses) == 6 and all(math.isfinite(x) for x in losses)
    # Chance level of a 16-pair CLIP loss is ln(16); fitting one batch must go below the start.
    assert losses[0] == pytest.approx(math.log(16), abs=0.7)
    assert losses[-1] < losses[0] - 0.05


def test_train_with_label_head_adds_bce(smoke):
    result = train.train(smoke["out"], smoke["render"], model_name="vit_micro_signal",
                         steps=2, batch=16, warmup=1, eval_every=2, label_weight=0.5)
    log = [json.loads(x) for x in (result.out_dir / "log.jsonl").read_text().splitlines()]
    assert all(math.isfinite(e["loss_bce"]) for e in log)
    assert log[0]["loss"] == pytest.approx(log[0]["loss_clip"] + 0.5 * log[0]["loss_bce"],
                                           rel=1e-4)


def test_export_onnx_image_encoder_matches_torch(smoke):
    model, _ = train.load_model(smoke["train"])
    x = np.load(smoke["render"] / "inputs.npy").astype(np.float32)
    with torch.no_grad():
        ref = model.image(torch.from_numpy(x)).numpy()
    sess = ort.InferenceSession(str(smoke["export_onnx"] / export_onnx.IMAGE_FILE))
    got = sess.run(None, {"image": x})[0]
    assert got.shape == (N_RECORDS, model.config["embed_dim"])
    assert np.abs(got - ref).max() <= 1e-4
    parity = _cache.read_manifest(smoke["export_onnx"])["parity"]
    assert max(v for k, v in parity.items() if k.endswith("max_abs")) <= 1e-4


def test_export_onnx_text_encoder_matches_projected_features(smoke):
    from desktop_app.encoding import TextEncoder

    model, _ = train.load_model(smoke["train"])
    cases = render.read_cases(smoke["prepare"] / "cases.jsonl")
    feats = np.load(smoke["render"] / "text_features.npy")
    with torch.no_grad():
        ref = model.text(torch.from_numpy(feats)).numpy()
    enc = TextEncoder(smoke["quantize"] / export_onnx.TEXT_FILE)
    got = enc.embed_texts([c["text_en"] for c in cases])
    assert np.abs(got - ref).max() <= 1e-4


def test_onnx_metadata_names_the_encoding_and_the_data(smoke):
    meta = model_metadata(smoke["quantize"] / export_onnx.IMAGE_FILE)
    assert meta["encoding.name"] == "signal_mv"
    assert meta["encoding.parameters"] == get_encoding("signal_mv").metadata()[
        "encoding.parameters"]
    assert json.loads(meta["model.input_shape"]) == ["N", 3, 12, 1000]
    assert meta["embedding.dim"] == "16"
    assert json.loads(meta["data.train_folds"]) == list(range(1, 9))
    assert json.loads(meta["data.val_folds"]) == [9]
    assert json.loads(meta["data.test_folds"]) == [10]
    for key in ("export.date", "export.version", "export.git_commit", "train.key"):
        assert meta[key]
    text_meta = model_metadata(smoke["quantize"] / export_onnx.TEXT_FILE)
    assert text_meta["text.tokenizer"] == "tokenizer.json"
    assert "encoding.name" not in text_meta


def test_quantize_int8_embeddings_close_to_fp32(smoke):
    from model_export._metrics import topk_overlap

    m = _cache.read_manifest(smoke["quantize"])
    fp32 = ImageEncoder(smoke["quantize"] / "image_encoder.fp32.onnx")
    int8 = ImageEncoder(smoke["quantize"] / "image_encoder.int8.onnx")
    x = np.load(smoke["render"] / "inputs.npy").astype(np.float32)
    a, b = fp32.embed_images(x), int8.embed_images(x)
    cos = np.sum(a * b, axis=1)
    assert cos.mean() >= 0.98 and cos.min() >= 0.95
    assert topk_overlap(a, b, 10) >= 0.8
    assert m["chosen"] in ("int8", "fp32")
    chosen = smoke["quantize"] / export_onnx.IMAGE_FILE
    assert chosen.read_bytes() == (smoke["quantize"] / f"image_encoder.{m['chosen']}.onnx"
                                   ).read_bytes()
    lat = m["measurements"]["latency_ms_batch1_2threads"]
    ms = m["measurements"]
    assert (m["chosen"] == "int8") == (ms["int8_equal_quality"] and (
        lat["int8"] < lat["fp32"] or not ms["fp32_within_budget"]))
    assert m["shipped_total_bytes"] == sum(m["shipped_bytes"].values())


def test_app_image_encoder_runs_the_exported_model_on_a_record(smoke, shared_data):
    enc = ImageEncoder(smoke["quantize"] / export_onnx.IMAGE_FILE, expected_encoding="signal_mv")
    record = read_ecg(shared_data / "ptbxl" / "records100" / "00000" / "00001_lr.hea")
    emb = enc.embed_record(record)
    assert emb.shape == (enc.dim,) and emb.dtype == np.float32
    assert np.linalg.norm(emb) == pytest.approx(1.0, abs=1e-5)
    # The same record from the training cache (float16) lands at the same place.
    index = json.loads((smoke["render"] / "index.json").read_text())
    cached = np.load(smoke["render"] / "inputs.npy")[[index["ecg_id"].index(1)]]
    assert float(enc.embed_images(cached.astype(np.float32))[0] @ emb) >= 0.999


def test_train_refuses_a_model_for_another_encoding(smoke):
    with pytest.raises(ValueError, match="render folder holds signal_mv"):
        train.train(smoke["out"], smoke["render"], model_name="vit_tiny_paper_p16", steps=1)
