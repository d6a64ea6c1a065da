"""Philips SierraECG XML reader (``restingecgdata``, versions 1.03 and 1.04).

Philips PageWriter carts and TraceMasterVue export the 12 leads in ``<parsedwaveforms>``,
usually Base64 text of XLI-compressed data. XLI is one chunk per lead, each an 8-byte header
(little-endian int32 chunk size, int16 of unknown use, int16 first delta) followed by LZW with
10-bit codes; the LZW output holds 16-bit delta codes split into a block of high bytes and a
block of low bytes, and samples follow from a second-order predictor (bias 64). The cart stores
leads III, aVR, aVL and aVF as residuals against their Einthoven/Goldberger values, which are
added back here. The decoder follows C. Watford's reference implementations
(sixlettervariables/sierra-ecg-tools: C#, JavaScript and the ``sierraecg`` Python package,
MIT); it is written anew here so that chunk sizes and LZW output are bounded, the delta
reconstruction is vectorised (the pure-Python ``sierraecg`` 0.4.0 takes about 0.4 s per file)
and every failure is an :class:`EcgReadError`.

A trailing stretch in which every lead has the same value (zeros and the 1-mV calibration
square wave that the cart appends after the recording) is removed: it is not ECG.

The XML is parsed with defusedxml; entity declarations are refused and never resolved.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._record import Demographics, EcgRecord
from desktop_app.ecg._xml import element_text as _text
from desktop_app.ecg._xml import (element_number, measurement_values, parse_xml, qualifier,
                                  split_tag, xml_root_tag)
from desktop_app.errors import EcgReadError

logger = logging.getLogger(__name__)

FORMAT = "philips"
PHILIPS_NS = "http://www3.medical.philips.com"
# A SierraECG file is about 60-200 kB; 64 MB leaves room for long exports and bounds what
# ElementTree holds in memory.
MAX_PHILIPS_BYTES = 64 * 1024 * 1024
# Bounds on declared sizes, checked before anything is decoded: 16 channels is what the XLI
# stream of a 12/15/16-lead cart holds; 10 minutes at 1 kHz is far beyond a resting ECG.
MAX_CHANNELS = 16
MAX_SAMPLES_PER_LEAD = 600_000
_VERSIONS = ("1.03", "1.04", "1.04.01", "1.04.02")
_LIMB_RESIDUAL_ORDER = ("I", "II", "III", "aVR", "aVL", "aVF")
_STD12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_LZW_BITS = 10
_LZW_MAX_CODE = (1 << _LZW_BITS) - 2  # 1022; code 1023 ends a chunk
_XLI_BIAS = 64
_HINT_EXPORT = "export the ECG again from the cart or TraceMasterVue"


def sniff(head: bytes, path: Path) -> bool:
    """True when the XML root element is ``restingecgdata`` (Philips SierraECG).

    Parameters
    ----------
    head : the first bytes of the file (4096 from the dispatcher); UTF-8 or UTF-16 with BOM.
    path : the file (unused; the decision is by content only).

    Returns
    -------
    bool
        Never raises. GE MUSE (``RestingECG``) and HL7 aECG (``AnnotatedECG``) are not claimed.
    """
    return xml_root_tag(head) == "restingecgdata"


def read_philips(path: str | Path, **kwargs: Any) -> EcgRecord:
    """Read a Philips SierraECG XML file (1.03 or 1.04, XLI-compressed or plain).

    Parameters
    ----------
    path : the ``.xml`` file.
    **kwargs : options of other readers; ignored, since the file states its rate and
        resolution.

    Returns
    -------
    EcgRecord
        Leads in mV (stored units x ``signalresolution``/``resolution`` in µV) at
        ``samplingrate`` Hz, limb-lead residuals resolved, trailing calibration removed.
        ``meta`` holds ``document_version``, ``acquisition_time``, ``device``,
        ``filters_hz``, ``machine_statements`` (left statement, with the right-hand reason in
        parentheses), ``machine_severity`` and ``machine_measurements`` (name ->
        ``{"value", "unit"}``) where present, and ``trailing_samples_removed``. Patient ID,
        name, age and sex go into ``demographics`` only.

    Raises
    ------
    EcgReadError
        The file is empty, too large, not well-formed XML, declares entities, is not
        SierraECG 1.03/1.04, uses an unknown encoding or compression, has damaged Base64 or
        XLI data, or holds fewer samples or leads than it declares.
    """
    path = Path(path)
    if kwargs:
        logger.debug("options %s do not apply to Philips XML; ignored", sorted(kwargs))
    root = parse_xml(path, format=FORMAT, what="a Philips SierraECG XML file",
                     max_bytes=MAX_PHILIPS_BYTES, hint=_HINT_EXPORT, allow_doctype=True)
    q = qualifier(_namespace(root, path))

    version = _text(root.find(q("documentinfo/documentversion"))) or ""
    doc_type = _text(root.find(q("documentinfo/documenttype"))) or ""
    if doc_type not in ("SierraECG", "PhilipsECG") or version not in _VERSIONS:
        raise EcgReadError(
            path, FORMAT, "a SierraECG/PhilipsECG document of version 1.03 or 1.04",
            f"document type {doc_type or 'none'!r}, version {version or 'none'!r}",
            "export as SierraECG 1.03/1.04 XML or PDF-free XML from TraceMasterVue")
    sig = root.find(q("dataacquisition/signalcharacteristics"))
    waves = root.find(q("waveforms/parsedwaveforms"))
    if sig is None or waves is None:
        missing = "signalcharacteristics" if sig is None else "parsedwaveforms"
        raise EcgReadError(path, FORMAT, "<signalcharacteristics> and <parsedwaveforms>",
                           f"no <{missing}>", "the file holds no rhythm data; " + _HINT_EXPORT)
    fs_hz = _number(sig.find(q("samplingrate")), "samplingrate", path)
    resolution_uv = _number(
        sig.find(q("signalresolution")) if sig.find(q("signalresolution")) is not None
        else sig.find(q("resolution")), "signalresolution", path)
    if not (1.0 <= fs_hz <= 100_000.0):
        raise EcgReadError(path, FORMAT, "a sampling rate within 1..100000 Hz",
                           f"{fs_hz:g} Hz", _HINT_EXPORT)
    if not (0.0 < resolution_uv <= 1000.0):
        raise EcgReadError(path, FORMAT, "a signal resolution within 0..1000 µV per unit",
                           f"{resolution_uv:g}", _HINT_EXPORT)
    labels = _lead_labels(waves, sig, q, path)
    n_samples = _samples_per_lead(waves, fs_hz, path)
    raw, xli = _decode_waveforms(waves, len(labels), n_samples, path)
    # Residual coding of III/aVR/aVL/aVF belongs to XLI; uncompressed leads are stored as they
    # are (the reference C# decoder resolves residuals only after XLI decompression).
    if xli and labels[:6] == list(_LIMB_RESIDUAL_ORDER):
        _resolve_limb_residuals(raw)
    elif xli and any(name in labels for name in _LIMB_RESIDUAL_ORDER[2:]):
        raise EcgReadError(
            path, FORMAT, f"limb leads first, in the order {' '.join(_LIMB_RESIDUAL_ORDER)}",
            f"leads {' '.join(labels)}",
            "III/aVR/aVL/aVF are stored as residuals only in that order; " + _HINT_EXPORT)
    end = _end_of_recording(raw)
    if end < 2:
        raise EcgReadError(path, FORMAT, "a recording before the calibration pulse",
                           "only calibration and padding", _HINT_EXPORT)
    leads = {label: raw[i, :end] * (resolution_uv / 1000.0) for i, label in enumerate(labels)}
    meta: dict[str, Any] = {"document_version": version,
                            "trailing_samples_removed": int(n_samples - end)}
    meta.update(_acquisition_meta(root, sig, q))
    meta.update(_interpretation_meta(root, q))
    return assemble_record(leads, fs_hz, path=path, format=FORMAT,
                           demographics=_demographics(root, q), meta=meta)


def _namespace(root: Element, path: Path) -> str:
    ns, local = split_tag(root.tag)
    if local != "restingecgdata" or ns not in (PHILIPS_NS, ""):
        raise EcgReadError(path, FORMAT, "root element <restingecgdata> (Philips SierraECG)",
                           f"root element <{local}>",
                           "this XML is not a Philips ECG; open it with its own format")
    return ns


def _number(el: Element | None, what: str, path: Path) -> float:
    value = element_number(el)
    if value is None:
        raise EcgReadError(path, FORMAT, f"a number in <{what}>", repr(_text(el)),
                           "without it the signal cannot be scaled; " + _HINT_EXPORT)
    return value


def _lead_labels(waves: Element, sig: Element, q, path: Path) -> list[str]:
    declared = waves.get("leadlabels")
    if declared:  # 1.04 names the stored leads itself
        labels = declared.split()
        count_text = waves.get("numberofleads")
    else:  # 1.03: the lead set implies the order
        leadset = (_text(sig.find(q("leadset"))) or _text(sig.find(q("acquisitiontype")))
                   or "")
        if leadset not in ("STD-12", "10-WIRE"):
            raise EcgReadError(path, FORMAT, "lead set STD-12 or 10-WIRE (or lead labels)",
                               f"lead set {leadset or 'none'!r}",
                               "other lead sets are not supported; " + _HINT_EXPORT)
        labels = list(_STD12)
        count_text = _text(sig.find(q("numberchannelsvalid")))
    try:
        count = int(count_text) if count_text else len(labels)
    except ValueError as exc:
        raise EcgReadError(path, FORMAT, "a whole number of leads", repr(count_text),
                           _HINT_EXPORT) from exc
    if not (1 <= count <= min(len(labels), MAX_CHANNELS)):
        raise EcgReadError(path, FORMAT, f"1 to {min(len(labels), MAX_CHANNELS)} valid leads",
                           f"{count} declared for labels {' '.join(labels)}", _HINT_EXPORT)
    return labels[:count]


def _samples_per_lead(waves: Element, fs_hz: float, path: Path) -> int:
    try:
        duration_ms = float(waves.get("durationperchannel", ""))
    except ValueError as exc:
        raise EcgReadError(path, FORMAT, "a durationperchannel in ms",
                           repr(waves.get("durationperchannel")), _HINT_EXPORT) from exc
    n = int(round(duration_ms * fs_hz / 1000.0)) if np.isfinite(duration_ms) else 0
    if not (2 <= n <= MAX_SAMPLES_PER_LEAD):
        raise EcgReadError(path, FORMAT,
                           f"2 to {MAX_SAMPLES_PER_LEAD} samples per lead",
                           f"{duration_ms:g} ms at {fs_hz:g} Hz", _HINT_EXPORT)
    return n


def _decode_waveforms(waves: Element, n_leads: int, n_samples: int,
                      path: Path) -> tuple[np.ndarray, bool]:
    encoding = waves.get("dataencoding", "")
    text = waves.text or ""
    compression = waves.get("compressmethod") or waves.get("compression") or ""
    compressed = (waves.get("compressflag", "").lower() == "true"
                  or compression.upper() == "XLI")
    if encoding == "Plain":
        try:
            values = np.array(text.split(), dtype=np.int64)
        except ValueError as exc:
            raise EcgReadError(path, FORMAT, "whitespace-separated integers",
                               "text that is not a number", _HINT_EXPORT) from exc
        return _split(values, n_leads, n_samples, path), False
    if encoding != "Base64":
        raise EcgReadError(path, FORMAT, "waveform data encoding Base64 or Plain",
                           f"encoding {encoding or 'none'!r}", _HINT_EXPORT)
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EcgReadError(path, FORMAT, "valid Base64 waveform data",
                           f"damaged Base64 ({exc})",
                           "the file was altered or cut short; " + _HINT_EXPORT) from exc
    if not compressed:
        values = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int64)
        return _split(values, n_leads, n_samples, path), False
    if compression.upper() != "XLI":
        raise EcgReadError(path, FORMAT, "XLI compression (or none)",
                           f"compression {compression or 'unnamed'!r}", _HINT_EXPORT)
    return _xli_decode(data, n_leads, n_samples, path), True


def _split(values: np.ndarray, n_leads: int, n_samples: int, path: Path) -> np.ndarray:
    need = n_leads * n_samples
    if values.size < need:
        raise EcgReadError(path, FORMAT,
                           f"{n_leads} leads x {n_samples} samples = {need} values",
                           f"{values.size} values", "the file is truncated; " + _HINT_EXPORT)
    return values[:need].reshape(n_leads, n_samples)


def _xli_decode(data: bytes, n_leads: int, n_samples: int, path: Path) -> np.ndarray:
    out = np.empty((n_leads, n_samples), dtype=np.int64)
    offset = 0
    for lead in range(n_leads):
        if offset + 8 > len(data):
            raise EcgReadError(path, FORMAT, f"{n_leads} XLI lead chunks",
                               f"data for only {lead}",
                               "the file is truncated or damaged; " + _HINT_EXPORT)
        size = int.from_bytes(data[offset:offset + 4], "little", signed=True)
        first_delta = int.from_bytes(data[offset + 6:offset + 8], "little", signed=True)
        offset += 8
        if size < 0 or offset + size > len(data):
            raise EcgReadError(path, FORMAT, "an XLI chunk within the data",
                               f"chunk {lead + 1} of {size} bytes with "
                               f"{len(data) - offset} left",
                               "the file is truncated or damaged; " + _HINT_EXPORT)
        # Each sample is two bytes of LZW output; more than that is not this lead's data, so
        # decoding stops there (a crafted stream cannot make it expand without bound).
        raw = _lzw_decode(data[offset:offset + size], 2 * n_samples + 2, path)
        offset += size
        # High and low bytes are split at half the output, so a chunk of any other length
        # than the declared samples would be misread throughout, not just at its end.
        if len(raw) not in (2 * n_samples, 2 * n_samples + 1):
            raise EcgReadError(path, FORMAT, f"{n_samples} samples in XLI chunk {lead + 1}",
                               f"{len(raw) // 2}{' or more' if len(raw) > 2 * n_samples else ''}",
                               "the file is truncated or damaged; " + _HINT_EXPORT)
        deltas = _unpack(raw)
        out[lead] = _undelta(deltas, first_delta)[:n_samples]
    return out


def _lzw_decode(chunk: bytes, max_bytes: int, path: Path) -> bytes:
    n_codes = len(chunk) * 8 // _LZW_BITS
    bits = np.unpackbits(np.frombuffer(chunk, dtype=np.uint8))[: n_codes * _LZW_BITS]
    weights = 1 << np.arange(_LZW_BITS - 1, -1, -1)
    codes = (bits.reshape(n_codes, _LZW_BITS).astype(np.int32) @ weights).tolist()
    table = [bytes((i,)) for i in range(256)]
    out: list[bytes] = []
    total = 0
    prev = b""
    for code in codes:
        if code > _LZW_MAX_CODE:
            break
        if code < len(table):
            cur = table[code]
        elif code == len(table) and prev:
            cur = prev + prev[:1]
        else:
            raise EcgReadError(path, FORMAT, "a valid LZW code stream",
                               f"code {code} with {len(table)} table entries",
                               "the compressed waveforms are damaged; " + _HINT_EXPORT)
        out.append(cur)
        total += len(cur)
        if total >= max_bytes:
            break
        if prev and len(table) <= _LZW_MAX_CODE:
            table.append(prev + cur[:1])
        prev = cur
    return b"".join(out)


def _unpack(raw: bytes) -> np.ndarray:
    # High bytes of all delta codes come first, then all low bytes (it compresses better).
    buf = np.frombuffer(raw + (b"\x00" if len(raw) % 2 else b""), dtype=np.uint8)
    half = buf.size // 2
    return ((buf[:half].astype(np.int64) << 8) | buf[half:]).astype(np.uint16).view(
        np.int16).astype(np.int64)


def _undelta(codes: np.ndarray, first_delta: int) -> np.ndarray:
    # The predictor x[i] = 2 x[i-1] - x[i-2] - r[i], with r[2] the chunk header's delta and
    # r[i] = code[i-1] - 64 after it, is a second difference; two cumulative sums invert it.
    n = codes.size
    if n < 3:
        return codes.copy()
    r = np.empty(n - 2, dtype=np.int64)
    r[0] = first_delta
    r[1:] = codes[2:n - 1] - _XLI_BIAS
    slope = (codes[1] - codes[0]) - np.cumsum(r)
    out = np.empty(n, dtype=np.int64)
    out[:2] = codes[:2]
    out[2:] = codes[1] + np.cumsum(slope)
    return out


def _resolve_limb_residuals(raw: np.ndarray) -> None:
    # The cart predicts III, aVR, aVL, aVF from I and II and stores only the prediction error;
    # floor division as in the reference decoders (the 1.03 and 1.04 test files agree with it).
    lead_i, lead_ii = raw[0], raw[1]
    raw[2] = lead_ii - lead_i - raw[2]
    raw[3] = -raw[3] - np.floor_divide(lead_i + lead_ii, 2)
    raw[4] = np.floor_divide(lead_i - raw[2], 2) - raw[4]
    raw[5] = np.floor_divide(lead_ii + raw[2], 2) - raw[5]


def _end_of_recording(raw: np.ndarray) -> int:
    same = np.all(raw == raw[:1], axis=0)
    if same.all():
        return 0
    return int(np.flatnonzero(~same)[-1]) + 1


def _attr_time(el: Element | None) -> str | None:
    if el is None or not el.get("date"):
        return None
    when = el.get("date", "")
    if el.get("time"):
        when += "T" + el.get("time", "")
    return when


def _acquisition_meta(root: Element, sig: Element, q) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    acq = root.find(q("dataacquisition"))
    when = _attr_time(acq)
    if when:
        meta["acquisition_time"] = when
    machine = root.find(q("dataacquisition/machine"))
    name = _text(machine)
    if name:
        meta["device"] = name
    if machine is not None and machine.get("detaildescription"):
        meta["device_detail"] = machine.get("detaildescription")
    filters: dict[str, float] = {}
    band = _text(sig.find(q("signalbandwidth")))
    m = re.fullmatch(r"\s*([\d.]+)\s*-\s*([\d.]+)\s*", band or "")
    if m:
        filters = {"high_pass": float(m.group(1)), "low_pass": float(m.group(2))}
    for key, tag in (("high_pass", "hipass"), ("low_pass", "lowpass"), ("notch", "acsetting")):
        value = _text(sig.find(q(tag)))
        try:
            if value is not None and float(value) > 0:
                filters.setdefault(key, float(value))
        except ValueError:
            pass
    if filters:
        meta["filters_hz"] = filters
    return meta


# Interpretation measurements: tag -> (name shown, unit). Rates in beats per minute,
# intervals in ms, axes in degrees, as in the SierraECG schema.
_MEASUREMENTS = {
    "heartrate": ("heart_rate", "bpm"), "meanprint": ("pr_interval", "ms"),
    "meanqrsdur": ("qrs_duration", "ms"), "meanqtint": ("qt_interval", "ms"),
    "meanqtc": ("qtc_interval", "ms"), "pfrontaxis": ("p_axis", "deg"),
    "qrsfrontaxis": ("qrs_axis", "deg"), "tfrontaxis": ("t_axis", "deg"),
    "atrialrate": ("atrial_rate", "bpm"), "meanventrate": ("ventricular_rate", "bpm"),
}


def _interpretation_meta(root: Element, q) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    measurements: dict[str, dict[str, Any]] = {}
    sources = [root.find(q("interpretations/interpretation/interpretationmeasurements")),
               root.find(q("measurements/globalmeasurements")),
               root.find(q("internalmeasurements/crossleadmeasurements"))]
    for src in sources:
        for name, value in measurement_values(src, _MEASUREMENTS, q).items():
            measurements.setdefault(name, value)
    if measurements:
        meta["machine_measurements"] = measurements
    interp = root.find(q("interpretations/interpretation"))
    if interp is not None:
        statements = []
        for st in interp.findall(q("statement")):
            left = _text(st.find(q("leftstatement")))
            right = _text(st.find(q("rightstatement")))
            if left and right:
                statements.append(f"{left} ({right})")
            elif left or right:
                statements.append(left or right)
        if statements:
            meta["machine_statements"] = statements
        severity = _text(interp.find(q("severity")))
        if severity:
            meta["machine_severity"] = severity
    return meta


def _demographics(root: Element, q) -> Demographics:
    pat = root.find(q("patient/generalpatientdata"))
    if pat is None:
        return Demographics()
    pid = _text(pat.find(q("patientid")))
    names = [_text(pat.find(q(f"name/{p}"))) for p in ("firstname", "lastname")]
    name = " ".join(n for n in names if n) or None
    sex = {"male": "male", "female": "female"}.get((_text(pat.find(q("sex"))) or "").lower())
    age: float | None = None
    years = _text(pat.find(q("age/years")))
    try:
        age = float(years) if years is not None else None
    except ValueError:
        age = None
    if age is None:
        birth = _text(pat.find(q("age/dateofbirth")))
        acq = root.find(q("dataacquisition"))
        taken = acq.get("date") if acq is not None else None
        try:
            b = date.fromisoformat(birth or "")
            t = date.fromisoformat(taken or "")
            if t >= b:
                age = float(t.year - b.year - ((t.month, t.day) < (b.month, b.day)))
        except ValueError:
            age = None
    if age is not None and not (0.0 <= age <= 130.0):
        age = None
    return Demographics(age_years=age, sex=sex, patient_id=pid, name=name)
