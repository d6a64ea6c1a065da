"""DICOM waveform reader: 12-Lead ECG and General ECG Waveform Storage (PS3.3 C.10.9).

A waveform object holds one or more multiplex groups, each a block of interleaved channels at
one rate. Carts store the rhythm recording in one group and often a derived median beat in
another; the group with the most standard leads and the longest duration is the recording.
Samples are decoded here (not with ``Dataset.waveform_array``) so that a declared size larger
than the stored data is refused before anything is allocated, and so that mu-law/A-law samples,
which pydicom would return undecoded, are refused rather than misread.
"""

from __future__ import annotations

import logging
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._files import check_file_size
from desktop_app.ecg._leadnames import normalise_lead_name
from desktop_app.ecg._record import LEADS_12, Demographics, EcgRecord
from desktop_app.errors import EcgReadError

logger = logging.getLogger(__name__)

FORMAT = "dicom"
_HINT_EXPORT = "export the ECG again from the device or PACS"
# A 12-lead resting ECG is well under 1 MB; 256 MB covers long multi-channel recordings.
MAX_DICOM_BYTES = 256 * 1024 * 1024

# Lead numbers shared by SCP-ECG lead identifiers (scheme SCPECG, code 5.6.3-9-N) and the
# ISO/IEEE 11073 MDC ECG lead codes in DICOM CID 3001 (scheme MDC, code 2:N).
_LEAD_NUMBERS = {1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6",
                 61: "III", 62: "aVR", 63: "aVL", 64: "aVF"}
_LEAD_CODE = re.compile(r"^(?:5\.6\.3-9-|2:)(\d+)$")
# Channel sensitivity units (UCUM code values) -> factor to millivolts.
_TO_MV = {"nV": 1e-6, "uV": 1e-3, "mV": 1.0, "V": 1e3}
# (bits allocated, sample interpretation) -> numpy kind and size; mu-law (MB) and A-law (AB)
# are companded and would need decoding tables, which no ECG cart we know of uses.
_SAMPLE_TYPES = {(8, "SB"): "i1", (8, "UB"): "u1", (16, "SS"): "i2", (16, "US"): "u2",
                 (32, "SL"): "i4", (32, "UL"): "u4"}
# Errors pydicom raises on damaged files, on reading or on converting an element's value.
_DICOM_ERRORS = (InvalidDicomError, EOFError, OSError, ValueError, TypeError, KeyError,
                 AttributeError, IndexError, OverflowError, struct.error, NotImplementedError)


def sniff(head: bytes, path: Path) -> bool:
    """True when the file has the DICOM preamble: 128 bytes, then ``DICM``.

    Parameters
    ----------
    head : the first bytes of the file (at least 132).
    path : the file (unused; the decision is by content only).

    Returns
    -------
    bool
        Never raises.
    """
    return len(head) >= 132 and head[128:132] == b"DICM"


def read_dicom(path: str | Path, **kwargs: Any) -> EcgRecord:
    """Read the rhythm multiplex group of a DICOM ECG waveform file.

    Parameters
    ----------
    path : the DICOM file (Part 10, with preamble).
    **kwargs : options of other readers; ignored, since DICOM states its own rate and units.

    Returns
    -------
    EcgRecord
        The group with the most standard leads and the longest duration, in mV:
        ``value = (stored * ChannelSensitivity * ChannelSensitivityCorrectionFactor +
        ChannelBaseline)`` in the channel's sensitivity units (PS3.3 C.10.9.1.4.3; the baseline
        is in those units, not in stored counts). ``meta`` holds ``sop_class``,
        ``multiplex_group``, ``acquisition_time``, ``manufacturer``, ``device``,
        ``filters_hz``, ``statements`` and ``measurements`` where present. Patient name and ID
        go into ``demographics`` only.

    Raises
    ------
    EcgReadError
        The file is not DICOM, is damaged or truncated, holds no waveform (an image, a report),
        has no group with standard leads, uses an unsupported sample encoding, lacks amplitude
        units, or declares more samples than it stores.
    """
    path = Path(path)
    if kwargs:
        logger.debug("options %s do not apply to DICOM files; ignored", sorted(kwargs))
    check_file_size(path, format=FORMAT, what="a DICOM file", max_bytes=MAX_DICOM_BYTES,
                    hint="copy or " + _HINT_EXPORT)
    try:
        # Pixel data follows the waveform elements (7FE0 > 5400), so an image is not loaded.
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except InvalidDicomError as exc:
        raise EcgReadError(path, FORMAT, "a DICOM file (128-byte preamble, then 'DICM')",
                           "no DICOM preamble", "open a DICOM Part 10 file") from exc
    except _DICOM_ERRORS as exc:
        raise EcgReadError(path, FORMAT, "a complete DICOM file",
                           f"a damaged or truncated one ({type(exc).__name__}: {exc})",
                           "copy or " + _HINT_EXPORT) from exc
    try:
        return _read_dataset(ds, path)
    except EcgReadError:
        raise
    except _DICOM_ERRORS as exc:
        raise EcgReadError(path, FORMAT, "a DICOM ECG waveform with valid attributes",
                           f"a damaged attribute ({type(exc).__name__}: {exc})",
                           _HINT_EXPORT) from exc


def _read_dataset(ds: Dataset, path: Path) -> EcgRecord:
    sop = _sop_name(ds)
    groups = list(ds.get("WaveformSequence") or [])
    if not groups:
        hint = ("the file may be truncated; copy or " + _HINT_EXPORT if "Waveform" in sop
                else "open an ECG exported as DICOM waveform")
        raise EcgReadError(path, FORMAT, "a DICOM ECG waveform (Waveform Sequence)",
                           f"a DICOM {sop} (modality {ds.get('Modality') or 'unknown'}) "
                           "without waveform data", hint)
    summaries = [_summarise(g) for g in groups]
    best = max(range(len(groups)), key=lambda i: summaries[i])
    if summaries[best][0] == 0:
        raise EcgReadError(
            path, FORMAT, "a multiplex group with standard ECG leads",
            f"{len(groups)} group(s) of channels {', '.join(_channel_names(groups))}",
            "this waveform is not a 12-lead ECG")
    group = groups[best]
    fs_hz, leads, filters = _decode_group(group, path, _little_endian(ds))
    meta: dict[str, Any] = {"sop_class": sop}
    label = str(group.get("MultiplexGroupLabel") or "").strip()
    if label:
        meta["multiplex_group"] = label
    if len(groups) > 1:
        meta["other_multiplex_groups"] = [
            str(g.get("MultiplexGroupLabel") or f"group {i + 1}").strip()
            for i, g in enumerate(groups) if i != best]
    when = str(ds.get("AcquisitionDateTime") or "").strip()
    if not when and ds.get("ContentDate"):
        when = str(ds.ContentDate) + str(ds.get("ContentTime") or "")
    if when:
        meta["acquisition_time"] = _iso(when)
    for key, keyword in (("manufacturer", "Manufacturer"), ("device", "ManufacturerModelName")):
        value = str(ds.get(keyword) or "").strip()
        if value:
            meta[key] = value
    if filters:
        meta["filters_hz"] = filters
    statements, measurements = _annotations(ds)
    if statements:
        meta["machine_statements"] = statements
    if measurements:
        meta["machine_measurements"] = measurements
    return assemble_record(leads, fs_hz, path=path, format=FORMAT,
                           demographics=_demographics(ds, when), meta=meta)


def _little_endian(ds: Dataset) -> bool:
    # pydicom 3 records the file's encoding in original_encoding; 2.x in is_little_endian.
    encoding = getattr(ds, "original_encoding", None)
    if encoding is not None and encoding[1] is not None:
        return bool(encoding[1])
    return getattr(ds, "is_little_endian", None) is not False


def _sop_name(ds: Dataset) -> str:
    uid = ds.get("SOPClassUID") or getattr(ds.get("file_meta"), "MediaStorageSOPClassUID", None)
    if uid is None:
        return "object of unknown SOP class"
    name = getattr(uid, "name", "") or str(uid)
    return name if name != str(uid) else f"object of SOP class {uid}"


def _lead_of(channel: Dataset) -> str:
    """Standard lead name of a channel, or a descriptive label that is not one."""
    sources = channel.get("ChannelSourceSequence") or []
    src = sources[0] if sources else None
    code = str(src.get("CodeValue") or "").strip() if src is not None else ""
    m = _LEAD_CODE.match(code)
    if m and int(m.group(1)) in _LEAD_NUMBERS:
        return _LEAD_NUMBERS[int(m.group(1))]
    meaning = str(src.get("CodeMeaning") or "").strip() if src is not None else ""
    label = str(channel.get("ChannelLabel") or "").strip()
    # Meanings come as "Lead I (Einthoven)", "Lead aVR" or "aVR, augmented voltage, right".
    for text in (code, meaning, meaning.split(",")[0], label):
        if text and normalise_lead_name(text) is not None:
            return normalise_lead_name(text)
    return meaning or label or code or "unlabelled channel"


def _channel_names(groups: list[Dataset]) -> list[str]:
    names: list[str] = []
    for g in groups:
        for ch in g.get("ChannelDefinitionSequence") or []:
            names.append(_lead_of(ch))
    return names[:20] or ["none"]


def _summarise(group: Dataset) -> tuple[int, float, bool]:
    """Ranking key of a multiplex group: standard leads, duration in s, recorded (not derived)."""
    try:
        leads = {_lead_of(ch) for ch in group.get("ChannelDefinitionSequence") or []}
        n_std = len(leads & set(LEADS_12))
        fs = float(group.get("SamplingFrequency") or 0.0)
        n = int(group.get("NumberOfWaveformSamples") or 0)
        duration_s = n / fs if fs > 0 else 0.0
    except _DICOM_ERRORS:
        return (0, 0.0, False)
    original = str(group.get("WaveformOriginality") or "").upper() == "ORIGINAL"
    return (n_std, duration_s, original)


def _decode_group(group: Dataset, path: Path, little_endian: bool):
    missing = [k for k in ("NumberOfWaveformChannels", "NumberOfWaveformSamples",
                           "SamplingFrequency", "WaveformBitsAllocated",
                           "WaveformSampleInterpretation", "WaveformData",
                           "ChannelDefinitionSequence") if k not in group]
    if missing:
        raise EcgReadError(path, FORMAT, "a complete multiplex group",
                           f"one without {', '.join(missing)}", _HINT_EXPORT)
    n_ch = int(group.NumberOfWaveformChannels)
    n = int(group.NumberOfWaveformSamples)
    fs_hz = float(group.SamplingFrequency)
    bits = int(group.WaveformBitsAllocated)
    kind = str(group.WaveformSampleInterpretation).strip()
    channels = list(group.ChannelDefinitionSequence)
    if n_ch < 1 or n < 2 or len(channels) != n_ch:
        raise EcgReadError(path, FORMAT, "channel definitions matching the channel count",
                           f"{n_ch} channels declared, {len(channels)} defined, {n} samples",
                           _HINT_EXPORT)
    if not (np.isfinite(fs_hz) and 1.0 <= fs_hz <= 100_000.0):
        raise EcgReadError(path, FORMAT, "a sampling frequency within 1..100000 Hz",
                           f"{fs_hz:g} Hz", _HINT_EXPORT)
    if (bits, kind) not in _SAMPLE_TYPES:
        raise EcgReadError(path, FORMAT, "linear 8/16/32-bit samples (SB, UB, SS, US, SL, UL)",
                           f"{bits}-bit {kind} samples", "export the ECG without compression")
    dtype = np.dtype(_SAMPLE_TYPES[(bits, kind)])
    dtype = dtype.newbyteorder("<" if little_endian else ">")
    data = group.WaveformData
    need = n * n_ch * dtype.itemsize
    # Compared before any allocation: the declared size must fit in the bytes actually read.
    if len(data) < need:
        raise EcgReadError(
            path, FORMAT,
            f"{n} samples x {n_ch} channels x {dtype.itemsize} bytes = {need} bytes of data",
            f"only {len(data)} bytes", "the file is truncated or damaged; " + _HINT_EXPORT)
    raw = np.frombuffer(data, dtype=dtype, count=n * n_ch).reshape(n, n_ch)
    leads: dict[str, np.ndarray] = {}
    filters: dict[str, float] = {}
    for j, ch in enumerate(channels):
        name = _lead_of(ch)
        if "ChannelSensitivity" not in ch:
            if normalise_lead_name(name) is None:
                continue  # a non-ECG channel without units is simply not used
            raise EcgReadError(path, FORMAT, f"a channel sensitivity (amplitude units) for {name}",
                               "none", "without it the samples are unitless counts; "
                               + _HINT_EXPORT)
        units_seq = ch.get("ChannelSensitivityUnitsSequence") or []
        unit = str(units_seq[0].get("CodeValue") or "").strip() if units_seq else ""
        if unit not in _TO_MV:
            if normalise_lead_name(name) is None:
                continue
            raise EcgReadError(path, FORMAT, f"amplitude units in uV or mV for {name}",
                               f"units {unit or 'missing'!r}", _HINT_EXPORT)
        sens = float(ch.ChannelSensitivity)
        corr = float(ch.get("ChannelSensitivityCorrectionFactor") or 1.0)
        baseline = float(ch.get("ChannelBaseline") or 0.0)
        if not all(np.isfinite([sens, corr, baseline])) or sens * corr == 0.0:
            raise EcgReadError(path, FORMAT, f"a finite, non-zero sensitivity for {name}",
                               f"sensitivity {sens:g} x correction {corr:g}", _HINT_EXPORT)
        if name in leads and normalise_lead_name(name) is None:
            name = f"{name} #{j + 1}"
        elif name in leads:
            raise EcgReadError(path, FORMAT, "each lead once in the multiplex group",
                               f"lead {name} twice", _HINT_EXPORT)
        leads[name] = (raw[:, j].astype(np.float64) * (sens * corr) + baseline) * _TO_MV[unit]
        if not filters:
            filters = _filters(ch)
    return fs_hz, leads, filters


def _filters(ch: Dataset) -> dict[str, float]:
    out = {}
    # DICOM names the cut-offs, not the filters: the low frequency is the high-pass corner.
    for key, keyword in (("high_pass", "FilterLowFrequency"), ("low_pass", "FilterHighFrequency"),
                         ("notch", "NotchFilterFrequency")):
        try:
            value = float(ch.get(keyword)) if ch.get(keyword) not in (None, "") else 0.0
        except (TypeError, ValueError):
            continue
        if value > 0:
            out[key] = value
    return out


def _annotations(ds: Dataset) -> tuple[list[str], dict[str, dict[str, Any]]]:
    statements: list[str] = []
    measurements: dict[str, dict[str, Any]] = {}
    for ann in ds.get("WaveformAnnotationSequence") or []:
        text = str(ann.get("UnformattedTextValue") or "").strip()
        if text:
            statements.append(text)
            continue
        concept = ann.get("ConceptNameCodeSequence") or []
        value = ann.get("NumericValue")
        if not concept or value in (None, ""):
            continue
        name = str(concept[0].get("CodeMeaning") or concept[0].get("CodeValue") or "").strip()
        units = ann.get("MeasurementUnitsCodeSequence") or []
        unit = str(units[0].get("CodeValue") or "").strip() if units else ""
        try:
            number = float(value[0] if isinstance(value, MultiValue) else value)
        except (TypeError, ValueError, IndexError):
            continue
        if name and name not in measurements:
            measurements[name] = {"value": number, "unit": unit}
    return statements, measurements


def _iso(ts: str) -> str:
    m = re.match(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})?(\d{2})?)?", ts)
    if not m:
        return ts
    y, mo, d, h, mi, s = m.groups()
    out = f"{y}-{mo}-{d}"
    if h:
        out += f"T{h}:{mi or '00'}:{s or '00'}"
    return out


def _age_years(text: str) -> float | None:
    # PS3.5 AS value representation: nnnD, nnnW, nnnM or nnnY.
    m = re.fullmatch(r"(\d{1,3})([DWMY])", text.strip().upper())
    if not m:
        return None
    n = int(m.group(1))
    return {"D": n / 365.25, "W": n * 7 / 365.25, "M": n / 12.0, "Y": float(n)}[m.group(2)]


def _demographics(ds: Dataset, when: str) -> Demographics:
    age = _age_years(str(ds.get("PatientAge") or ""))
    if age is None:
        birth = str(ds.get("PatientBirthDate") or "")
        if re.fullmatch(r"\d{8}", birth) and re.match(r"\d{8}", when):
            b, t = int(birth), int(when[:8])
            if t >= b:
                age = float((t - b) // 10000)  # YYYYMMDD difference: whole years
    if age is not None and not (0.0 <= age <= 130.0):
        age = None
    sex = {"M": "male", "F": "female"}.get(str(ds.get("PatientSex") or "").strip().upper())
    name = str(ds.get("PatientName") or "").strip() or None
    pid = str(ds.get("PatientID") or "").strip() or None
    return Demographics(age_years=age, sex=sex, patient_id=pid, name=name)
