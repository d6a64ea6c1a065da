"""The clinic's own confirmed cases: a small writable SQLite store in the user's data folder.

Durability: the file runs in WAL mode with ``synchronous=FULL``, so a committed case survives a
crash or power cut, and every write (add, edit, remove, import) is one ``BEGIN IMMEDIATE`` ...
``COMMIT`` transaction. A case is one row (traces and embedding are BLOB columns of it), so no
reader can ever see half a case: SQLite either commits the row or rolls it back on the next
open. ``tests/library/test_clinic_kill.py`` kills a writer with SIGKILL inside a transaction.

Search: exact inner products over an in-memory matrix of the clinic's embeddings. A clinic adds
cases by hand (tens to a few thousand); at 5,000 x 512 float32 the product costs well under a
millisecond, has perfect recall, and needs no index rebuild after an edit or removal. The matrix
is reloaded when the store's revision counter (bumped by every write, from any process) moves.

Export/import: one ``.zip`` holding ``cases.json`` (the cases' facts, no traces) and
``data.npz`` (each case's encoded traces and embedding). Patient identifiers (name, patient id)
are left out unless asked for. Import checks every case, skips those whose content hash (of the
quantised traces and rate) is already present, and adds the rest in one transaction.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import io
import json
import logging
import os
import sqlite3
import tempfile
import threading
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.errors import EcgValueError
from desktop_app.library._store import Statement
from desktop_app.library._traces import decode_traces, encode_traces

log = logging.getLogger(__name__)

CLINIC_SCHEMA_VERSION = 1
#: File name of the store inside ``settings.data_dir()``.
CLINIC_DB_NAME = "clinic_cases.sqlite"
#: Clinic traces keep 5 µV steps: the resolution AHA recommends for acquisition (Kligfield et
#: al., Circulation 2007); the store is small, so there is no reason to be coarser.
CLINIC_QUANTUM_UV = 5.0
EXPORT_FORMAT = "ecg-case-finder-clinic-cases"
EXPORT_VERSION = 1
# Bounds on what an import file can make us read (a zip can claim anything).
_MAX_IMPORT_BYTES = 2 * 1024**3
_MAX_IMPORT_CASES = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS clinic_cases(
    case_id INTEGER PRIMARY KEY AUTOINCREMENT,
    uid TEXT NOT NULL UNIQUE,
    content_hash TEXT NOT NULL UNIQUE,
    created_utc TEXT NOT NULL,
    modified_utc TEXT NOT NULL,
    diagnosis TEXT NOT NULL,
    statements TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    age REAL,
    sex TEXT,
    patient_id TEXT,
    patient_name TEXT,
    source_format TEXT NOT NULL DEFAULT '',
    fs_hz REAL NOT NULL,
    n_samples INTEGER NOT NULL,
    traces BLOB NOT NULL,
    embedding BLOB,
    embedding_dim INTEGER,
    encoder_version TEXT
);
"""

_FACT_COLUMNS = ("case_id", "uid", "content_hash", "created_utc", "modified_utc", "diagnosis",
                 "statements", "note", "age", "sex", "patient_id", "patient_name",
                 "source_format", "fs_hz", "n_samples", "encoder_version")


@dataclass(frozen=True)
class ClinicCase:
    """One of the clinic's confirmed cases (without traces and embedding).

    Attributes
    ----------
    case_id : local row id (stable in this store, not across clinics).
    uid : random identifier that travels with the case between clinics.
    content_hash : SHA-256 of the quantised traces and rate; equal for the same ECG.
    diagnosis : the confirmed diagnosis, in the clinician's words.
    statements : structured statements (SCP codes where known).
    note : free text.
    age, sex : patient facts shown with the case (not identifying on their own).
    patient_id, patient_name : identifiers; never exported unless asked for.
    source_format : reader that read the original file.
    fs_hz, n_samples : rate in Hz and length of the stored traces.
    encoder_version : encoder that produced the stored embedding (None: not embedded yet).
    created_utc, modified_utc : ISO 8601 times.
    """

    case_id: int
    uid: str
    content_hash: str
    diagnosis: str
    statements: tuple[Statement, ...]
    note: str
    age: float | None
    sex: str | None
    patient_id: str | None
    patient_name: str | None
    source_format: str
    fs_hz: float
    n_samples: int
    encoder_version: str | None
    created_utc: str
    modified_utc: str


@dataclass(frozen=True)
class ImportReport:
    """What an import did: cases added, duplicates skipped (by content hash), cases in file."""

    added: int
    skipped_duplicates: int
    total: int


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _quantise(signal_mv: np.ndarray) -> np.ndarray:
    sig = np.asarray(signal_mv, dtype=np.float64)
    q = np.full(sig.shape, np.iinfo(np.int32).min, dtype=np.int64)
    ok = np.isfinite(sig)
    q[ok] = np.round(sig[ok] * (1000.0 / CLINIC_QUANTUM_UV))
    return q


def content_hash(signal_mv: np.ndarray, fs_hz: float) -> str:
    """SHA-256 identity of an ECG: its traces at 5 µV steps, its shape and its rate.

    Parameters
    ----------
    signal_mv : (12, n) mV, NaN for missing leads.
    fs_hz : sampling rate in Hz.

    Returns
    -------
    str
        Hex digest; the same ECG read twice (or exported and imported) gives the same value.
    """
    q = _quantise(signal_mv)
    h = hashlib.sha256(f"{float(fs_hz):.6f}|{q.shape[0]}x{q.shape[1]}|".encode())
    h.update(q.astype("<i8").tobytes())
    return h.hexdigest()


def _check_statements(statements: Sequence[Statement | dict]) -> list[Statement]:
    out = []
    for st in statements:
        st = st if isinstance(st, Statement) else Statement.from_dict(st)
        if not (st.code or st.description.strip()):
            raise EcgValueError("a statement needs a code or a description")
        out.append(st)
    return out


def _check_embedding(embedding: np.ndarray | None) -> np.ndarray | None:
    if embedding is None:
        return None
    v = np.asarray(embedding, dtype=np.float32).ravel()
    if v.size == 0 or not np.isfinite(v).all():
        raise EcgValueError("an embedding must be a non-empty finite vector")
    return v / max(float(np.linalg.norm(v)), 1e-12)


class ClinicStore:
    """The clinic's writable case store (one file); safe to use from several threads.

    Parameters
    ----------
    path : the SQLite file; created (with its folder) if missing.

    Raises
    ------
    EcgValueError
        If the file exists but is not a clinic store of a version this app reads.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._cache_lock = threading.Lock()
        self._cache: tuple[int, str | None, np.ndarray, np.ndarray] | None = None
        # Test seam: called inside a write transaction just before COMMIT (the kill test
        # freezes the writer there). None in the app.
        self._before_commit: Callable[[str], None] | None = None
        conn = self._conn()
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                with self._write("create"):
                    for stmt in _SCHEMA.strip().split(";"):
                        if stmt.strip():
                            conn.execute(stmt)
                    conn.execute("INSERT OR IGNORE INTO meta VALUES ('revision', '0')")
                    conn.execute(f"PRAGMA user_version = {CLINIC_SCHEMA_VERSION}")
            elif version != CLINIC_SCHEMA_VERSION:
                raise EcgValueError(f"{self.path.name}: clinic store version {version}; this "
                                    f"app reads {CLINIC_SCHEMA_VERSION}; update the app")
        except sqlite3.DatabaseError as exc:
            raise EcgValueError(f"{self.path.name} is not a clinic case store ({exc}); move it "
                                f"aside to start a new one") from exc

    # -- connections and transactions ------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk when COMMIT returns (NORMAL in WAL mode may lose the last
            # commits on power loss, which the clinic would read as "I saved it and it is gone").
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def _write(self, what: str) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            if what != "create":
                conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 "
                             "WHERE key = 'revision'")
            if self._before_commit is not None:
                self._before_commit(what)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def revision(self) -> int:
        """Counter bumped by every committed write (from any process)."""
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
        return int(row[0]) if row else 0

    # -- reading --------------------------------------------------------------------------
    @staticmethod
    def _to_case(row: sqlite3.Row) -> ClinicCase:
        return ClinicCase(
            case_id=int(row["case_id"]), uid=row["uid"], content_hash=row["content_hash"],
            diagnosis=row["diagnosis"],
            statements=tuple(Statement.from_dict(d) for d in json.loads(row["statements"])),
            note=row["note"], age=row["age"], sex=row["sex"], patient_id=row["patient_id"],
            patient_name=row["patient_name"], source_format=row["source_format"],
            fs_hz=float(row["fs_hz"]), n_samples=int(row["n_samples"]),
            encoder_version=row["encoder_version"], created_utc=row["created_utc"],
            modified_utc=row["modified_utc"])

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT count(*) FROM clinic_cases").fetchone()[0])

    def list_cases(self) -> list[ClinicCase]:
        """Every case, oldest first."""
        rows = self._conn().execute(
            f"SELECT {', '.join(_FACT_COLUMNS)} FROM clinic_cases ORDER BY case_id")
        return [self._to_case(r) for r in rows]

    def get(self, case_id: int) -> ClinicCase:
        """One case by its local id.

        Raises
        ------
        EcgValueError
            If there is no such case.
        """
        row = self._conn().execute(
            f"SELECT {', '.join(_FACT_COLUMNS)} FROM clinic_cases WHERE case_id = ?",
            (int(case_id),)).fetchone()
        if row is None:
            raise EcgValueError(f"the clinic's cases have no case {case_id}")
        return self._to_case(row)

    def get_many(self, case_ids: Sequence[int]) -> dict[int, ClinicCase]:
        """Cases by local id (missing ids left out)."""
        ids = [int(i) for i in case_ids]
        if not ids:
            return {}
        rows = self._conn().execute(
            f"SELECT {', '.join(_FACT_COLUMNS)} FROM clinic_cases WHERE case_id IN "
            f"({','.join('?' * len(ids))})", ids)
        return {int(r["case_id"]): self._to_case(r) for r in rows}

    def traces(self, case_id: int) -> tuple[np.ndarray, float]:
        """A case's traces: float32 (12, n) mV (NaN = missing lead) and the rate in Hz.

        Raises
        ------
        EcgValueError
            If there is no such case.
        """
        row = self._conn().execute("SELECT traces, fs_hz FROM clinic_cases WHERE case_id = ?",
                                   (int(case_id),)).fetchone()
        if row is None:
            raise EcgValueError(f"the clinic's cases have no case {case_id}")
        return decode_traces(row["traces"]), float(row["fs_hz"])

    def find_hash(self, digest: str) -> int | None:
        """Local id of the case with this content hash, if any."""
        row = self._conn().execute("SELECT case_id FROM clinic_cases WHERE content_hash = ?",
                                   (digest,)).fetchone()
        return None if row is None else int(row[0])

    # -- writing --------------------------------------------------------------------------
    def add(self, signal_mv: np.ndarray, fs_hz: float, *, diagnosis: str,
            statements: Sequence[Statement | dict] = (), embedding: np.ndarray | None = None,
            encoder_version: str | None = None, note: str = "", age: float | None = None,
            sex: str | None = None, patient_id: str | None = None,
            patient_name: str | None = None, source_format: str = "") -> ClinicCase:
        """Add a confirmed case (one transaction).

        Parameters
        ----------
        signal_mv : (12, n) mV in ``LEADS_12`` order, NaN rows for missing leads.
        fs_hz : sampling rate in Hz.
        diagnosis : the confirmed diagnosis in words (required, not empty).
        statements : structured statements, if any.
        embedding : the encoder's embedding of the ECG (normalised here), or None to embed
            later.
        encoder_version : version of the encoder that produced ``embedding``.
        note, age, sex, patient_id, patient_name, source_format : case facts.

        Returns
        -------
        ClinicCase
            The stored case.

        Raises
        ------
        EcgValueError
            If the diagnosis is empty, the traces or embedding are invalid, or the same ECG
            (by content hash) is already stored (the message names its case id).
        """
        if not diagnosis or not diagnosis.strip():
            raise EcgValueError("a clinic case needs its confirmed diagnosis")
        stmts = _check_statements(statements)
        vec = _check_embedding(embedding)
        if vec is not None and not encoder_version:
            raise EcgValueError("an embedding needs the version of the encoder that made it")
        sig = np.asarray(signal_mv, dtype=np.float64)
        blob = encode_traces(sig, CLINIC_QUANTUM_UV)
        digest = content_hash(sig, fs_hz)
        now = _now()
        uid = uuid.uuid4().hex
        with self._write("add") as conn:
            existing = conn.execute("SELECT case_id FROM clinic_cases WHERE content_hash = ?",
                                    (digest,)).fetchone()
            if existing is not None:
                raise EcgValueError(f"this ECG is already one of the clinic's cases (case "
                                    f"{existing[0]}); edit that case instead")
            cur = conn.execute(
                "INSERT INTO clinic_cases (uid, content_hash, created_utc, modified_utc, "
                "diagnosis, statements, note, age, sex, patient_id, patient_name, "
                "source_format, fs_hz, n_samples, traces, embedding, embedding_dim, "
                "encoder_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (uid, digest, now, now, diagnosis.strip(),
                 json.dumps([s.to_dict() for s in stmts], ensure_ascii=False), note, age, sex,
                 patient_id, patient_name, source_format, float(fs_hz), int(sig.shape[1]), blob,
                 None if vec is None else vec.tobytes(), None if vec is None else vec.size,
                 encoder_version if vec is not None else None))
            case_id = int(cur.lastrowid)
        log.info("clinic case %d added", case_id)
        return self.get(case_id)

    _UNSET: Any = object()

    def edit(self, case_id: int, *, diagnosis: str | None = None,
             statements: Sequence[Statement | dict] | None = None, note: str | None = None,
             age: Any = _UNSET, sex: Any = _UNSET) -> ClinicCase:
        """Change a case's facts (one transaction); arguments left out stay as they are.

        Raises
        ------
        EcgValueError
            If there is no such case or the new diagnosis is empty.
        """
        changes: dict[str, Any] = {}
        if diagnosis is not None:
            if not diagnosis.strip():
                raise EcgValueError("a clinic case needs its confirmed diagnosis")
            changes["diagnosis"] = diagnosis.strip()
        if statements is not None:
            changes["statements"] = json.dumps(
                [s.to_dict() for s in _check_statements(statements)], ensure_ascii=False)
        if note is not None:
            changes["note"] = note
        if age is not self._UNSET:
            changes["age"] = age
        if sex is not self._UNSET:
            changes["sex"] = sex
        changes["modified_utc"] = _now()
        with self._write("edit") as conn:
            cur = conn.execute(
                f"UPDATE clinic_cases SET {', '.join(f'{k} = ?' for k in changes)} "
                f"WHERE case_id = ?", (*changes.values(), int(case_id)))
            if cur.rowcount != 1:
                raise EcgValueError(f"the clinic's cases have no case {case_id}")
        return self.get(case_id)

    def set_embedding(self, case_id: int, embedding: np.ndarray, encoder_version: str) -> None:
        """Store a (new) embedding, e.g. after the app's encoder changed (one transaction)."""
        vec = _check_embedding(embedding)
        with self._write("embed") as conn:
            cur = conn.execute(
                "UPDATE clinic_cases SET embedding = ?, embedding_dim = ?, encoder_version = ? "
                "WHERE case_id = ?", (vec.tobytes(), vec.size, encoder_version, int(case_id)))
            if cur.rowcount != 1:
                raise EcgValueError(f"the clinic's cases have no case {case_id}")

    def remove(self, case_id: int) -> None:
        """Delete a case (one transaction).

        Raises
        ------
        EcgValueError
            If there is no such case.
        """
        with self._write("remove") as conn:
            cur = conn.execute("DELETE FROM clinic_cases WHERE case_id = ?", (int(case_id),))
            if cur.rowcount != 1:
                raise EcgValueError(f"the clinic's cases have no case {case_id}")
        log.info("clinic case %d removed", case_id)

    # -- search ---------------------------------------------------------------------------
    def stale_cases(self, encoder_version: str) -> list[int]:
        """Ids of cases without an embedding from ``encoder_version`` (to re-embed)."""
        rows = self._conn().execute(
            "SELECT case_id FROM clinic_cases WHERE encoder_version IS NOT ? ORDER BY case_id",
            (encoder_version,))
        return [int(r[0]) for r in rows]

    def _matrix(self, encoder_version: str) -> tuple[np.ndarray, np.ndarray]:
        rev = self.revision()
        with self._cache_lock:
            if self._cache is not None and self._cache[:2] == (rev, encoder_version):
                return self._cache[2], self._cache[3]
        rows = self._conn().execute(
            "SELECT case_id, embedding FROM clinic_cases WHERE encoder_version = ? AND "
            "embedding IS NOT NULL ORDER BY case_id", (encoder_version,)).fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        matrix = (np.stack([np.frombuffer(r[1], dtype=np.float32) for r in rows])
                  if rows else np.zeros((0, 0), np.float32))
        with self._cache_lock:
            self._cache = (rev, encoder_version, matrix, ids)
        return matrix, ids

    def search(self, vector: np.ndarray, k: int,
               encoder_version: str) -> list[tuple[int, float]]:
        """Exact top-k by cosine among cases embedded with ``encoder_version``.

        Parameters
        ----------
        vector : (d,) query embedding.
        k : number of cases wanted.
        encoder_version : only embeddings from this encoder are comparable.

        Returns
        -------
        list of (case_id, similarity)
            Most similar first; fewer than k when the clinic has fewer cases.
        """
        matrix, ids = self._matrix(encoder_version)
        if ids.size == 0 or k <= 0:
            return []
        q = np.asarray(vector, dtype=np.float32).ravel()
        if q.size != matrix.shape[1]:
            log.warning("clinic embeddings have %d dimensions, the query %d; skipped",
                        matrix.shape[1], q.size)
            return []
        q = q / max(float(np.linalg.norm(q)), 1e-12)
        sims = matrix @ q
        order = np.argsort(-sims, kind="stable")[:k]
        return [(int(ids[i]), float(sims[i])) for i in order]

    # -- export / import ------------------------------------------------------------------
    def export(self, path: str | Path, *, include_identifiers: bool = False) -> int:
        """Write every case to one ``.zip`` file (written atomically).

        Parameters
        ----------
        path : the file to write.
        include_identifiers : also write patient names and ids (off by default: files
            shared between clinics should not identify patients).

        Returns
        -------
        int
            The number of cases exported.
        """
        path = Path(path)
        rows = self._conn().execute(
            f"SELECT {', '.join(_FACT_COLUMNS)}, traces, embedding FROM clinic_cases "
            f"ORDER BY case_id").fetchall()
        cases, arrays = [], {}
        for r in rows:
            case = {k: r[k] for k in _FACT_COLUMNS if k != "case_id"}
            case["statements"] = json.loads(r["statements"])
            if not include_identifiers:
                case["patient_id"] = case["patient_name"] = None
            cases.append(case)
            arrays[f"traces_{r['uid']}"] = np.frombuffer(r["traces"], dtype=np.uint8)
            if r["embedding"] is not None:
                arrays[f"embedding_{r['uid']}"] = np.frombuffer(r["embedding"], np.float32)
        doc = {"format": EXPORT_FORMAT, "version": EXPORT_VERSION, "exported_utc": _now(),
               "includes_identifiers": include_identifiers, "cases": cases}
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".export-", suffix=".zip")
        try:
            with os.fdopen(fd, "wb") as fh:
                with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
                    zf.writestr("cases.json", json.dumps(doc, ensure_ascii=False, indent=1))
                    zf.writestr("data.npz", buf.getvalue())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        log.info("exported %d clinic cases to %s", len(cases), path)
        return len(cases)

    def import_file(self, path: str | Path) -> ImportReport:
        """Add the cases of an exported file; all or nothing (one transaction).

        Parameters
        ----------
        path : a ``.zip`` written by :meth:`export`.

        Returns
        -------
        ImportReport
            Cases added and duplicates skipped (same content hash as a stored case or an
            earlier case of the same file).

        Raises
        ------
        EcgValueError
            If the file is not a clinic export, is too large, or any case in it is damaged
            (nothing is added then).
        """
        path = Path(path)
        try:
            with zipfile.ZipFile(path) as zf:
                infos = {i.filename: i for i in zf.infolist()}
                if "cases.json" not in infos or "data.npz" not in infos:
                    raise EcgValueError(f"{path.name}: expected cases.json and data.npz in the "
                                        f"zip, found {sorted(infos)[:5]}; choose a file "
                                        f"exported by this app")
                if sum(i.file_size for i in infos.values()) > _MAX_IMPORT_BYTES:
                    raise EcgValueError(f"{path.name}: over 2 GB unpacked; not a clinic export")
                doc = json.loads(zf.read("cases.json").decode("utf-8"))
                npz = np.load(io.BytesIO(zf.read("data.npz")), allow_pickle=False)
                arrays = {k: npz[k] for k in npz.files}
        except (zipfile.BadZipFile, OSError, ValueError, KeyError) as exc:
            if isinstance(exc, EcgValueError):
                raise
            raise EcgValueError(f"{path.name}: not a readable clinic export ({exc})") from exc
        if not isinstance(doc, dict) or doc.get("format") != EXPORT_FORMAT:
            raise EcgValueError(f"{path.name}: not a clinic case export")
        if doc.get("version") != EXPORT_VERSION:
            raise EcgValueError(f"{path.name}: export version {doc.get('version')}; this app "
                                f"reads {EXPORT_VERSION}")
        cases = doc.get("cases")
        if not isinstance(cases, list) or len(cases) > _MAX_IMPORT_CASES:
            raise EcgValueError(f"{path.name}: the case list is missing or too long")
        prepared = [self._prepare_import(c, arrays, path.name) for c in cases]
        added = skipped = 0
        with self._write("import") as conn:
            for row in prepared:
                if conn.execute("SELECT 1 FROM clinic_cases WHERE content_hash = ?",
                                (row["content_hash"],)).fetchone() is not None:
                    skipped += 1
                    continue
                if conn.execute("SELECT 1 FROM clinic_cases WHERE uid = ?",
                                (row["uid"],)).fetchone() is not None:
                    row["uid"] = uuid.uuid4().hex
                conn.execute(f"INSERT INTO clinic_cases ({', '.join(row)}) VALUES "
                             f"({','.join('?' * len(row))})", list(row.values()))
                added += 1
        log.info("imported %d clinic cases from %s (%d duplicates skipped)", added, path,
                 skipped)
        return ImportReport(added, skipped, len(cases))

    @staticmethod
    def _prepare_import(case: Any, arrays: dict[str, np.ndarray], name: str) -> dict[str, Any]:
        try:
            uid = str(case["uid"])
            blob = arrays[f"traces_{uid}"].astype(np.uint8).tobytes()
            traces = decode_traces(blob)
            fs_hz = float(case["fs_hz"])
            digest = content_hash(traces, fs_hz)
            if digest != case["content_hash"]:
                raise EcgValueError(f"case {uid}: traces do not match their content hash")
            stmts = _check_statements(case.get("statements") or [])
            diagnosis = str(case["diagnosis"]).strip()
            if not diagnosis:
                raise EcgValueError(f"case {uid}: no diagnosis")
            emb = arrays.get(f"embedding_{uid}")
            vec = _check_embedding(emb) if emb is not None else None
            version = case.get("encoder_version") if vec is not None else None
        except EcgValueError as exc:
            raise EcgValueError(f"{name}: {exc}; nothing was imported") from exc
        except (KeyError, TypeError, ValueError) as exc:
            raise EcgValueError(f"{name}: a case is incomplete ({exc}); nothing was "
                                f"imported") from exc
        return {
            "uid": uid, "content_hash": digest,
            "created_utc": str(case.get("created_utc") or _now()),
            "modified_utc": str(case.get("modified_utc") or _now()),
            "diagnosis": diagnosis,
            "statements": json.dumps([s.to_dict() for s in stmts], ensure_ascii=False),
            "note": str(case.get("note") or ""), "age": case.get("age"), "sex": case.get("sex"),
            "patient_id": case.get("patient_id"), "patient_name": case.get("patient_name"),
            "source_format": str(case.get("source_format") or ""), "fs_hz": fs_hz,
            "n_samples": int(traces.shape[1]), "traces": blob,
            "embedding": None if vec is None else vec.tobytes(),
            "embedding_dim": None if vec is None else vec.size,
            "encoder_version": version,
        }
