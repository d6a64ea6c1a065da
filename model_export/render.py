"""Pipeline step: encoded model inputs and frozen text features for every case, cached.

``python -m model_export.render --cases PREPARE_DIR --text-base TEXT_BASE_DIR --out DIR
[--encoding signal_mv] [--workers 2] [--per-fold N]``

For each case of ``cases.jsonl`` the record is read with the app's own reader
(:func:`desktop_app.ecg.read_ecg`), turned into the model's canonical signal
(:func:`desktop_app.signal.preprocess_for_model`) and encoded (:mod:`desktop_app.encoding`):
the same three calls the app makes, so training sees what the app will feed the model
(:func:`transform` is that chain; a test checks it against the app's path). Outputs:

``inputs.npy``        (N, C, H, W) float16 memmap of the encoded records
``text_features.npy`` (N, 384) float32: ``text_en`` through the ``text_base`` ONNX model
``labels.npy``        (N, 5 + 71) uint8: diagnostic superclasses, then SCP statements
``index.json``        ecg_id, strat_fold, ok (False where the record could not be read) per
                      row, the label names, the encoding's metadata

float16 keeps about 3 decimal digits: under 0.002 mV at the 5 mV clip of ``signal_mv`` and under
2.5e-4 on the paper encoding's [0, 1] pixels, far below what separates diagnoses, at half the size.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from model_export import _cache
from model_export.prepare import SUPERCLASSES

logger = logging.getLogger(__name__)

STEP = "render"
STEP_VERSION = 1  # bump when this module changes its output for the same inputs
STORE_DTYPE = np.float16
# Records per worker task: amortises process hand-off without holding much memory.
_CHUNK = 32
_REPO = _cache.REPO_ROOT
# The app code whose behaviour the cached arrays depend on.
_APP_SOURCES = ("desktop_app/signal/_preprocess.py", "desktop_app/encoding/__init__.py",
                "desktop_app/encoding/_paper.py", "desktop_app/encoding/_signal_image.py",
                "desktop_app/ecg/_wfdb.py", "desktop_app/ecg/_assemble.py")


@dataclass(frozen=True)
class RenderResult:
    out_dir: Path
    skipped: bool
    n_records: int
    n_failed: int


def transform(record_path: str | Path, encoding_name: str) -> np.ndarray:
    """The training transform of one record: read, canonical signal, encoding (float32).

    Raises
    ------
    desktop_app.errors.EcgError
        If the record cannot be read or is too short.
    """
    from desktop_app.ecg import read_ecg
    from desktop_app.encoding import get_encoding
    from desktop_app.signal import preprocess_for_model

    return get_encoding(encoding_name).encode(preprocess_for_model(read_ecg(record_path)))


def _encode_chunk(args: tuple[list[str], str]) -> tuple[np.ndarray, list[str | None]]:
    from desktop_app.encoding import get_encoding
    from desktop_app.errors import EcgError

    paths, encoding_name = args
    enc = get_encoding(encoding_name)
    out = np.zeros((len(paths), *enc.output_shape), dtype=STORE_DTYPE)
    errors: list[str | None] = []
    for i, path in enumerate(paths):
        try:
            out[i] = transform(path, encoding_name)
            errors.append(None)
        except EcgError as exc:
            errors.append(str(exc))
    return out, errors


def statement_codes(scp_statements_csv: Path) -> list[str]:
    """The 71 SCP statement codes in the order of ``scp_statements.csv``."""
    with open(scp_statements_csv, newline="", encoding="utf-8") as fh:
        return [row[""].strip() for row in csv.DictReader(fh)]


def read_cases(cases_jsonl: Path, per_fold: int | None = None) -> list[dict]:
    """Cases of a ``cases.jsonl``; with ``per_fold`` only the first N (by ecg_id) of each fold."""
    with open(cases_jsonl, encoding="utf-8") as fh:
        cases = [json.loads(line) for line in fh]
    cases.sort(key=lambda c: c["ecg_id"])
    if per_fold is None:
        return cases
    taken: dict[int, int] = {}
    out = []
    for case in cases:
        n = taken.get(case["strat_fold"], 0)
        if n < per_fold:
            out.append(case)
            taken[case["strat_fold"]] = n + 1
    return out


def render(out: Path, cases_dir: Path, text_base_dir: Path, *, encoding: str = "signal_mv",
           workers: int = 1, per_fold: int | None = None) -> RenderResult:
    """Encode every case's record and embed its text into ``out/render-<key>/``.

    Parameters
    ----------
    out : parent folder of the step output.
    cases_dir : a finished ``prepare`` folder (``cases.jsonl``).
    text_base_dir : a finished ``text_base`` folder (sentence-encoder ONNX + tokenizer).
    encoding : name of a :mod:`desktop_app.encoding` encoding.
    workers : processes that read and encode records (one per core; 1 runs inline).
    per_fold : keep only the first N cases of each fold (quick experiments); None for all.

    Returns
    -------
    RenderResult

    Raises
    ------
    FileNotFoundError
        If an input folder is not a finished step output.
    desktop_app.errors.EcgValueError
        If the encoding is unknown.
    """
    from desktop_app.encoding import TextEncoder, get_encoding
    from model_export import text_base as _tb

    enc = get_encoding(encoding)
    prep = _cache.read_manifest(cases_dir)
    tb = _cache.read_manifest(text_base_dir)
    inputs = {"prepare": {"path": str(cases_dir), "key": prep["key"]},
              "text_base": {"path": str(text_base_dir), "key": tb["key"]},
              "encoding": {"metadata": enc.metadata()}}
    # The app code that shapes the arrays is an input; this module's own changes bump
    # STEP_VERSION instead, so a comment edit does not force a 10-minute re-render.
    for rel in _APP_SOURCES:
        inputs[rel] = {"sha256": _cache.sha256_file(_REPO / rel)}
    parameters = {"encoding": encoding, "per_fold": per_fold, "dtype": np.dtype(STORE_DTYPE).name}
    key = _cache.step_key(STEP, STEP_VERSION, parameters, {
        k: v.get("key") or v.get("sha256") or _cache.sha256_json(v) for k, v in inputs.items()})
    out_dir = _cache.output_dir(out, STEP, key)
    if _cache.manifest_matches(out_dir, key, STEP_VERSION):
        m = _cache.read_manifest(out_dir)
        logger.info("render: skipped, %s is up to date", out_dir)
        return RenderResult(out_dir, True, m["counts"]["records"], m["counts"]["failed"])

    cases = read_cases(Path(cases_dir) / "cases.jsonl", per_fold)
    codes = statement_codes(Path(prep["inputs"]["scp_statements.csv"]["path"]))
    label_names = [f"superclass:{s}" for s in SUPERCLASSES] + [f"scp:{c}" for c in codes]
    code_col = {c: len(SUPERCLASSES) + i for i, c in enumerate(codes)}
    labels = np.zeros((len(cases), len(label_names)), dtype=np.uint8)
    for row, case in enumerate(cases):
        for j, s in enumerate(SUPERCLASSES):
            labels[row, j] = case["superclass"][s]
        # Every listed statement counts, whatever its likelihood (PTB-XL's benchmark convention).
        for st in case["statements"]:
            if st["code"] in code_col:
                labels[row, code_col[st["code"]]] = 1

    timings = {}
    with _cache.staged_dir(out, STEP, out_dir) as tmp:
        t0 = time.perf_counter()
        arr = np.lib.format.open_memmap(tmp / "inputs.npy", mode="w+", dtype=STORE_DTYPE,
                                        shape=(len(cases), *enc.output_shape))
        tasks = [([c["record_path"] for c in cases[s:s + _CHUNK]], encoding)
                 for s in range(0, len(cases), _CHUNK)]
        errors: list[str | None] = []
        if workers <= 1:
            results = map(_encode_chunk, tasks)
            pool = None
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(_encode_chunk, tasks)
        try:
            for i, (chunk, errs) in enumerate(results):
                arr[i * _CHUNK:i * _CHUNK + len(chunk)] = chunk
                errors.extend(errs)
                if i % 50 == 49:
                    logger.info("render: %d / %d records", len(errors), len(cases))
        finally:
            if pool is not None:
                pool.shutdown()
        arr.flush()
        del arr
        timings["encode_s"] = round(time.perf_counter() - t0, 2)
        failed = {cases[i]["ecg_id"]: e for i, e in enumerate(errors) if e is not None}
        for ecg_id, err in failed.items():
            logger.warning("render: record %d skipped: %s", ecg_id, err)

        t0 = time.perf_counter()
        texts = [c["text_en"] for c in cases]
        unique = sorted(set(texts))
        text_enc = TextEncoder(Path(text_base_dir) / _tb.MODEL_FILE,
                               Path(text_base_dir) / _tb.TOKENIZER_FILE)
        emb = text_enc.embed_texts(unique)
        row_of = {t: i for i, t in enumerate(unique)}
        np.save(tmp / "text_features.npy", emb[[row_of[t] for t in texts]])
        timings["text_s"] = round(time.perf_counter() - t0, 2)
        np.save(tmp / "labels.npy", labels)
        index = {"ecg_id": [c["ecg_id"] for c in cases],
                 "strat_fold": [c["strat_fold"] for c in cases],
                 "ok": [e is None for e in errors],
                 "label_names": label_names, "n_superclasses": len(SUPERCLASSES),
                 "encoding": enc.metadata(), "text_model": tb["parameters"]}
        (tmp / "index.json").write_text(json.dumps(index), encoding="utf-8")
        counts = {"records": len(cases), "failed": len(failed), "unique_texts": len(unique)}
        timings["records_per_s"] = round(len(cases) / max(timings["encode_s"], 1e-9), 1)
        _cache.write_manifest(tmp, step=STEP, step_version=STEP_VERSION, key=key, inputs=inputs,
                              parameters=parameters, counts=counts, timings=timings,
                              failed={str(k): v for k, v in failed.items()})
    logger.info("render: %d records (%d failed) in %s; %s", len(cases), len(failed), out_dir,
                timings)
    return RenderResult(out_dir, False, len(cases), len(failed))


def load(render_dir: Path) -> dict:
    """Open a render folder: ``inputs`` (memmap), ``text``, ``labels``, ``index``."""
    render_dir = Path(render_dir)
    _cache.read_manifest(render_dir)
    return {"inputs": np.load(render_dir / "inputs.npy", mmap_mode="r"),
            "text": np.load(render_dir / "text_features.npy"),
            "labels": np.load(render_dir / "labels.npy"),
            "index": json.loads((render_dir / "index.json").read_text(encoding="utf-8"))}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the step; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m model_export.render",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="parent folder of the output")
    parser.add_argument("--cases", type=Path, required=True, help="a prepare-* folder")
    parser.add_argument("--text-base", type=Path, required=True, help="a text_base-* folder")
    parser.add_argument("--encoding", default="signal_mv")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--per-fold", type=int, default=None,
                        help="only the first N cases of each fold (quick experiments)")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = render(args.out, args.cases, args.text_base, encoding=args.encoding,
                    workers=args.workers, per_fold=args.per_fold)
    logger.info("%s", result.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
