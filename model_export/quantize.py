"""Pipeline step: int8 image encoder, kept only if faster at equal retrieval quality.

``python -m model_export.quantize --export EXPORT_DIR --render RENDER_DIR --out DIR``

Quantises ``image_encoder.onnx`` with onnxruntime ``quantize_dynamic`` (int8 weights per output
channel, activations quantised on the fly), then measures on the validation records of the
render folder (the folds the model was validated on; never fold 10):

* fidelity: cosine of int8 vs fp32 embeddings per record and the overlap of each record's
  10 nearest neighbours;
* quality: precision@10 of sharing a diagnostic superclass for both models;
* speed: median latency per ECG at batch 1 with 2 threads (after warm-up), both models.

int8 is kept when its precision@10 is no more than :data:`MAX_P10_DROP` below fp32's and it is
either faster (it is not always: on an AVX2-only CPU without VNNI a 6-layer ViT measured 8.6 ms
int8 against 7.5 ms fp32) or needed to keep the shipped files within :data:`MAX_SHIPPED_BYTES`
(a 12-layer ViT-Tiny is 22 MB in fp32, 5.7 MB in int8, next to a 23 MB text encoder); otherwise
fp32 is kept. Either way the
step writes ``image_encoder.onnx`` (the chosen one), ``text_encoder.onnx`` and
``tokenizer.json`` (the text side is int8 already: see ``text_base``), and the measurements.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from model_export import _cache, _metrics

logger = logging.getLogger(__name__)

STEP = "quantize"
STEP_VERSION = 1  # bump when this module changes its output for the same inputs
#: Largest loss of precision@10 (absolute) at which int8 still counts as "equal quality".
MAX_P10_DROP = 0.005
#: Budget for all shipped model files together (issue 3: 40 MB).
MAX_SHIPPED_BYTES = 40_000_000
_LATENCY_RUNS = 30
_MAX_EVAL_RECORDS = 2000


@dataclass(frozen=True)
class QuantizeResult:
    out_dir: Path
    skipped: bool
    chosen: str
    measurements: dict


def quantize_image(src: Path, dst: Path) -> None:
    """Dynamic int8 quantisation of an image encoder (per-channel weights)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)


def latency_ms(onnx_path: Path, example: np.ndarray, runs: int = _LATENCY_RUNS,
               threads: int = 2) -> float:
    """Median wall time of one ``run`` at batch 1, after 3 warm-up runs, in ms."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = np.ascontiguousarray(example[:1], dtype=np.float32)
    for _ in range(3):
        sess.run(None, {name: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {name: x})
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000)


def quantize(out: Path, export_dir: Path, render_dir: Path, *,
             force: str | None = None) -> QuantizeResult:
    """Quantise, measure, choose (see the module docstring).

    Parameters
    ----------
    out : parent folder of the step output.
    export_dir : a finished ``export_onnx`` folder.
    render_dir : the ``render`` folder the model was trained on (validation records).
    force : ``"int8"`` or ``"fp32"`` to override the choice (still measured).

    Returns
    -------
    QuantizeResult
    """
    from desktop_app.encoding import ImageEncoder
    from model_export import export_onnx as _ex
    from model_export import render as _render
    from model_export import text_base as _tb
    from model_export.text_base import set_metadata

    export_dir, render_dir = Path(export_dir), Path(render_dir)
    eman = _cache.read_manifest(export_dir)
    rman = _cache.read_manifest(render_dir)
    inputs = {"export_onnx": {"path": str(export_dir), "key": eman["key"]},
              "render": {"path": str(render_dir), "key": rman["key"]}}
    parameters = {"max_p10_drop": MAX_P10_DROP, "max_shipped_bytes": MAX_SHIPPED_BYTES,
                  "force": force,
                  "max_eval_records": _MAX_EVAL_RECORDS}
    key = _cache.step_key(STEP, STEP_VERSION, parameters,
                          {k: v.get("key") or v["sha256"] for k, v in inputs.items()})
    out_dir = _cache.output_dir(out, STEP, key)
    if _cache.manifest_matches(out_dir, key, STEP_VERSION):
        m = _cache.read_manifest(out_dir)
        logger.info("quantize: skipped, %s is up to date", out_dir)
        return QuantizeResult(out_dir, True, m["chosen"], m["measurements"])

    data = _render.load(render_dir)
    index = data["index"]
    val_folds = json.loads(eman["metadata"]["data.val_folds"])
    rows = np.flatnonzero(np.asarray(index["ok"])
                          & np.isin(np.asarray(index["strat_fold"]), val_folds))
    if len(rows) < 12:
        # Too few validation records (smoke runs): measure on every readable one.
        rows = np.flatnonzero(np.asarray(index["ok"]))
    rows = rows[:_MAX_EVAL_RECORDS]
    x = np.asarray(data["inputs"][rows], dtype=np.float32)
    labels = data["labels"][rows, :index["n_superclasses"]]

    with _cache.staged_dir(out, STEP, out_dir) as tmp:
        work = tmp / "work"
        work.mkdir()
        fp32 = work / "fp32.onnx"
        int8 = work / "int8.onnx"
        shutil.copyfile(export_dir / _ex.IMAGE_FILE, fp32)
        set_metadata(fp32, {"quantization": "fp32"})
        quantize_image(export_dir / _ex.IMAGE_FILE, int8)
        set_metadata(int8, {"quantization": "int8_dynamic_per_channel"})
        emb = {name: ImageEncoder(path).embed_images(x)
               for name, path in (("fp32", fp32), ("int8", int8))}
        cos = np.sum(emb["fp32"] * emb["int8"], axis=1)
        k = min(10, len(rows) - 1)
        p10 = {}
        for name, e in emb.items():
            nb = _metrics.knn(e, e, k, exclude_self=True)
            p10[name] = _metrics.precision_at_k(nb, labels, labels)
        lat = {name: latency_ms(path, x) for name, path in (("fp32", fp32), ("int8", int8))}
        measurements = {
            "n_records": int(len(rows)), "k": k,
            "cos_min": float(cos.min()), "cos_mean": float(cos.mean()),
            f"top{k}_overlap": _metrics.topk_overlap(emb["fp32"], emb["int8"], k),
            "p_at_k_superclass": p10, "latency_ms_batch1_2threads": lat,
            "bytes": {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size},
        }
        equal_quality = p10["int8"] >= p10["fp32"] - MAX_P10_DROP
        faster = lat["int8"] < lat["fp32"]
        others = sum((export_dir / n).stat().st_size for n in (_ex.TEXT_FILE, _tb.TOKENIZER_FILE))
        fp32_fits = fp32.stat().st_size + others <= MAX_SHIPPED_BYTES
        chosen = force or ("int8" if (equal_quality and (faster or not fp32_fits)) else "fp32")
        measurements["int8_equal_quality"] = bool(equal_quality)
        measurements["int8_faster"] = bool(faster)
        measurements["fp32_within_budget"] = bool(fp32_fits)
        shutil.copyfile(int8 if chosen == "int8" else fp32, tmp / _ex.IMAGE_FILE)
        # Kept for tests and later evaluation; not shipped (publish copies the chosen one).
        shutil.move(str(fp32), tmp / "image_encoder.fp32.onnx")
        shutil.move(str(int8), tmp / "image_encoder.int8.onnx")
        np.save(tmp / "eval_embeddings_fp32.npy", emb["fp32"])
        np.save(tmp / "eval_embeddings_int8.npy", emb["int8"])
        shutil.rmtree(work)
        shutil.copyfile(export_dir / _ex.TEXT_FILE, tmp / _ex.TEXT_FILE)
        shutil.copyfile(export_dir / _tb.TOKENIZER_FILE, tmp / _tb.TOKENIZER_FILE)
        shipped = {name: (tmp / name).stat().st_size
                   for name in (_ex.IMAGE_FILE, _ex.TEXT_FILE, _tb.TOKENIZER_FILE)}
        _cache.write_manifest(tmp, step=STEP, step_version=STEP_VERSION, key=key, inputs=inputs,
                              parameters=parameters, chosen=chosen, measurements=measurements,
                              shipped_bytes=shipped, shipped_total_bytes=sum(shipped.values()))
    logger.info("quantize: kept %s; %s", chosen, measurements)
    return QuantizeResult(out_dir, False, chosen, measurements)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the step; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m model_export.quantize",
                                description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="parent folder of the output")
    p.add_argument("--export", type=Path, required=True, help="an export_onnx-* folder")
    p.add_argument("--render", type=Path, required=True, help="the render-* folder")
    p.add_argument("--force", choices=("int8", "fp32"), default=None)
    args = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = quantize(args.out, args.export, args.render, force=args.force)
    logger.info("%s", result.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
