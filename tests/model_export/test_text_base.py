"""The frozen text tower: plain-torch MiniLM against sentence-transformers' published numbers."""

from __future__ import annotations

import numpy as np
import torch
from tokenizers import Tokenizer

from model_export._minilm import load_minilm, package_model_dir
from model_export.text_base import SCHEMES, quantize_text  # noqa: F401 (importable)


def test_minilm_reproduces_sentence_transformers_similarities():
    """Expected values: the all-MiniLM-L6-v2 quick-start in the sentence-transformers README
    (``model.similarity(embeddings, embeddings)`` prints 0.6660, 0.1046, 0.1411)."""
    model = load_minilm()
    tok = Tokenizer.from_file(str(package_model_dir() / "tokenizer.json"))
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    enc = tok.encode_batch(["The weather is lovely today.", "It's so sunny outside!",
                            "He drove to the stadium."])
    ids = torch.tensor([e.ids for e in enc])
    mask = torch.tensor([e.attention_mask for e in enc])
    with torch.no_grad():
        emb = model(ids, mask).numpy()
    sim = emb @ emb.T
    np.testing.assert_allclose([sim[0, 1], sim[0, 2], sim[1, 2]], [0.6660, 0.1046, 0.1411],
                               atol=5e-4)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
