"""A tiny random BERT in MiniLM's file layout, so the smoke test exports a text tower quickly.

It keeps the real vocabulary and ``tokenizer.json`` of the packaged all-MiniLM-L6-v2 (so the
tokenizer path is the shipped one) but has 1 layer of width 32: the export takes seconds instead
of half a minute. Its embeddings mean nothing; the smoke test checks plumbing, not quality.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def write_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """Write config.json, model.safetensors and tokenizer.json into ``folder``; return it."""
    import torch
    from safetensors.torch import save_file

    from model_export._minilm import package_model_dir

    src = package_model_dir()
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    config.update(hidden_size=32, intermediate_size=64, num_attention_heads=2,
                  num_hidden_layers=1)
    g = torch.Generator().manual_seed(seed)
    h, i = 32, 64

    def rnd(*shape):
        return torch.randn(*shape, generator=g) * 0.05

    w = {"embeddings.word_embeddings.weight": rnd(config["vocab_size"], h),
         "embeddings.position_embeddings.weight": rnd(config["max_position_embeddings"], h),
         "embeddings.token_type_embeddings.weight": rnd(2, h),
         "embeddings.LayerNorm.weight": torch.ones(h), "embeddings.LayerNorm.bias": torch.zeros(h)}
    p = "encoder.layer.0."
    for name in ("attention.self.query", "attention.self.key", "attention.self.value",
                 "attention.output.dense"):
        w[p + name + ".weight"], w[p + name + ".bias"] = rnd(h, h), torch.zeros(h)
    w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"] = rnd(i, h), torch.zeros(i)
    w[p + "output.dense.weight"], w[p + "output.dense.bias"] = rnd(h, i), torch.zeros(h)
    for name in ("attention.output.LayerNorm", "output.LayerNorm"):
        w[p + name + ".weight"], w[p + name + ".bias"] = torch.ones(h), torch.zeros(h)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(w, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    shutil.copyfile(src / "tokenizer.json", folder / "tokenizer.json")
    return folder
