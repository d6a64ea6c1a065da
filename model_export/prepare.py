"""Step 1 of the training pipeline: PTB-XL records and their English case text.

``python -m model_export.prepare --out DIR [--ptbxl PATH] [--cache DIR] [--records DIR]
[--limit-ids 1-20]``

* Unpacks the lossless packs of ``ptbxl/packed/`` once into a cache folder (by default the
  user cache directory, ``.../ECGCaseFinder/ptbxl``) with the data folder's own ``unpack.py``,
  which checks every file against the SHA-256 of the original; the cache is reused while its
  manifest matches the packs. ``--records DIR`` uses an already unpacked folder instead (for
  tests: ``ptbxl/records100/00000``).
* Writes ``cases.jsonl``: one line per PTB-XL v1.0.3 record (metadata row), with ids, fold,
  superclasses, statements with likelihoods, age/sex where known, the original report, its
  English text and where that text came from. Records of the older release that the packs also
  hold (no metadata row) are skipped and listed in the manifest.
* The output folder ``DIR/prepare-<key>`` is keyed by a hash of the inputs, the parameters and
  :data:`STEP_VERSION`; it is written to a temporary folder and renamed when complete, and a
  rerun whose manifest matches is skipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from model_export import _cache, _text
from model_export._cache import sha256_file

logger = logging.getLogger(__name__)

STEP = "prepare"
# Bump when the output of this step changes for the same inputs (fields, text rules).
STEP_VERSION = 1

SUPERCLASSES = ("NORM", "MI", "STTC", "CD", "HYP")
FS_HZ = 100  # records100: PTB-XL's 100 Hz version
_REPO_ROOT = Path(__file__).resolve().parents[1]
_DEFAULT_PTBXL = _REPO_ROOT.parent / "shared" / "data" / "ptbxl"
_CACHE_MANIFEST = "unpack-manifest.json"


@dataclass(frozen=True)
class PrepareResult:
    """Where the step's output lies and whether this call produced it."""

    out_dir: Path
    skipped: bool
    n_cases: int
    skipped_ids: tuple[int, ...]


def parse_id_range(spec: str | None) -> tuple[int, int] | None:
    """Parse ``--limit-ids`` ("1-20" or "7"); None means all ids.

    Raises
    ------
    ValueError
        If the text is not ``N`` or ``N-M`` with ``N <= M``.
    """
    if spec is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+))?\s*", spec)
    if not m:
        raise ValueError(f"expected an ecg_id range like '1-20', found {spec!r}")
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if lo > hi:
        raise ValueError(f"the range {spec!r} is empty (first id above last)")
    return lo, hi


def default_cache_dir() -> Path:
    """Unpack cache: ``<user cache dir>/ECGCaseFinder/ptbxl``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("ECGCaseFinder", appauthor=False)) / "ptbxl"


# ---------------------------------------------------------------------------------------------
# Unpack cache
# ---------------------------------------------------------------------------------------------
def _packs_fingerprint(packed_dir: Path) -> dict[str, str]:
    files = sorted(packed_dir.glob("records100-*.npz.xz"))
    files += [packed_dir / "headers-records100.json.xz", packed_dir / "SHA256SUMS-records100.txt",
              packed_dir / "unpack.py"]
    missing = [str(f) for f in files if not f.is_file()]
    if missing or len(files) <= 3:
        raise FileNotFoundError(
            f"expected the PTB-XL packs (records100-*.npz.xz, headers, SHA256SUMS, unpack.py) in "
            f"{packed_dir}, missing: {missing or 'the record packs'}; point --ptbxl at the "
            f"shared data's ptbxl folder")
    return {f.name: sha256_file(f) for f in files}


def ensure_unpacked(packed_dir: Path, cache_dir: Path) -> tuple[Path, str]:
    """Unpack the PTB-XL packs into ``cache_dir`` unless a matching unpack is already there.

    Parameters
    ----------
    packed_dir
        ``ptbxl/packed`` with the packs and ``unpack.py``.
    cache_dir
        Folder that receives ``records100/`` and ``unpack-manifest.json``.

    Returns
    -------
    (Path, str)
        The ``records100`` folder and a SHA-256 fingerprint of the packs it came from.

    Raises
    ------
    FileNotFoundError
        If the packs are missing.
    RuntimeError
        If ``unpack.py`` fails (for example on a checksum mismatch: the pack is damaged).
    """
    fingerprint = _packs_fingerprint(packed_dir)
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
    manifest_path = cache_dir / _CACHE_MANIFEST
    if manifest_path.is_file() and (cache_dir / "records100").is_dir():
        try:
            old = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("packs_sha256") == digest:
            logger.info("PTB-XL records already unpacked in %s", cache_dir)
            return cache_dir / "records100", digest
    cache_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ptbxl-unpack-", dir=cache_dir.parent))
    try:
        logger.info("unpacking PTB-XL records100 into %s (about 15 s)", cache_dir)
        proc = subprocess.run([sys.executable, str(packed_dir / "unpack.py"), str(tmp)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"unpack.py failed with exit code {proc.returncode}: "
                               f"{(proc.stderr or proc.stdout).strip()[-2000:]}")
        n_files = sum(1 for _ in (tmp / "records100").rglob("*_lr.*"))
        (tmp / _CACHE_MANIFEST).write_text(json.dumps(
            {"packs_sha256": digest, "packs": fingerprint, "n_files": n_files,
             "unpack_log": proc.stdout.strip()}, indent=2), encoding="utf-8")
        if cache_dir.exists():
            shutil.rmtree(cache_dir)
        os.replace(tmp, cache_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return cache_dir / "records100", digest


def record_path(records_root: Path, filename_lr: str) -> Path:
    """Header path of a record under ``records_root`` (a ``records100`` folder or one subfolder).

    Raises
    ------
    FileNotFoundError
        If neither layout holds the record's ``.hea`` and ``.dat``.
    """
    rel = Path(filename_lr)  # records100/00000/00001_lr
    for cand in (records_root / rel.relative_to(rel.parts[0]), records_root / rel.name,
                 records_root / rel):
        if cand.with_suffix(".hea").is_file() and cand.with_suffix(".dat").is_file():
            return cand.with_suffix(".hea")
    raise FileNotFoundError(
        f"expected the WFDB record {rel.name}.hea/.dat under {records_root} (as "
        f"{rel.relative_to(rel.parts[0])} or {rel.name}); not found. Unpack the records "
        f"(drop --records to use the cache) or narrow --limit-ids")


def _ids_on_disk(records_root: Path) -> set[int]:
    return {int(p.name[:5]) for p in records_root.rglob("*_lr.hea") if p.name[:5].isdigit()}


# ---------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------
def _int_or_none(value: str) -> int | None:
    value = (value or "").strip()
    return int(float(value)) if value else None


def _float_or_none(value: str) -> float | None:
    value = (value or "").strip()
    return float(value) if value else None


def _sex(value: str) -> str | None:
    # PTB-XL codes sex as 0 = male, 1 = female (Wagner et al. 2020, Table 2).
    code = _int_or_none(value)
    return {0: "male", 1: "female"}.get(code) if code is not None else None


def build_case(row: dict[str, str], statements, table, record_hea: Path) -> dict:
    """One ``cases.jsonl`` entry for a metadata row (see :func:`prepare` for the fields)."""
    ct = _text.case_text(row, statements, table)
    report = row.get("report") or ""
    return {
        "ecg_id": int(row["ecg_id"]),
        "patient_id": _int_or_none(row["patient_id"]),
        "strat_fold": int(row["strat_fold"]),
        "superclass": {k: int(float(row[k])) for k in SUPERCLASSES},
        "statements": list(ct.statements),
        "age": _float_or_none(row.get("age", "")),
        "sex": _sex(row.get("sex", "")),
        "report": report.strip() or None,
        "report_language": ct.report_language or None,
        "report_en": ct.report_en or None,
        "report_unconfirmed": ct.report_clean.unconfirmed,
        "report_edit_note": ct.report_clean.edit_note,
        "statements_en": ct.statements_en,
        "text_en": ct.text,
        "text_source": ct.text_source,
        "record": row["filename_lr"],
        "record_path": str(record_hea),
        "fs_hz": FS_HZ,
    }


def prepare(
    out: Path,
    ptbxl: Path = _DEFAULT_PTBXL,
    *,
    cache_dir: Path | None = None,
    records: Path | None = None,
    limit_ids: tuple[int, int] | None = None,
) -> PrepareResult:
    """Write ``cases.jsonl`` and ``manifest.json`` for the PTB-XL records.

    Parameters
    ----------
    out
        Parent folder; the step writes ``out/prepare-<key>/``.
    ptbxl
        The shared ``ptbxl`` data folder (metadata, statements, packs).
    cache_dir
        Where to unpack the records; default :func:`default_cache_dir`. Ignored with
        ``records``.
    records
        An already unpacked folder (``records100`` or one of its subfolders) to use instead of
        the unpack cache.
    limit_ids
        Inclusive ``(first, last)`` ecg_id range, for quick runs; None for all records.

    Returns
    -------
    PrepareResult
        Output folder, whether the call was skipped because a matching output existed, the
        number of cases and the ids skipped for lack of a metadata row.

    Raises
    ------
    FileNotFoundError
        If an input file or a selected record is missing.
    ValueError
        If the selection holds no record.
    """
    ptbxl = Path(ptbxl)
    metadata_path = ptbxl / "ptbxl_metadata.csv"
    statements_path = ptbxl / "scp_statements.csv"
    for path in (metadata_path, statements_path):
        if not path.is_file():
            raise FileNotFoundError(f"expected {path.name} in {ptbxl}; point --ptbxl at the "
                                    f"shared data's ptbxl folder")
    if records is not None:
        records_root = Path(records).resolve()
        if not records_root.is_dir():
            raise FileNotFoundError(f"--records {records_root} is not a folder")
        records_kind, records_digest = "dir", None
    else:
        cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        records_root, records_digest = ensure_unpacked(ptbxl / "packed", cache)
        records_kind = "unpack-cache"

    rows = sorted(_text.read_metadata(metadata_path), key=lambda r: int(r["ecg_id"]))
    if limit_ids is not None:
        rows = [r for r in rows if limit_ids[0] <= int(r["ecg_id"]) <= limit_ids[1]]
    if not rows:
        raise ValueError(f"no PTB-XL metadata row has an ecg_id in {limit_ids}")
    paths = {int(r["ecg_id"]): record_path(records_root, r["filename_lr"]) for r in rows}
    if records_digest is None:
        # A plain folder has no manifest: hash the selected records themselves.
        h = hashlib.sha256()
        for ecg_id in sorted(paths):
            for suffix in (".hea", ".dat"):
                h.update(sha256_file(paths[ecg_id].with_suffix(suffix)).encode())
        records_digest = h.hexdigest()

    inputs = {
        "ptbxl_metadata.csv": {"path": str(metadata_path), "sha256": sha256_file(metadata_path)},
        "scp_statements.csv": {"path": str(statements_path),
                               "sha256": sha256_file(statements_path)},
        "de_en_phrases.tsv": {"path": str(_text.PHRASE_TABLE_PATH),
                              "sha256": sha256_file(_text.PHRASE_TABLE_PATH)},
        "_text.py": {"path": str(Path(_text.__file__)), "sha256": sha256_file(Path(_text.__file__))},
        "prepare.py": {"path": str(Path(__file__)), "sha256": sha256_file(Path(__file__))},
        "records": {"path": str(records_root), "kind": records_kind, "sha256": records_digest},
    }
    parameters = {"limit_ids": list(limit_ids) if limit_ids else None, "fs_hz": FS_HZ}
    key = _cache.step_key(STEP, STEP_VERSION, parameters,
                          {k: v["sha256"] for k, v in inputs.items()})
    out = Path(out)
    out_dir = _cache.output_dir(out, STEP, key)
    if _cache.manifest_matches(out_dir, key, STEP_VERSION):
        manifest = _cache.read_manifest(out_dir)
        logger.info("prepare: skipped, %s is up to date (manifest matches)", out_dir)
        return PrepareResult(out_dir, True, manifest["counts"]["cases"],
                             tuple(manifest["skipped_ids"]))

    statements = _text.load_scp_statements(statements_path)
    table = _text.load_phrase_table()
    meta_ids = {int(r["ecg_id"]) for r in _text.read_metadata(metadata_path)}
    on_disk = _ids_on_disk(records_root)
    if limit_ids is not None:
        on_disk = {i for i in on_disk if limit_ids[0] <= i <= limit_ids[1]}
    skipped_ids = tuple(sorted(on_disk - meta_ids))
    if skipped_ids:
        logger.info("prepare: skipping %d records without a metadata row (older release): %s",
                    len(skipped_ids), skipped_ids)

    with _cache.staged_dir(out, STEP, out_dir) as tmp:
        counts = {"cases": 0, "text_source": {}, "report_language": {}}
        with open(tmp / "cases.jsonl", "w", encoding="utf-8") as fh:
            for row in rows:
                ecg_id = int(row["ecg_id"])
                case = build_case(row, statements, table, paths[ecg_id])
                fh.write(json.dumps(case, ensure_ascii=False) + "\n")
                counts["cases"] += 1
                for field in ("text_source", "report_language"):
                    name = str(case[field])
                    counts[field][name] = counts[field].get(name, 0) + 1
        _cache.write_manifest(tmp, step=STEP, step_version=STEP_VERSION, key=key, inputs=inputs,
                              parameters=parameters, counts=counts,
                              skipped_ids=list(skipped_ids))
    logger.info("prepare: wrote %d cases to %s", counts["cases"], out_dir)
    return PrepareResult(out_dir, False, counts["cases"], skipped_ids)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of the step; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m model_export.prepare",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="parent folder of the output")
    parser.add_argument("--ptbxl", type=Path, default=_DEFAULT_PTBXL,
                        help="the shared data's ptbxl folder (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="unpack cache folder (default: user cache dir/ECGCaseFinder/ptbxl)")
    parser.add_argument("--records", type=Path, default=None,
                        help="use this unpacked records folder instead of the cache")
    parser.add_argument("--limit-ids", default=None, help="ecg_id range, e.g. 1-20")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        limit = parse_id_range(args.limit_ids)
    except ValueError as exc:
        parser.error(str(exc))
    result = prepare(args.out, args.ptbxl, cache_dir=args.cache, records=args.records,
                     limit_ids=limit)
    logger.info("%s", result.out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
