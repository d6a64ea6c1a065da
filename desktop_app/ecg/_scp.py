"""SCP-ECG reader (EN 1064 / ISO 11073-91064, protocol versions 1.x, 2.x and 3.0).

An SCP-ECG record is a 6-byte preamble (CRC-CCITT of the rest, record length) and numbered
sections, each with a 16-byte header (CRC, section id, length, section and protocol version,
six reserved bytes that v2+ writers fill with ``SCPECG``). Section 0 points to the others. All
integers are little-endian. What is read:

- 0: section pointers; every pointer is checked against the record, every section's CRC is
  verified (a wrong record or section CRC is refused, naming the section);
- 1: patient and acquisition tags: age and sex (and the patient ID and name, into
  :class:`Demographics` only), acquisition date and time, device, filters;
- 2: Huffman tables, or the standard's default table (code 19999); no section 2 means the
  samples are stored as plain 16-bit integers;
- 3: lead definitions (lead codes -> names, sample ranges, reference-beat subtraction flag);
- 4: QRS locations and subtraction zones, for reference-beat-subtracted rhythm data;
- 5: reference (median) beats, added back to the residual rhythm where section 3 says so;
- 6: rhythm data: amplitude multiplier in nV, sample interval in µs, first or second
  differences; it is the signal returned;
- 7: global measurements (rates, PR, QRS, QT, QTc, axes);
- 8 and 11: interpretation statements (textual and universal).

Refused, with an :class:`EcgReadError` that names the variant: bimodal compression (rhythm
decimated outside the QRS), leads with different sample ranges (leads recorded in sequence),
Huffman codes longer than 16 bits, SCP-ECG v3 long-term data without section 6, and any
structural damage (truncation, lengths past the end, bad CRCs, lead counts that do not match
the data). Every length a header declares is checked against the bytes present before anything
is allocated, and every decoding loop consumes at least one bit per step, so malformed input
cannot hang the reader or make it allocate more than a few times the file's size.

The layout follows the standard's text as implemented by the ECG Toolkit (C#, Apache-2.0,
Thoraxcentrum Rotterdam) and ecgdatakit (Python, Apache-2.0); the code is written anew here.
"""

from __future__ import annotations

import binascii
import logging
import struct
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._files import check_file_size
from desktop_app.ecg._record import Demographics, EcgRecord
from desktop_app.errors import EcgReadError

logger = logging.getLogger(__name__)

FORMAT = "scp"
# A 10-s 12-lead SCP file is 10-60 kB; uncompressed 15 leads x 5 min x 1 kHz is about 9 MB.
MAX_SCP_BYTES = 64 * 1024 * 1024
# Ten minutes at 1 kHz: far beyond a resting ECG, and a bound on what one lead may allocate.
MAX_SAMPLES_PER_LEAD = 600_000
_PREAMBLE = 6
_HEADER = 16
_UNDEFINED = 29999  # the standard's "value not defined" for 16-bit measurements
_DEFAULT_TABLE = 19999  # section 2: "use the default Huffman table"
_MAX_PREFIX_BITS = 16  # lookup tables of 2**16 entries; longer codes are refused
_HINT = "export the ECG again from the machine"

# Section 3 lead codes (EN 1064 table of lead identifications). Codes not listed are
# named "lead code N" and, not being one of the 12 standard leads, end up ignored.
_LEAD_CODES: dict[int, str] = {
    1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 9: "V7",
    10: "V2R", 11: "V3R", 12: "V4R", 13: "V5R", 14: "V6R", 15: "V7R", 16: "X", 17: "Y",
    18: "Z", 19: "CC5", 20: "CM5", 21: "LA", 22: "RA", 23: "LL", 24: "fI", 25: "fE", 26: "fC",
    27: "fA", 28: "fM", 29: "fF", 30: "fH", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF",
    65: "-aVR", 66: "V8", 67: "V9", 68: "V8R", 69: "V9R", 70: "D", 71: "A", 72: "J",
    73: "defibrillator", 74: "external pacing", 75: "A1", 76: "A2", 77: "A3", 78: "A4",
}
_LEAD_CODES.update({31 + i: f"{name}-cal" for i, name in enumerate(
    ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6", "V7", "V2R", "V3R", "V4R", "V5R", "V6R",
     "V7R", "X", "Y", "Z", "CC5", "CM5", "LA", "RA", "LL", "fI", "fE", "fC", "fA", "fM", "fF",
     "fH"))})

# Section 1 tag 14, byte 7 (manufacturer code), from the standard's table.
_MANUFACTURERS = {
    1: "Burdick", 2: "Cambridge Heart", 3: "Compumed", 4: "Datamed", 5: "Fukuda",
    6: "Hewlett-Packard", 7: "Marquette", 8: "Mortara", 9: "Nihon Kohden", 10: "Okin",
    11: "Quinton", 12: "Siemens", 13: "Spacelabs", 14: "Telemed", 15: "Hellige",
    16: "ESA-OTE", 17: "Schiller", 18: "Picker-Schwarzer", 19: "et medical devices",
    20: "Zwönitz",
}
# Section 1 tag 14, byte 16 (language support code) -> Python codec.
_CODECS = {
    0x01: "latin-1", 0x03: "iso8859_2", 0x0B: "iso8859_4", 0x13: "iso8859_5",
    0x1B: "iso8859_6", 0x23: "iso8859_7", 0x2B: "iso8859_8", 0x33: "iso8859_11",
    0x3B: "iso8859_15", 0x07: "utf-16-le", 0x0F: "shift_jis", 0x17: "euc_jp",
    0x1F: "euc_jp", 0x27: "gb2312", 0x2F: "cp949",
}
# Tag 4 age units -> years (1 years, 2 months, 3 weeks, 4 days, 5 hours).
_AGE_UNIT_YEARS = {1: 1.0, 2: 1 / 12, 3: 7 / 365.25, 4: 1 / 365.25, 5: 1 / 8766}


@dataclass(frozen=True)
class _Section:
    sid: int
    offset: int  # of the section header in the record, 0-based
    length: int  # including the 16-byte header
    version: int
    protocol: int


@dataclass(frozen=True)
class _HuffmanTable:
    lut: list  # top `prefix_bits` bits of the window -> (prefix, total, mode, value) or None
    prefix_bits: int


@dataclass(frozen=True)
class _Lead:
    code: int
    name: str
    start: int  # first sample number, 1-based, as section 3 states it
    end: int

    @property
    def n_samples(self) -> int:
        return self.end - self.start + 1


def sniff(head: bytes, path: Path) -> bool:
    """True when the bytes start like an SCP-ECG record.

    Parameters
    ----------
    head : the first bytes of the file (4096 from the dispatcher).
    path : the file (unused; the decision is by content only).

    Returns
    -------
    bool
        True when section 0 starts at byte 6 with a plausible length and either carries the
        ``SCPECG`` mark of v2+ writers or its first pointer points to itself (byte 7), as
        v1.x files do. Never raises.
    """
    try:
        if len(head) < _PREAMBLE + _HEADER + 10:
            return False
        record_len = int.from_bytes(head[2:6], "little")
        sid = int.from_bytes(head[8:10], "little")
        sec0_len = int.from_bytes(head[10:14], "little")
        if sid != 0 or not (_HEADER + 10 <= sec0_len <= record_len - _PREAMBLE):
            return False
        if head[16:22] == b"SCPECG":
            return True
        first_id, first_len, first_index = struct.unpack_from("<HII", head, 22)
        return first_id == 0 and first_len == sec0_len and first_index == _PREAMBLE + 1
    except Exception:  # a sniffer must never raise
        return False


def read_scp(path: str | Path, **kwargs: Any) -> EcgRecord:
    """Read an SCP-ECG file (EN 1064 / ISO 11073-91064) as clinics' ECG carts write it.

    Parameters
    ----------
    path : the ``.scp`` file.
    **kwargs : options of other readers; ignored, since the file states its rate and gain.

    Returns
    -------
    EcgRecord
        The rhythm data of section 6 in mV (stored units x amplitude multiplier in nV), with
        the reference beats of section 5 added back where the machine subtracted them, at the
        rate of the stored sample interval (an interval of whole µs that a whole-hertz rate
        rounds to, such as 1667 µs for 600 Hz, gives that rate). Leads other than the 12
        standard ones (V3R, V7, Frank leads) are listed in ``meta["ignored_channels"]``.
        ``meta`` holds ``scp_version``, ``sections``, ``leads_in_file``, ``compression``,
        ``difference_encoding``, ``reference_beat_subtracted``, ``amplitude_nv``,
        ``sample_interval_us`` and, where the file has them, ``acquisition_time`` (ISO 8601),
        ``device``, ``device_detail``, ``filters_hz``, ``machine_measurements`` (name ->
        ``{"value", "unit"}``), ``machine_statements``, ``interpretation_status``,
        ``universal_statements``, ``reference_beats`` (section 5: ``fs_hz`` and lead name ->
        float32 mV) and ``warnings`` (tolerated defects). Patient ID, name, age
        and sex go into ``demographics`` only.

    Raises
    ------
    EcgReadError
        The file is empty, too large, truncated, has a wrong record or section CRC, section
        lengths or pointers past the end, lead counts or sample counts that do not match the
        data, no rhythm data (section 6), or an unsupported variant (bimodal compression,
        sequentially recorded leads, Huffman codes longer than 16 bits).
    """
    path = Path(path)
    if kwargs:
        logger.debug("options %s do not apply to SCP-ECG; ignored", sorted(kwargs))
    data = _read_record(path)
    warnings: list[str] = []
    sections = _section_table(data, path, warnings)
    protocol = sections[0].protocol or max(s.protocol for s in sections.values())
    meta: dict[str, Any] = {
        "scp_version": f"{protocol // 10}.{protocol % 10}" if protocol else "unknown",
        "sections": sorted(sections),
    }

    def body(sid: int) -> bytes:
        sec = sections[sid]
        return data[sec.offset + _HEADER: sec.offset + sec.length]

    if 6 not in sections:
        found = "no section 6 (rhythm data)"
        if 12 in sections and protocol >= 30:
            found += " but SCP-ECG v3 long-term data (section 12), which is not supported"
        raise _error(path, "rhythm data in section 6", found,
                     "the file may hold only median beats or measurements; " + _HINT)
    if 3 not in sections:
        raise _error(path, "lead definitions in section 3", "no section 3", _HINT)
    tables = _huffman_tables(body(2), path) if 2 in sections else None
    leads, subtracted = _lead_definitions(body(3), path)
    demographics, codec = Demographics(), None
    if 1 in sections:
        demographics, patient_meta, codec = _patient_tags(body(1))
        meta.update(patient_meta)

    # Sections 4 and 5 are needed only for residual rhythm data; otherwise a defect in them
    # costs the median beats, not the recording.
    qrs = median = None
    try:
        if 4 in sections:
            qrs = _qrs_locations(body(4), path)
        if 5 in sections and (subtracted or qrs is not None):
            median = _reference_beats(body(5), leads, tables, qrs, path)
    except EcgReadError as exc:
        if subtracted:
            raise
        warnings.append(f"reference beats (sections 4/5) not read: {exc.found}")
    if median is not None:
        meta["reference_beats"] = {
            "fs_hz": _rate_hz(median["interval_us"]),
            "mv": {lead.name: (beat * (median["avm_nv"] * 1e-6)).astype(np.float32)
                   for lead, beat in zip(leads, median["beats"])},
        }
    fs_hz, leads_nv, rhythm_meta = _rhythm(body(6), leads, tables, protocol, path)
    meta.update(rhythm_meta)
    meta["reference_beat_subtracted"] = subtracted
    if subtracted:
        if qrs is None or median is None:
            missing = "section 4" if qrs is None else "section 5"
            raise _error(path, "sections 4 and 5 (QRS zones and reference beats), because "
                         "section 3 says the reference beat was subtracted",
                         f"{missing} missing or unreadable", _HINT)
        _add_reference_beats(leads_nv, leads, median, qrs, meta["sample_interval_us"], path)

    if 7 in sections:
        measurements = _global_measurements(body(7), warnings)
        if measurements:
            meta["machine_measurements"] = measurements
    for sid in (8, 11):
        if sid in sections:
            status, statements = _statements(body(sid), sid, codec, warnings)
            if not statements:
                continue
            if "machine_statements" not in meta:
                meta["machine_statements"] = statements
                meta["interpretation_status"] = status
            else:
                meta["universal_statements"] = statements
    if warnings:
        meta["warnings"] = warnings
        for w in warnings:
            logger.warning("%s: %s", path.name, w)
    named = {lead.name: leads_nv[i] * 1e-6 for i, lead in enumerate(leads)}
    return assemble_record(named, fs_hz, path=path, format=FORMAT,
                           demographics=demographics, meta=meta)


def _error(path: Path, expected: str, found: str, hint: str = _HINT) -> EcgReadError:
    return EcgReadError(path, FORMAT, expected, found, hint)


def _crc(chunk: bytes) -> int:
    # CRC-CCITT, polynomial 0x1021, initial value 0xFFFF (EN 1064, section 5.3.3).
    return binascii.crc_hqx(chunk, 0xFFFF)


def _read_record(path: Path) -> bytes:
    check_file_size(path, format=FORMAT, what="an SCP-ECG record", max_bytes=MAX_SCP_BYTES,
                    hint="the file is truncated; copy or " + _HINT)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _error(path, "a readable file", f"an OS error ({exc})",
                     "check the path and permissions") from exc
    if len(data) < _PREAMBLE + _HEADER:
        raise _error(path, "an SCP-ECG record (6-byte preamble and section 0)",
                     f"{len(data)} bytes", "the file is truncated; copy or " + _HINT)
    crc, record_len = struct.unpack_from("<HI", data, 0)
    if record_len > len(data):
        raise _error(path, f"{record_len} bytes, as the record's length field says",
                     f"{len(data)} bytes", "the file is truncated; copy or " + _HINT)
    if record_len < _PREAMBLE + _HEADER:
        raise _error(path, "a record length of at least 22 bytes", f"{record_len}", _HINT)
    if record_len < len(data):
        logger.debug("%s: %d bytes after the record ignored", path.name, len(data) - record_len)
        data = data[:record_len]
    if _crc(data[2:]) != crc:
        raise _error(path, f"record CRC {crc:#06x}", f"{_crc(data[2:]):#06x}",
                     "the file is damaged; copy or " + _HINT)
    return data


def _section_table(data: bytes, path: Path, warnings: list[str]) -> dict[int, _Section]:
    sid0, len0 = struct.unpack_from("<HI", data, _PREAMBLE + 2)
    if sid0 != 0:
        raise _error(path, "section 0 (pointers) at byte 7", f"section {sid0}",
                     "this is not an SCP-ECG record, or it is damaged")
    if not (_HEADER <= len0 <= len(data) - _PREAMBLE):
        raise _error(path, f"a section 0 length within 16..{len(data) - _PREAMBLE} bytes",
                     f"{len0} bytes", "the file is damaged; " + _HINT)
    sections = {0: _Section(0, _PREAMBLE, len0, data[_PREAMBLE + 8], data[_PREAMBLE + 9])}
    _check_section_crc(data, sections[0], path)
    for pos in range(_PREAMBLE + _HEADER, _PREAMBLE + len0 - 9, 10):
        sid, length, index = struct.unpack_from("<HII", data, pos)
        if length == 0 or sid == 0:
            continue  # sections 1-11 are listed even when absent, with length 0
        offset = index - 1
        if index == 0 or length < _HEADER or offset + length > len(data):
            raise _error(
                path, f"section {sid} inside the {len(data)}-byte record",
                f"{length} bytes at byte {index}",
                "the file is truncated or damaged; " + _HINT)
        if sid in sections:
            raise _error(path, "each section once in section 0", f"section {sid} twice",
                         _HINT)
        hid, hlen = struct.unpack_from("<HI", data, offset + 2)
        if hlen != length:
            raise _error(path, f"section {sid} of {length} bytes, as section 0 says",
                         f"a header that says section {hid} of {hlen} bytes", _HINT)
        sec = _Section(sid, offset, length, data[offset + 8], data[offset + 9])
        if sid <= 11:
            # Manufacturer sections (12+) are covered by the record CRC; their headers vary.
            _check_section_crc(data, sec, path)
        if hid != sid:
            # Seen in real files re-written by an anonymiser: every header id garbled, the
            # lengths and CRCs consistent. Section 0 is the table of contents; the length and
            # CRC checks above make a misplaced pointer very unlikely to pass.
            warnings.append(f"section {sid}'s header names it section {hid}; "
                            "section 0 trusted")
        sections[sid] = sec
    return sections


def _check_section_crc(data: bytes, sec: _Section, path: Path) -> None:
    chunk = data[sec.offset: sec.offset + sec.length]
    stored = int.from_bytes(chunk[:2], "little")
    if _crc(chunk[2:]) != stored:
        raise _error(path, f"section {sec.sid} CRC {stored:#06x}",
                     f"{_crc(chunk[2:]):#06x}", "the file is damaged; copy or " + _HINT)


# --- section 2: Huffman tables ---------------------------------------------------------------

def _build_table(codes: list[tuple[int, int, int, int, int]], path: Path) -> _HuffmanTable:
    """codes: (prefix_bits, total_bits, mode, value, code with first bit most significant)."""
    width = max(c[0] for c in codes)
    lut: list = [None] * (1 << width)
    for prefix, total, mode, value, code in codes:
        lo = code << (width - prefix)
        hi = (code + 1) << (width - prefix)
        entry = (prefix, total, mode, value)
        if any(e is not None for e in lut[lo:hi]):
            raise _error(path, "a prefix-free Huffman table in section 2",
                         f"code {code:0{prefix}b} overlapping another", _HINT)
        lut[lo:hi] = [entry] * (hi - lo)
    return _HuffmanTable(lut, width)


def _default_table() -> _HuffmanTable:
    # EN 1064 default table: 0 -> 0; 1..8 ones, a 0 and a sign bit -> +-1..8; nine ones and
    # a 0 (1) -> the next 8 (16) bits as a two's-complement value.
    codes = [(1, 1, 1, 0, 0)]
    for m in range(1, 9):
        ones = (1 << m) - 1
        codes += [(m + 2, m + 2, 1, m, ones << 2), (m + 2, m + 2, 1, -m, (ones << 2) | 1)]
    codes += [(10, 18, 1, 0, 0b1111111110), (10, 26, 1, 0, 0b1111111111)]
    return _build_table(codes, Path("<default table>"))


_DEFAULT = _default_table()


def _huffman_tables(body: bytes, path: Path) -> list[_HuffmanTable] | None:
    if len(body) < 2:
        raise _error(path, "a table count in section 2", f"{len(body)} bytes", _HINT)
    n_tables = int.from_bytes(body[:2], "little")
    if n_tables == _DEFAULT_TABLE:
        return [_DEFAULT]
    if n_tables == 0:
        return None  # ECG Toolkit reads a zero count as "not Huffman encoded"
    tables, pos = [], 2
    for t in range(n_tables):
        if pos + 2 > len(body):
            raise _error(path, f"{n_tables} Huffman tables in section 2",
                         f"section 2 ending in table {t + 1}", _HINT)
        n_codes = int.from_bytes(body[pos:pos + 2], "little")
        pos += 2
        if n_codes == 0 or pos + 9 * n_codes > len(body):
            raise _error(path, f"Huffman table {t + 1} with its codes in section 2",
                         f"{n_codes} codes in {len(body) - pos} bytes", _HINT)
        codes = []
        for _ in range(n_codes):
            prefix, total, mode, value, stored = struct.unpack_from("<BBBhI", body, pos)
            pos += 9
            if not 1 <= prefix <= _MAX_PREFIX_BITS or not prefix <= total <= 32:
                raise _error(path, f"Huffman codes of 1..{_MAX_PREFIX_BITS} bits with at "
                             "most 32 bits in all", f"a code of {prefix} prefix and "
                             f"{total} total bits (an unsupported or damaged table)", _HINT)
            if mode == 0 and not 1 <= value <= n_tables:
                raise _error(path, f"table switches to tables 1..{n_tables}",
                             f"a switch to table {value}", _HINT)
            # The standard stores the code with its first transmitted bit in the LSB.
            code = int(format(stored & ((1 << prefix) - 1), f"0{prefix}b")[::-1], 2)
            codes.append((prefix, total, mode, value, code))
        tables.append(_build_table(codes, path))
    return tables


def _huffman_decode(chunk: bytes, n: int, tables: list[_HuffmanTable], what: str,
                    path: Path) -> np.ndarray:
    nbytes = len(chunk)
    nbits = 8 * nbytes
    if n > nbits:  # every code takes at least one bit
        raise _error(path, f"{n} samples in {what}", f"only {nbytes} bytes of data", _HINT)
    width = 32  # window of the next 32 bits: the longest code the tables may hold
    padded = np.zeros(nbytes + 8, dtype=np.uint64)
    padded[:nbytes] = np.frombuffer(chunk, dtype=np.uint8)
    words = np.zeros(nbytes, dtype=np.uint64)
    for k in range(8):  # big-endian 64-bit word starting at every byte
        words |= padded[k:k + nbytes] << np.uint64(56 - 8 * k)
    windows = np.empty((nbytes, 8), dtype=np.uint64)
    for b in range(8):
        windows[:, b] = (words << np.uint64(b)) >> np.uint64(64 - width)
    win = windows.ravel().tolist()  # win[p]: the 32 bits from bit p on, first bit highest

    out = [0] * n
    table = tables[0]
    lut, shift = table.lut, width - table.prefix_bits
    pos = i = 0
    try:
        while i < n:
            w = win[pos]
            entry = lut[w >> shift]
            if entry is None:
                raise _error(path, f"valid Huffman codes in {what}",
                             f"an unknown code at bit {pos} (sample {i + 1} of {n})", _HINT)
            prefix, total, mode, value = entry
            if mode == 0:
                table = tables[value - 1]
                lut, shift = table.lut, width - table.prefix_bits
                pos += prefix
                continue
            if total != prefix:
                extra = total - prefix
                raw = (w >> (width - total)) & ((1 << extra) - 1)
                if raw >> (extra - 1):
                    raw -= 1 << extra
                value += raw
            out[i] = value
            pos += total
            i += 1
    except IndexError:
        pos = nbits + 1
    if pos > nbits:
        raise _error(path, f"{n} samples in {what}",
                     f"Huffman data ending after {i} samples", "the file is damaged; " + _HINT)
    return np.asarray(out, dtype=np.int64)


def _undo_differences(values: np.ndarray, mode: int) -> np.ndarray:
    # Stored values are 16-bit, and reference decoders accumulate in 16-bit arithmetic:
    # summing in int64 and wrapping once gives the same numbers, modulo 2**16.
    if mode == 1:
        values = np.cumsum(values)
    elif mode == 2 and len(values) > 2:
        slope = np.empty(len(values) - 1, dtype=np.int64)  # x[n] - x[n-1]
        slope[0] = values[1] - values[0]
        slope[1:] = values[2:]
        values = np.concatenate(([values[0]], values[0] + np.cumsum(np.cumsum(slope))))
    return values.astype(np.int16).astype(np.int64)


def _lead_data(body: bytes, counts: list[int], tables: list[_HuffmanTable] | None,
               sid: int, path: Path) -> tuple[int, int, int, int, list[np.ndarray]]:
    """Sections 5 and 6: (AVM nV, interval µs, difference mode, byte 6, lead samples)."""
    what = f"section {sid}"
    n_leads = len(counts)
    if len(body) < 6 + 2 * n_leads:
        raise _error(path, f"a {what} header for {n_leads} leads", f"{len(body)} bytes", _HINT)
    avm, interval, diff, flag = struct.unpack_from("<HHBB", body, 0)
    if diff not in (0, 1, 2):
        raise _error(path, f"difference encoding 0, 1 or 2 in {what}", f"{diff}", _HINT)
    if interval == 0 or avm == 0:
        raise _error(path, f"a non-zero sample interval and amplitude multiplier in {what}",
                     f"interval {interval} µs, multiplier {avm} nV", _HINT)
    sizes = list(struct.unpack_from(f"<{n_leads}H", body, 6))
    pos = 6 + 2 * n_leads
    end = pos + sum(sizes)
    # The declared sizes must account for the data: a lead count in section 3 that differs
    # from the number of leads stored here shifts this table and breaks the sum.
    if end > len(body) or any(body[end:]):
        raise _error(path, f"lead data of {n_leads} leads filling {what} "
                     f"({len(body) - 6 - 2 * n_leads} bytes)",
                     f"lead sizes adding up to {sum(sizes)} bytes",
                     "the lead count in section 3 does not match the data; " + _HINT)
    leads = []
    for i, size in enumerate(sizes):
        chunk = body[pos:pos + size]
        pos += size
        count = counts[i]
        if tables is not None:
            values = _huffman_decode(chunk, count, tables, f"{what}, lead {i + 1}", path)
        else:
            if 2 * count > size:
                raise _error(path, f"{count} 16-bit samples for lead {i + 1} in {what}",
                             f"{size} bytes", _HINT)
            values = np.frombuffer(chunk, dtype="<i2", count=count).astype(np.int64)
        leads.append(_undo_differences(values, diff))
    return avm, interval, diff, flag, leads


# --- sections 3, 4, 5, 6 ------------------------------------------------------------------

def _lead_definitions(body: bytes, path: Path) -> tuple[list[_Lead], bool]:
    if len(body) < 2:
        raise _error(path, "a lead count in section 3", f"{len(body)} bytes", _HINT)
    n, flags = body[0], body[1]
    if n == 0 or 2 + 9 * n > len(body):
        raise _error(path, "1..255 lead definitions of 9 bytes in section 3",
                     f"{n} leads declared in {len(body) - 2} bytes", _HINT)
    leads = []
    for i in range(n):
        start, end, code = struct.unpack_from("<IIB", body, 2 + 9 * i)
        name = _LEAD_CODES.get(code, f"lead code {code}")
        if not 1 <= start <= end or end - start + 1 > MAX_SAMPLES_PER_LEAD:
            raise _error(path, f"a sample range of 1..{MAX_SAMPLES_PER_LEAD} samples for "
                         f"lead {name}", f"samples {start}..{end}", _HINT)
        leads.append(_Lead(code, name, start, end))
    ranges = {(lead.start, lead.end) for lead in leads}
    if len(ranges) > 1:
        listing = ", ".join(f"{lead.name} {lead.start}-{lead.end}" for lead in leads)
        raise _error(path, "leads recorded simultaneously, over the same samples",
                     f"leads recorded over different samples ({listing})",
                     "sequentially recorded leads are not supported; export a simultaneous "
                     "12-lead recording")
    return leads, bool(flags & 0x01)


def _qrs_locations(body: bytes, path: Path) -> dict[str, Any]:
    if len(body) < 6:
        raise _error(path, "a 6-byte section 4 header", f"{len(body)} bytes", _HINT)
    length_ms, fiducial, n_qrs = struct.unpack_from("<HHH", body, 0)
    if 6 + 14 * n_qrs > len(body):
        raise _error(path, f"{n_qrs} QRS zones of 14 bytes in section 4",
                     f"{len(body) - 6} bytes", _HINT)
    zones = [struct.unpack_from("<HIII", body, 6 + 14 * k) for k in range(n_qrs)]
    return {"length_ms": length_ms, "fiducial": fiducial, "zones": zones}


def _reference_beats(body: bytes, leads: list[_Lead], tables: list[_HuffmanTable] | None,
                     qrs: dict[str, Any] | None, path: Path) -> dict[str, Any]:
    if len(body) < 6:
        raise _error(path, "a 6-byte section 5 header", f"{len(body)} bytes", _HINT)
    interval = int.from_bytes(body[2:4], "little")
    if interval == 0:
        raise _error(path, "a non-zero sample interval in section 5", "0 µs", _HINT)
    if qrs is not None and qrs["length_ms"]:
        # Section 4 gives the beat's length in whole ms. Rounding (not truncating) to samples
        # is what the real files here need: 708 ms at 1667 µs holds 425 samples, not 424.
        n = round(qrs["length_ms"] * 1000 / interval)
    elif tables is None and len(body) >= 6 + 2 * len(leads):
        n = min(struct.unpack_from(f"<{len(leads)}H", body, 6)) // 2
    else:
        raise _error(path, "the reference beat length (section 4) to decode section 5",
                     "no length", _HINT)
    if not 1 <= n <= MAX_SAMPLES_PER_LEAD:
        raise _error(path, "a reference beat of at least one sample", f"{n} samples", _HINT)
    avm, interval, _, _, beats = _lead_data(body, [n] * len(leads), tables, 5, path)
    return {"avm_nv": avm, "interval_us": interval, "beats": beats}


def _rhythm(body: bytes, leads: list[_Lead], tables: list[_HuffmanTable] | None,
            protocol: int, path: Path) -> tuple[float, list[np.ndarray], dict[str, Any]]:
    if len(body) >= 6 and body[5] and protocol < 30:
        # Byte 6 is the bimodal flag up to v2.x (reserved from v3.0): samples outside the
        # protected QRS zones are stored decimated and would have to be interpolated back.
        raise _error(path, "rhythm data at one sample rate",
                     "bimodal compression (section 6 decimated outside the QRS), which is "
                     "not supported",
                     "export the ECG again without bimodal/high compression")
    avm, interval, diff, _, samples = _lead_data(
        body, [lead.n_samples for lead in leads], tables, 6, path)
    fs_hz = _rate_hz(interval)
    compression = ("none" if tables is None else "default Huffman" if tables[0] is _DEFAULT
                   else f"Huffman ({len(tables)} tables)")
    meta = {
        "leads_in_file": [lead.name for lead in leads],
        "compression": compression,
        "difference_encoding": ("none", "first", "second")[diff],
        "amplitude_nv": avm,
        "sample_interval_us": interval,
    }
    return fs_hz, [s.astype(np.float64) * avm for s in samples], meta  # in nV


def _rate_hz(interval_us: int) -> float:
    fs_hz = 1e6 / interval_us
    # The interval is stored in whole µs: 600 Hz is written 1667 µs (599.88 Hz). When a
    # whole-hertz rate rounds to the stored interval, that rate is the one the cart used.
    if round(1e6 / round(fs_hz)) == interval_us:
        fs_hz = float(round(fs_hz))
    return fs_hz


def _add_reference_beats(leads_nv: list[np.ndarray], leads: list[_Lead],
                         median: dict[str, Any], qrs: dict[str, Any], interval_us: int,
                         path: Path) -> None:
    """Add reference beat type 0 back into the residual rhythm (in place, in nV)."""
    if median["interval_us"] != interval_us:
        raise _error(path, "reference beats at the rhythm's sample interval",
                     f"{median['interval_us']} µs against {interval_us} µs",
                     "this subtraction variant is not supported; " + _HINT)
    fiducial = qrs["fiducial"]
    for i, lead in enumerate(leads):
        beat = median["beats"][i].astype(np.float64) * median["avm_nv"]
        signal = leads_nv[i]
        for beat_type, start, centre, end in qrs["zones"]:
            if beat_type != 0:
                continue
            # Rhythm sample s (1-based) lines up with beat sample s - centre + fiducial.
            first = max(start, lead.start, centre - fiducial + 1)
            last = min(end, lead.end, centre - fiducial + len(beat))
            if last < first:
                continue
            r0, m0 = first - lead.start, first - centre + fiducial - 1
            signal[r0:r0 + last - first + 1] += beat[m0:m0 + last - first + 1]


# --- sections 1, 7, 8, 11 -----------------------------------------------------------------

def _text(raw: bytes, codec: str | None) -> str:
    if codec == "utf-16-le":
        end = next((k for k in range(0, len(raw) - 1, 2) if raw[k:k + 2] == b"\0\0"), None)
        raw = raw[:end] if end is not None else raw[:len(raw) // 2 * 2]
        return raw.decode(codec, errors="replace").strip()
    raw = raw.split(b"\0", 1)[0]
    if codec:
        return raw.decode(codec, errors="replace").strip()
    try:  # "ASCII only" is often declared over Latin-1 text (Swedish carts, for one)
        return raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace").strip()


def _tags(body: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos + 3 <= len(body):
        tag, length = body[pos], int.from_bytes(body[pos + 1:pos + 3], "little")
        pos += 3
        if tag == 255:
            break
        out.append((tag, body[pos:pos + length]))
        pos += length
    return out


def _patient_tags(body: bytes) -> tuple[Demographics, dict[str, Any], str | None]:
    """Demographics, acquisition meta, and the text codec that tag 14 declares."""
    tags = _tags(body)
    codec = None
    for tag, value in tags:
        if tag == 14 and len(value) > 16 and value[16] & 0x01:
            codec = _CODECS.get(value[16])
    meta: dict[str, Any] = {}
    first = last = patient_id = None
    age_years = sex = None
    day = clock = None
    filters: dict[str, float] = {}
    for tag, value in tags:
        if tag == 0:
            last = _text(value, codec) or None
        elif tag == 1:
            first = _text(value, codec) or None
        elif tag == 2:
            patient_id = _text(value, codec) or None
        elif tag == 4 and len(value) >= 3:
            amount, unit = int.from_bytes(value[:2], "little"), value[2]
            if amount and unit in _AGE_UNIT_YEARS and amount * _AGE_UNIT_YEARS[unit] <= 150:
                age_years = round(amount * _AGE_UNIT_YEARS[unit], 2)
        elif tag == 8 and value:
            sex = {1: "male", 2: "female"}.get(value[0])
        elif tag == 14 and len(value) >= 36:
            meta.update(_device(value, codec))
        elif tag == 25 and len(value) >= 4:
            try:
                day = date(int.from_bytes(value[:2], "little"), value[2], value[3])
            except ValueError:
                day = None  # anonymisers write impossible dates; no date is better
        elif tag == 26 and len(value) >= 3:
            try:
                clock = time(value[0], value[1], value[2])
            except ValueError:
                clock = None
        elif tag == 27 and len(value) >= 2 and int.from_bytes(value[:2], "little"):
            filters["high_pass"] = int.from_bytes(value[:2], "little") / 100.0
        elif tag == 28 and len(value) >= 2 and int.from_bytes(value[:2], "little"):
            filters["low_pass"] = float(int.from_bytes(value[:2], "little"))
        elif tag == 29 and value and value[0] & 0x03:
            filters["notch"] = 60.0 if value[0] & 0x01 else 50.0
    if day is not None and 1950 <= day.year <= 2100:
        meta["acquisition_time"] = (datetime.combine(day, clock).isoformat()
                                    if clock is not None else day.isoformat())
    if filters:
        meta["filters_hz"] = filters
    name = " ".join(p for p in (first, last) if p) or None
    return (Demographics(age_years=age_years, sex=sex, patient_id=patient_id, name=name),
            meta, codec)


def _device(value: bytes, codec: str | None) -> dict[str, Any]:
    model = _text(value[8:14], codec)
    # Byte 35 is the length of the analysing program's revision; then come NUL-terminated
    # serial number, system software, SCP implementation and manufacturer's trade name.
    rest = value[36 + value[35]:]
    strings = [_text(s, codec) for s in rest.split(b"\0")][:4] + [""] * 4
    manufacturer = strings[3] or _MANUFACTURERS.get(value[7], "")
    meta: dict[str, Any] = {}
    device = " ".join(p for p in (manufacturer, model) if p)
    if device:
        meta["device"] = device
    detail = {k: v for k, v in (("serial_number", strings[0]), ("software", strings[1]),
                                ("scp_implementation", strings[2])) if v}
    if detail:
        meta["device_detail"] = detail
    mains = {1: 50.0, 2: 60.0}.get(value[18])
    if mains:
        meta["mains_hz"] = mains
    return meta


def _global_measurements(body: bytes, warnings: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}

    def put(name: str, value: float, unit: str) -> None:
        out[name] = {"value": float(value), "unit": unit}

    def ok(v: int) -> bool:
        return 0 < v < _UNDEFINED - 1

    if len(body) < 6:
        warnings.append("section 7 too short for global measurements; ignored")
        return out
    n_blocks, n_spikes, rr_ms, pp_ms = struct.unpack_from("<BBHH", body, 0)
    if ok(rr_ms):
        put("rr_interval", rr_ms, "ms")
    if ok(pp_ms):
        put("pp_interval", pp_ms, "ms")
    pos = 6
    if n_blocks and pos + 16 <= len(body):
        p_on, p_off, q_on, q_off, t_off, *axes = struct.unpack_from("<5H3h", body, pos)

        def span(name: str, a: int, b: int) -> None:
            # Wave boundaries are ms from the start of the reference beat; 0 is a valid time.
            if a < _UNDEFINED - 1 and b < _UNDEFINED - 1 and a < b:
                put(name, b - a, "ms")

        span("p_duration", p_on, p_off)
        span("pr_interval", p_on, q_on)
        span("qrs_duration", q_on, q_off)
        span("qt_interval", q_on, t_off)
        for name, axis in zip(("p_axis", "qrs_axis", "t_axis"), axes):
            if abs(axis) < 999:  # 999 means "not calculated"
                put(name, axis, "deg")
    pos += 16 * n_blocks + 10 * n_spikes  # blocks, then spike times/amplitudes and info
    if n_spikes:
        out["pacemaker_spikes"] = {"value": float(n_spikes), "unit": "count"}
    if pos + 2 <= len(body):
        n_qrs = int.from_bytes(body[pos:pos + 2], "little")
        pos += 2 + n_qrs
        if pos + 7 <= len(body):
            vent, atrial, qtc, formula = struct.unpack_from("<HHHB", body, pos)
            if ok(vent):
                put("ventricular_rate", vent, "bpm")
            if ok(atrial):
                put("atrial_rate", atrial, "bpm")
            if ok(qtc):
                put("qtc_interval", qtc, "ms")
                if formula in (1, 2):
                    out["qtc_interval"]["formula"] = {1: "Bazett", 2: "Hodges"}[formula]
    if "ventricular_rate" in out:
        out["heart_rate"] = dict(out["ventricular_rate"])
    elif "rr_interval" in out:
        put("heart_rate", round(60000.0 / out["rr_interval"]["value"]), "bpm")
    return out


def _statements(body: bytes, sid: int, codec: str | None,
                warnings: list[str]) -> tuple[str, list[str]]:
    if len(body) < 9:
        warnings.append(f"section {sid} too short for statements; ignored")
        return "", []
    status = {0: "unconfirmed", 1: "confirmed", 2: "overread"}.get(body[0], "unknown")
    n, pos, out = body[8], 9, []
    for k in range(n):
        if pos + 3 > len(body):
            warnings.append(f"section {sid} holds {k} of {n} statements")
            break
        size = int.from_bytes(body[pos + 1:pos + 3], "little")
        value = body[pos + 3:pos + 3 + size]
        pos += 3 + size
        if sid == 11:
            value = value[1:]  # statement type byte
        parts = value.split(b"\0\0") if codec == "utf-16-le" else value.split(b"\0")
        line = " ".join(t for t in (_text(p, codec) for p in parts) if t)
        if line:
            out.append(line)
    return status, out
