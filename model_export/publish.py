"""Step ``publish``: copy the models and the built library into ``assets/`` with its manifest.

``python -m model_export.publish --library BUILD_LIBRARY_DIR [--image-encoder ONNX]
[--text-encoder ONNX --tokenizer tokenizer.json] [--assets assets/]``

The only step that writes into ``assets/``. It stages the new folder beside the old one and
swaps it in with renames, so a failed publish leaves the previous assets intact. The manifest
(:mod:`desktop_app.assets`) lists every file with its size and SHA-256, the encoders' versions
and the library's facts; the app verifies it at start-up. A library built with an encoder other
than the image encoder being shipped is refused (its embeddings would not be comparable).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop_app import assets as A
from model_export import _cache

logger = logging.getLogger(__name__)

_REPO_ROOT = Path(__file__).resolve().parents[1]


def _library_meta(store: Path) -> dict[str, str]:
    conn = sqlite3.connect(store.resolve().as_uri() + "?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT key, value FROM meta"))
    finally:
        conn.close()


def publish(library_dir: Path, assets_root: Path, *, image_encoder: Path | None = None,
            text_encoder: Path | None = None, tokenizer: Path | None = None,
            examples: Path | None = None) -> dict[str, Any]:
    """Write ``assets_root`` from a built library and the models.

    Parameters
    ----------
    library_dir : a folder with ``index.hnsw`` and ``cases.sqlite`` (``build_library``'s
        ``library/``; its parent step folder is accepted too).
    assets_root : the assets folder to (re)write.
    image_encoder : the image encoder ONNX the library was built with; None publishes the
        library alone (only for tests of the mechanics: the app cannot search without it).
    text_encoder, tokenizer : the text model and its ``tokenizer.json`` (both or neither).
    examples : a folder written by :mod:`model_export.examples`; its files are shipped under
        ``examples/``.

    Returns
    -------
    dict
        The manifest written.

    Raises
    ------
    ValueError
        If the library was built with another image encoder, or only one of the text files is
        given.
    FileNotFoundError
        If an input is missing.
    """
    library_dir = Path(library_dir)
    if (library_dir / "library").is_dir():
        library_dir = library_dir / "library"
    for name in ("index.hnsw", "cases.sqlite"):
        if not (library_dir / name).is_file():
            raise FileNotFoundError(f"expected {name} in {library_dir}; run build_library")
    if (text_encoder is None) != (tokenizer is None):
        raise ValueError("the text encoder and its tokenizer are published together")
    meta = _library_meta(library_dir / "cases.sqlite")
    encoders: dict[str, Any] = {}
    if image_encoder is not None:
        sha = _cache.sha256_file(Path(image_encoder))
        if sha != meta.get("encoder_sha256"):
            raise ValueError(f"the library was built with encoder {meta.get('encoder_version')} "
                             f"(sha256 {meta.get('encoder_sha256', '?')[:16]}), not with "
                             f"{image_encoder} (sha256 {sha[:16]}); rebuild the library")
        encoders["image"] = {"version": meta["encoder_version"], "sha256": sha}
    if text_encoder is not None:
        encoders["text"] = {"sha256": _cache.sha256_file(Path(text_encoder))}
    sources = {A.LIBRARY_INDEX: library_dir / "index.hnsw",
               A.LIBRARY_STORE: library_dir / "cases.sqlite"}
    if image_encoder is not None:
        sources[A.IMAGE_ENCODER] = Path(image_encoder)
    if text_encoder is not None:
        sources[A.TEXT_ENCODER] = Path(text_encoder)
        sources[A.TEXT_TOKENIZER] = Path(tokenizer)
    if examples is not None:
        files = sorted(p for p in Path(examples).iterdir() if p.is_file())
        if not any(p.suffix == ".hea" for p in files):
            raise FileNotFoundError(f"expected example records (.hea) in {examples}")
        for path in files:
            sources[f"{A.EXAMPLES_DIR}/{path.name}"] = path
    assets_root = Path(assets_root)
    assets_root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".assets-", dir=assets_root.parent))
    try:
        for rel, src in sources.items():
            dst = tmp / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
        library = {k: meta.get(k) for k in (
            "encoder_name", "encoder_version", "encoder_sha256", "embedding_dim", "n_cases",
            "index_ef", "index_recall_at_10", "traces_quantum_uv", "folds", "source")}
        manifest = A.build_manifest(tmp, sources, {
            "encoders": encoders, "library": library, "git_commit": _cache.git_commit()})
        if manifest["total_bytes"] > A.ASSETS_BUDGET_BYTES:
            logger.warning("assets total %.1f MB, over the %.0f MB budget",
                           manifest["total_bytes"] / 1e6, A.ASSETS_BUDGET_BYTES / 1e6)
        (tmp / A.MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        A.verify_assets(tmp)
        old = None
        if assets_root.exists():
            old = Path(tempfile.mkdtemp(prefix=".assets-old-", dir=assets_root.parent))
            os.replace(assets_root, old / "assets")
        os.replace(tmp, assets_root)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    logger.info("published %d files, %.1f MB, to %s", len(sources),
                manifest["total_bytes"] / 1e6, assets_root)
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the step; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m model_export.publish",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, required=True,
                        help="build_library's output folder")
    parser.add_argument("--image-encoder", type=Path, default=None)
    parser.add_argument("--text-encoder", type=Path, default=None)
    parser.add_argument("--tokenizer", type=Path, default=None)
    parser.add_argument("--examples", type=Path, default=None,
                        help="folder of example records (model_export.examples)")
    parser.add_argument("--assets", type=Path, default=_REPO_ROOT / "assets",
                        help="assets folder to write (default: %(default)s)")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        publish(args.library, args.assets, image_encoder=args.image_encoder,
                text_encoder=args.text_encoder, tokenizer=args.tokenizer,
                examples=args.examples)
    except (ValueError, FileNotFoundError) as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
