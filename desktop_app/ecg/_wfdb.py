"""WFDB (PhysioNet) reader: a ``.hea`` header plus one or more signal files (``.dat``, ``.mat``).

Parsing and decoding are left to the ``wfdb`` package (``rdheader``/``rdrecord``); this module
checks what wfdb does not (signal files that exist and are long enough, lead names, units, a
bound on what a header can make us allocate) and turns every failure into an
:class:`EcgReadError`. wfdb's ``p_signal`` is samples x channels; this is the only module that
transposes it.

Variants met in real databases:

- PTB-XL: upper-case ``AVR/AVL/AVF``, 1000 adu/mV, no comments.
- PhysioNet/CinC Challenge 2020/2021: MATLAB v4 ``.mat`` signal file (format ``16+24``),
  comments ``#Age: 85``, ``#Sex: Male``, ``#Dx: <SNOMED CT codes>``.
- PTB Diagnostic: lower-case names, 15 channels, the Frank leads ``vx, vy, vz`` in a second
  signal file ``.xyz`` that copies of the database often lack; units left out (WFDB default mV).
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._files import check_file_size
from desktop_app.ecg._leadnames import normalise_lead_name
from desktop_app.ecg._record import LEADS_12, Demographics, EcgRecord
from desktop_app.errors import EcgReadError

logger = logging.getLogger(__name__)

FORMAT = "wfdb"
# A header is a few kB; even a long multi-segment layout stays far below this.
MAX_HEADER_BYTES = 1024 * 1024
# Bound on samples x channels a header may make us decode (wfdb keeps digital and physical
# copies, ~16-24 bytes per sample). 16 M is 12 leads at 1 kHz for 22 minutes, far beyond a
# resting ECG, and keeps memory under ~400 MB.
MAX_TOTAL_SAMPLES = 16_000_000

# Bytes per sample of the uncompressed WFDB formats (signal(5) in the WFDB Applications Guide).
# FLAC formats (508, 516, 524) are compressed, so their length cannot be checked from the size.
_BYTES_PER_SAMPLE = {
    "8": 1.0, "16": 2.0, "24": 3.0, "32": 4.0, "61": 2.0, "80": 1.0, "160": 2.0,
    "212": 1.5, "310": 4 / 3, "311": 4 / 3,
}
# Physical units -> factor to millivolts. WFDB's default when a header omits units is mV.
_TO_MV = {
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
    "uv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
    "nv": 1e-6, "v": 1e3, "volt": 1e3, "volts": 1e3,
}
_HINT_COPY = "copy the whole record (the .hea header and every signal file it names) again"

# Record line: NAME[/NSEG] NSIG [FS[/COUNTER[(BASE)]] [NSAMP ...]] (header(5), WFDB Guide).
_RECORD_LINE = re.compile(
    rb"^[-\w]+(?:/(\d+))?[ \t]+\d+(?:[ \t]+\d*\.?\d+(?:e[-+]?\d+)?(?:/[\d.]+(?:\([-\d.]+\))?)?"
    rb"(?:[ \t]+\d+)?)?(?:[ \t].*)?$",
    re.I,
)
# Signal line: FILE FORMAT[xSPF][:SKEW][+OFFSET] ...; the file name is never all digits
# (it carries a suffix or is "~"), which keeps headerless numeric text from matching.
_SIGNAL_LINE = re.compile(rb"^(\S*[^\d\s]\S*)[ \t]+\d+(?:x\d+)?(?::\d+)?(?:\+\d+)?(?:[ \t].*)?$")
_SEGMENT_LINE = re.compile(rb"^[-\w~]+[ \t]+\d+[ \t]*$")


def sniff(head: bytes, path: Path) -> bool:
    """True for a WFDB header, or for a signal file (``.dat``/``.mat``) with a ``.hea`` beside it.

    Parameters
    ----------
    head : the first bytes of the file (4096 from the dispatcher).
    path : the file; for a signal file only its sibling header is looked up (one ``stat``).

    Returns
    -------
    bool
        Never raises.
    """
    try:
        path = Path(path)
        if path.suffix.lower() in (".dat", ".mat"):
            return path.with_suffix(".hea").is_file()
        if b"\x00" in head:
            return False
        lines = [ln.strip() for ln in head.splitlines()]
        lines = [ln for ln in lines if ln and not ln.startswith(b"#")]
        if not lines:
            return False
        record = _RECORD_LINE.match(lines[0])
        if record is None:
            return False
        if len(lines) < 2:
            return path.suffix.lower() == ".hea"
        if record.group(1):  # multi-segment: segment lines follow
            return _SEGMENT_LINE.match(lines[1]) is not None
        return _SIGNAL_LINE.match(lines[1]) is not None
    except Exception:  # a sniffer must never raise; a failed sniff is "not mine"
        logger.debug("wfdb sniff failed on %s", path, exc_info=True)
        return False


def read_wfdb(path: str | Path, *, fs_hz: float | None = None, **kwargs: Any) -> EcgRecord:
    """Read a WFDB record: its ``.hea`` header and the signal files it names.

    Parameters
    ----------
    path : the ``.hea`` header, one of its signal files (``.dat``, ``.mat``), or the record name
        without suffix (``/data/00001_lr``).
    fs_hz : ignored; a WFDB header always states its sampling rate (accepted so that the
        dispatcher can pass the same options to every reader).
    **kwargs : ignored, for the same reason.

    Returns
    -------
    EcgRecord
        Leads in mV at the header's sampling rate. Channels that are not one of the 12 standard
        leads (Frank leads, respiration) are listed in ``meta["ignored_channels"]``; a signal
        file that holds only such channels may be absent (noted in ``meta["notes"]``).
        ``meta`` also holds ``record_name``, ``header_comments`` and, where the header has them,
        ``dx_snomed`` (Challenge ``#Dx`` codes), ``diagnosis`` (PTB reason for admission) and
        ``recording_start``. Samples wfdb marks invalid are filled by linear interpolation and
        the lead is flagged ``gaps_filled``; a lead that is invalid throughout is left missing.

    Raises
    ------
    EcgReadError
        The header is missing, empty or malformed; a standard lead's signal file is missing or
        shorter than the header says; no channel is a standard lead; units are not voltages; the
        record is longer than a resting ECG (more than ``MAX_TOTAL_SAMPLES``).
    """
    if fs_hz is not None or kwargs:
        logger.debug("read_wfdb ignores options %s: the header states them", sorted(kwargs))
    hea = _header_path(Path(path))
    header = _read_header(hea)
    import wfdb

    if isinstance(header, wfdb.MultiRecord):
        raise EcgReadError(
            hea, FORMAT, "a single-segment record (one signal file set)",
            f"a multi-segment record with {header.n_seg} segments",
            "open one segment's .hea file, or export the record as a single segment",
        )
    channels = _check_channels(header, hea)
    chosen = [i for i, name in enumerate(channels["name"]) if normalise_lead_name(name)]
    notes: list[str] = []
    chosen = _check_signal_files(header, hea, channels, chosen, notes)
    fs = _check_fs(header, hea)
    sig_len = _check_length(header, hea, channels, chosen)
    try:
        record = wfdb.rdrecord(str(hea.with_suffix("")), channels=chosen, physical=True,
                               smooth_frames=True)
    except Exception as exc:  # wfdb raises bare Exception, ValueError, IndexError, OSError
        raise EcgReadError(hea, FORMAT, "signal files that match the header",
                           f"{type(exc).__name__}: {exc}", _HINT_COPY) from exc
    if record.p_signal is None or record.p_signal.ndim != 2:
        raise EcgReadError(hea, FORMAT, "samples in the signal files", "no samples", _HINT_COPY)
    # The one transposition of wfdb's samples x channels into our channels x samples.
    data = np.asarray(record.p_signal, dtype=np.float64).T
    if sig_len is not None and data.shape[1] != sig_len:
        raise EcgReadError(hea, FORMAT, f"{sig_len} samples per channel",
                           f"{data.shape[1]}", _HINT_COPY)

    leads: dict[str, np.ndarray] = {}
    filled: dict[str, int] = {}
    for row, ch in zip(data, chosen):
        name = channels["name"][ch]
        row = row * _mv_factor(channels["units"][ch], name, hea)
        bad = ~np.isfinite(row)
        if bad.all():
            notes.append(f"channel {name} holds only invalid samples; left missing")
            continue
        if bad.any():
            good = np.flatnonzero(~bad)
            row = row.copy()
            row[bad] = np.interp(np.flatnonzero(bad), good, row[good])
            filled[normalise_lead_name(name) or name] = int(bad.sum())
        leads[name] = row

    spf = {channels["spf"][i] for i in chosen}
    if spf != {1}:
        notes.append("channels with several samples per frame were averaged to the frame rate")
    meta = _meta_from_comments(header)
    ignored = [channels["name"][i] for i in range(len(channels["name"])) if i not in chosen]
    if ignored:
        meta["ignored_channels"] = ignored
    if filled:
        meta["gaps_filled"] = filled
        notes.append("invalid samples were filled by linear interpolation: "
                     + ", ".join(f"{k} ({v})" for k, v in filled.items()))
    if notes:
        meta["notes"] = notes
    for note in notes:
        logger.info("%s: %s", hea.name, note)
    rec = assemble_record(leads, fs, path=hea, format=FORMAT,
                          demographics=_demographics(header), meta=meta, min_leads=1)
    if filled:
        rec = rec.replace(lead_flags=tuple(
            flags + ("gaps_filled",) if name in filled else flags
            for name, flags in zip(LEADS_12, rec.lead_flags)
        ))
    return rec


def _header_path(path: Path) -> Path:
    suffix = path.suffix.lower()
    if suffix == ".hea":
        hea = path
    elif suffix in (".dat", ".mat") or (path.is_file() and suffix):
        hea = path.with_suffix(".hea")  # a signal file: .dat, .mat, .xyz, ...
    else:
        hea = path.with_name(path.name + ".hea")  # a record name without suffix
    if not hea.is_file():
        found = "no such file" if hea == path else f"no {hea.name} beside {path.name}"
        raise EcgReadError(
            path, FORMAT, f"the WFDB header {hea.name}", found,
            "a WFDB record needs its .hea header next to its signal files; copy both",
        )
    if hea.suffix != ".hea":  # wfdb appends ".hea" to the record name itself
        raise EcgReadError(hea, FORMAT, "a header named <record>.hea (lower case)",
                           f"suffix {hea.suffix!r}", "rename the header to end in .hea")
    return hea


def _read_header(hea: Path):
    check_file_size(hea, format=FORMAT, what="a WFDB header", max_bytes=MAX_HEADER_BYTES,
                    hint=_HINT_COPY, too_large_hint="open the record's .hea file")
    with open(hea, "rb") as fh:
        raw = fh.read()
    if b"\x00" in raw:
        raise EcgReadError(hea, FORMAT, "a WFDB header (text)", "binary content",
                           "open the record's .hea file, not a signal file renamed to .hea")
    if not any(ln.strip() and not ln.lstrip().startswith(b"#") for ln in raw.splitlines()):
        raise EcgReadError(hea, FORMAT, "a record line `NAME NSIG FS NSAMP`",
                           "only comments or blank lines", _HINT_COPY)
    # wfdb imports pandas (~0.25 s): pay for it only when a record is actually read, never
    # when the dispatcher merely sniffs.
    import wfdb

    try:
        return wfdb.rdheader(str(hea.with_suffix("")))
    except Exception as exc:  # HeaderSyntaxError, IndexError, ValueError from wfdb's parser
        raise EcgReadError(
            hea, FORMAT,
            "a WFDB header (record line `NAME NSIG FS NSAMP`, then one line per signal)",
            f"a line wfdb cannot parse ({type(exc).__name__}: {exc})", _HINT_COPY,
        ) from exc


def _check_channels(header, hea: Path) -> dict[str, list]:
    n_sig = int(header.n_sig or 0)
    files = list(header.file_name or [])
    if n_sig == 0:
        raise EcgReadError(hea, FORMAT, "a record with ECG signals", "a header with 0 signals",
                           "open a 12-lead ECG record")
    if len(files) != n_sig:
        raise EcgReadError(hea, FORMAT, f"{n_sig} signal lines (as its record line says)",
                           f"{len(files)}", _HINT_COPY)
    names = [(n or "").strip() for n in (header.sig_name or [None] * n_sig)]
    channels = {
        "name": names,
        "file": files,
        "fmt": [str(f) for f in header.fmt],
        "units": list(header.units or ["mV"] * n_sig),
        "spf": [int(s or 1) for s in (header.samps_per_frame or [1] * n_sig)],
        "offset": [int(b or 0) for b in (header.byte_offset or [0] * n_sig)],
    }
    if not any(normalise_lead_name(n) for n in names):
        listed = ", ".join(repr(n) for n in names[:16]) + (" ..." if n_sig > 16 else "")
        raise EcgReadError(
            hea, FORMAT,
            f"signals named as standard ECG leads ({', '.join(LEADS_12)})",
            f"{n_sig} signal(s) named {listed}",
            "this record holds no 12-lead ECG channels; open a 12-lead ECG record",
        )
    return channels


def _check_signal_files(header, hea: Path, channels: dict, chosen: list[int],
                        notes: list[str]) -> list[int]:
    keep = []
    absent: dict[str, list[str]] = {}
    for i, fname in enumerate(channels["file"]):
        if fname == "~":  # WFDB's null signal: no file, no samples
            if i in chosen:
                notes.append(f"channel {channels['name'][i]} is a null signal; left missing")
            continue
        if not (hea.parent / fname).is_file():
            absent.setdefault(fname, []).append(channels["name"][i] or f"#{i + 1}")
            continue
        if i in chosen:
            keep.append(i)
    for fname, names in absent.items():
        standard = [n for n in names if normalise_lead_name(n)]
        if standard:
            raise EcgReadError(
                hea, FORMAT, f"the signal file {fname} named by the header",
                f"no file {fname} (it holds leads {', '.join(standard)})",
                f"copy {fname} into {hea.parent} beside {hea.name}",
            )
        notes.append(f"signal file {fname} is absent; its channels {', '.join(names)} "
                     "are not standard leads and were skipped")
    if not keep:
        raise EcgReadError(hea, FORMAT, "at least one standard lead with samples",
                           "only null signals", "open a 12-lead ECG record")
    return keep


def _check_fs(header, hea: Path) -> float:
    fs = float(header.fs) if header.fs is not None else math.nan
    if not (math.isfinite(fs) and 1.0 <= fs <= 100_000.0):
        raise EcgReadError(hea, FORMAT, "a sampling rate of 1-100000 Hz on the record line",
                           f"{header.fs!r}", _HINT_COPY)
    return fs


def _check_length(header, hea: Path, channels: dict, chosen: list[int]) -> int | None:
    """Compare each signal file with the length the header declares, before wfdb allocates."""
    sig_len = None if header.sig_len is None else int(header.sig_len)
    files = {channels["file"][i] for i in chosen}
    for fname in sorted(files):
        in_file = [i for i, f in enumerate(channels["file"]) if f == fname]
        fmt = channels["fmt"][in_file[0]]
        bps = _BYTES_PER_SAMPLE.get(fmt)
        frame = sum(channels["spf"][i] for i in in_file)
        size = (hea.parent / fname).stat().st_size
        offset = channels["offset"][in_file[0]]
        if bps is None:
            continue  # compressed (FLAC): only the declared length can be bounded below
        n_frames = sig_len
        if n_frames is None:
            n_frames = int((size - offset) // (bps * frame)) if size > offset else 0
        if n_frames * frame > MAX_TOTAL_SAMPLES or n_frames * len(chosen) > MAX_TOTAL_SAMPLES:
            raise EcgReadError(
                hea, FORMAT, f"a resting ECG (at most {MAX_TOTAL_SAMPLES:,} samples in all)",
                f"{n_frames:,} samples per channel in {fname}",
                "open a single resting ECG, or cut the recording to the part you need",
            )
        need = offset + math.ceil(n_frames * frame * bps)
        if size < need:
            raise EcgReadError(
                hea, FORMAT,
                f"{need:,} bytes in {fname} ({n_frames:,} samples x {frame} channels, "
                f"format {fmt})",
                f"{size:,} bytes: the signal file is truncated", _HINT_COPY,
            )
    if sig_len is not None and sig_len * len(chosen) > MAX_TOTAL_SAMPLES:
        raise EcgReadError(
            hea, FORMAT, f"a resting ECG (at most {MAX_TOTAL_SAMPLES:,} samples in all)",
            f"{sig_len:,} samples per channel", "open a single resting ECG",
        )
    if sig_len == 0:
        raise EcgReadError(hea, FORMAT, "a recording with samples", "a length of 0 samples",
                           _HINT_COPY)
    return sig_len


def _mv_factor(units: str | None, name: str, hea: Path) -> float:
    key = (units or "mV").strip().replace("µ", "u").replace("μ", "u").lower()
    if key not in _TO_MV:
        raise EcgReadError(
            hea, FORMAT, f"lead {name} in a voltage unit (mV, uV or V)", f"units {units!r}",
            "fix the units field of that signal line in the header",
        )
    return _TO_MV[key]


def _comment_fields(header) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in header.comments or []:
        key, sep, value = line.partition(":")
        if sep and key.strip() and value.strip():
            fields.setdefault(key.strip().lower(), value.strip())
    return fields


def _demographics(header) -> Demographics:
    fields = _comment_fields(header)
    age = None
    try:
        value = float(fields.get("age", "nan"))
        # PTB-XL-style exports write 300 for ages over 89 (HIPAA); not a real age.
        age = value if 0.0 <= value < 130.0 else None
    except ValueError:
        pass
    sex = {"m": "male", "male": "male", "f": "female", "female": "female"}.get(
        fields.get("sex", "").strip().lower()
    )
    return Demographics(age_years=age, sex=sex)


def _meta_from_comments(header) -> dict[str, Any]:
    meta: dict[str, Any] = {"record_name": header.record_name}
    if header.comments:
        meta["header_comments"] = list(header.comments)
    fields = _comment_fields(header)
    dx = [c.strip() for c in fields.get("dx", "").split(",") if c.strip()]
    if dx:
        meta["dx_snomed"] = dx
    if "reason for admission" in fields:
        meta["diagnosis"] = fields["reason for admission"]
    when = getattr(header, "base_datetime", None)
    if when is not None:
        meta["recording_start"] = when.isoformat()
    elif getattr(header, "base_date", None) is not None:
        meta["recording_start"] = header.base_date.isoformat()
    return meta
