"""A stand-in library built once per session from real PTB-XL records 1-100 (see _real.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.library._real import prepared_cases


@dataclass(frozen=True)
class BuiltLibrary:
    cases: list
    library_dir: Path
    assets_root: Path
    embedder: object
    build: object


def build_mechanics_assets(shared_data: Path, root: Path) -> BuiltLibrary:
    """Prepare records 1-100, fit the stand-in on them, build the library, publish it (no
    models) into ``root / "assets"``."""
    from model_export.build_library import build_library, mechanics_embedding
    from model_export.publish import publish

    cases = prepared_cases(shared_data, root / "prepare")
    embedder = mechanics_embedding(cases, dim=16, n_fit=80)
    build = build_library(cases, root / "library", embedder.embed_signals,
                          encoder_info={"name": "mechanics", "version": embedder.version,
                                        "sha256": embedder.sha256})
    publish(root / "library", root / "assets")
    return BuiltLibrary(cases, root / "library", root / "assets", embedder, build)


@pytest.fixture(scope="session")
def mechanics_assets(shared_data, tmp_path_factory) -> BuiltLibrary:
    return build_mechanics_assets(shared_data, tmp_path_factory.mktemp("mechanics"))
