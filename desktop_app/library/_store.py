"""The bundled case store: one read-only SQLite file with every reference case and its traces.

Schema (``STORE_SCHEMA_VERSION`` 1)::

    meta(key TEXT PRIMARY KEY, value TEXT)       -- schema, encoder, index and trace parameters
    cases(ecg_id INTEGER PRIMARY KEY, strat_fold, age, sex,
          statements TEXT,        -- JSON list of {code, description, likelihood, level}
          statements_en, report, report_language, report_en, text_source,
          heart_axis, infarction_stadium1, infarction_stadium2)
    traces(ecg_id INTEGER PRIMARY KEY, fs_hz REAL, data BLOB)   -- see _traces.py

Likelihoods are PTB-XL's percentages (15, 35, 50, 80, 100); PTB-XL writes 0 where none was
recorded, which the store keeps as NULL so that no one reads it as "0 % likely".

The file is opened read-only and ``immutable`` (no locks, no journal: it never changes after
``publish``), with one connection per thread because sqlite3 connections must not be shared
across threads.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.errors import AssetError, EcgValueError
from desktop_app.library._traces import decode_traces

log = logging.getLogger(__name__)

STORE_SCHEMA_VERSION = 1

#: PTB-XL ``heart_axis`` codes (Wagner et al. 2020, Table 3) in words.
HEART_AXIS_WORDS: Mapping[str, str] = {
    "MID": "normal (mid) axis",
    "LAD": "left axis deviation",
    "ALAD": "abnormal left axis deviation",
    "RAD": "right axis deviation",
    "ARAD": "abnormal right axis deviation",
    "AXL": "leftward axis",
    "AXR": "rightward axis",
    "SAD": "superior axis deviation",
}

_SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE cases(
    ecg_id INTEGER PRIMARY KEY,
    strat_fold INTEGER,
    age REAL,
    sex TEXT,
    statements TEXT NOT NULL,
    statements_en TEXT,
    report TEXT,
    report_language TEXT,
    report_en TEXT,
    text_source TEXT NOT NULL,
    heart_axis TEXT,
    infarction_stadium1 TEXT,
    infarction_stadium2 TEXT
);
CREATE TABLE traces(ecg_id INTEGER PRIMARY KEY REFERENCES cases(ecg_id),
                    fs_hz REAL NOT NULL, data BLOB NOT NULL);
"""

_CASE_COLUMNS = ("ecg_id", "strat_fold", "age", "sex", "statements", "statements_en", "report",
                 "report_language", "report_en", "text_source", "heart_axis",
                 "infarction_stadium1", "infarction_stadium2")


@dataclass(frozen=True)
class Statement:
    """One statement about an ECG.

    Attributes
    ----------
    code : SCP-ECG code (``"NORM"``, ``"IMI"``), a PTB-XL diagnostic subclass label, or ``""``
        for a clinic's free-text statement.
    description : English description.
    likelihood : the cardiologist's likelihood in percent, or None where none was recorded.
    level : ``"statement"`` (an SCP statement) or ``"subclass"`` (only the diagnostic subclass
        is known: PTB-XL records without ``scp_codes``), or ``"clinic"``.
    """

    code: str
    description: str
    likelihood: float | None = None
    level: str = "statement"

    @property
    def key(self) -> str:
        """What makes two statements "the same" in a consensus: the code, else the words."""
        return self.code or self.description.strip().lower()

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "description": self.description,
                "likelihood": self.likelihood, "level": self.level}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Statement":
        lik = d.get("likelihood")
        return cls(str(d.get("code") or ""), str(d.get("description") or ""),
                   None if lik is None else float(lik), str(d.get("level") or "statement"))


@dataclass(frozen=True)
class LibraryCase:
    """One reference case of the bundled library (without its traces).

    Attributes
    ----------
    ecg_id : PTB-XL ``ecg_id``.
    age : age in years, or None (PTB-XL publishes it for about a third of the records here).
    sex : ``"male"``, ``"female"`` or None.
    statements : the SCP statements with likelihoods and English descriptions.
    statements_en : the statements as one English sentence list.
    report : the cardiologist's original free text (mostly German), or None.
    report_language : ``"de"``, ``"en"``, ``"sv"`` or None.
    report_en : English text of the report, or None.
    text_source : where the case text came from (``model_export._text.TEXT_SOURCES``).
    heart_axis : PTB-XL heart axis code (``HEART_AXIS_WORDS``), where given.
    infarction_stadium : PTB-XL infarction stadia, where given.
    """

    ecg_id: int
    age: float | None
    sex: str | None
    statements: tuple[Statement, ...]
    statements_en: str
    report: str | None
    report_language: str | None
    report_en: str | None
    text_source: str
    heart_axis: str | None = None
    infarction_stadium: tuple[str, ...] = ()


def _row_to_case(row: sqlite3.Row) -> LibraryCase:
    stadia = tuple(s for s in (row["infarction_stadium1"], row["infarction_stadium2"]) if s)
    return LibraryCase(
        ecg_id=int(row["ecg_id"]),
        age=row["age"],
        sex=row["sex"],
        statements=tuple(Statement.from_dict(d) for d in json.loads(row["statements"])),
        statements_en=row["statements_en"] or "",
        report=row["report"],
        report_language=row["report_language"],
        report_en=row["report_en"],
        text_source=row["text_source"],
        heart_axis=row["heart_axis"],
        infarction_stadium=stadia,
    )


class CaseStore:
    """Read-only access to ``cases.sqlite``; safe to use from several threads.

    Parameters
    ----------
    path : the store file.

    Raises
    ------
    AssetError
        If the file is missing, is not a case store, or has another schema version.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise AssetError(self.path, "the case library is missing")
        self._local = threading.local()
        try:
            self.meta: dict[str, str] = dict(self._conn().execute("SELECT key, value FROM meta"))
            self._n_cases = int(self._conn().execute("SELECT count(*) FROM cases").fetchone()[0])
        except sqlite3.DatabaseError as exc:
            raise AssetError(self.path, f"not a readable case store ({exc})") from exc
        version = self.meta.get("store_schema_version")
        if version != str(STORE_SCHEMA_VERSION):
            raise AssetError(self.path, f"case store schema {version!r}; this app reads "
                                        f"{STORE_SCHEMA_VERSION}")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            uri = self.path.resolve().as_uri() + "?mode=ro&immutable=1"
            conn = sqlite3.connect(uri, uri=True, check_same_thread=True)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def __len__(self) -> int:
        return self._n_cases

    def ecg_ids(self) -> np.ndarray:
        """Every ``ecg_id`` in the store, ascending (int64)."""
        rows = self._conn().execute("SELECT ecg_id FROM cases ORDER BY ecg_id").fetchall()
        return np.array([r[0] for r in rows], dtype=np.int64)

    def get_cases(self, ecg_ids: Sequence[int]) -> dict[int, LibraryCase]:
        """Cases by id (ids not in the store are left out).

        Parameters
        ----------
        ecg_ids : PTB-XL ``ecg_id`` values.

        Returns
        -------
        dict
            ``ecg_id`` -> :class:`LibraryCase`.
        """
        ids = [int(i) for i in ecg_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._conn().execute(
            f"SELECT {', '.join(_CASE_COLUMNS)} FROM cases WHERE ecg_id IN ({marks})", ids)
        return {int(r["ecg_id"]): _row_to_case(r) for r in rows}

    def statement_prevalence(self, code: str) -> float:
        """Share of the library's cases that carry statement ``code`` (0 if none does).

        The chance level of a search: a random case carries ``code`` this often.
        """
        if not self._n_cases:
            return 0.0
        # Statements are a JSON list of {"code": ...}; json_each keeps the match exact.
        n = self._conn().execute(
            "SELECT count(*) FROM cases WHERE EXISTS (SELECT 1 FROM json_each(cases.statements)"
            " WHERE json_extract(json_each.value, '$.code') = ?)", (code,)).fetchone()[0]
        return int(n) / self._n_cases

    def traces(self, ecg_id: int) -> tuple[np.ndarray, float]:
        """A case's 12 leads.

        Parameters
        ----------
        ecg_id : PTB-XL ``ecg_id``.

        Returns
        -------
        (np.ndarray, float)
            float32 (12, n_samples) in mV, ``LEADS_12`` order (NaN for a missing lead), and the
            sampling rate in Hz.

        Raises
        ------
        EcgValueError
            If the store has no such case or its traces are damaged.
        """
        row = self._conn().execute("SELECT fs_hz, data FROM traces WHERE ecg_id = ?",
                                   (int(ecg_id),)).fetchone()
        if row is None:
            raise EcgValueError(f"the case library has no case {ecg_id}")
        return decode_traces(row["data"]), float(row["fs_hz"])

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def write_store(path: str | Path, cases: Iterable[Mapping[str, Any]],
                meta: Mapping[str, Any]) -> int:
    """Write a new case store (used by ``model_export.build_library``, never by the app).

    Deterministic: the same cases and meta give the same bytes (rows in ``ecg_id`` order, no
    timestamps, VACUUM at the end).

    Parameters
    ----------
    path : the file to create; must not exist.
    cases : dicts with the ``cases`` columns (``statements`` as a list of dicts), plus
        ``fs_hz`` and ``traces`` (the encoded BLOB).
    meta : key/value pairs; values are stored as JSON unless they are strings.

    Returns
    -------
    int
        The number of cases written.

    Raises
    ------
    FileExistsError
        If ``path`` exists.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; the builder writes a new store")
    conn = sqlite3.connect(path)
    try:
        # 64 KiB pages: a case's ~4 kB traces BLOB then fits in its page instead of spilling into
        # a half-empty overflow page. Measured on the 19,601-case library: 103.4 MB with 4 KiB
        # pages, 89.6 MB with 64 KiB; a lookup still reads one page per case from the OS cache.
        conn.executescript("PRAGMA page_size=65536; PRAGMA journal_mode=OFF;" + _SCHEMA)
        n = 0
        with conn:
            for case in sorted(cases, key=lambda c: int(c["ecg_id"])):
                values = [case.get(col) for col in _CASE_COLUMNS]
                values[_CASE_COLUMNS.index("statements")] = json.dumps(
                    case["statements"], ensure_ascii=False, separators=(",", ":"))
                conn.execute(f"INSERT INTO cases VALUES ({','.join('?' * len(values))})",
                             values)
                conn.execute("INSERT INTO traces VALUES (?, ?, ?)",
                             (int(case["ecg_id"]), float(case["fs_hz"]), case["traces"]))
                n += 1
            items = {"store_schema_version": str(STORE_SCHEMA_VERSION), **meta,
                     "n_cases": str(n)}
            conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(
                (k, v if isinstance(v, str) else json.dumps(v, sort_keys=True))
                for k, v in items.items()))
        conn.execute("VACUUM")
    finally:
        conn.close()
    return n
