"""The whole training pipeline in one command; every step is cached, so a rerun is fast.

``python -m model_export.pipeline --out DIR [--encoding signal_mv] [--model NAME]
[--steps N] [--label-weight W] [--precision auto|bf16|fp32] [--workers 2]
[--records DIR --limit-ids 1-100] [--per-fold N] [--run-name NAME --results RESULTS.md]``

The defaults are the shipped configuration (see ``model_export/RESULTS.md``).

prepare -> text_base -> render -> train -> export_onnx -> quantize -> evaluate

``--run-name NAME --results model_export/RESULTS.md`` keeps the evaluation in
``model_export/results/NAME.json`` and regenerates RESULTS.md (see :mod:`model_export.evaluate`).

Each step writes ``DIR/<step>-<key>/`` and is skipped when its manifest matches, so changing
only the training parameters reruns train and what follows, not render. The steps after
``evaluate`` are :data:`LATER_STEPS` (hooks taking the step folders); building the library and
publishing into ``assets/`` are separate commands (README), so that an experiment never
overwrites what the app ships. ``pipeline.json`` in
``DIR`` records each step's folder, whether it was skipped, and its wall time.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Callable, Sequence

from model_export import prepare as _prepare
from model_export.train import parse_folds

logger = logging.getLogger(__name__)

#: Steps that run after ``evaluate``: callables ``(out: Path, folders: dict[str, Path]) ->
#: Path`` (their output folder).
LATER_STEPS: list[tuple[str, Callable[[Path, dict[str, Path]], Path]]] = []


def run_pipeline(out: Path, *, encoding: str = "signal_mv",
                 model_name: str = "vit_tiny6_signal_p3x50", steps: int = 3000, batch: int = 64,
                 lr: float = 5e-4, warmup: int = 200, label_weight: float = 0.5,
                 eval_every: int = 500, workers: int = 2, per_fold: int | None = None,
                 records: Path | None = None, limit_ids: tuple[int, int] | None = None,
                 ptbxl: Path = _prepare._DEFAULT_PTBXL, cache_dir: Path | None = None,
                 text_model_dir: Path | None = None, train_folds: Sequence[int] = range(1, 9),
                 val_folds: Sequence[int] = (9,), max_train: int | None = None,
                 seed: int = 0, precision: str = "auto", evaluate: bool = True) -> dict:
    """Run every step in order; returns ``{"folders": ..., "timings_s": ..., "skipped": ...}``.

    Parameters mirror the steps' own (see each step's module); ``text_model_dir`` replaces
    the packaged MiniLM (tests use a tiny BERT); ``evaluate=False`` stops after quantize.
    """
    from model_export import export_onnx, quantize, render, text_base, train

    out = Path(out)
    folders: dict[str, Path] = {}
    timings: dict[str, float] = {}
    skipped: dict[str, bool] = {}

    def timed(name: str, fn):
        t0 = time.perf_counter()
        result = fn()
        timings[name] = round(time.perf_counter() - t0, 1)
        folders[name] = result.out_dir
        skipped[name] = result.skipped
        logger.info("pipeline: %s %s in %.1f s", name,
                    "skipped" if result.skipped else "done", timings[name])
        return result

    timed("prepare", lambda: _prepare.prepare(out, ptbxl, cache_dir=cache_dir, records=records,
                                              limit_ids=limit_ids))
    # 500 texts: enough to see a quantisation problem, a minute at batch 1 on 2 cores.
    probe = text_base.read_probe_texts(folders["prepare"] / "cases.jsonl", n=500)
    timed("text_base", lambda: text_base.text_base(out, probe_texts=probe,
                                                   model_dir=text_model_dir))
    timed("render", lambda: render.render(out, folders["prepare"], folders["text_base"],
                                          encoding=encoding, workers=workers,
                                          per_fold=per_fold))
    timed("train", lambda: train.train(out, folders["render"], model_name=model_name,
                                       steps=steps, batch=batch, lr=lr, warmup=warmup,
                                       label_weight=label_weight, eval_every=eval_every,
                                       train_folds=tuple(train_folds),
                                       val_folds=tuple(val_folds), max_train=max_train,
                                       seed=seed, precision=precision))
    timed("export_onnx", lambda: export_onnx.export_onnx(out, folders["train"],
                                                         folders["text_base"], folders["render"]))
    timed("quantize", lambda: quantize.quantize(out, folders["export_onnx"], folders["render"]))
    metrics = None
    if evaluate:
        from model_export import evaluate as _evaluate

        ev = timed("evaluate", lambda: _evaluate.evaluate(
            out, folders["quantize"], folders["render"], folders["prepare"], ptbxl=ptbxl))
        metrics = ev.metrics
    for name, step in LATER_STEPS:
        t0 = time.perf_counter()
        folders[name] = step(out, folders)
        timings[name] = round(time.perf_counter() - t0, 1)
    summary = {"folders": {k: str(v) for k, v in folders.items()}, "timings_s": timings,
               "skipped": skipped, "total_s": round(sum(timings.values()), 1),
               "parameters": {"encoding": encoding, "model": model_name, "steps": steps,
                              "batch": batch, "lr": lr, "warmup": warmup,
                              "label_weight": label_weight, "seed": seed,
                              "precision": precision, "per_fold": per_fold,
                              "max_train": max_train},
               "metrics": metrics}
    (out / "pipeline.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m model_export.pipeline",
                                description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder of all step outputs")
    p.add_argument("--ptbxl", type=Path, default=_prepare._DEFAULT_PTBXL)
    p.add_argument("--cache", type=Path, default=None, help="PTB-XL unpack cache")
    p.add_argument("--records", type=Path, default=None, help="unpacked records folder")
    p.add_argument("--limit-ids", default=None, help="ecg_id range, e.g. 1-100")
    p.add_argument("--per-fold", type=int, default=None)
    p.add_argument("--encoding", default="signal_mv")
    p.add_argument("--model", default="vit_tiny6_signal_p3x50")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--label-weight", type=float, default=0.5)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--train-folds", default="1-8")
    p.add_argument("--val-folds", default="9")
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="training arithmetic (auto: bf16 where this CPU runs it faster)")
    p.add_argument("--text-model-dir", type=Path, default=None)
    p.add_argument("--no-evaluate", action="store_true", help="stop after quantize")
    p.add_argument("--run-name", default=None,
                   help="keep the evaluation as model_export/results/NAME.json")
    p.add_argument("--results", type=Path, default=None,
                   help="regenerate this RESULTS.md from every kept run")
    args = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        limit = _prepare.parse_id_range(args.limit_ids)
        train_folds, val_folds = parse_folds(args.train_folds), parse_folds(args.val_folds)
    except ValueError as exc:
        p.error(str(exc))
    summary = run_pipeline(
        args.out, encoding=args.encoding, model_name=args.model, steps=args.steps,
        batch=args.batch, lr=args.lr, warmup=args.warmup, label_weight=args.label_weight,
        eval_every=args.eval_every, workers=args.workers, per_fold=args.per_fold,
        records=args.records, limit_ids=limit, ptbxl=args.ptbxl, cache_dir=args.cache,
        text_model_dir=args.text_model_dir, train_folds=train_folds, val_folds=val_folds,
        max_train=args.max_train, seed=args.seed, precision=args.precision,
        evaluate=not args.no_evaluate)
    if args.run_name and summary["metrics"] is not None:
        from model_export import evaluate as _evaluate

        _evaluate.record_run(summary["metrics"], args.run_name,
                             {k: summary[k] for k in ("timings_s", "skipped", "parameters")})
    if args.results:
        from model_export import _results

        _results.write_results(args.results)
    logger.info("pipeline: %s", json.dumps(summary["timings_s"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
