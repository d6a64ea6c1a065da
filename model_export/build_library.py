"""Step ``build_library``: PTB-XL cases + the image encoder -> the bundled case library.

``python -m model_export.build_library --cases PREPARE_DIR --encoder image_encoder.onnx
--out DIR [--folds 1-9] [--limit-ids A-B] [--records DIR] [--quantum-uv 10]``

Writes ``DIR/build_library-<key>/library/{index.hnsw, cases.sqlite}`` plus ``manifest.json``
(inputs, parameters, SHA-256 of the outputs, the encoder's version and SHA-256, the tuned query
beam and its recall). Deterministic: the same inputs give byte-identical files (cases in
``ecg_id`` order, embeddings in fixed batches, hnswlib built on one thread with a fixed seed, no
timestamps in the store). ``model_export.publish`` copies the result into ``assets/``.

* Library: PTB-XL folds 1-9 (fold 10 is kept out: it is the evaluation fold). Fold 10's first
  records serve as held-out queries to tune the index's query beam for recall@10 >= 0.99
  against exact search.
* Traces: every case's 12 leads as PTB-XL stores them (100 Hz), compressed with
  :mod:`desktop_app.library._traces` (10 µV steps by default: at most 5 µV error).
* ``--mechanics-embedding DIM`` replaces the encoder with :class:`model_export._mechanics.
  SpectrumPCA` (for tests and benchmarks of the mechanics before the trained encoder exists;
  such a library is marked with that encoder name and ``publish`` refuses it with a real model).
"""

from __future__ import annotations

import argparse
import csv
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.ecg import EcgRecord
from desktop_app.library import (
    DEFAULT_QUANTUM_UV, VectorIndex, encode_traces, normalise, tune_ef, write_store,
)
from desktop_app.library._index import exact_search, recall_at_k
from desktop_app.signal import preprocess_for_model
from model_export import _cache, _text
from model_export.prepare import parse_id_range, record_path

logger = logging.getLogger(__name__)

STEP = "build_library"
# Bump when the output changes for the same inputs (schema, codec, index parameters).
STEP_VERSION = 1
LIBRARY_FOLDS: tuple[int, ...] = tuple(range(1, 10))
TUNE_FOLD = 10
N_TUNE_QUERIES = 500
BATCH = 256
RECALL_TARGET = 0.99
_REPO_ROOT = Path(__file__).resolve().parents[1]
_DEFAULT_DATABASE = _REPO_ROOT.parent / "shared" / "data" / "ptbxl" / "ptbxl_database-ids1-500.csv"
_DEFAULT_STATEMENTS = _REPO_ROOT.parent / "shared" / "data" / "ptbxl" / "scp_statements.csv"
_LEAD_ALIASES = {"AVR": "aVR", "AVL": "aVL", "AVF": "aVF"}
_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

EmbedFn = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LibraryBuild:
    """What :func:`build_library` wrote and measured."""

    out_dir: Path
    n_cases: int
    dim: int
    ef: int
    recall_at_10: float
    n_tune_queries: int
    tune_queries: str
    seconds: Mapping[str, float]
    bytes: Mapping[str, int]


# ---------------------------------------------------------------------------------------------
# Reading PTB-XL quickly
# ---------------------------------------------------------------------------------------------
def read_ptbxl_signal(hea: Path) -> tuple[np.ndarray, float]:
    """A PTB-XL WFDB record (format 16, 12 leads) as (12, n) mV in ``LEADS_12`` order.

    About 0.3 ms per record instead of 50 ms through :func:`desktop_app.ecg.read_ecg` (whose
    quality checks the build does not need); ``tests/model_export/test_build_library.py``
    checks both give the same samples. Anything unexpected raises ``ValueError``.

    Returns
    -------
    (np.ndarray, float)
        float32 (12, n_samples) mV and the rate in Hz.
    """
    lines = [ln for ln in Path(hea).read_text(encoding="ascii").splitlines()
             if ln.strip() and not ln.startswith("#")]
    head = lines[0].split()
    n_sig, fs_hz, n_samples = int(head[1]), float(head[2].split("/")[0]), int(head[3])
    if n_sig != 12 or len(lines) < 13 or not 0 < n_samples <= 600_000:
        raise ValueError(f"{hea}: expected 12 signals, found {n_sig}")
    gains, baselines, order = [], [], []
    dat = None
    for ln in lines[1:13]:
        f = ln.split()
        if f[1] != "16":
            raise ValueError(f"{hea}: expected WFDB format 16, found {f[1]}")
        dat = dat or f[0]
        if f[0] != dat:
            raise ValueError(f"{hea}: expected one signal file")
        gain_part = f[2].split("/")[0]
        if "(" in gain_part:
            g, b = gain_part.rstrip(")").split("(")
        else:
            g, b = gain_part, f[4]
        gains.append(float(g) or 200.0)  # WFDB: gain 0 means the default 200
        baselines.append(float(b))
        name = _LEAD_ALIASES.get(f[-1].upper(), f[-1].upper() if f[-1].upper() in _LEADS
                                 else f[-1])
        order.append(_LEADS.index(name))
    raw = np.fromfile(Path(hea).with_name(dat), dtype="<i2")
    if raw.size != 12 * n_samples:
        raise ValueError(f"{hea}: expected {12 * n_samples} samples, found {raw.size}")
    sig = (raw.reshape(n_samples, 12).T - np.array(baselines)[:, None]) / np.array(gains)[:, None]
    out = np.empty((12, n_samples), dtype=np.float32)
    out[order] = sig
    return out, fs_hz


def _load_extras(database_csv: Path | None) -> dict[int, dict[str, str | None]]:
    """Heart axis and infarction stadia by ecg_id, where the full PTB-XL table gives them."""
    if database_csv is None or not Path(database_csv).is_file():
        return {}
    out = {}
    with open(database_csv, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            vals = {k: (row.get(k) or "").strip() or None
                    for k in ("heart_axis", "infarction_stadium1", "infarction_stadium2")}
            if any(vals.values()):
                out[int(row["ecg_id"])] = vals
    return out


def _statements(case: Mapping[str, Any], scp: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for st in case.get("statements") or []:
        code, level = str(st["code"]), str(st.get("level") or "statement")
        if level == "subclass":
            description = _text.SUBCLASS_DESCRIPTIONS.get(code, code)
        else:
            description = scp[code].description if code in scp else code
        lik = st.get("likelihood")
        # PTB-XL writes 0 where no likelihood was recorded: keep it as "unknown", not 0 %.
        lik = None if lik is None or float(lik) <= 0 else float(lik)
        out.append({"code": code, "description": description, "likelihood": lik,
                    "level": level})
    return out


def _case_row(case: Mapping[str, Any], scp, extras, blob: bytes, fs_hz: float) -> dict:
    extra = extras.get(int(case["ecg_id"]), {})
    return {
        "ecg_id": int(case["ecg_id"]), "strat_fold": case.get("strat_fold"),
        "age": case.get("age"), "sex": case.get("sex"),
        "statements": _statements(case, scp), "statements_en": case.get("statements_en"),
        "report": case.get("report"), "report_language": case.get("report_language"),
        "report_en": case.get("report_en"), "text_source": case.get("text_source") or "",
        "heart_axis": extra.get("heart_axis"),
        "infarction_stadium1": extra.get("infarction_stadium1"),
        "infarction_stadium2": extra.get("infarction_stadium2"),
        "fs_hz": fs_hz, "traces": blob,
    }


def _resolve(case: Mapping[str, Any], records_root: Path | None) -> Path:
    if records_root is not None:
        return record_path(records_root, case["record"])
    return Path(case["record_path"])


def canonical_signals(cases: Sequence[Mapping[str, Any]],
                      records_root: Path | None = None) -> np.ndarray:
    """The encoder inputs (n, 12, 1000) of cases, exactly as :func:`build_library` makes them."""
    out = np.zeros((len(cases), 12, 1000), dtype=np.float32)
    for i, case in enumerate(cases):
        sig, fs_hz = read_ptbxl_signal(_resolve(case, records_root))
        out[i] = preprocess_for_model(EcgRecord(sig, fs_hz))
    return out


# ---------------------------------------------------------------------------------------------
# The pure step
# ---------------------------------------------------------------------------------------------
def build_library(
    cases: Iterable[Mapping[str, Any]],
    out_dir: Path,
    embed_fn: EmbedFn,
    *,
    encoder_info: Mapping[str, str],
    folds: Sequence[int] = LIBRARY_FOLDS,
    records_root: Path | None = None,
    quantum_uv: float = DEFAULT_QUANTUM_UV,
    database_csv: Path | None = _DEFAULT_DATABASE,
    statements_csv: Path = _DEFAULT_STATEMENTS,
    n_tune_queries: int = N_TUNE_QUERIES,
    batch: int = BATCH,
) -> LibraryBuild:
    """Build ``index.hnsw`` and ``cases.sqlite`` in ``out_dir``.

    Parameters
    ----------
    cases : ``cases.jsonl`` entries of ``model_export.prepare``.
    out_dir : an empty or new folder.
    embed_fn : (n, 12, 1000) canonical signals (mV, 100 Hz) -> (n, d) embeddings; the shipped
        build passes ``ImageEncoder(onnx).embed_signals``, tests a deterministic stand-in.
    encoder_info : ``name``, ``version`` and ``sha256`` of the encoder (stored in the library).
    folds : PTB-XL folds that become library cases.
    records_root : unpacked ``records100`` folder to read records from instead of each case's
        ``record_path``.
    quantum_uv : amplitude step of the stored traces in µV.
    database_csv : the full PTB-XL table (heart axis, infarction stadium), where available.
    statements_csv : ``scp_statements.csv`` for English descriptions.
    n_tune_queries : held-out (fold 10) records used to tune the query beam; when the cases
        hold none, library vectors are used (each finds itself; recall is then optimistic).
    batch : records embedded per call (fixed, so that results do not depend on memory).

    Returns
    -------
    LibraryBuild

    Raises
    ------
    ValueError
        If no case is in ``folds`` or the embeddings have the wrong shape.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = sorted(cases, key=lambda c: int(c["ecg_id"]))
    lib_cases = [c for c in cases if int(c["strat_fold"]) in set(folds)]
    tune_cases = [c for c in cases if int(c["strat_fold"]) == TUNE_FOLD
                  and TUNE_FOLD not in set(folds)][:n_tune_queries]
    if not lib_cases:
        raise ValueError(f"no case in folds {list(folds)}")
    scp = _text.load_scp_statements(statements_csv)
    extras = _load_extras(database_csv)
    t0 = time.perf_counter()
    rows, vectors = [], []
    t_embed = 0.0
    for start in range(0, len(lib_cases), batch):
        chunk = lib_cases[start:start + batch]
        canon = np.zeros((len(chunk), 12, 1000), dtype=np.float32)
        for i, case in enumerate(chunk):
            sig, fs_hz = read_ptbxl_signal(_resolve(case, records_root))
            canon[i] = preprocess_for_model(EcgRecord(sig, fs_hz))
            rows.append(_case_row(case, scp, extras, encode_traces(sig, quantum_uv), fs_hz))
        te = time.perf_counter()
        emb = np.asarray(embed_fn(canon), dtype=np.float32)
        t_embed += time.perf_counter() - te
        if emb.ndim != 2 or emb.shape[0] != len(chunk):
            raise ValueError(f"embed_fn returned shape {emb.shape} for {len(chunk)} records")
        vectors.append(emb)
        logger.info("build_library: %d / %d cases", len(rows), len(lib_cases))
    matrix = normalise(np.concatenate(vectors))
    labels = np.array([int(c["ecg_id"]) for c in lib_cases], dtype=np.int64)
    t_read = time.perf_counter() - t0 - t_embed

    t1 = time.perf_counter()
    index = VectorIndex.build(matrix, labels)
    t_index = time.perf_counter() - t1
    if tune_cases:
        queries = normalise(embed_fn(canonical_signals(tune_cases, records_root)))
        source = f"fold {TUNE_FOLD} (held out), first {len(tune_cases)} records by ecg_id"
    else:
        queries = matrix[:n_tune_queries]
        source = "library vectors (no held-out records in the input; optimistic)"
    ef, _ = tune_ef(index, queries, k=10, target=RECALL_TARGET)
    truth, _ = exact_search(matrix, labels, queries, 10)
    found, _ = index.query(queries, 10)
    recall = recall_at_k(found, truth)
    if recall < RECALL_TARGET:
        logger.warning("recall@10 %.4f stays below %.2f at the largest ef", recall,
                       RECALL_TARGET)
    index.save(out_dir / "index.hnsw")
    t2 = time.perf_counter()
    meta = {
        "encoder_name": str(encoder_info["name"]),
        "encoder_version": str(encoder_info["version"]),
        "encoder_sha256": str(encoder_info["sha256"]),
        "embedding_dim": str(matrix.shape[1]),
        "index_space": "ip",
        "index_ef": str(ef),
        "index_m": str(index._index.M),
        "index_ef_construction": str(index._index.ef_construction),
        "index_recall_at_10": f"{recall:.4f}",
        "index_tune_queries": source,
        "traces_codec": "ecgt-1",
        "traces_quantum_uv": f"{quantum_uv:g}",
        "folds": ",".join(str(f) for f in folds),
        "source": "PTB-XL v1.0.3 (Wagner et al., Scientific Data 2020; PhysioNet; CC BY 4.0)",
    }
    write_store(out_dir / "cases.sqlite", rows, meta)
    t_store = time.perf_counter() - t2
    sizes = {name: (out_dir / name).stat().st_size for name in ("index.hnsw", "cases.sqlite")}
    logger.info("build_library: %d cases, dim %d, ef %d, recall@10 %.4f, %s", len(rows),
                matrix.shape[1], ef, recall, sizes)
    return LibraryBuild(out_dir, len(rows), int(matrix.shape[1]), ef, recall, len(queries),
                        source, {"read_encode_traces_s": round(t_read, 3),
                                 "embed_s": round(t_embed, 3), "index_s": round(t_index, 3),
                                 "store_s": round(t_store, 3)}, sizes)


def read_cases(path: Path) -> list[dict]:
    """Entries of ``cases.jsonl`` (``path`` may be the file or the prepare step's folder)."""
    import json

    path = Path(path)
    if path.is_dir():
        path = path / "cases.jsonl"
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def mechanics_embedding(cases: Sequence[Mapping[str, Any]], dim: int, n_fit: int,
                        records_root: Path | None = None):
    """Fit :class:`model_export._mechanics.SpectrumPCA` on the first ``n_fit`` library cases."""
    from model_export._mechanics import SpectrumPCA

    fit = [c for c in sorted(cases, key=lambda c: int(c["ecg_id"]))
           if int(c["strat_fold"]) in LIBRARY_FOLDS][:n_fit]
    return SpectrumPCA(canonical_signals(fit, records_root), dim)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the step; returns the exit status."""
    run(argv)
    return 0


def run(argv: Sequence[str] | None = None) -> Path:
    """Run the step from command-line arguments (see ``--help``).

    Returns
    -------
    Path
        The step's output folder ``OUT/build_library-<key>`` (its ``library/`` holds the
        built library), whether it was built now or found up to date.
    """
    parser = argparse.ArgumentParser(prog="python -m model_export.build_library",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=Path, required=True,
                        help="prepare's output folder or its cases.jsonl")
    enc = parser.add_mutually_exclusive_group(required=True)
    enc.add_argument("--encoder", type=Path, help="the image encoder ONNX model")
    enc.add_argument("--mechanics-embedding", type=int, metavar="DIM",
                     help="test stand-in instead of a model (see model_export._mechanics)")
    parser.add_argument("--mechanics-fit", type=int, default=2000,
                        help="records to fit the stand-in on (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="parent folder of the output")
    parser.add_argument("--folds", default="1-9", help="library folds (default: 1-9)")
    parser.add_argument("--limit-ids", default=None, help="ecg_id range, e.g. 1-500")
    parser.add_argument("--records", type=Path, default=None,
                        help="unpacked records100 folder (default: each case's record_path)")
    parser.add_argument("--quantum-uv", type=float, default=DEFAULT_QUANTUM_UV,
                        help="trace amplitude step in µV (default: %(default)s)")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        lo, hi = parse_id_range(args.folds)
        limit = parse_id_range(args.limit_ids)
    except ValueError as exc:
        parser.error(str(exc))
    cases_file = args.cases / "cases.jsonl" if args.cases.is_dir() else args.cases
    cases = read_cases(cases_file)
    if limit is not None:
        cases = [c for c in cases if limit[0] <= int(c["ecg_id"]) <= limit[1]]
    if args.encoder is not None:
        from desktop_app.encoding import ImageEncoder

        encoder = ImageEncoder(args.encoder)
        sha = _cache.sha256_file(args.encoder)
        info = {"name": encoder.metadata.get("model.name", args.encoder.stem),
                "version": encoder.metadata.get("model.version", f"sha256:{sha[:16]}"),
                "sha256": sha}
        embed_fn: EmbedFn = encoder.embed_signals
    else:
        stand_in = mechanics_embedding(cases, args.mechanics_embedding, args.mechanics_fit,
                                       args.records)
        info = {"name": "mechanics-spectrum-pca", "version": stand_in.version,
                "sha256": stand_in.sha256}
        embed_fn = stand_in.embed_signals
    parameters = {"folds": [lo, hi], "limit_ids": list(limit) if limit else None,
                  "quantum_uv": args.quantum_uv, "n_tune_queries": N_TUNE_QUERIES,
                  "batch": BATCH, "mechanics_fit": args.mechanics_fit
                  if args.mechanics_embedding else None}
    inputs = {"cases.jsonl": {"path": str(cases_file),
                              "sha256": _cache.sha256_file(cases_file)},
              "encoder": dict(info),
              "build_library.py": {"sha256": _cache.sha256_file(Path(__file__))}}
    # The store format, trace codec and index code shape the output too.
    import desktop_app.library as _library

    for name in ("_store.py", "_traces.py", "_index.py"):
        path = Path(_library.__file__).with_name(name)
        inputs[f"desktop_app/library/{name}"] = {"sha256": _cache.sha256_file(path)}
    key = _cache.step_key(STEP, STEP_VERSION, parameters,
                          {k: v["sha256"] for k, v in inputs.items()})
    final = _cache.output_dir(args.out, STEP, key)
    if _cache.manifest_matches(final, key, STEP_VERSION):
        logger.info("build_library: skipped, %s is up to date", final)
        logger.info("%s", final)
        return final
    with _cache.staged_dir(args.out, STEP, final) as tmp:
        result = build_library(cases, tmp / "library", embed_fn, encoder_info=info,
                               folds=tuple(range(lo, hi + 1)), records_root=args.records,
                               quantum_uv=args.quantum_uv)
        _cache.write_manifest(tmp, step=STEP, step_version=STEP_VERSION, key=key,
                              inputs=inputs, parameters=parameters,
                              library={"n_cases": result.n_cases, "dim": result.dim,
                                       "ef": result.ef, "recall_at_10": result.recall_at_10,
                                       "tune_queries": result.tune_queries,
                                       "encoder": info, "seconds": dict(result.seconds)})
    logger.info("%s", final)
    return final


if __name__ == "__main__":
    raise SystemExit(main())
