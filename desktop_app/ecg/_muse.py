"""GE MUSE XML reader (``RestingECG``, as exported by MUSE 7-9 and GE MAC carts).

A MUSE export holds up to two ``<Waveform>`` blocks: ``Median`` (one representative beat) and
``Rhythm`` (the recording). Only the rhythm is read; a median beat is not a recording. Each
``<LeadData>`` is Base64 text of little-endian int16 samples, scaled by
``LeadAmplitudeUnitsPerBit`` in ``LeadAmplitudeUnits``; the rate is
``SampleBase * 10 ** SampleExponent``. GE stores the 8 independent leads (I, II, V1-V6);
III, aVR, aVL and aVF are derived by :func:`~desktop_app.ecg.assemble_record` and flagged so.
A ``LeadDataCRC32`` next to the samples is checked when present.

MUSE files start with ``<!DOCTYPE RestingECG SYSTEM "restecg.dtd">``. That declaration is
allowed (expat never fetches the external DTD), but entity declarations are refused and never
resolved (defusedxml).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import zlib
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._record import Demographics, EcgRecord
from desktop_app.ecg._xml import element_text as _text
from desktop_app.ecg._xml import element_number, measurement_values, parse_xml, xml_root_tag
from desktop_app.errors import EcgReadError

logger = logging.getLogger(__name__)

FORMAT = "muse"
# A MUSE export of a 10-s resting ECG is about 100-200 kB; 64 MB bounds what ElementTree
# holds in memory while leaving room for long rhythm strips.
MAX_MUSE_BYTES = 64 * 1024 * 1024
_TO_MV = {"MICROVOLTS": 1e-3, "MILLIVOLTS": 1.0, "NANOVOLTS": 1e-6}
_AGE_UNITS_PER_YEAR = {"YEARS": 1.0, "MONTHS": 12.0, "WEEKS": 52.1775, "DAYS": 365.25,
                       "HOURS": 8766.0}
_HINT_EXPORT = "export the ECG again from MUSE"

# MUSE measurement tag -> (name, unit). Rates in beats per minute, intervals in ms, axes in
# degrees (GE MUSE XML schema, restecg.dtd).
_MEASUREMENTS = {
    "VentricularRate": ("ventricular_rate", "bpm"), "AtrialRate": ("atrial_rate", "bpm"),
    "PRInterval": ("pr_interval", "ms"), "QRSDuration": ("qrs_duration", "ms"),
    "QTInterval": ("qt_interval", "ms"), "QTCorrected": ("qtc_interval", "ms"),
    "PAxis": ("p_axis", "deg"), "RAxis": ("qrs_axis", "deg"), "TAxis": ("t_axis", "deg"),
}


def sniff(head: bytes, path: Path) -> bool:
    """True when the XML root element is ``RestingECG`` (GE MUSE).

    Parameters
    ----------
    head : the first bytes of the file (4096 from the dispatcher).
    path : the file (unused; the decision is by content only).

    Returns
    -------
    bool
        Never raises. HL7 aECG (``AnnotatedECG``) and Philips (``restingecgdata``) roots are
        not claimed.
    """
    return xml_root_tag(head) == "RestingECG"


def read_muse(path: str | Path, **kwargs: Any) -> EcgRecord:
    """Read the rhythm waveform of a GE MUSE XML export.

    Parameters
    ----------
    path : the ``.xml`` file.
    **kwargs : options of other readers; ignored, since MUSE states its own rate and units.

    Returns
    -------
    EcgRecord
        Leads in mV at ``SampleBase * 10 ** SampleExponent`` Hz. ``meta`` holds
        ``acquisition_time``, ``device``, ``filters_hz``, ``machine_measurements`` (name ->
        ``{"value", "unit"}``, from ``RestingECGMeasurements``) and ``machine_statements``
        (the confirmed ``Diagnosis`` lines, in the language of the file) where present.
        Patient ID, name, age and sex go into ``demographics`` only.

    Raises
    ------
    EcgReadError
        The file is empty, too large, not well-formed XML, declares entities, is not a MUSE
        export, has no rhythm waveform, or a lead's Base64, CRC, sample count, units or lead
        count do not agree with what the file declares.
    """
    path = Path(path)
    if kwargs:
        logger.debug("options %s do not apply to MUSE XML; ignored", sorted(kwargs))
    root = parse_xml(path, format=FORMAT, what="a GE MUSE XML file", max_bytes=MAX_MUSE_BYTES,
                     hint=_HINT_EXPORT, allow_doctype=True)
    if root.tag != "RestingECG":
        raise EcgReadError(path, FORMAT, "root element <RestingECG> (GE MUSE)",
                           f"root element <{root.tag}>",
                           "this XML is not a MUSE export; open it with its own format")
    waveforms = root.findall("Waveform")
    rhythm = [w for w in waveforms if (_text(w.find("WaveformType")) or "").lower() == "rhythm"]
    if not rhythm:
        kinds = sorted({_text(w.find("WaveformType")) or "untyped" for w in waveforms})
        raise EcgReadError(
            path, FORMAT, "a <Waveform> of type Rhythm",
            f"waveforms of type {', '.join(kinds)}" if kinds else "no waveforms",
            "a median beat is not a recording; export the full rhythm from MUSE")
    fs_hz, leads = _read_waveform(rhythm[0], path)
    meta: dict[str, Any] = {}
    others = [_text(w.find("WaveformType")) for w in waveforms if w is not rhythm[0]]
    if any(others):
        meta["other_waveforms"] = [o for o in others if o]
    meta.update(_test_meta(root, rhythm[0]))
    measurements = measurement_values(root.find("RestingECGMeasurements"), _MEASUREMENTS)
    if measurements:
        meta["machine_measurements"] = measurements
    statements = _statements(root.find("Diagnosis"))
    if statements:
        meta["machine_statements"] = statements
    return assemble_record(leads, fs_hz, path=path, format=FORMAT,
                           demographics=_demographics(root.find("PatientDemographics")),
                           meta=meta)


def _number(parent: Element, tag: str, path: Path, where: str) -> float:
    value = element_number(parent.find(tag))
    if value is None:
        raise EcgReadError(path, FORMAT, f"a number in <{tag}> of {where}",
                           repr(_text(parent.find(tag))), _HINT_EXPORT)
    return value


def _read_waveform(wave: Element, path: Path) -> tuple[float, dict[str, np.ndarray]]:
    base = _number(wave, "SampleBase", path, "the rhythm waveform")
    exponent = _text(wave.find("SampleExponent")) or "0"
    try:
        fs_hz = base * 10.0 ** int(exponent)
    except (ValueError, OverflowError) as exc:
        raise EcgReadError(path, FORMAT, "an integer SampleExponent", repr(exponent),
                           _HINT_EXPORT) from exc
    if not (1.0 <= fs_hz <= 100_000.0):
        raise EcgReadError(path, FORMAT, "a sampling rate within 1..100000 Hz",
                           f"{fs_hz:g} Hz", _HINT_EXPORT)
    lead_data = wave.findall("LeadData")
    declared = _text(wave.find("NumberofLeads"))
    if declared is not None and declared != str(len(lead_data)):
        raise EcgReadError(path, FORMAT, f"{declared} leads (NumberofLeads)",
                           f"{len(lead_data)} <LeadData> blocks",
                           "the file is incomplete or was edited; " + _HINT_EXPORT)
    if not lead_data:
        raise EcgReadError(path, FORMAT, "at least one <LeadData> in the rhythm waveform",
                           "none", _HINT_EXPORT)
    leads: dict[str, np.ndarray] = {}
    for block in lead_data:
        name = _text(block.find("LeadID")) or "unnamed lead"
        if name in leads:
            raise EcgReadError(path, FORMAT, "each lead once", f"lead {name} twice",
                               _HINT_EXPORT)
        leads[name] = _read_lead(block, name, path)
    return fs_hz, leads


def _read_lead(block: Element, name: str, path: Path) -> np.ndarray:
    where = f"lead {name}"
    size = _text(block.find("LeadSampleSize")) or "2"
    if size != "2":
        raise EcgReadError(path, FORMAT, f"2-byte samples in {where}", f"{size}-byte samples",
                           _HINT_EXPORT)
    unit = (_text(block.find("LeadAmplitudeUnits")) or "").upper()
    if unit not in _TO_MV:
        raise EcgReadError(path, FORMAT, f"amplitude units MICROVOLTS or MILLIVOLTS in {where}",
                           f"{unit or 'none'!r}", "without them the samples have no scale; "
                           + _HINT_EXPORT)
    per_bit = _number(block, "LeadAmplitudeUnitsPerBit", path, where)
    if per_bit <= 0:
        raise EcgReadError(path, FORMAT, f"a positive LeadAmplitudeUnitsPerBit in {where}",
                           f"{per_bit:g}", _HINT_EXPORT)
    text = _text(block.find("WaveFormData")) or ""
    try:
        # The text is at most MAX_MUSE_BYTES, so its decoding is bounded too; no declared count
        # is used to allocate anything.
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EcgReadError(path, FORMAT, f"valid Base64 samples in {where}",
                           f"damaged Base64 ({exc})",
                           "the file was altered or cut short; " + _HINT_EXPORT) from exc
    crc = _text(block.find("LeadDataCRC32"))
    if crc is not None and crc.isdigit() and int(crc) != zlib.crc32(data):
        raise EcgReadError(path, FORMAT, f"samples of {where} matching LeadDataCRC32 {crc}",
                           f"CRC32 {zlib.crc32(data)}",
                           "the samples were altered or damaged; " + _HINT_EXPORT)
    count = _text(block.find("LeadSampleCountTotal"))
    n_bytes = _text(block.find("LeadByteCountTotal"))
    if len(data) % 2 or (count is not None and count != str(len(data) // 2)) or (
            n_bytes is not None and n_bytes != str(len(data))):
        raise EcgReadError(
            path, FORMAT,
            f"{count or '?'} samples ({n_bytes or '?'} bytes) in {where}",
            f"{len(data)} bytes", "the file is truncated or damaged; " + _HINT_EXPORT)
    samples = np.frombuffer(data, dtype="<i2").astype(np.float64)
    return samples * (per_bit * _TO_MV[unit])


def _test_meta(root: Element, wave: Element) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    test = root.find("TestDemographics")
    if test is not None:
        day = _text(test.find("AcquisitionDate"))  # MM-DD-YYYY
        clock = _text(test.find("AcquisitionTime"))
        m = re.fullmatch(r"(\d{2})-(\d{2})-(\d{4})", day or "")
        if m:
            meta["acquisition_time"] = f"{m.group(3)}-{m.group(1)}-{m.group(2)}" + (
                f"T{clock}" if clock and re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", clock) else "")
        device = _text(test.find("AcquisitionDevice"))
        if device:
            meta["device"] = device
    filters: dict[str, float] = {}
    # GE writes the high-pass corner in hundredths of a hertz (56 = 0.56 Hz, 5 = 0.05 Hz),
    # low-pass and mains (AC) filters in hertz.
    for key, tag, scale in (("high_pass", "HighPassFilter", 0.01),
                            ("low_pass", "LowPassFilter", 1.0), ("notch", "ACFilter", 1.0)):
        try:
            value = float(_text(wave.find(tag)) or "")
        except ValueError:
            continue
        if value > 0:
            filters[key] = value * scale
    if filters:
        meta["filters_hz"] = filters
    return meta


def _statements(diagnosis: Element | None) -> list[str]:
    # A statement without the ENDSLINE flag continues on the same printed line as the next one.
    lines: list[str] = []
    current: list[str] = []
    if diagnosis is None:
        return lines
    for st in diagnosis.findall("DiagnosisStatement"):
        text = _text(st.find("StmtText"))
        if text:
            current.append(text)
        flags = {(_text(f) or "").upper() for f in st.findall("StmtFlag")}
        if "ENDSLINE" in flags and current:
            lines.append(" ".join(current))
            current = []
    if current:
        lines.append(" ".join(current))
    return lines


def _demographics(block: Element | None) -> Demographics:
    if block is None:
        return Demographics()
    age: float | None = None
    try:
        value = float(_text(block.find("PatientAge")) or "")
        unit = (_text(block.find("AgeUnits")) or "YEARS").upper()
        age = value / _AGE_UNITS_PER_YEAR[unit]
    except (ValueError, KeyError):
        age = None
    if age is not None and not (0.0 <= age <= 130.0):
        age = None
    sex = {"MALE": "male", "FEMALE": "female"}.get((_text(block.find("Gender")) or "").upper())
    names = [_text(block.find(t)) for t in ("PatientFirstName", "PatientLastName")]
    name = " ".join(n for n in names if n) or None
    return Demographics(age_years=age, sex=sex, patient_id=_text(block.find("PatientID")),
                        name=name)
