"""The trained model in plain torch: a ViT image tower, a text projection, the CLIP loss.

No timm: timm needs torchvision, and pip would replace the CPU torch with a CUDA build to get
it (PLATFORM.md section 4). Architectures are small JSON files in ``model_configs/`` read by
:func:`create_model` (the open_clip ``model_configs``/``create_model`` pattern).

Shapes: the image tower takes (N, C, H, W) float32 encoded ECGs; patches may be non-square
(``patch_size`` [ph, pw], a Conv2d with kernel = stride), so the (3, 12, 1000) signal image is cut
into lead x time tiles. The text side is a frozen sentence encoder whose (N, text_dim) vectors are
precomputed by ``render``; only a linear projection is trained here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

CONFIG_DIR = Path(__file__).resolve().parent / "model_configs"
# CLIP's initial temperature 0.07 and its cap of 100 on the logit scale (Radford et al. 2021).
_INIT_LOGIT_SCALE = math.log(1 / 0.07)
_MAX_LOGIT_SCALE = math.log(100.0)


def list_models() -> list[str]:
    """Names of the architectures in ``model_configs/``."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.json"))


def get_model_config(name: str) -> dict[str, Any]:
    """The JSON config of architecture ``name``.

    Raises
    ------
    ValueError
        If there is no such config (the message lists the known ones).
    """
    path = CONFIG_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown model {name!r}; known: {', '.join(list_models())}")
    return json.loads(path.read_text(encoding="utf-8"))


class _Block(nn.Module):
    """Pre-norm transformer block (ViT): x + MHSA(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(width, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        qkv = self.qkv(self.norm1(x)).view(n, t, 3, self.heads, d // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v)
        x = x + self.proj(att.transpose(1, 2).reshape(n, t, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class VisionTransformer(nn.Module):
    """ViT with a class token; returns the normalised class-token feature (N, width)."""

    def __init__(self, input_shape: list[int], patch_size: list[int], width: int, depth: int,
                 heads: int, mlp_ratio: float) -> None:
        super().__init__()
        c, h, w = input_shape
        ph, pw = patch_size
        if h % ph or w % pw:
            raise ValueError(f"patch {patch_size} does not tile the input {input_shape}")
        self.input_shape = tuple(input_shape)
        self.patch_embed = nn.Conv2d(c, width, kernel_size=(ph, pw), stride=(ph, pw))
        n_tokens = (h // ph) * (w // pw)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, width))
        self.pos_embed = nn.Parameter(torch.randn(1, n_tokens + 1, width) * 0.02)
        self.blocks = nn.ModuleList(_Block(width, heads, mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        self.width = width
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return self.norm(x[:, 0])


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)


class ImageTower(nn.Module):
    """Encoded ECG (N, C, H, W) -> L2-normalised embedding (N, embed_dim): what is exported."""

    def __init__(self, vit: VisionTransformer, embed_dim: int) -> None:
        super().__init__()
        self.vit = vit
        self.proj = nn.Linear(vit.width, embed_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.vit(x)), dim=-1)


class TextProjection(nn.Module):
    """Frozen sentence embedding (N, text_dim) -> L2-normalised embedding (N, embed_dim)."""

    def __init__(self, text_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(text_dim, embed_dim, bias=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(t), dim=-1)


class EcgClip(nn.Module):
    """Image tower, text projection, logit scale and an optional multi-label head.

    ``forward(images, text_features)`` returns ``(image_emb, text_emb, logit_scale, label_logits)``
    where ``label_logits`` is None without a label head. The head reads the ViT feature, so the
    label supervision shapes the same representation the embedding is projected from.
    """

    def __init__(self, config: dict[str, Any], n_labels: int = 0) -> None:
        super().__init__()
        self.config = dict(config)
        vit = VisionTransformer(config["input_shape"], config["patch_size"], config["width"],
                                config["depth"], config["heads"], config["mlp_ratio"])
        self.image = ImageTower(vit, config["embed_dim"])
        self.text = TextProjection(config["text_dim"], config["embed_dim"])
        self.logit_scale = nn.Parameter(torch.tensor(_INIT_LOGIT_SCALE))
        self.label_head = nn.Linear(config["width"], n_labels) if n_labels else None

    def forward(self, images: torch.Tensor, text_features: torch.Tensor):
        feat = self.image.vit(images)
        image_emb = F.normalize(self.image.proj(feat), dim=-1)
        text_emb = self.text(text_features)
        logits = self.label_head(feat) if self.label_head is not None else None
        return image_emb, text_emb, self.logit_scale.clamp(max=_MAX_LOGIT_SCALE).exp(), logits


def create_model(name: str, n_labels: int = 0) -> EcgClip:
    """Build architecture ``name`` from ``model_configs/<name>.json`` (random init).

    Parameters
    ----------
    name : a config name (:func:`list_models`).
    n_labels : size of the multi-label head; 0 for none.

    Raises
    ------
    ValueError
        If the config does not exist or its patch does not tile its input shape.
    """
    return EcgClip(get_model_config(name), n_labels)


class ClipLoss(nn.Module):
    """Symmetric InfoNCE as open_clip's ``ClipLoss`` (single process).

    Targets are ``arange(batch)``: image i belongs with text i. The loss is the mean of the
    image->text and text->image cross-entropies; ``logit_scale`` (already exponentiated) is an
    argument so the model owns the learnable temperature.
    """

    def forward(self, image_emb: torch.Tensor, text_emb: torch.Tensor,
                logit_scale: torch.Tensor) -> torch.Tensor:
        logits_per_image = logit_scale * image_emb @ text_emb.T
        labels = torch.arange(image_emb.shape[0], device=image_emb.device)
        return (F.cross_entropy(logits_per_image, labels)
                + F.cross_entropy(logits_per_image.T, labels)) / 2
