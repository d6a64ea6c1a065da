"""EDF / EDF+ / BDF reader (European Data Format; Kemp et al. 1992, EDF+ 2003, BioSemi BDF).

Polysomnography systems, Holter recorders and some ECG carts write EDF. A file holds any set of
channels; those whose labels name one of the 12 standard leads ("ECG I", "EKG V1", "II",
"ECG aVR", ...) are read, every other channel (EEG, respiration, "ECG1" of a Holter whose
electrode placement is unknown) is listed in ``meta["ignored_channels"]``. Leads the file lacks
are marked missing (or derived) by :func:`~desktop_app.ecg.assemble_record`.

Parsing, physical scaling and EDF+ subfields are done by ``edfio`` (numpy only, reads EDF
lazily through a memory map). Before edfio sees the file, its fixed header is checked here
against the file size, so that no declared number of records, signals or samples can make the
reader allocate more than the file holds, and a truncated file is refused rather than silently
shortened.

Leads recorded at different rates are brought to the highest rate with
:func:`scipy.signal.resample_poly` (polyphase, anti-aliased); rates whose ratio is not a simple
fraction are refused. Long recordings (Holter) are cut to their first ``max_duration_s``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._files import check_file_size
from desktop_app.ecg._leadnames import normalise_lead_name
from desktop_app.ecg._record import Demographics, EcgRecord
from desktop_app.errors import EcgReadError

logger = logging.getLogger(__name__)

FORMAT = "edf"
# A 24-h 3-lead Holter at 256 Hz is about 130 MB; larger files are not what this app is for.
MAX_EDF_BYTES = 256 * 1024 * 1024
MAX_SIGNALS = 512
MAX_SAMPLES_PER_RECORD = 1_000_000
# A resting ECG is 10 s; a similarity search on more than 5 minutes makes no clinical sense, and
# the cut keeps memory bounded for long Holter files.
DEFAULT_MAX_DURATION_S = 300.0
_MAX_RESAMPLE_FACTOR = 1000
_TO_MV = {"uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microv": 1e-3, "mv": 1.0, "millivolt": 1.0,
          "millivolts": 1.0, "v": 1e3, "volt": 1e3, "volts": 1e3, "nv": 1e-6}
_ECG_PREFIX = re.compile(r"^\s*(?:ECG|EKG)(?:[\s_:.\-]+|(?=[IV]|AV))", re.I)
_EDFPLUS_PATIENT = re.compile(r"^\S+ [MFX] (?:X|\d{2}-[A-Z]{3}-\d{4}) \S+")
_HINT_EXPORT = "export the recording again as EDF/EDF+ from the recorder's software"


def sniff(head: bytes, path: Path) -> bool:
    """True when the file starts like an EDF/EDF+ header or a BioSemi BDF header.

    Parameters
    ----------
    head : the first bytes of the file (4096 from the dispatcher).
    path : the file (unused; the decision is by content only).

    Returns
    -------
    bool
        ``"0       "`` (EDF) or ``0xFF "BIOSEMI"`` (BDF) followed by a numeric header-size
        and signal-count field. Never raises.
    """
    try:
        if len(head) < 256 or head[:8] not in (b"0       ", b"\xffBIOSEMI"):
            return False
        return head[184:192].strip().isdigit() and head[252:256].strip().isdigit()
    except Exception:  # a sniffer must never raise
        return False


def read_edf(path: str | Path, *, max_duration_s: float = DEFAULT_MAX_DURATION_S,
             **kwargs: Any) -> EcgRecord:
    """Read the standard ECG leads of an EDF, EDF+ (continuous) or BDF file.

    Parameters
    ----------
    path : the ``.edf`` or ``.bdf`` file.
    max_duration_s : longer recordings are cut to their first ``max_duration_s`` seconds
        (``meta["cut_to_s"]`` says so).
    **kwargs : options of other readers; ignored, since EDF states its own rates and units.

    Returns
    -------
    EcgRecord
        Leads in mV (physical dimension uV, mV or V) at the highest rate among them.
        ``meta`` holds ``edf_type`` (``EDF``, ``EDF+C`` or ``BDF``), ``start_time``,
        ``channel_labels`` (the file's labels of the leads used), ``ignored_channels``,
        ``resampled_leads`` and ``annotations`` (EDF+ onset/duration/text, at most 200) where
        present. EDF+ patient sex, birthdate (as age), code and name go into
        ``demographics`` only.

    Raises
    ------
    EcgReadError
        The file is empty, too large, not EDF/BDF, has an inconsistent header, is truncated,
        is a discontinuous EDF+D recording, has no channel that names a standard lead, has a
        lead in unknown units, or has leads at rates that cannot be resampled exactly.
    """
    import edfio

    path = Path(path)
    if kwargs:
        logger.debug("options %s do not apply to EDF files; ignored", sorted(kwargs))
    header = _check_header(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if header["bdf"]:
                rec = edfio.read_bdf(path)
            else:
                rec = edfio.read_edf(path, lazy_load_data=True)
        for w in caught:
            logger.debug("edfio: %s", w.message)
        signals = rec.signals
    except (ValueError, OSError, IndexError, UnicodeDecodeError) as exc:
        raise EcgReadError(path, FORMAT, "a valid EDF/BDF header",
                           f"a damaged one ({type(exc).__name__}: {exc})",
                           _HINT_EXPORT) from exc
    chosen: dict[str, Any] = {}
    labels: dict[str, str] = {}
    ignored: list[str] = []
    for sig in signals:
        name = _lead_name(sig.label)
        if name is None:
            ignored.append(sig.label.strip() or "unlabelled channel")
            continue
        if name in chosen:
            raise EcgReadError(path, FORMAT, "each lead once",
                               f"lead {name} twice ({labels[name]!r}, {sig.label.strip()!r})",
                               _HINT_EXPORT)
        chosen[name] = sig
        labels[name] = sig.label.strip()
    if not chosen:
        raise EcgReadError(
            path, FORMAT, "at least one channel labelled as a standard lead (e.g. 'ECG II')",
            f"channels {', '.join(ignored[:20]) or 'none'}",
            "an EDF without named ECG leads (or with only 'ECG1'/'ECG2' of unknown placement) "
            "cannot be shown as a 12-lead ECG; relabel the channels in the recorder's software")
    leads, fs_hz, meta = _lead_data(chosen, path, max_duration_s)
    meta.update({"edf_type": header["type"], "channel_labels": labels})
    if ignored:
        meta["ignored_channels"] = ignored
    meta.update(_recording_meta(rec, header))
    return assemble_record(leads, fs_hz, path=path, format=FORMAT,
                           demographics=_demographics(rec, header), meta=meta)


def _field(raw: bytes, what: str, path: Path, kind=int):
    text = raw.decode("ascii", errors="replace").strip()
    try:
        return kind(text)
    except ValueError as exc:
        raise EcgReadError(path, FORMAT, f"a number in the header field '{what}'",
                           repr(text), "the header is damaged; " + _HINT_EXPORT) from exc


def _check_header(path: Path) -> dict[str, Any]:
    size = check_file_size(path, format=FORMAT, what="an EDF file", max_bytes=MAX_EDF_BYTES,
                           hint="copy or " + _HINT_EXPORT,
                           too_large_hint="open a shorter recording")
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
            if len(head) < 256 or head[:8] not in (b"0       ", b"\xffBIOSEMI"):
                raise EcgReadError(path, FORMAT,
                                   "a 256-byte EDF header starting with '0' (or BDF 0xFF BIOSEMI)",
                                   f"{len(head)} bytes starting {head[:8]!r}",
                                   "this is not an EDF file")
            n_signals = _field(head[252:256], "number of signals", path)
            header_bytes = _field(head[184:192], "bytes in header", path)
            if not (1 <= n_signals <= MAX_SIGNALS) or header_bytes != 256 * (n_signals + 1):
                raise EcgReadError(
                    path, FORMAT, f"1..{MAX_SIGNALS} signals and a header of 256 x (signals + 1) "
                    "bytes", f"{n_signals} signals, {header_bytes} header bytes",
                    "the header is damaged; " + _HINT_EXPORT)
            if size < header_bytes:
                raise EcgReadError(path, FORMAT, f"a header of {header_bytes} bytes",
                                   f"a file of {size} bytes", "the file is truncated; copy it "
                                   "again")
            signal_headers = fh.read(256 * n_signals)
    except OSError as exc:
        raise EcgReadError(path, FORMAT, "a readable file", f"an OS error ({exc})",
                           "check the path and permissions") from exc
    bdf = head[:8] == b"\xffBIOSEMI"
    reserved = head[192:236].decode("ascii", errors="replace").strip()
    if reserved.startswith("EDF+D"):
        raise EcgReadError(path, FORMAT, "a continuous recording (EDF or EDF+C)",
                           "a discontinuous EDF+D recording",
                           "export one continuous segment as EDF+C")
    n_records = _field(head[236:244], "number of data records", path)
    record_s = _field(head[244:252], "duration of a data record", path, float)
    # Per-signal fields are stored field by field: 16 label bytes for every signal, then 80
    # transducer bytes for every signal, ...; samples per record start at byte 216 x ns.
    offset = (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80) * n_signals
    spr = [_field(signal_headers[offset + 8 * i: offset + 8 * i + 8],
                  "samples per data record", path) for i in range(n_signals)]
    if any(not (0 <= s <= MAX_SAMPLES_PER_RECORD) for s in spr) or sum(spr) == 0:
        raise EcgReadError(path, FORMAT,
                           f"0..{MAX_SAMPLES_PER_RECORD} samples per data record per signal",
                           f"{max(spr)} (total {sum(spr)})", "the header is damaged; "
                           + _HINT_EXPORT)
    if not (np.isfinite(record_s) and record_s > 0):
        raise EcgReadError(path, FORMAT, "a positive data-record duration",
                           f"{record_s:g} s", _HINT_EXPORT)
    record_bytes = sum(spr) * (3 if bdf else 2)
    held = (size - header_bytes) // record_bytes
    if n_records == -1:  # allowed while recording; the file size tells the count
        n_records = held
    if n_records < 1 or n_records > held:
        raise EcgReadError(
            path, FORMAT, f"{n_records} data records of {record_bytes} bytes (header)",
            f"room for {held} in the file's {size - header_bytes} data bytes",
            "the file is truncated or its header is damaged; copy or " + _HINT_EXPORT)
    edf_type = "BDF" if bdf else ("EDF+C" if reserved.startswith("EDF+C") else "EDF")
    return {"bdf": bdf, "type": edf_type, "plus": reserved.startswith("EDF+"),
            "n_records": n_records}


def _lead_name(label: str) -> str | None:
    name = normalise_lead_name(label)
    if name is not None:
        return name
    stripped = _ECG_PREFIX.sub("", label, count=1)
    return normalise_lead_name(stripped) if stripped != label else None


def _lead_data(chosen: dict[str, Any], path: Path, max_duration_s: float):
    rates = {name: float(sig.sampling_frequency) for name, sig in chosen.items()}
    fs_hz = max(rates.values())
    leads: dict[str, np.ndarray] = {}
    resampled: list[str] = []
    cut = False
    for name, sig in chosen.items():
        unit = sig.physical_dimension.strip()
        factor = _TO_MV.get(unit.lower())
        if factor is None:
            raise EcgReadError(path, FORMAT, f"lead {name} in uV, mV or V",
                               f"physical dimension {unit or 'empty'!r}",
                               "without units the amplitude cannot be shown; " + _HINT_EXPORT)
        n_keep = int(np.floor(max_duration_s * rates[name]))
        digital = sig.digital  # int16/int32 from the memory map; calibrated only after the cut
        cut = cut or len(digital) > n_keep
        data = _physical(digital[:n_keep], sig, name, path) * factor
        if rates[name] != fs_hz:
            data = _resample(data, rates[name], fs_hz, name, path)
            resampled.append(name)
        leads[name] = data
    n = min(len(v) for v in leads.values())
    meta: dict[str, Any] = {}
    if any(len(v) > n for v in leads.values()):
        # resample_poly rounds each lead's length up; the leads cover the same span, so a
        # difference of a sample or two is the rounding, not missing data.
        leads = {k: v[:n] for k, v in leads.items()}
    if resampled:
        meta["resampled_leads"] = {k: rates[k] for k in resampled}
    if cut:
        meta["cut_to_s"] = float(max_duration_s)
        logger.info("recording longer than %.0f s; only its start is read", max_duration_s)
    return leads, fs_hz, meta


def _physical(digital: np.ndarray, sig, name: str, path: Path) -> np.ndarray:
    d_min, d_max = float(sig.digital_min), float(sig.digital_max)
    p_min, p_max = float(sig.physical_min), float(sig.physical_max)
    if not (d_max > d_min and p_max != p_min and np.isfinite([p_min, p_max]).all()):
        raise EcgReadError(path, FORMAT, f"distinct digital and physical ranges for lead {name}",
                           f"digital {d_min:g}..{d_max:g}, physical {p_min:g}..{p_max:g}",
                           "without them the samples cannot be scaled; " + _HINT_EXPORT)
    # EDF spec: physical = p_min + (digital - d_min) * (p_max - p_min) / (d_max - d_min).
    return p_min + (digital.astype(np.float64) - d_min) * ((p_max - p_min) / (d_max - d_min))


def _resample(data: np.ndarray, fs_from: float, fs_to: float, name: str, path: Path):
    from desktop_app.signal import resample

    ratio = Fraction(fs_to / fs_from).limit_denominator(_MAX_RESAMPLE_FACTOR)
    if abs(float(ratio) * fs_from - fs_to) > 1e-6 * fs_to:
        raise EcgReadError(path, FORMAT, "lead rates in a simple ratio",
                           f"lead {name} at {fs_from:g} Hz beside {fs_to:g} Hz",
                           "export all ECG leads at the same sampling rate")
    return resample(data, fs_from, fs_to)


def _recording_meta(rec, header: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    try:
        meta["start_time"] = rec.startdatetime.replace(tzinfo=None).isoformat()
    except (ValueError, AttributeError):
        pass
    if header["plus"]:
        try:
            equipment = rec.recording.equipment_code
            if equipment and equipment != "X":
                meta["device"] = equipment.replace("_", " ")
        except (ValueError, AttributeError):
            pass
        try:
            annotations = rec.annotations
        except (ValueError, IndexError, UnicodeDecodeError):
            annotations = ()
        if annotations:
            meta["annotations"] = [
                {"onset_s": float(a.onset),
                 "duration_s": None if a.duration is None else float(a.duration),
                 "text": a.text} for a in annotations[:200]]
    return meta


def _demographics(rec, header: dict[str, Any]) -> Demographics:
    # EDF+ gives the patient field a structure ("code sex birthdate name"); in plain EDF it is
    # free text, read only when it has exactly that shape (some writers, edfio among them, use
    # it without marking the file EDF+), so an identifier is never mistaken for a sex or date.
    try:
        field = rec.local_patient_identification
    except (ValueError, UnicodeDecodeError):
        return Demographics()
    if not (header["plus"] or _EDFPLUS_PATIENT.match(field)):
        return Demographics()
    try:
        patient = rec.patient
        code, sex_field, name = patient.code, patient.sex, patient.name
    except (ValueError, AttributeError):
        return Demographics()
    sex = {"M": "male", "F": "female"}.get(sex_field.upper())
    age: float | None = None
    try:
        born = patient.birthdate
        taken = rec.startdate
        if isinstance(born, dt.date) and taken >= born:
            age = float(taken.year - born.year
                        - ((taken.month, taken.day) < (born.month, born.day)))
    except (ValueError, AttributeError, TypeError):
        age = None
    if age is not None and not (0.0 <= age <= 130.0):
        age = None
    return Demographics(
        age_years=age, sex=sex,
        patient_id=None if code in ("", "X") else code,
        name=None if name in ("", "X") else name.replace("_", " "))
