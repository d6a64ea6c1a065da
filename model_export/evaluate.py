"""Pipeline step ``evaluate``: the shipped encoders measured on PTB-XL fold 10.

``python -m model_export.evaluate --quantize DIR --render DIR --prepare DIR --out DIR
[--run-name NAME --results model_export/RESULTS.md]``

Queries are the readable fold-10 records (never seen in training or model choice); the gallery
is folds 1-9, which is what the shipped library holds. Exact cosine search (the index's
approximation is measured separately, by ``benchmarks/bench_library.py``). Measured:

* **label vote AUC**: each query's 10 nearest gallery cases vote for their labels, weighted by
  cosine similarity (negative similarities count 0); the vote is the score, and the macro AUC is
  taken over the 5 diagnostic superclasses and over the 71 SCP statements (statements with no
  positive or no negative query in fold 10 are left out and counted);
* **precision@10**: mean share of the 10 neighbours that share a diagnostic superclass with the
  query (queries without a superclass left out), with random neighbours as the chance level;
* **report retrieval** (as Qiu et al.): for queries with a cardiologist's report, the English
  report of the most similar gallery case that has one, against the query's own, scored by
  BLEU-4, METEOR and ROUGE-L (:mod:`model_export._textmetrics`); random reports as chance;
* **text to ECG**: each SCP statement's English description is embedded by the text encoder and
  the 10 most similar gallery ECGs retrieved; recall@10 is the share of statements for which at
  least one of the 10 carries the statement, precision@10 the mean share that do;
* **latency**: median milliseconds per ECG at batch 1 on 2 threads, image and text encoder.

The step writes ``metrics.json``. With ``--results`` it also copies the metrics to
``model_export/results/<run-name>.json`` and regenerates RESULTS.md from every run kept there,
so the file always says which runs it compares.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from model_export import _cache, _metrics, _textmetrics

logger = logging.getLogger(__name__)

STEP = "evaluate"
STEP_VERSION = 1
K = 10
RESULTS_DIR = Path(__file__).resolve().parent / "results"
_SOURCES = ("model_export/evaluate.py", "model_export/_textmetrics.py",
            "model_export/_metrics.py")


@dataclass(frozen=True)
class EvaluateResult:
    out_dir: Path
    skipped: bool
    metrics: dict


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties); NaN if one class
    is absent."""
    positive = positive.astype(bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def vote_scores(neighbours: np.ndarray, similarities: np.ndarray,
                gallery_labels: np.ndarray) -> np.ndarray:
    """Similarity-weighted share of neighbours carrying each label: (n_queries, n_labels)."""
    w = np.clip(similarities, 0.0, None) + 1e-6
    votes = np.einsum("qk,qkl->ql", w, gallery_labels[neighbours].astype(np.float64))
    return votes / w.sum(axis=1, keepdims=True)


def macro_auc(scores: np.ndarray, labels: np.ndarray,
              names: Sequence[str]) -> tuple[float, dict[str, float], list[str]]:
    """Macro AUC over labels with both classes present; per-label AUCs; labels left out."""
    per, left_out = {}, []
    for j, name in enumerate(names):
        auc = roc_auc(scores[:, j], labels[:, j])
        if np.isnan(auc):
            left_out.append(name)
        else:
            per[name] = auc
    return float(np.mean(list(per.values()))), per, left_out


def knn_with_similarity(queries: np.ndarray, gallery: np.ndarray,
                        k: int = K) -> tuple[np.ndarray, np.ndarray]:
    nb = _metrics.knn(queries, gallery, k)
    sims = np.einsum("qd,qkd->qk", queries, gallery[nb])
    return nb, sims


def _latency_text_ms(encoder, texts: Sequence[str], runs: int = 30) -> float:
    if not texts:
        raise ValueError("no texts to time the text encoder with")
    for t in texts[:3]:
        encoder.embed_texts([t])
    times = []
    for i in range(runs):
        t0 = time.perf_counter()
        encoder.embed_texts([texts[i % len(texts)]])
        times.append((time.perf_counter() - t0) * 1000)
    return float(np.median(times))


def compute_metrics(image_onnx: Path, text_onnx: Path | None, tokenizer: Path | None,
                    render_dir: Path, cases: Sequence[dict], statement_text: dict[str, str],
                    *, seed: int = 0) -> dict[str, Any]:
    """Every measurement of the module docstring, as a JSON-ready dict."""
    from desktop_app.encoding import ImageEncoder, TextEncoder
    from model_export import render as _render
    from model_export.quantize import latency_ms

    data = _render.load(render_dir)
    index = data["index"]
    ok = np.asarray(index["ok"], dtype=bool)
    folds = np.asarray(index["strat_fold"])
    ids = np.asarray(index["ecg_id"])
    n_sup = int(index["n_superclasses"])
    # "superclass:NORM", "scp:IMI" -> "NORM", "IMI"
    names = [str(n).split(":", 1)[-1] for n in index["label_names"]]
    q_rows = np.flatnonzero(ok & (folds == 10))
    g_rows = np.flatnonzero(ok & (folds != 10))
    encoder = ImageEncoder(image_onnx)
    t0 = time.perf_counter()
    emb = np.zeros((len(ids), encoder.dim), dtype=np.float32)
    rows = np.flatnonzero(ok)
    for s in range(0, len(rows), 512):
        chunk = rows[s:s + 512]
        emb[chunk] = encoder.embed_images(np.asarray(data["inputs"][chunk], dtype=np.float32))
    embed_s = time.perf_counter() - t0
    q, g = emb[q_rows], emb[g_rows]
    labels = data["labels"].astype(bool)
    ql, gl = labels[q_rows], labels[g_rows]

    nb, sims = knn_with_similarity(q, g)
    votes = vote_scores(nb, sims, gl)
    sup_auc, sup_per, sup_out = macro_auc(votes[:, :n_sup], ql[:, :n_sup], names[:n_sup])
    st_auc, st_per, st_out = macro_auc(votes[:, n_sup:], ql[:, n_sup:], names[n_sup:])
    p10 = _metrics.precision_at_k(nb, ql[:, :n_sup], gl[:, :n_sup])
    rng = np.random.default_rng(seed)
    random_nb = rng.integers(0, len(g_rows), size=nb.shape)
    p10_random = _metrics.precision_at_k(random_nb, ql[:, :n_sup], gl[:, :n_sup])
    random_votes = vote_scores(random_nb, np.ones(nb.shape), gl)
    sup_auc_random = macro_auc(random_votes[:, :n_sup], ql[:, :n_sup], names[:n_sup])[0]

    # Report retrieval: queries and gallery cases with a cardiologist's report.
    by_id = {int(c["ecg_id"]): c for c in cases}
    has_report = np.array([bool(by_id[int(i)]["report"]) for i in ids])
    qr = np.flatnonzero(ok & (folds == 10) & has_report)
    gr = np.flatnonzero(ok & (folds != 10) & has_report)
    top1 = gr[_metrics.knn(emb[qr], emb[gr], 1)[:, 0]]
    refs = [by_id[int(ids[r])]["report_en"] for r in qr]
    hyps = [by_id[int(ids[r])]["report_en"] for r in top1]
    reports = _textmetrics.report_scores(hyps, refs)
    rand_hyps = [by_id[int(ids[r])]["report_en"] for r in rng.choice(gr, size=len(qr))]
    reports_random = _textmetrics.report_scores(rand_hyps, refs)

    lat_image = latency_ms(Path(image_onnx),
                           np.asarray(data["inputs"][q_rows[:64]], dtype=np.float32))
    metrics: dict[str, Any] = {
        "date": _dt.date.today().isoformat(),
        "image_encoder": {k: encoder.metadata.get(k) for k in (
            "model.name", "model.version", "encoding.name", "quantization", "train.best")},
        "image_encoder_bytes": Path(image_onnx).stat().st_size,
        "n_queries": int(len(q_rows)), "n_gallery": int(len(g_rows)), "k": K,
        "superclass_macro_auc": sup_auc, "superclass_auc": sup_per,
        "superclass_macro_auc_random": sup_auc_random,
        "statement_macro_auc": st_auc, "statement_auc": st_per,
        "statements_left_out": st_out + sup_out, "n_statements_scored": len(st_per),
        "precision_at_10": p10, "precision_at_10_random": p10_random,
        "report_retrieval": {"n_queries": int(len(qr)), "n_gallery": int(len(gr)),
                             **reports, "random": reports_random},
        "latency_ms": {"image_batch1_2threads": lat_image},
        "embed_all_s": round(embed_s, 1),
    }

    if text_onnx is not None and tokenizer is not None:
        text = TextEncoder(text_onnx, tokenizer)
        codes = [c for c in names[n_sup:] if c in statement_text]
        t_emb = text.embed_texts([statement_text[c] for c in codes])
        t_nb = _metrics.knn(t_emb, g, K)
        hits, precisions, per = [], [], {}
        for j, code in enumerate(codes):
            col = names.index(code)
            carried = gl[t_nb[j], col]
            if not gl[:, col].any():
                continue
            hits.append(bool(carried.any()))
            precisions.append(float(carried.mean()))
            per[code] = precisions[-1]
        metrics["text_to_ecg"] = {"n_statements": len(hits), "recall_at_10": float(np.mean(hits)),
                                  "precision_at_10": float(np.mean(precisions)),
                                  "precision_at_10_per_statement": per}
        metrics["text_encoder_bytes"] = Path(text_onnx).stat().st_size
        metrics["latency_ms"]["text_batch1_2threads"] = _latency_text_ms(
            text, [statement_text[c] for c in codes])
    return metrics


def _statement_text(ptbxl: Path) -> dict[str, str]:
    from model_export import _text

    return {code: s.description for code, s in
            _text.load_scp_statements(ptbxl / "scp_statements.csv").items()}


def evaluate(out: Path, quantize_dir: Path, render_dir: Path, prepare_dir: Path, *,
             ptbxl: Path | None = None) -> EvaluateResult:
    """Measure the encoders of a ``quantize`` folder on fold 10; cached like the other steps."""
    from model_export import export_onnx as _ex
    from model_export import prepare as _prepare
    from model_export import text_base as _tb
    from model_export.build_library import read_cases

    ptbxl = Path(ptbxl) if ptbxl else _prepare._DEFAULT_PTBXL
    quantize_dir, render_dir, prepare_dir = map(Path, (quantize_dir, render_dir, prepare_dir))
    inputs = {"quantize": {"key": _cache.read_manifest(quantize_dir)["key"]},
              "render": {"key": _cache.read_manifest(render_dir)["key"]},
              "prepare": {"key": _cache.read_manifest(prepare_dir)["key"]}}
    for rel in _SOURCES:
        inputs[rel] = {"sha256": _cache.sha256_file(_cache.REPO_ROOT / rel)}
    parameters = {"k": K}
    key = _cache.step_key(STEP, STEP_VERSION, parameters,
                          {k: v.get("key") or v["sha256"] for k, v in inputs.items()})
    out_dir = _cache.output_dir(Path(out), STEP, key)
    if _cache.manifest_matches(out_dir, key, STEP_VERSION):
        logger.info("evaluate: skipped, %s is up to date", out_dir)
        return EvaluateResult(out_dir, True,
                              json.loads((out_dir / "metrics.json").read_text("utf-8")))
    text_onnx = quantize_dir / _ex.TEXT_FILE
    tokenizer = quantize_dir / _tb.TOKENIZER_FILE
    qman = _cache.read_manifest(quantize_dir)
    with _cache.staged_dir(Path(out), STEP, out_dir) as tmp:
        metrics = compute_metrics(quantize_dir / _ex.IMAGE_FILE,
                                  text_onnx if text_onnx.is_file() else None,
                                  tokenizer if tokenizer.is_file() else None,
                                  render_dir, read_cases(prepare_dir), _statement_text(ptbxl))
        metrics["quantize"] = {"chosen": qman.get("chosen"),
                               "measurements": qman.get("measurements")}
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2), encoding="utf-8")
        _cache.write_manifest(tmp, step=STEP, step_version=STEP_VERSION, key=key,
                              inputs=inputs, parameters=parameters)
    logger.info("evaluate: superclass AUC %.3f, statement AUC %.3f, P@10 %.3f",
                metrics["superclass_macro_auc"], metrics["statement_macro_auc"],
                metrics["precision_at_10"])
    return EvaluateResult(out_dir, False, metrics)


def record_run(metrics: dict, run_name: str, pipeline: dict | None = None,
               results_dir: Path = RESULTS_DIR) -> Path:
    """Keep a run's metrics (and the pipeline's timings) in ``results_dir/<run_name>.json``."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{run_name}.json"
    path.write_text(json.dumps({"run": run_name, "metrics": metrics, "pipeline": pipeline},
                               indent=2, sort_keys=True), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the step; returns the exit status."""
    from model_export import _results

    p = argparse.ArgumentParser(prog="python -m model_export.evaluate",
                                description=__doc__.splitlines()[0])
    p.add_argument("--quantize", type=Path, required=True)
    p.add_argument("--render", type=Path, required=True)
    p.add_argument("--prepare", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--run-name", default=None, help="keep the metrics under this name")
    p.add_argument("--results", type=Path, default=None,
                   help="regenerate this RESULTS.md from every kept run")
    args = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = evaluate(args.out, args.quantize, args.render, args.prepare)
    if args.run_name:
        record_run(result.metrics, args.run_name)
    if args.results:
        _results.write_results(args.results)
    print(json.dumps({k: result.metrics[k] for k in (
        "superclass_macro_auc", "statement_macro_auc", "precision_at_10")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
