"""Pipeline step: export the trained encoders to ONNX, with metadata and a parity check.

``python -m model_export.export_onnx --train TRAIN_DIR --text-base TEXT_BASE_DIR --render
RENDER_DIR --out DIR``

Writes (opset 18, dynamo exporter, one self-contained file each, dynamic batch):

``image_encoder.onnx``    ``image`` (N, C, H, W) float32 encoded ECG -> ``image_embedding``
                          (N, D), L2-normalised
``text_projection.onnx``  ``text_features`` (N, 384) -> ``text_embedding`` (N, D)
``text_encoder.onnx``     the ``text_base`` sentence encoder and the projection merged:
                          ``input_ids``, ``attention_mask`` -> ``text_embedding`` (N, D)
``tokenizer.json``        copied from ``text_base``

Every model carries ``metadata_props``: the encoding's metadata (``encoding.*``, from
:meth:`desktop_app.encoding.Encoding.metadata`), ``model.*`` (architecture, input shape),
``embedding.dim``, ``data.*`` (dataset and folds), ``export.date``, ``export.version``,
``export.git_commit``, ``train.key``. The ONNX outputs are compared with torch on rendered
records; the largest absolute difference goes into the manifest (``parity``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from model_export import _cache

logger = logging.getLogger(__name__)

STEP = "export_onnx"
STEP_VERSION = 1  # bump when this module changes its output for the same inputs
OPSET = 18
EXPORT_VERSION = "1"
IMAGE_FILE = "image_encoder.onnx"
PROJECTION_FILE = "text_projection.onnx"
TEXT_FILE = "text_encoder.onnx"
#: Largest |ONNX - torch| accepted on L2-normalised embeddings (fp32 both sides); the exporter
#: usually lands near 1e-6 (PLATFORM.md section 4).
PARITY_TOL = 1e-4
_PARITY_RECORDS = 8


@dataclass(frozen=True)
class ExportResult:
    out_dir: Path
    skipped: bool
    parity: dict


def _export(module, example, path: Path, input_name: str, output_name: str) -> None:
    import onnx
    import torch

    tmp = path.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(tmp), dynamo=True, opset_version=OPSET,
                          input_names=[input_name], output_names=[output_name],
                          dynamic_shapes=({0: torch.export.Dim("batch")},),
                          external_data=False)
    # Re-saved as one file: quantize_dynamic and the app want no side-car .data file.
    onnx.save(onnx.load(str(tmp)), str(path), save_as_external_data=False)
    tmp.unlink()
    side = tmp.with_name(tmp.name + ".data")
    if side.exists():
        side.unlink()


def merge_text(base: Path, projection: Path, dst: Path) -> None:
    """Chain the sentence encoder and the projection into one model at ``dst``."""
    import onnx
    from onnx import compose

    # Prefixes keep the two graphs' value names apart (both call their output text_embedding);
    # the base keeps its input names, which the app feeds.
    m1 = compose.add_prefix(onnx.load(str(base)), prefix="base/", rename_inputs=False)
    m2 = compose.add_prefix(onnx.load(str(projection)), prefix="proj/")
    if m1.ir_version != m2.ir_version:
        m2.ir_version = m1.ir_version = max(m1.ir_version, m2.ir_version)
    base_out = m1.graph.output[0].name
    merged = compose.merge_models(m1, m2, io_map=[(base_out, "proj/text_features")],
                                  outputs=["proj/text_embedding"])
    merged.graph.output[0].name = "text_embedding"
    for node in merged.graph.node:
        node.output[:] = ["text_embedding" if o == "proj/text_embedding" else o
                          for o in node.output]
    del merged.metadata_props[:]
    onnx.checker.check_model(merged)
    onnx.save(merged, str(dst), save_as_external_data=False)


def build_metadata(meta: dict, train_key: str, embed_dim: int) -> dict[str, str]:
    """The metadata strings shared by the exported models (see the module docstring)."""
    cfg = meta["config"]
    return {
        **meta["encoding"],
        "model.name": meta["name"],
        # What the library records and the app compares: the architecture and the training
        # run (its cache key covers data, parameters and seed), readable in logs and the UI.
        "model.version": f"{meta['name']}+{train_key[:12]}",
        "model.config": json.dumps(cfg, sort_keys=True),
        "model.input_shape": json.dumps(["N", *cfg["input_shape"]]),
        "embedding.dim": str(embed_dim),
        "embedding.normalised": "L2",
        "data.dataset": "PTB-XL 1.0.3, records100 (100 Hz), PhysioNet, CC BY 4.0",
        "data.train_folds": json.dumps(meta["train_folds"]),
        "data.val_folds": json.dumps(meta["val_folds"]),
        "data.test_folds": json.dumps(sorted(set(range(1, 11)) - set(meta["train_folds"])
                                             - set(meta["val_folds"]))),
        "data.n_train": str(meta["n_train"]),
        "train.key": train_key,
        "train.best": json.dumps(meta["best"]),
        "export.date": _dt.date.today().isoformat(),
        "export.version": EXPORT_VERSION,
        "export.git_commit": _cache.git_commit() or "unknown",
    }


def export_onnx(out: Path, train_dir: Path, text_base_dir: Path, render_dir: Path
                ) -> ExportResult:
    """Export the image encoder, the text projection and the merged text encoder.

    Parameters
    ----------
    out : parent folder of the step output.
    train_dir : a finished ``train`` folder.
    text_base_dir : the ``text_base`` folder whose features the model was trained on.
    render_dir : a ``render`` folder; its first records drive the parity check.

    Returns
    -------
    ExportResult

    Raises
    ------
    RuntimeError
        If ONNX and torch disagree by more than :data:`PARITY_TOL`.
    """
    import torch

    from desktop_app.encoding import TextEncoder
    from model_export import render as _render
    from model_export import text_base as _tb
    from model_export.text_base import set_metadata
    from model_export.train import load_model

    tman = _cache.read_manifest(train_dir)
    bman = _cache.read_manifest(text_base_dir)
    rman = _cache.read_manifest(render_dir)
    inputs = {"train": {"path": str(train_dir), "key": tman["key"]},
              "text_base": {"path": str(text_base_dir), "key": bman["key"]},
              "render": {"path": str(render_dir), "key": rman["key"]}}
    parameters = {"opset": OPSET, "export_version": EXPORT_VERSION}
    key = _cache.step_key(STEP, STEP_VERSION, parameters,
                          {k: v.get("key") or v["sha256"] for k, v in inputs.items()})
    out_dir = _cache.output_dir(out, STEP, key)
    if _cache.manifest_matches(out_dir, key, STEP_VERSION):
        logger.info("export_onnx: skipped, %s is up to date", out_dir)
        return ExportResult(out_dir, True, _cache.read_manifest(out_dir)["parity"])

    model, meta = load_model(train_dir)
    embed_dim = model.config["embed_dim"]
    data = _render.load(render_dir)
    rows = np.flatnonzero(np.asarray(data["index"]["ok"]))[:_PARITY_RECORDS]
    x = np.asarray(data["inputs"][rows], dtype=np.float32)
    feats = data["text"][rows]
    props = build_metadata(meta, tman["key"], embed_dim)
    with _cache.staged_dir(out, STEP, out_dir) as tmp:
        _export(model.image, torch.from_numpy(x[:2]), tmp / IMAGE_FILE, "image",
                "image_embedding")
        _export(model.text, torch.from_numpy(feats[:2]), tmp / PROJECTION_FILE,
                "text_features", "text_embedding")
        merge_text(Path(text_base_dir) / _tb.MODEL_FILE, tmp / PROJECTION_FILE, tmp / TEXT_FILE)
        text_props = {k: v for k, v in props.items() if not k.startswith("encoding.")}
        base_meta = {k: v for k, v in _load_props(Path(text_base_dir) / _tb.MODEL_FILE).items()
                     if k.startswith("text.")}
        set_metadata(tmp / IMAGE_FILE, props)
        set_metadata(tmp / PROJECTION_FILE, text_props)
        set_metadata(tmp / TEXT_FILE, {**text_props, **base_meta})
        shutil.copyfile(Path(text_base_dir) / _tb.TOKENIZER_FILE, tmp / _tb.TOKENIZER_FILE)

        import onnxruntime as ort

        with torch.no_grad():
            ref_img = model.image(torch.from_numpy(x)).numpy()
            ref_txt = model.text(torch.from_numpy(feats)).numpy()
        img = ort.InferenceSession(str(tmp / IMAGE_FILE)).run(None, {"image": x})[0]
        txt = ort.InferenceSession(str(tmp / PROJECTION_FILE)).run(
            None, {"text_features": feats})[0]
        # The merged model against the projection of render's features (both from text_base).
        texts = _texts_of(render_dir, rows)
        merged = TextEncoder(tmp / TEXT_FILE).embed_texts(texts)
        parity = {"image_max_abs": float(np.abs(img - ref_img).max()),
                  "projection_max_abs": float(np.abs(txt - ref_txt).max()),
                  "text_merged_max_abs": float(np.abs(merged - ref_txt).max()),
                  "n_records": int(len(rows)), "tolerance": PARITY_TOL}
        if max(parity["image_max_abs"], parity["projection_max_abs"],
               parity["text_merged_max_abs"]) > PARITY_TOL:
            raise RuntimeError(f"ONNX and torch disagree beyond {PARITY_TOL}: {parity}")
        _cache.write_manifest(tmp, step=STEP, step_version=STEP_VERSION, key=key,
                              inputs=inputs, parameters=parameters, parity=parity,
                              metadata=props)
    logger.info("export_onnx: %s, parity %s", out_dir, parity)
    return ExportResult(out_dir, False, parity)


def _load_props(path: Path) -> dict[str, str]:
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def _texts_of(render_dir: Path, rows: np.ndarray) -> list[str]:
    """The ``text_en`` of render rows, from the ``cases.jsonl`` render was made from."""
    from model_export.render import read_cases

    rman = _cache.read_manifest(render_dir)
    cases = read_cases(Path(rman["inputs"]["prepare"]["path"]) / "cases.jsonl",
                       rman["parameters"]["per_fold"])
    return [cases[int(r)]["text_en"] for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the step; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m model_export.export_onnx",
                                description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="parent folder of the output")
    p.add_argument("--train", type=Path, required=True, help="a train-* folder")
    p.add_argument("--text-base", type=Path, required=True, help="a text_base-* folder")
    p.add_argument("--render", type=Path, required=True, help="a render-* folder")
    args = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = export_onnx(args.out, args.train, args.text_base, args.render)
    logger.info("%s", result.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
