"""Shipped assets: where they lie, and the manifest that proves they are intact.

Layout under the assets root (``assets/`` in a checkout, ``<bundle>/assets`` when frozen)::

    manifest.json                 every file below with its size and SHA-256, and the encoder
                                  version the library was built with (written by
                                  ``model_export.publish``, never by the app)
    models/image_encoder.onnx     ECG encoder (onnxruntime)
    models/text_encoder.onnx      text encoder for search by words
    models/tokenizer.json         its tokenizer (``tokenizers``)
    library/index.hnsw            hnswlib index of the library's embeddings
    library/cases.sqlite          the case store (facts and traces)
    examples/*.hea, *.dat         a few PTB-XL fold-10 records (not in the library) to try the
                                  app without data; examples/examples.json says what each shows

Verification policy: :func:`verify_assets` always checks that every listed file exists with its
recorded size, and by default also its full SHA-256. Hashing is cheap enough to do on every
start: SHA-256 runs at about 1.4 GB/s on this machine's SHA-NI CPU (100 MB in 0.07 s in memory;
``benchmarks/bench_library.py`` measures the whole ``assets/`` from disk), well inside the 1 s
start-up budget even for the full 150 MB, so no mtime cache or background thread is needed
(both would add ways to trust a damaged file). ``check_hashes=False`` is for tools that only
need to know the files are there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from desktop_app.errors import AssetError

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
IMAGE_ENCODER = "models/image_encoder.onnx"
TEXT_ENCODER = "models/text_encoder.onnx"
TEXT_TOKENIZER = "models/tokenizer.json"
LIBRARY_INDEX = "library/index.hnsw"
LIBRARY_STORE = "library/cases.sqlite"
EXAMPLES_DIR = "examples"
#: Every asset the app can use, in manifest order.
ASSET_FILES: tuple[str, ...] = (IMAGE_ENCODER, TEXT_ENCODER, TEXT_TOKENIZER, LIBRARY_INDEX,
                                LIBRARY_STORE)
#: Assets whose absence makes similarity search impossible.
SEARCH_ASSETS: tuple[str, ...] = (IMAGE_ENCODER, LIBRARY_INDEX, LIBRARY_STORE)
#: Size budget of the whole assets folder (the issue's target), bytes.
ASSETS_BUDGET_BYTES = 150 * 1000 * 1000
_CHUNK = 1 << 20


def default_assets_root() -> Path:
    """``assets/`` beside the package in a checkout, or inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "assets"
    return Path(__file__).resolve().parents[1] / "assets"


def example_records(root: str | Path | None = None) -> list[Path]:
    """The bundled example ECGs (WFDB headers) listed in the manifest, sorted by name.

    Only files the manifest lists count, so a stray file dropped into the folder is not
    offered. Returns an empty list when the manifest is missing or lists no examples.
    """
    root = Path(root) if root is not None else default_assets_root()
    try:
        files = read_manifest(root)["files"]
    except AssetError:
        return []
    prefix = EXAMPLES_DIR + "/"
    return sorted(root / _safe_relpath(name) for name in files
                  if name.startswith(prefix) and name.endswith(".hea"))


def sha256_file(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            h.update(block)
    return h.hexdigest()


def _safe_relpath(name: str) -> PurePosixPath:
    rel = PurePosixPath(name)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise ValueError(f"asset path {name!r} must be relative, inside the assets folder")
    return rel


def build_manifest(root: str | Path, files: Iterable[str],
                   extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Describe asset files (size and SHA-256) for ``manifest.json``.

    Parameters
    ----------
    root : the assets folder.
    files : paths relative to ``root`` (POSIX separators).
    extra : more top-level fields (``encoder``, ``library``, ...).

    Returns
    -------
    dict
        ``{"manifest_version", "files": {path: {"bytes", "sha256"}}, "total_bytes", ...}``.

    Raises
    ------
    FileNotFoundError
        If a listed file does not exist.
    """
    root = Path(root)
    entries: dict[str, dict[str, Any]] = {}
    for name in sorted(files):
        path = root / _safe_relpath(name)
        entries[name] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}
    return {"manifest_version": MANIFEST_VERSION, **dict(extra or {}), "files": entries,
            "total_bytes": sum(e["bytes"] for e in entries.values())}


def read_manifest(root: str | Path) -> dict[str, Any]:
    """The parsed ``manifest.json`` of an assets folder.

    Raises
    ------
    AssetError
        If the manifest is missing, unreadable, or of an unknown version.
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise AssetError(path, "the asset manifest is missing")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AssetError(path, f"the asset manifest is damaged ({exc})") from exc
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        raise AssetError(path, f"manifest version {manifest.get('manifest_version')!r}; this "
                               f"app reads {MANIFEST_VERSION}")
    return manifest


def verify_assets(root: str | Path, *, check_hashes: bool = True,
                  required: Iterable[str] = ()) -> dict[str, Any]:
    """Check every file the manifest lists: present, right size, right SHA-256.

    Parameters
    ----------
    root : the assets folder.
    check_hashes : also compare SHA-256 (default; see the module docstring for the cost).
    required : asset paths that must be listed in the manifest (e.g. :data:`SEARCH_ASSETS`).

    Returns
    -------
    dict
        The manifest, for callers that need its encoder and library facts.

    Raises
    ------
    AssetError
        Naming the first missing, truncated or altered file (or the manifest itself).
    """
    root = Path(root)
    manifest = read_manifest(root)
    files = manifest["files"]
    for name in required:
        if name not in files:
            raise AssetError(root / name, "the asset manifest does not list it")
    checked: list[tuple[Path, Mapping[str, Any]]] = []
    for name, entry in files.items():
        try:
            path = root / _safe_relpath(name)
        except ValueError as exc:
            raise AssetError(root / MANIFEST, str(exc)) from None
        if not path.is_file():
            raise AssetError(path, "the file is missing")
        size = path.stat().st_size
        if size != entry.get("bytes"):
            raise AssetError(path, f"it has {size} bytes, the manifest says {entry.get('bytes')}"
                                   f" (damaged or replaced)")
        checked.append((path, entry))
    if check_hashes:
        for path, entry in checked:
            if sha256_file(path) != entry.get("sha256"):
                raise AssetError(path, "its SHA-256 does not match the manifest (damaged)")
    log.debug("verified %d assets in %s (hashes: %s)", len(checked), root, check_hashes)
    return manifest


__all__ = [
    "ASSETS_BUDGET_BYTES", "ASSET_FILES", "EXAMPLES_DIR", "IMAGE_ENCODER", "LIBRARY_INDEX", "LIBRARY_STORE",
    "MANIFEST", "SEARCH_ASSETS", "TEXT_ENCODER", "TEXT_TOKENIZER", "build_manifest",
    "default_assets_root", "example_records", "read_manifest", "sha256_file", "verify_assets",
]
