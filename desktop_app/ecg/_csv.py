"""CSV reader: a text table with one column per lead and a header row naming the leads.

What real exports look like, and what this reader accepts:

- delimiter comma, semicolon (then a decimal comma is allowed, as European spreadsheets write
  it) or tab; UTF-8 (with or without BOM), UTF-16 with BOM (spreadsheet "Unicode text"),
  or Latin-1;
- comment lines starting with ``#`` before the header row, some of which state facts:
  ``# fs_hz=500``, ``# sampling_rate: 500 Hz``, ``# fs: 500``, ``# units: uV``;
- a header row with lead names in any spelling :func:`normalise_lead_name` knows, optionally
  with a unit: ``I (uV)``, ``V1 [mV]``;
- an optional time column (``time``, ``t``, ``seconds``, ``ms``, ``time (ms)``, ...) from which
  the sampling rate is derived; other columns (sample index, markers) are ignored.

A table cannot say its sampling rate by itself: without a rate line, a time column or the
``fs_hz`` argument the reader refuses and says how to give it.
"""

from __future__ import annotations

import csv
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._files import check_file_size
from desktop_app.ecg._leadnames import normalise_lead_name
from desktop_app.ecg._record import LEADS_12, MAX_PLAUSIBLE_MV, EcgRecord
from desktop_app.errors import EcgReadError

logger = logging.getLogger(__name__)

FORMAT = "csv"
# 12 leads x 10 min at 1 kHz with 6 decimals is ~70 MB of text; parsing keeps every cell as a
# Python string for a moment, so larger files are refused unread.
MAX_CSV_BYTES = 128 * 1024 * 1024
_DELIMITERS = (",", ";", "\t")
_TO_MV = {"mv": 1.0, "uv": 1e-3, "nv": 1e-6, "v": 1e3}
_FS_KEYS = ("fs_hz", "fs", "sampling_rate", "sampling_rate_hz", "sample_rate", "samplerate",
            "sampling_frequency", "sample_rate_hz", "frequency")
_UNIT_KEYS = ("units", "unit", "amplitude_unit", "units_lead")
_TIME_NAMES = {"time": None, "t": None, "seconds": "s", "sec": "s", "time_s": "s",
               "ms": "ms", "time_ms": "ms", "milliseconds": "ms"}
_UNIT_IN_NAME = re.compile(r"^(.*?)\s*[\(\[]\s*([^\)\]]*?)\s*[\)\]]\s*$")
_META_LINE = re.compile(r"^\s*([A-Za-z][\w ]*?)\s*[:=]\s*(.+?)\s*$")
_FS_VALUE = re.compile(r"^([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*(k?hz)?$", re.I)
# A parenthesis after a column name that looks like a unit ("mmHg", "a.u.") rather than a
# description ("Einthoven"): short, no spaces.
_UNIT_LIKE = re.compile(r"^[\w.%/^µμ-]{1,5}$")
# The header row may follow a few lines of device preamble without '#'.
_MAX_PREAMBLE_LINES = 32
_HINT_FS = ("give the sampling rate with the --fs option (for example --fs 500), or add a line "
            "`# fs_hz=500` above the header row")


def sniff(head: bytes, path: Path) -> bool:
    """True when the head is delimited text whose first table row names at least one lead.

    Parameters
    ----------
    head : the first bytes of the file (4096 from the dispatcher).
    path : the file (unused; the decision is by content only).

    Returns
    -------
    bool
        Never raises. Binary files, XML and WFDB headers are never claimed.
    """
    try:
        text = _decode_head(head)
        if text is None or text.lstrip().startswith("<"):
            return False
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        return _find_header(lines[:_MAX_PREAMBLE_LINES]) is not None
        return False
    except Exception:  # a sniffer must never raise; a failed sniff is "not mine"
        logger.debug("csv sniff failed on %s", path, exc_info=True)
        return False


def read_csv(path: str | Path, *, fs_hz: float | None = None, **kwargs: Any) -> EcgRecord:
    """Read a CSV table with one column per lead.

    Parameters
    ----------
    path : the ``.csv`` / ``.tsv`` / ``.txt`` file.
    fs_hz : sampling rate in Hz. When given it wins over a rate line or a time column in the
        file (the user said so explicitly); otherwise one of those must be present.
    **kwargs : ignored (the dispatcher passes the same options to every reader).

    Returns
    -------
    EcgRecord
        Leads in mV. Amplitudes are read as mV unless a column names its unit (``I (uV)``) or
        a ``# units: uV`` line says so. ``meta`` holds ``fs_source`` (``"argument"``,
        ``"comment"`` or ``"time column"``), ``delimiter`` and, when present, the comment
        lines (``header_comments``) and ignored columns (``ignored_channels``).

    Raises
    ------
    EcgReadError
        The file is empty, binary or too large; it has no header row naming a lead; a row has
        a different number of cells than the header; a cell is not a finite number (the
        message names its line and column); the sampling rate is unknown or contradictory;
        the amplitudes are implausible for the stated units.
    """
    path = Path(path)
    if kwargs:
        logger.debug("read_csv ignores options %s", sorted(kwargs))
    text = _read_text(path)
    comments, rows = _split_comments(text)
    if not rows:
        raise EcgReadError(path, FORMAT, "a header row naming the leads, then rows of samples",
                           "no table (only comments or blank lines)",
                           "export the ECG as a table with one column per lead")
    found = _find_header([ln for _, ln in rows[:_MAX_PREAMBLE_LINES]])
    if found is None:
        first = rows[0][1].strip()
        raise EcgReadError(
            path, FORMAT,
            f"a header row naming leads ({', '.join(LEADS_12)}), separated by comma, "
            "semicolon or tab",
            f"first row {first[:60]!r}",
            "put the lead names in the first row of the table",
        )
    k, delim, header = found
    # Lines above the header row without a '#' (device exports write "Sampling rate: 500")
    # are read like comments.
    comments = comments + [(no, ln.strip()) for no, ln in rows[:k]]
    facts = _comment_facts(comments)
    columns = _classify_columns(header, path, facts.get("units"))
    data_rows = rows[k + 1:]
    if not data_rows:
        raise EcgReadError(path, FORMAT, "rows of samples under the header row", "none",
                           "the file holds no signal; export it again")
    cells = _parse_rows(data_rows, header, delim, path)
    decimal_comma = delim == ";" and _uses_decimal_comma(cells, columns)

    leads: dict[str, np.ndarray] = {}
    time_s = None
    line_nos = [n for n, _ in data_rows]
    for j, col in enumerate(columns):
        if col["kind"] == "ignored":
            continue
        values = _to_float(cells[j], line_nos, header[j], path, decimal_comma)
        if col["kind"] == "time":
            time_s = values * col["factor"] if col["factor"] else values
            if col["factor"] is None:
                time_s = _guess_time_unit(time_s, header[j], facts)
        else:
            if col["key"] in leads:
                raise EcgReadError(path, FORMAT, "each lead once",
                                   f"lead {col['lead']} twice (column {header[j]!r})",
                                   "remove the duplicate column")
            leads[col["key"]] = values * col["factor"]

    fs, fs_source = _resolve_fs(fs_hz, facts, time_s, path)
    peak = max(float(np.max(np.abs(v))) for v in leads.values())
    if peak > MAX_PLAUSIBLE_MV:
        raise EcgReadError(
            path, FORMAT, f"amplitudes in the stated units within ±{MAX_PLAUSIBLE_MV:.0f} mV",
            f"a peak of {peak:.4g} mV",
            "if the values are microvolts, write the unit in the column names (`I (uV)`) or "
            "add a line `# units: uV` above the header row",
        )
    meta: dict[str, Any] = {"fs_source": fs_source, "delimiter": delim}
    if comments:
        meta["header_comments"] = [c for _, c in comments]
    ignored = [header[j] for j, c in enumerate(columns) if c["kind"] == "ignored" and header[j]]
    if ignored:
        meta["ignored_channels"] = ignored
    return assemble_record(leads, fs, path=path, format=FORMAT, meta=meta, min_leads=1)


def _decode_head(head: bytes) -> str | None:
    """Text of a head, or None when it is binary."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        # A head cut mid-character is fine for sniffing.
        return head.decode("utf-16", errors="ignore")
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a multi-byte character cut by the 4096-byte head
            text = head[:exc.start].decode("utf-8-sig")
        else:
            text = head.decode("latin-1")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\r\n\f")
    controls += sum(1 for ch in text if 0x7F <= ord(ch) < 0xA0)
    if controls > max(2, len(text) // 100):
        return None
    return text


def _read_text(path: Path) -> str:
    check_file_size(path, format=FORMAT, what="a table of samples", max_bytes=MAX_CSV_BYTES,
                    hint="export the ECG again",
                    too_large_hint="open a single resting ECG, not a long recording")
    raw = path.read_bytes()
    if _decode_head(raw[:65536]) is None or (
        not raw.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" in raw
    ):
        raise EcgReadError(path, FORMAT, "text with one column per lead", "binary content",
                           "open the file with the reader of its real format")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise EcgReadError(path, FORMAT, "UTF-16 text", f"invalid UTF-16 ({exc})",
                               "export the table again as UTF-8") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")  # Latin-1 maps every byte; binary was refused above


def _split_comments(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """Comment lines (before the table) and table lines, each with its 1-based line number."""
    comments: list[tuple[int, str]] = []
    rows: list[tuple[int, str]] = []
    for no, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        if stripped.startswith("#"):
            if not rows:
                comments.append((no, stripped.lstrip("#").strip()))
            continue
        rows.append((no, line))
    return comments, rows


def _find_header(lines: list[str]) -> tuple[int, str, list[str]] | None:
    """Index, delimiter and cells of the first line whose cells name at least one lead."""
    for k, line in enumerate(lines):
        delim = max(_DELIMITERS, key=line.count)
        if line.count(delim) == 0:
            continue
        cells = next(csv.reader([line], delimiter=delim))
        if any(_column_lead(c)[0] for c in cells):
            return k, delim, cells
    return None


def _column_lead(raw: str) -> tuple[str | None, str | None, str]:
    """Standard lead name, unit (or None) and dictionary key of a header cell."""
    base, unit = _split_unit(raw)
    if unit is not None and _unit_factor(unit) is None and not _UNIT_LIKE.match(unit):
        # "Lead I (Einthoven)": the parenthesis is part of the name, not a unit.
        base, unit = raw.strip(), None
    lead = normalise_lead_name(base) if base else None
    return lead, unit, base


def _comment_facts(comments: list[tuple[int, str]]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for no, line in comments:
        m = _META_LINE.match(line)
        if not m:
            continue
        key = re.sub(r"[\s-]+", "_", m.group(1).strip().lower())
        value = m.group(2).strip()
        if key in _FS_KEYS:
            fm = _FS_VALUE.match(value)
            if fm is None:
                facts["fs_error"] = (no, line)
                continue
            fs = float(fm.group(1)) * (1000.0 if (fm.group(2) or "").lower() == "khz" else 1.0)
            facts["fs_hz"] = (fs, no)
        elif key in _UNIT_KEYS:
            facts["units"] = (value, no)
        elif key in ("time_unit", "time_units"):
            facts["time_unit"] = value.lower()
    return facts


def _split_unit(name: str) -> tuple[str, str | None]:
    m = _UNIT_IN_NAME.match(name.strip())
    if m:
        return m.group(1).strip(), m.group(2).strip()
    return name.strip(), None


def _unit_factor(unit: str) -> float | None:
    return _TO_MV.get(unit.strip().replace("µ", "u").replace("μ", "u").lower())


def _classify_columns(header: list[str], path: Path,
                      file_units: tuple[str, int] | None) -> list[dict[str, Any]]:
    default = 1.0
    if file_units is not None:
        factor = _unit_factor(file_units[0])
        if factor is None:
            raise EcgReadError(path, FORMAT, "a units line naming mV, uV or V",
                               f"units {file_units[0]!r} on line {file_units[1]}",
                               "write `# units: mV` or `# units: uV`")
        default = factor
    columns = []
    for raw in header:
        base, unit = _split_unit(raw)
        key = re.sub(r"\s+", "_", base.lower())
        if key in _TIME_NAMES:
            time_unit = unit.lower() if unit else _TIME_NAMES[key]
            factor = {"s": 1.0, "sec": 1.0, "seconds": 1.0, "ms": 1e-3, None: None}.get(
                time_unit, "bad")
            if factor == "bad":
                raise EcgReadError(path, FORMAT, "a time column in s or ms",
                                   f"column {raw!r}", "give the time in s or ms")
            columns.append({"kind": "time", "factor": factor, "lead": None})
            continue
        lead, unit, key = _column_lead(raw)
        if lead is None:
            columns.append({"kind": "ignored", "factor": None, "lead": None})
            continue
        factor = default
        if unit:
            factor = _unit_factor(unit)
            if factor is None:
                raise EcgReadError(path, FORMAT, f"lead {lead} in mV, uV or V",
                                   f"unit {unit!r} in column {raw!r}",
                                   "write the unit as (mV) or (uV)")
        columns.append({"kind": "lead", "factor": factor, "lead": lead, "key": key})
    return columns


def _parse_rows(rows: list[tuple[int, str]], header: list[str], delim: str,
                path: Path) -> list[list[str]]:
    n_cols = len(header)
    by_column: list[list[str]] = [[] for _ in range(n_cols)]
    reader = csv.reader((ln for _, ln in rows), delimiter=delim)
    for (no, _), cells in zip(rows, reader):
        if len(cells) != n_cols:
            raise EcgReadError(
                path, FORMAT, f"{n_cols} cells per row, as in the header row",
                f"{len(cells)} cells on line {no}",
                "the table is damaged or cut; export it again",
            )
        for j, cell in enumerate(cells):
            by_column[j].append(cell)
    return by_column


def _uses_decimal_comma(cells: list[list[str]], columns: list[dict]) -> bool:
    sample = [c for j, col in enumerate(columns) if col["kind"] != "ignored"
              for c in cells[j][:50]]
    return any("," in c for c in sample) and not any("." in c for c in sample)


def _to_float(cells: list[str], line_nos: list[int], column: str, path: Path,
              decimal_comma: bool) -> np.ndarray:
    if decimal_comma:
        cells = [c.replace(",", ".") for c in cells]
    try:
        values = np.array(cells, dtype=np.float64)
    except ValueError:
        values = None
    bad = None
    if values is None:
        for k, cell in enumerate(cells):
            try:
                float(cell)
            except ValueError:
                bad = k
                break
        if bad is None:  # numpy and Python disagree on some spelling; be strict
            bad = 0
    else:
        nonfinite = np.flatnonzero(~np.isfinite(values))
        if nonfinite.size:
            bad = int(nonfinite[0])
    if bad is not None:
        raise EcgReadError(
            path, FORMAT, "a finite number in every cell",
            f"{cells[bad].strip()[:40]!r} on line {line_nos[bad]}, column {column.strip()!r}",
            "fix or remove that cell; empty cells are not allowed",
        )
    return values


def _guess_time_unit(time: np.ndarray, name: str, facts: dict[str, Any]) -> np.ndarray:
    if facts.get("time_unit") in ("ms", "milliseconds"):
        return time * 1e-3
    if facts.get("time_unit") in ("s", "seconds"):
        return time
    # No unit given. ECGs are sampled at 50 Hz or faster, i.e. steps of at most 0.02 s; a
    # step of 0.05 or more is only plausible in milliseconds (20 kHz and slower).
    steps = np.diff(time)
    if steps.size and float(np.median(steps)) >= 0.05:
        logger.info("time column %r read as milliseconds (median step %.3g)", name,
                    float(np.median(steps)))
        return time * 1e-3
    return time


def _fs_from_time(time_s: np.ndarray, path: Path) -> float:
    if time_s.size < 2:
        raise EcgReadError(path, FORMAT, "at least 2 samples", f"{time_s.size}",
                           "the file holds no signal")
    span = float(time_s[-1] - time_s[0])
    if not span > 0:
        raise EcgReadError(path, FORMAT, "an increasing time column", f"a span of {span} s",
                           _HINT_FS)
    fs = (time_s.size - 1) / span
    # Times are often printed with few decimals; allow rounding up to half a sample period.
    ideal = time_s[0] + np.arange(time_s.size) / fs
    worst = float(np.max(np.abs(time_s - ideal)))
    if worst > 0.5 / fs:
        raise EcgReadError(
            path, FORMAT, "a regularly sampled time column",
            f"times off a regular grid by up to {worst * 1e3:.3g} ms (about {fs:.4g} Hz)",
            "resample the signal to a fixed rate before exporting, or " + _HINT_FS,
        )
    return fs


def _resolve_fs(fs_hz: float | None, facts: dict[str, Any], time_s: np.ndarray | None,
                path: Path) -> tuple[float, str]:
    if fs_hz is not None:
        fs = float(fs_hz)
        source = "argument"
    elif "fs_hz" in facts:
        fs, line = facts["fs_hz"]
        source = "comment"
        if time_s is not None:
            fs_time = _fs_from_time(time_s, path)
            if abs(fs_time - fs) > 0.005 * fs:
                raise EcgReadError(
                    path, FORMAT, "one sampling rate",
                    f"{fs:g} Hz on line {line} but {fs_time:.4g} Hz from the time column",
                    "correct the rate line, or give the rate with the --fs option",
                )
    elif time_s is not None:
        fs = _fs_from_time(time_s, path)
        # Rates derived from printed times carry rounding; snap to an integer rate when the
        # difference is below what the time resolution can tell apart.
        if abs(fs - round(fs)) < 1e-3 * fs:
            fs = float(round(fs))
        source = "time column"
    elif "fs_error" in facts:
        no, line = facts["fs_error"]
        raise EcgReadError(path, FORMAT, "a sampling rate in Hz such as `# fs_hz=500`",
                           f"{line!r} on line {no}", _HINT_FS)
    else:
        raise EcgReadError(path, FORMAT, "the sampling rate",
                           "no rate line and no time column", _HINT_FS)
    if not (math.isfinite(fs) and 1.0 <= fs <= 100_000.0):
        raise EcgReadError(path, FORMAT, "a sampling rate of 1-100000 Hz", f"{fs:g} Hz", _HINT_FS)
    return fs, source
