"""Shared helpers of the photo tests: fold-10 PTB-XL records that lie in the shared data."""

from __future__ import annotations

from pathlib import Path

from model_export.photo_synth import fold_ids


def fold10_ids(shared_data: Path) -> list[int]:
    root = shared_data / "ptbxl"
    ids = fold_ids(root / "ptbxl_metadata.csv", 10, available_under=root)
    assert len(ids) >= 6, f"expected fold-10 records under {root}/records100, found {ids}"
    return ids
