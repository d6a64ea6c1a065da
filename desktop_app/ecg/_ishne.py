"""ISHNE Holter reader (ISHNE standard output file 1.0; Badilini et al., Ann Noninvasive
Electrocardiol 1998;3:263-6).

An ISHNE file is ``"ISHNE1.0"``, a CRC-CCITT of the header, a fixed 512-byte header block, a
variable-length text block, then int16 samples of up to 12 leads interleaved sample by sample,
all little-endian. The header names each lead by a code (the spec's lead table): the standard
leads I..V6, or the bipolar Holter leads (generic, X/Y/Z, and ES/AS/AI of the EASI system),
whose electrode placement is the recorder's own. Only the standard leads are used; the others
are listed in ``meta["ignored_channels"]``. The beat annotation file of a recording (magic
``"ANN  1.0"``, same header) holds no signal and is refused with a message that says so.

Holter recordings last one to seven days, so only the first ``max_duration_s`` seconds are
read (seek and a bounded read); a declared sample count is checked against the file size
before anything is allocated. Written without a library: the only Python ISHNE package
(``ishneholterlib``, last released 2020) reads the whole recording into memory, does not check
the declared sizes, and no longer runs on numpy 2.
"""

from __future__ import annotations

import binascii
import datetime as dt
import logging
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._files import check_file_size
from desktop_app.ecg._record import LEADS_12, Demographics, EcgRecord
from desktop_app.errors import EcgReadError

logger = logging.getLogger(__name__)

FORMAT = "ishne"
_MAGIC = b"ISHNE1.0"
_ANN_MAGIC = b"ANN  1.0"
# Magic (8), CRC (2), fixed header block (512): the variable block starts at byte 522.
_HEADER_END = 522
_CRC_START = 10
_MAX_LEADS = 12
# Reading is bounded by max_duration_s, not by the file: the cap only refuses nonsense. A 7-day
# 12-lead Holter at 1 kHz is about 14.5 GB.
MAX_ISHNE_BYTES = 32 * 1024 ** 3
# The variable block is free text (notes, device settings), a few kB in practice; it is read
# whole for the CRC, so its declared size is bounded.
MAX_VAR_BLOCK_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_DURATION_S = 300.0
# ECG Toolkit (the reference reader of issue 8) writes and reads -32768 as "lead fault":
# no signal at that sample (electrode off).
LEAD_FAULT_VALUE = -32768

# Lead specification table of the ISHNE spec (Badilini 1998, table 1). Codes 8 and 9 are aVR
# and aVL in that order, as in EDFbrowser's ISHNE converter and ishneholterlib.
LEAD_CODES = {
    0: "Unknown", 1: "Generic bipolar", 2: "X bipolar", 3: "Y bipolar", 4: "Z bipolar",
    5: "I", 6: "II", 7: "III", 8: "aVR", 9: "aVL", 10: "aVF",
    11: "V1", 12: "V2", 13: "V3", 14: "V4", 15: "V5", 16: "V6",
    17: "ES", 18: "AS", 19: "AI",
}
# Lead quality table (spec table 2); -9 means the lead is absent.
_QUALITY = {1: "good", 2: "intermittent noise", 3: "frequent noise",
            4: "intermittent disconnect", 5: "frequent disconnect"}
_PACEMAKER = {0: "none", 1: "type not known", 2: "single chamber unipolar",
              3: "dual chamber unipolar", 4: "single chamber bipolar",
              5: "dual chamber bipolar"}
_SEX = {1: "male", 2: "female"}

# Fixed header block, little-endian, from byte 0 of the file (the spec's table of fields).
_HEADER = struct.Struct(
    "<8sH"          # magic number, CRC-CCITT of bytes 10 .. end of variable block
    "iiii"          # variable block size (bytes), ECG size (samples per lead), their offsets
    "h40s40s20s"    # file version, first name, last name, subject ID
    "hh3h3h3h3h"    # sex, race, birth date, record date, file date (d, m, y), start (h, m, s)
    "h12h12h12h"    # number of leads, lead codes, lead quality, amplitude resolution (nV)
    "h40sh"         # pacemaker code, recorder type, sampling rate (Hz)
    "80s80s88s"     # proprietary, copyright, reserved
)
assert _HEADER.size == _HEADER_END


def _unpack(head: bytes) -> dict[str, Any]:
    v = _HEADER.unpack(head)
    return {
        "magic": v[0], "crc": v[1], "var_size": v[2], "n_declared": v[3], "var_offset": v[4],
        "ecg_offset": v[5], "version": v[6], "first_name": v[7], "last_name": v[8],
        "subject_id": v[9], "sex": v[10], "race": v[11], "birth_date": v[12:15],
        "record_date": v[15:18], "file_date": v[18:21], "start_time": v[21:24],
        "n_leads": v[24], "codes": v[25:37], "quality": v[37:49], "resolution_nv": v[49:61],
        "pacemaker": v[61], "recorder_type": v[62], "fs_hz": v[63],
    }


_HINT_EXPORT = "export the recording again as ISHNE from the Holter software"


def sniff(head: bytes, path: Path) -> bool:
    """True when the file starts with the ISHNE magic number (ECG or annotation file).

    Parameters
    ----------
    head : the first bytes of the file (4096 from the dispatcher).
    path : the file (unused; the decision is by content only).

    Returns
    -------
    bool
        ``"ISHNE1.0"`` or ``"ANN  1.0"`` at byte 0. An annotation file is claimed so that the
        reader can say which file to open instead. Never raises.
    """
    try:
        return bytes(head[:8]) in (_MAGIC, _ANN_MAGIC)
    except Exception:  # a sniffer must never raise
        return False


def read_ishne(path: str | Path, *, max_duration_s: float = DEFAULT_MAX_DURATION_S,
               **kwargs: Any) -> EcgRecord:
    """Read the standard ECG leads of an ISHNE Holter file.

    Parameters
    ----------
    path : the ISHNE ECG file (usually ``.ecg``).
    max_duration_s : longer recordings are cut to their first ``max_duration_s`` seconds
        (``meta["cut_to_s"]`` says so); only that part is read from the file.
    **kwargs : options of other readers; ignored, since ISHNE states its own rate and units.

    Returns
    -------
    EcgRecord
        Leads in mV (each lead's amplitude resolution in nV times its int16 samples) at the
        file's sampling rate. ``meta`` holds ``ishne_version``, ``start_time``, ``duration_s``
        (of the whole recording), ``recorder_type``, ``pacemaker``, ``lead_quality``,
        ``resolution_nv``, ``ignored_channels``, ``cut_to_s`` and ``gaps_filled`` (samples at
        the lead-fault value, filled by linear interpolation; the lead is flagged
        ``gaps_filled``) where they apply. Sex, age (from birth and recording date), names and
        subject ID go into ``demographics`` only.

    Raises
    ------
    EcgReadError
        The file is missing, empty, an ISHNE annotation file, not ISHNE, has a header whose CRC
        does not match, declares impossible sizes, offsets, lead counts or rates, is shorter
        than its header says, or holds none of the 12 standard leads.
    """
    path = Path(path)
    if kwargs:
        logger.debug("options %s do not apply to ISHNE files; ignored", sorted(kwargs))
    if not (isinstance(max_duration_s, (int, float)) and math.isfinite(max_duration_s)
            and max_duration_s > 0):
        raise EcgReadError(path, FORMAT, "a positive, finite max_duration_s",
                           repr(max_duration_s), "give the number of seconds to read")
    size = check_file_size(path, format=FORMAT, what="an ISHNE Holter file",
                           max_bytes=MAX_ISHNE_BYTES, hint="copy or " + _HINT_EXPORT,
                           too_large_hint="cut the recording in the Holter software")
    try:
        with open(path, "rb") as fh:
            header = _read_header(fh, path, size)
            fields = _check_fields(header, path, size)
            n_keep = min(fields["n_per_lead"], int(math.floor(max_duration_s * fields["fs_hz"])))
            fh.seek(fields["ecg_offset"])
            # A bounded read: never more than the kept span, whatever the header declares.
            raw = np.fromfile(fh, dtype="<i2", count=n_keep * fields["n_leads"])
    except OSError as exc:
        raise EcgReadError(path, FORMAT, "a readable file", f"an OS error ({exc.strerror})",
                           "check the path and permissions") from exc
    if raw.size != n_keep * fields["n_leads"]:  # the file shrank while being read
        raise EcgReadError(path, FORMAT, f"{n_keep} samples per lead",
                           f"{raw.size // fields['n_leads']}",
                           "the file is truncated; copy it again")
    samples = raw.reshape(n_keep, fields["n_leads"]).T
    leads, meta = _leads(samples, fields, path)
    if n_keep < fields["n_per_lead"]:
        meta["cut_to_s"] = float(max_duration_s)
        logger.info("recording longer than %.0f s; only its start is read", max_duration_s)
    filled = meta.get("gaps_filled", {})
    rec = assemble_record(leads, fields["fs_hz"], path=path, format=FORMAT,
                          demographics=_demographics(header), meta=meta)
    if filled:
        rec = rec.replace(lead_flags=tuple(
            flags + ("gaps_filled",) if name in filled else flags
            for name, flags in zip(LEADS_12, rec.lead_flags)))
    return rec


def _read_header(fh, path: Path, size: int) -> dict[str, Any]:
    head = fh.read(_HEADER_END)
    if head[:8] == _ANN_MAGIC:
        raise EcgReadError(
            path, FORMAT, "an ISHNE ECG file (magic 'ISHNE1.0')",
            "the recording's beat annotation file (magic 'ANN  1.0'), which holds no signal",
            "open the ECG file of the same recording (usually the same name ending in .ecg)")
    if head[:8] != _MAGIC:
        raise EcgReadError(path, FORMAT, "an ISHNE file starting with 'ISHNE1.0'",
                           f"{bytes(head[:8])!r}", "this is not an ISHNE Holter file")
    if len(head) < _HEADER_END:
        raise EcgReadError(path, FORMAT, f"a header of {_HEADER_END} bytes",
                           f"a file of {size} bytes", "the file is truncated; copy it again")
    header = _unpack(head)
    var_size, var_offset = header["var_size"], header["var_offset"]
    if var_offset != _HEADER_END or not (0 <= var_size <= MAX_VAR_BLOCK_BYTES):
        raise EcgReadError(
            path, FORMAT, f"a variable block at byte {_HEADER_END} of 0..{MAX_VAR_BLOCK_BYTES} "
            "bytes", f"offset {var_offset}, {var_size} bytes",
            "the header is damaged; " + _HINT_EXPORT)
    if _HEADER_END + var_size > size:
        raise EcgReadError(path, FORMAT, f"a header of {_HEADER_END + var_size} bytes",
                           f"a file of {size} bytes", "the file is truncated; copy it again")
    var_block = fh.read(var_size)
    # CRC-CCITT (polynomial 0x1021, initial value 0xFFFF) over the fixed and variable blocks.
    computed = binascii.crc_hqx(head[_CRC_START:] + var_block, 0xFFFF)
    if computed != header["crc"]:
        raise EcgReadError(path, FORMAT, "a header whose CRC matches its stored checksum",
                           f"stored {header['crc']:#06x}, computed {computed:#06x}",
                           "the header is damaged; copy the file again or " + _HINT_EXPORT)
    return header


def _check_fields(header: dict[str, Any], path: Path, size: int) -> dict[str, Any]:
    var_size, n_declared = header["var_size"], header["n_declared"]
    ecg_offset = header["ecg_offset"]
    n_leads, fs_hz = header["n_leads"], header["fs_hz"]
    if not (1 <= n_leads <= _MAX_LEADS):
        raise EcgReadError(path, FORMAT, f"1..{_MAX_LEADS} stored leads", f"{n_leads}",
                           "the header is damaged; " + _HINT_EXPORT)
    if fs_hz < 1:
        raise EcgReadError(path, FORMAT, "a sampling rate of at least 1 Hz", f"{fs_hz} Hz",
                           "the header is damaged; " + _HINT_EXPORT)
    if not (_HEADER_END + var_size <= ecg_offset <= size):
        raise EcgReadError(path, FORMAT,
                           f"an ECG block after the header, at {_HEADER_END + var_size}.."
                           f"{size} bytes", f"offset {ecg_offset}",
                           "the header is damaged; " + _HINT_EXPORT)
    if n_declared < 2:
        raise EcgReadError(path, FORMAT, "at least 2 samples per lead", f"{n_declared}",
                           "the file holds no signal; " + _HINT_EXPORT)
    data_bytes = size - ecg_offset
    n_per_lead = n_declared
    convention = "per lead"
    if n_declared * n_leads * 2 > data_bytes:
        # The spec counts samples per lead; ECG Toolkit counts them over all leads. Accepted
        # only where that reading fills the data block exactly, so a truncated file is still
        # refused.
        if n_leads > 1 and n_declared % n_leads == 0 and n_declared * 2 == data_bytes:
            n_per_lead = n_declared // n_leads
            convention = "all leads"
        else:
            raise EcgReadError(
                path, FORMAT,
                f"{n_declared:,} samples per lead x {n_leads} leads "
                f"({n_declared * n_leads * 2:,} bytes, as the header says)",
                f"{data_bytes:,} bytes of samples",
                "the file is truncated or its header is damaged; copy it again or "
                + _HINT_EXPORT)
    if n_per_lead < 2:
        raise EcgReadError(path, FORMAT, "at least 2 samples per lead", f"{n_per_lead}",
                           "the file holds no signal; " + _HINT_EXPORT)
    return {"n_leads": n_leads, "fs_hz": float(fs_hz), "ecg_offset": ecg_offset,
            "n_per_lead": n_per_lead, "count_convention": convention,
            "codes": header["codes"][:n_leads], "quality": header["quality"][:n_leads],
            "resolution_nv": header["resolution_nv"][:n_leads], "header": header}


def _leads(samples: np.ndarray, fields: dict[str, Any], path: Path):
    leads: dict[str, np.ndarray] = {}
    ignored: list[str] = []
    quality: dict[str, str] = {}
    resolution: dict[str, int] = {}
    filled: dict[str, int] = {}
    for i, (code, qual, res_nv) in enumerate(zip(fields["codes"], fields["quality"],
                                                 fields["resolution_nv"])):
        name = LEAD_CODES.get(code)
        if name not in LEADS_12:
            label = f"{name or f'lead code {code}'} (lead {i + 1})"
            ignored.append(label)
            continue
        if res_nv < 1:
            raise EcgReadError(path, FORMAT, f"an amplitude resolution of at least 1 nV for "
                               f"lead {name}", f"{res_nv} nV",
                               "without it the samples cannot be scaled; " + _HINT_EXPORT)
        row = samples[i]
        bad = row == LEAD_FAULT_VALUE
        data = row.astype(np.float64) * (res_nv * 1e-6)
        if bad.all():
            ignored.append(f"{name} (lead {i + 1}, lead fault throughout)")
            continue
        if bad.any():
            good = np.flatnonzero(~bad)
            data[bad] = np.interp(np.flatnonzero(bad), good, data[good])
            filled[name] = int(bad.sum())
        leads[name] = data
        resolution[name] = int(res_nv)
        if qual in _QUALITY:
            quality[name] = _QUALITY[qual]
    if not leads:
        raise EcgReadError(
            path, FORMAT, "at least one of the 12 standard leads (ISHNE lead codes 5-16)",
            f"leads {', '.join(ignored) or 'none'}",
            "Holter leads are bipolar with the recorder's own electrode placement; which "
            "standard lead each one approximates cannot be guessed, so relabel them in the "
            "Holter software if it knows")
    header = fields["header"]
    meta: dict[str, Any] = {"ishne_version": int(header["version"]), "resolution_nv": resolution,
                            "duration_s": fields["n_per_lead"] / fields["fs_hz"]}
    if fields["count_convention"] != "per lead":
        meta["notes"] = ["the header counts samples over all leads (as ECG Toolkit writes "
                         "it), not per lead as the ISHNE spec says"]
    start = _start_time(header["record_date"], header["start_time"])
    if start is not None:
        meta["start_time"] = start
    recorder = _text(header["recorder_type"])
    if recorder:
        meta["recorder_type"] = recorder
    if header["pacemaker"] in _PACEMAKER:
        meta["pacemaker"] = _PACEMAKER[header["pacemaker"]]
    if quality:
        meta["lead_quality"] = quality
    if ignored:
        meta["ignored_channels"] = ignored
    if filled:
        meta["gaps_filled"] = filled
        logger.info("%s: lead-fault samples filled by linear interpolation: %s", path.name,
                    ", ".join(f"{k} ({v})" for k, v in filled.items()))
    return leads, meta


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("latin-1").strip()


def _date(dmy) -> dt.date | None:
    day, month, year = dmy
    try:
        return dt.date(year, month, day) if year >= 1800 else None
    except (ValueError, TypeError):
        return None


def _start_time(dmy, hms) -> str | None:
    date = _date(dmy)
    if date is None:
        return None
    try:
        return dt.datetime.combine(date, dt.time(*hms)).isoformat()
    except (ValueError, TypeError):
        return date.isoformat()  # a damaged time is left out rather than shown as midnight


def _demographics(header: dict[str, Any]) -> Demographics:
    born, recorded = _date(header["birth_date"]), _date(header["record_date"])
    age: float | None = None
    if born is not None and recorded is not None and recorded >= born:
        age = float(recorded.year - born.year
                    - ((recorded.month, recorded.day) < (born.month, born.day)))
        if age > 130.0:
            age = None
    name = " ".join(s for s in (_text(header["first_name"]), _text(header["last_name"])) if s)
    patient_id = _text(header["subject_id"])
    return Demographics(age_years=age, sex=_SEX.get(header["sex"]),
                        patient_id=patient_id or None, name=name or None)
