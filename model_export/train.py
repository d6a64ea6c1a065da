"""Pipeline step: train the ECG image encoder against the frozen text features (CPU).

``python -m model_export.train --render RENDER_DIR --out DIR [--model NAME] [--steps N]
[--batch 64] [--label-weight 0] ...``

* Model: :func:`model_export._model.create_model` from ``model_configs/<NAME>.json``.
* Loss: :class:`~model_export._model.ClipLoss` on (ECG, case text) pairs, plus, with
  ``--label-weight w > 0``, ``w`` x multi-label BCE of a linear head on the ViT feature over the
  5 superclasses and 71 SCP statements (``render``'s ``labels.npy``).
* Optimiser: AdamW (CLIP's betas 0.9/0.98, eps 1e-6; no weight decay on biases, norms,
  embeddings and the temperature), linear warm-up then cosine decay to 0; bf16 autocast on CPU
  only where it pays: ``--precision auto`` times a bf16 and an fp32 matmul first. On a CPU with
  avx512_bf16 bf16 was 2.1-2.4x faster (PLATFORM.md section 5); on an AVX2-only CPU (AMD EPYC,
  measured 2026-11) a bf16 matmul is 34x *slower* than fp32 and a training step 20x slower.
  Fixed seeds.
* Data: PTB-XL folds 1-8 train, fold 9 chooses the checkpoint (precision@10 of sharing a
  diagnostic superclass, fold 9 queried against itself, exact cosine kNN), fold 10 is never read.

Outputs ``checkpoint.pt`` (the best weights), ``model_config.json`` and ``log.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from model_export import _cache, _metrics

logger = logging.getLogger(__name__)

STEP = "train"
STEP_VERSION = 1  # bump when this module changes its output for the same inputs
# The network code is an input; this module's own changes bump STEP_VERSION.
_SOURCES = ("model_export/_model.py",)


@dataclass(frozen=True)
class TrainResult:
    out_dir: Path
    skipped: bool
    losses: tuple[float, ...]
    best: dict


def parse_folds(spec: str) -> tuple[int, ...]:
    """``"1-8"`` or ``"1,3,5"`` or ``"9"`` -> sorted fold numbers.

    Raises
    ------
    ValueError
        If the text names no fold or a fold outside 1-10.
    """
    folds: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            folds.update(range(lo, hi + 1))
        elif part:
            folds.add(int(part))
    if not folds or not all(1 <= f <= 10 for f in folds):
        raise ValueError(f"expected PTB-XL folds 1-10 like '1-8' or '9', found {spec!r}")
    return tuple(sorted(folds))


def bf16_is_faster(threads: int = 2) -> bool:
    """Time a ViT-Tiny-sized matmul in bf16 and fp32 on this CPU; True if bf16 wins.

    bf16 only helps on CPUs with native bf16 (avx512_bf16, AMX); elsewhere torch emulates it
    far slower than fp32, so the choice is measured rather than assumed.
    """
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(4096, 192), torch.randn(192, 576)
    times = {}
    for dtype in (torch.float32, torch.bfloat16):
        x, y = a.to(dtype), b.to(dtype)
        x @ y
        t0 = time.perf_counter()
        for _ in range(3):
            x @ y
        times[dtype] = time.perf_counter() - t0
    return times[torch.bfloat16] < times[torch.float32]


def _param_groups(model, weight_decay: float):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # CLIP/open_clip exclude gains, biases, embeddings and the temperature from decay.
        if p.ndim < 2 or "pos_embed" in name or "cls_token" in name or "logit_scale" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * base * (1 + math.cos(math.pi * min(1.0, progress)))


def embed_rows(model, inputs, rows: np.ndarray, *, batch: int = 256,
               bf16: bool = False) -> np.ndarray:
    """Image embeddings (float32, L2-normalised) of the given rows of a render memmap."""
    import torch

    model.eval()
    out = []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for s in range(0, len(rows), batch):
            x = torch.from_numpy(np.asarray(inputs[rows[s:s + batch]], dtype=np.float32))
            out.append(model.image(x).float())
    model.train()
    if not out:
        return np.zeros((0, model.config["embed_dim"]), dtype=np.float32)
    emb = torch.cat(out).numpy()
    return emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)


def validate(model, data: dict, val_rows: np.ndarray, *, k: int = 10,
             bf16: bool = False) -> dict:
    """precision@k of sharing a superclass, validation rows queried against themselves."""
    n_sup = data["index"]["n_superclasses"]
    emb = embed_rows(model, data["inputs"], val_rows, bf16=bf16)
    labels = data["labels"][val_rows, :n_sup]
    nb = _metrics.knn(emb, emb, k, exclude_self=True)
    return {f"val_p_at_{k}": _metrics.precision_at_k(nb, labels, labels),
            "n_val": int(len(val_rows))}


def train(out: Path, render_dir: Path, *, model_name: str = "vit_tiny_signal_p3x25",
          steps: int = 1000, batch: int = 64, lr: float = 5e-4, weight_decay: float = 0.1,
          warmup: int = 100, label_weight: float = 0.0, seed: int = 0,
          train_folds: Sequence[int] = tuple(range(1, 9)), val_folds: Sequence[int] = (9,),
          max_train: int | None = None, eval_every: int = 200, precision: str = "auto",
          threads: int = 2, fixed_batch: bool = False) -> TrainResult:
    """Train and keep the checkpoint with the best validation precision@10.

    Parameters
    ----------
    out : parent folder of the step output.
    render_dir : a finished ``render`` folder.
    model_name : config in ``model_configs/``; its ``input_shape`` must match the encoding.
    steps, batch : optimiser steps and pairs per step.
    lr, weight_decay, warmup : AdamW peak learning rate, decoupled decay, warm-up steps.
    label_weight : weight of the multi-label BCE term (0 = contrastive only, no head).
    seed : seeds torch and the batch sampler.
    train_folds, val_folds : PTB-XL ``strat_fold`` numbers (fold 10 should be in neither).
    max_train : use only a seeded random subset of this many training records.
    eval_every : validate every N steps (and after the last step).
    precision : ``"bf16"`` (autocast), ``"fp32"``, or ``"auto"``: bf16 if this CPU runs it
        faster (:func:`bf16_is_faster`).
    threads : torch intra-op threads.
    fixed_batch : train on the first batch over and over (the smoke test's overfit check).

    Returns
    -------
    TrainResult
        Output folder, whether skipped, the loss of every step, the best validation entry.

    Raises
    ------
    ValueError
        If the model's input shape is not the encoding's, or no training record is left.
    """
    import torch
    import torch.nn.functional as F

    from model_export import render as _render
    from model_export._model import ClipLoss, EcgClip, get_model_config

    render_dir = Path(render_dir)
    rman = _cache.read_manifest(render_dir)
    config = get_model_config(model_name)
    parameters = {"model": model_name, "model_config": config, "steps": steps, "batch": batch,
                  "lr": lr, "weight_decay": weight_decay, "warmup": warmup,
                  "label_weight": label_weight, "seed": seed, "train_folds": list(train_folds),
                  "val_folds": list(val_folds), "max_train": max_train,
                  "eval_every": eval_every, "precision": precision,
                  "fixed_batch": fixed_batch}
    inputs = {"render": {"path": str(render_dir), "key": rman["key"]}}
    for rel in _SOURCES:
        inputs[rel] = {"sha256": _cache.sha256_file(_cache.REPO_ROOT / rel)}
    key = _cache.step_key(STEP, STEP_VERSION, parameters,
                          {k: v.get("key") or v["sha256"] for k, v in inputs.items()})
    out_dir = _cache.output_dir(out, STEP, key)
    if _cache.manifest_matches(out_dir, key, STEP_VERSION):
        m = _cache.read_manifest(out_dir)
        logger.info("train: skipped, %s is up to date", out_dir)
        return TrainResult(out_dir, True, tuple(m["losses"]), m["best"])

    data = _render.load(render_dir)
    index = data["index"]
    shape = list(data["inputs"].shape[1:])
    if shape != list(config["input_shape"]):
        raise ValueError(f"model {model_name} takes inputs {config['input_shape']} but the "
                         f"render folder holds {index['encoding']['encoding.name']} inputs of "
                         f"shape {shape}; pick a config made for that encoding")
    # The text side's width is the frozen sentence encoder's, whatever the config says.
    config = {**config, "text_dim": int(data["text"].shape[1])}
    folds = np.asarray(index["strat_fold"])
    ok = np.asarray(index["ok"], dtype=bool)
    train_rows = np.flatnonzero(ok & np.isin(folds, train_folds))
    val_rows = np.flatnonzero(ok & np.isin(folds, val_folds))
    rng = np.random.default_rng(seed)
    if max_train is not None and len(train_rows) > max_train:
        train_rows = np.sort(rng.choice(train_rows, max_train, replace=False))
    if len(train_rows) < 2:
        raise ValueError(f"only {len(train_rows)} training records in folds {train_folds}")
    batch = min(batch, len(train_rows))

    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, found {precision!r}")
    bf16 = precision == "bf16" or (precision == "auto" and bf16_is_faster(threads))
    logger.info("train: %s on %d threads", "bf16 autocast" if bf16 else "fp32", threads)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    n_labels = data["labels"].shape[1] if label_weight > 0 else 0
    model = EcgClip(config, n_labels=n_labels)
    opt = torch.optim.AdamW(_param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.98),
                            eps=1e-6)
    clip_loss = ClipLoss()
    text_all = torch.from_numpy(data["text"])
    labels_all = torch.from_numpy(data["labels"].astype(np.float32))

    def batches():
        while True:
            perm = rng.permutation(train_rows)
            for s in range(0, len(perm) - batch + 1, batch):
                yield np.sort(perm[s:s + batch])

    it = batches()
    first = next(it)
    losses: list[float] = []
    best = {"step": 0, f"val_p_at_10": float("-inf")}
    log_lines = []
    t_start = time.perf_counter()
    with _cache.staged_dir(out, STEP, out_dir) as tmp:
        step_times = []
        for step in range(steps):
            rows = first if (fixed_batch or step == 0) else next(it)
            t0 = time.perf_counter()
            x = torch.from_numpy(np.asarray(data["inputs"][rows], dtype=np.float32))
            for g in opt.param_groups:
                g["lr"] = _lr_at(step, steps, warmup, lr)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                img, txt, scale, logits = model(x, text_all[rows])
                loss_clip = clip_loss(img.float(), txt.float(), scale)
                loss = loss_clip
                loss_bce = None
                if logits is not None:
                    loss_bce = F.binary_cross_entropy_with_logits(logits.float(),
                                                                  labels_all[rows])
                    loss = loss + label_weight * loss_bce
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step_times.append(time.perf_counter() - t0)
            losses.append(float(loss.detach()))
            entry = {"step": step + 1, "loss": losses[-1], "loss_clip": float(loss_clip.detach()),
                     "lr": opt.param_groups[0]["lr"], "logit_scale": float(scale.detach()),
                     "s_per_step": round(step_times[-1], 4)}
            if loss_bce is not None:
                entry["loss_bce"] = float(loss_bce.detach())
            if (step + 1) % eval_every == 0 or step + 1 == steps:
                if len(val_rows) >= 2:
                    entry.update(validate(model, data, val_rows, bf16=bf16))
                    better = entry["val_p_at_10"] > best["val_p_at_10"]
                else:
                    # Without validation records the last weights are kept (smoke runs).
                    better = True
                if better:
                    best = {"step": step + 1,
                            "val_p_at_10": entry.get("val_p_at_10", float("nan"))}
                    torch.save(model.state_dict(), tmp / "checkpoint.pt")
                logger.info("train: %s", entry)
            log_lines.append(json.dumps(entry))
        (tmp / "log.jsonl").write_text("\n".join(log_lines) + "\n", encoding="utf-8")
        (tmp / "model_config.json").write_text(json.dumps(
            {"name": model_name, "config": config, "n_labels": n_labels,
             "label_names": index["label_names"] if n_labels else [],
             "encoding": index["encoding"], "train_folds": list(train_folds),
             "val_folds": list(val_folds), "n_train": int(len(train_rows)),
             "best": best}, indent=2), encoding="utf-8")
        timings = {"total_s": round(time.perf_counter() - t_start, 1), "bf16": bf16,
                   "s_per_step_median": float(np.median(step_times)),
                   "samples_per_s": round(batch / float(np.median(step_times)), 1)}
        _cache.write_manifest(tmp, step=STEP, step_version=STEP_VERSION, key=key, inputs=inputs,
                              parameters=parameters, losses=losses, best=best, timings=timings,
                              n_train=int(len(train_rows)), n_val=int(len(val_rows)))
    logger.info("train: best %s, %s, in %s", best, timings, out_dir)
    return TrainResult(out_dir, False, tuple(losses), best)


def load_model(train_dir: Path):
    """The trained :class:`~model_export._model.EcgClip` of a train folder (eval mode)."""
    import torch

    from model_export._model import EcgClip

    train_dir = Path(train_dir)
    _cache.read_manifest(train_dir)
    meta = json.loads((train_dir / "model_config.json").read_text(encoding="utf-8"))
    model = EcgClip(meta["config"], n_labels=meta["n_labels"])
    model.load_state_dict(torch.load(train_dir / "checkpoint.pt", weights_only=True))
    return model.eval(), meta


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the step; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m model_export.train",
                                description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="parent folder of the output")
    p.add_argument("--render", type=Path, required=True, help="a render-* folder")
    p.add_argument("--model", default="vit_tiny_signal_p3x25")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--label-weight", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-folds", default="1-8")
    p.add_argument("--val-folds", default="9")
    p.add_argument("--max-train", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="auto: bf16 autocast only if this CPU runs bf16 faster than fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--fixed-batch", action="store_true",
                   help="repeat the first batch (overfit check)")
    args = p.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        train_folds, val_folds = parse_folds(args.train_folds), parse_folds(args.val_folds)
    except ValueError as exc:
        p.error(str(exc))
    result = train(args.out, args.render, model_name=args.model, steps=args.steps,
                   batch=args.batch, lr=args.lr, weight_decay=args.weight_decay,
                   warmup=args.warmup, label_weight=args.label_weight, seed=args.seed,
                   train_folds=train_folds, val_folds=val_folds, max_train=args.max_train,
                   eval_every=args.eval_every, precision=args.precision, threads=args.threads,
                   fixed_batch=args.fixed_batch)
    logger.info("%s", result.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
