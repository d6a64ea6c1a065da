"""Cached step outputs: keyed folders, manifests with SHA-256, written atomically.

Every step of the pipeline writes ``<out>/<step>-<key[:16]>/`` where ``key`` hashes the step
name, its version, its parameters and the hashes of its inputs (for an upstream step, that step's
own key). The folder is filled in a temporary sibling and renamed when complete, so a crash never
leaves a half-written folder that a rerun would trust; a rerun whose manifest matches (same key,
same step version, every output present with its recorded SHA-256) is skipped.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
MANIFEST = "manifest.json"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """SHA-256 of the canonical JSON of ``obj`` (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def git_commit() -> str | None:
    """HEAD of the checkout, with ``-dirty`` when the tree has changes; None without git."""
    try:
        proc = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
                              capture_output=True, text=True, check=False, timeout=10)
        dirty = subprocess.run(["git", "-C", str(REPO_ROOT), "status", "--porcelain"],
                               capture_output=True, text=True, check=False, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def step_key(step: str, step_version: int, parameters: Mapping[str, Any],
             input_hashes: Mapping[str, str]) -> str:
    """The key of a step's output: a hash of step, version, parameters and input hashes."""
    return sha256_json({"step": step, "step_version": step_version,
                        "parameters": dict(parameters), "inputs": dict(input_hashes)})


def output_dir(out: Path, step: str, key: str) -> Path:
    """``out/<step>-<first 16 hex digits of key>``."""
    return Path(out) / f"{step}-{key[:16]}"


def read_manifest(out_dir: Path) -> dict:
    """The manifest of a finished step folder.

    Raises
    ------
    FileNotFoundError
        If the folder has no readable manifest (the step did not finish there).
    """
    path = Path(out_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(
            f"expected a finished step folder with {MANIFEST} at {out_dir}; run the step that "
            f"makes it first") from exc


def manifest_matches(out_dir: Path, key: str, step_version: int) -> bool:
    """True when ``out_dir`` holds a complete output for ``key`` (every SHA-256 checked)."""
    try:
        manifest = read_manifest(out_dir)
    except FileNotFoundError:
        return False
    if manifest.get("key") != key or manifest.get("step_version") != step_version:
        return False
    outputs = manifest.get("outputs", {})
    return bool(outputs) and all(
        (Path(out_dir) / name).is_file()
        and (Path(out_dir) / name).stat().st_size == meta.get("bytes")
        and sha256_file(Path(out_dir) / name) == meta.get("sha256")
        for name, meta in outputs.items())


@contextlib.contextmanager
def staged_dir(out: Path, step: str, final_dir: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``final_dir``; on success it replaces ``final_dir``.

    The caller writes every output and the manifest (:func:`write_manifest`) into the yielded
    folder. On an exception the temporary folder is removed and ``final_dir`` is left alone.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{step}-", dir=out))
    try:
        yield tmp
        if not (tmp / MANIFEST).is_file():
            raise RuntimeError(f"step {step} finished without writing {MANIFEST}")
        if final_dir.exists():
            shutil.rmtree(final_dir)
        os.replace(tmp, final_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_manifest(folder: Path, *, step: str, step_version: int, key: str,
                   inputs: Mapping[str, Any], parameters: Mapping[str, Any],
                   **extra: Any) -> dict:
    """Write ``manifest.json`` listing every file in ``folder`` with its size and SHA-256.

    Parameters
    ----------
    folder : the staged output folder (every file in it, recursively, is an output).
    step, step_version, key : what made it (see :func:`step_key`).
    inputs : name -> description (at least ``sha256`` or ``key``) of each input.
    parameters : the step's parameters as passed.
    **extra : more JSON-serialisable fields (counts, measurements, timings).

    Returns
    -------
    dict
        The manifest as written.
    """
    folder = Path(folder)
    outputs = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        rel = path.relative_to(folder).as_posix()
        outputs[rel] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    manifest = {
        "step": step,
        "step_version": step_version,
        "key": key,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
        "inputs": dict(inputs),
        "parameters": dict(parameters),
        "outputs": outputs,
        **extra,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str),
                                   encoding="utf-8")
    return manifest
