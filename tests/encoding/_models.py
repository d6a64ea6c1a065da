"""Small exported models for the runtime tests (random weights; the export path is the real one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

MICRO = {"patch_size": [3, 100], "width": 64, "depth": 1, "heads": 2, "mlp_ratio": 2.0,
         "embed_dim": 16, "text_dim": 32}


def export_image_encoder(path: Path, encoding_name: str = "signal_mv", *, seed: int = 0,
                         metadata: dict[str, str] | None = None):
    """Export a random micro ViT for ``encoding_name`` with the encoding's metadata.

    Returns the torch :class:`~model_export._model.EcgClip` (eval mode) that was exported.
    """
    import torch

    from desktop_app.encoding import get_encoding
    from model_export._model import EcgClip
    from model_export.export_onnx import _export
    from model_export.text_base import set_metadata

    enc = get_encoding(encoding_name)
    shape = list(enc.output_shape)
    patch = MICRO["patch_size"] if shape[1:] == [12, 1000] else [32, 32]
    torch.manual_seed(seed)
    model = EcgClip({**MICRO, "input_shape": shape, "patch_size": patch}).eval()
    _export(model.image, torch.zeros(2, *shape), path, "image", "image_embedding")
    set_metadata(path, {**enc.metadata(), "embedding.dim": str(MICRO["embed_dim"]),
                        **(metadata or {})})
    return model


def torch_embed(model, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        return model.image(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()
