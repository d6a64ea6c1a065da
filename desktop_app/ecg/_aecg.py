"""HL7 v3 annotated ECG (aECG, ``AnnotatedECG`` in ``urn:hl7-org:v3``) reader.

The FDA's format for ECGs in clinical trials, also written by some resting-ECG carts. Only the
rhythm series (code ``RHYTHM``) is read: derived series hold representative beats, which are not
a recording. Each lead is an ``SLIST_PQ``: value = origin + scale * digit, with physical units on
origin and scale; the sampling interval is the ``increment`` of the series' time sequence.

The XML is parsed with defusedxml and a document type declaration is refused outright: aECG is
defined by an XML schema, so a DTD in such a file is either a mistake or an attack (external
entities that read local files, entity expansion that exhausts memory).
"""

from __future__ import annotations

import logging
import re
from datetime import date
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import numpy as np

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._leadnames import normalise_lead_name
from desktop_app.ecg._record import Demographics, EcgRecord
from desktop_app.ecg._xml import element_text as _text
from desktop_app.ecg._xml import parse_xml, qualifier, split_tag, xml_root
from desktop_app.errors import EcgReadError

logger = logging.getLogger(__name__)

FORMAT = "aecg"
HL7_NS = "urn:hl7-org:v3"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
# A 10-s 12-lead aECG at 1 kHz is about 1 MB; even a 5-minute rhythm stays far below this.
# ElementTree keeps the whole document in memory, so bigger files are refused unread.
MAX_AECG_BYTES = 128 * 1024 * 1024

# Physical units of origin/scale (UCUM) -> factor to millivolts.
_TO_MV = {"nV": 1e-6, "uV": 1e-3, "µV": 1e-3, "mV": 1.0, "V": 1e3}
# Units of the time increment (UCUM) -> factor to seconds.
_TO_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_HINT_EXPORT = "export the ECG again from the device or trial system"



def sniff(head: bytes, path: Path) -> bool:
    """True when the XML root element is ``AnnotatedECG`` in the HL7 v3 namespace.

    Parameters
    ----------
    head : the first bytes of the file (4096 from the dispatcher).
    path : the file (unused; the decision is by content only).

    Returns
    -------
    bool
        Never raises. GE MUSE (``RestingECG``) and Philips (``restingecgdata``) roots are not
        claimed.
    """
    root = xml_root(head)
    if root is None or root.name != "AnnotatedECG":
        return False
    if root.namespace is None:
        # A prefix bound elsewhere cannot be checked here; an unprefixed root without
        # xmlns is an aECG in no namespace, which the reader also accepts.
        return root.complete or root.prefix is None
    return root.namespace == HL7_NS


def read_aecg(path: str | Path, **kwargs: Any) -> EcgRecord:
    """Read the rhythm waveforms of an HL7 aECG XML file.

    Parameters
    ----------
    path : the ``.xml`` file.
    **kwargs : options of other readers (``fs_hz`` for CSV); ignored, since an aECG states its
        own sampling interval and units.

    Returns
    -------
    EcgRecord
        Leads in mV at the rate given by the time sequence's increment. Leads the file lacks are
        derived or marked missing by :func:`~desktop_app.ecg.assemble_record`.
        ``meta`` holds ``effective_time``, ``device``, ``manufacturer``, ``filters_hz``,
        ``statements`` and ``aecg_lead_codes`` where the file has them.

    Raises
    ------
    EcgReadError
        The file has a DTD or entity declarations (refused, never resolved), is not
        well-formed XML, is not an aECG, has no rhythm series, or its leads lack units, have
        unparsable digits or different lengths.
    """
    path = Path(path)
    if kwargs:
        logger.debug("options %s do not apply to aECG files; ignored", sorted(kwargs))
    root = parse_xml(path, format=FORMAT, what="an HL7 aECG XML file", max_bytes=MAX_AECG_BYTES,
                     hint=_HINT_EXPORT, allow_doctype=False)
    q = qualifier(_namespace(root, path))

    series = [s for s in root.iter(q("series")) if _code(s, q) == "RHYTHM"]
    if not series:
        codes = sorted({_code(s, q) or "none" for s in root.iter(q("series"))}
                       | {_code(s, q) or "none" for s in root.iter(q("derivedSeries"))})
        raise EcgReadError(
            path, FORMAT, "a rhythm series (series code RHYTHM)",
            f"series with codes {', '.join(codes)}" if codes else "no waveform series",
            "a representative beat is not a recording; export the rhythm waveforms",
        )
    candidates = []
    for ser in series:
        for seq_set in ser.findall(q("component/sequenceSet")):
            candidates.append((ser, _read_sequence_set(seq_set, q, path)))
    if not candidates:
        raise EcgReadError(path, FORMAT, "a sequence set with lead waveforms in the rhythm series",
                           "an empty rhythm series", _HINT_EXPORT)
    # Some carts store leads acquired at different times in separate sets; the set with the
    # most standard leads, then the longest one, is the recording to show.
    ser, (fs_hz, leads, codes) = max(
        candidates,
        key=lambda c: (sum(normalise_lead_name(k) is not None for k in c[1][1]),
                       len(next(iter(c[1][1].values()))) / c[1][0]),
    )
    meta: dict[str, Any] = {"aecg_lead_codes": codes}
    if len(candidates) > 1:
        meta["aecg_sequence_sets"] = len(candidates)
    meta.update(_series_meta(ser, q))
    when = _effective_time(root, q)
    if when:
        meta["effective_time"] = _iso(when)
    statements = _statements(root, q)
    if statements:
        meta["machine_statements"] = statements
    return assemble_record(leads, fs_hz, path=path, format=FORMAT,
                           demographics=_demographics(root, q, when), meta=meta)


def _namespace(root: Element, path: Path) -> str:
    ns, local = split_tag(root.tag)
    if local != "AnnotatedECG" or ns not in (HL7_NS, ""):
        found = f"root element <{local}>" + (f" in namespace {ns}" if ns else "")
        raise EcgReadError(path, FORMAT, f"root element <AnnotatedECG> in namespace {HL7_NS}",
                           found, "this XML is not an HL7 aECG; open it with its own format")
    return ns


def _code(el: Element, q) -> str | None:
    c = el.find(q("code"))
    return None if c is None else c.get("code")


def _read_sequence_set(seq_set: Element, q, path: Path):
    increment_s: float | None = None
    leads: dict[str, np.ndarray] = {}
    codes: list[str] = []
    for seq in seq_set.findall(q("component/sequence")):
        code = _code(seq, q) or ""
        value = seq.find(q("value"))
        if value is None:
            continue
        if code.startswith("TIME_"):
            increment_s = _increment_s(value, q, path, code)
            continue
        if code in leads:
            raise EcgReadError(path, FORMAT, "each lead once in a sequence set",
                               f"{code} twice", _HINT_EXPORT)
        leads[code] = _lead_mv(value, q, path, code)
        codes.append(code)
    if increment_s is None:
        raise EcgReadError(
            path, FORMAT, "a time sequence (TIME_ABSOLUTE or TIME_RELATIVE) with an increment",
            "none in the rhythm sequence set", _HINT_EXPORT)
    if not leads:
        raise EcgReadError(path, FORMAT, "at least one lead sequence (MDC_ECG_LEAD_*)",
                           "a sequence set with 0 leads", _HINT_EXPORT)
    lengths = {code: len(v) for code, v in leads.items()}
    if len(set(lengths.values())) != 1:
        listed = ", ".join(f"{c} {n}" for c, n in lengths.items())
        raise EcgReadError(path, FORMAT, "the same number of digits in every lead",
                           f"different counts ({listed})",
                           "the file is damaged or was cut short; " + _HINT_EXPORT)
    return 1.0 / increment_s, leads, codes


def _increment_s(value: Element, q, path: Path, code: str) -> float:
    inc = value.find(q("increment"))
    if inc is None:
        kind = value.get(_XSI_TYPE, "an explicit list")
        raise EcgReadError(path, FORMAT, f"a regularly sampled {code} sequence with <increment>",
                           f"{kind} without an increment",
                           "irregular sampling is not supported; " + _HINT_EXPORT)
    unit = inc.get("unit", "s")
    try:
        step_s = float(inc.get("value", "")) * _TO_S[unit]
    except (KeyError, ValueError) as exc:
        raise EcgReadError(path, FORMAT, "a time increment in s or ms",
                           f"value={inc.get('value')!r} unit={unit!r}", _HINT_EXPORT) from exc
    # EcgRecord accepts 1 Hz .. 100 kHz; outside that the increment is garbage.
    if not (1e-5 <= step_s <= 1.0):
        raise EcgReadError(path, FORMAT, "a sampling interval between 10 µs and 1 s",
                           f"{step_s:g} s", _HINT_EXPORT)
    return step_s


def _quantity_mv(el: Element | None, what: str, code: str, path: Path, default: float | None):
    if el is None:
        if default is None:
            raise EcgReadError(path, FORMAT, f"a <{what}> with units for lead {code}",
                               f"no <{what}>", "without it the amplitude units are unknown; "
                               + _HINT_EXPORT)
        return default
    unit = el.get("unit", "")
    try:
        v = float(el.get("value", "")) * _TO_MV[unit]
    except (KeyError, ValueError) as exc:
        raise EcgReadError(path, FORMAT, f"a {what} in uV or mV for lead {code}",
                           f"value={el.get('value')!r} unit={unit!r}", _HINT_EXPORT) from exc
    if not np.isfinite(v):
        raise EcgReadError(path, FORMAT, f"a finite {what} for lead {code}", repr(v),
                           _HINT_EXPORT)
    return v


def _lead_mv(value: Element, q, path: Path, code: str) -> np.ndarray:
    scale_mv = _quantity_mv(value.find(q("scale")), "scale", code, path, None)
    if scale_mv == 0.0:
        raise EcgReadError(path, FORMAT, f"a non-zero scale for lead {code}", "scale 0",
                           _HINT_EXPORT)
    origin_mv = _quantity_mv(value.find(q("origin")), "origin", code, path, 0.0)
    digits = value.find(q("digits"))
    text = "" if digits is None or digits.text is None else digits.text
    # The count is bounded by the text itself (one digit and a separator per sample), and the
    # text by MAX_AECG_BYTES, so no declared length can make this allocate more.
    try:
        raw = np.array(text.split(), dtype=np.float64)
    except ValueError as exc:
        raise EcgReadError(path, FORMAT, f"whitespace-separated numbers in lead {code}'s digits",
                           f"text that is not a number ({str(exc)[:80]})", _HINT_EXPORT) from exc
    if not np.all(np.isfinite(raw)):
        raise EcgReadError(path, FORMAT, f"finite numbers in lead {code}'s digits",
                           "NaN or infinity", _HINT_EXPORT)
    if raw.size == 0:
        raise EcgReadError(path, FORMAT, f"digits for lead {code}", "an empty <digits>",
                           _HINT_EXPORT)
    return origin_mv + scale_mv * raw


def _series_meta(ser: Element, q) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    author = ser.find(q("author/seriesAuthor"))
    if author is not None:
        model = _text(author.find(q("manufacturedSeriesDevice/manufacturerModelName")))
        maker = _text(author.find(q("manufacturerOrganization/name")))
        if model:
            meta["device"] = model
        if maker:
            meta["manufacturer"] = maker
    filters: dict[str, float] = {}
    names = {"MDC_ECG_CTL_VBL_ATTR_FILTER_LOW_PASS": "low_pass",
             "MDC_ECG_CTL_VBL_ATTR_FILTER_HIGH_PASS": "high_pass",
             "MDC_ECG_CTL_VBL_ATTR_FILTER_NOTCH": "notch"}
    for cv in ser.findall(q("controlVariable/controlVariable")):
        name = names.get(_code(cv, q) or "")
        if name is None:
            continue
        for sub in cv.findall(q("component/controlVariable")):
            if (_code(sub, q) or "").endswith("_FREQ"):
                v = sub.find(q("value"))
                try:
                    if v is not None and v.get("unit", "Hz") == "Hz":
                        filters[name] = float(v.get("value", ""))
                except ValueError:
                    pass
    if filters:
        meta["filters_hz"] = filters
    return meta


def _effective_time(root: Element, q) -> str | None:
    et = root.find(q("effectiveTime"))
    if et is None:
        return None
    for part in ("center", "low"):
        el = et.find(q(part))
        if el is not None and el.get("value"):
            return el.get("value")
    return None


def _iso(ts: str) -> str:
    # HL7 TS: YYYYMMDDHHMMSS[.fff][+ZZZZ], any precision from the year on.
    m = re.match(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?", ts)
    if not m:
        return ts
    y, mo, d, h, mi, s = m.groups()
    out = y + (f"-{mo}" if mo else "") + (f"-{d}" if d else "")
    if h:
        out += f"T{h}:{mi or '00'}:{s or '00'}"
    return out


def _parse_date(ts: str | None) -> date | None:
    if not ts or not re.match(r"\d{8}", ts):
        return None
    try:
        return date(int(ts[:4]), int(ts[4:6]), int(ts[6:8]))
    except ValueError:
        return None


def _demographics(root: Element, q, when: str | None) -> Demographics:
    person = None
    subject = None
    for subject in root.iter(q("trialSubject")):
        person = subject.find(q("subjectDemographicPerson"))
        break
    sex = age = name = pid = None
    if subject is not None:
        sid = subject.find(q("id"))
        pid = None if sid is None else (sid.get("extension") or None)
    if person is not None:
        gender = person.find(q("administrativeGenderCode"))
        code = "" if gender is None else (gender.get("code") or "").upper()
        sex = {"M": "male", "F": "female"}.get(code)
        name = _text(person.find(q("name")))
        birth = person.find(q("birthTime"))
        born = _parse_date(None if birth is None else birth.get("value"))
        taken = _parse_date(when)
        if born and taken and taken >= born:
            age = float(taken.year - born.year
                        - ((taken.month, taken.day) < (born.month, born.day)))
        # Not in the aECG schema, but some carts add <Age> and <PatientID> beside the
        # standard fields.
        extra = {c.tag.rsplit("}", 1)[-1].lower(): _text(c) for c in person}
        if age is None and extra.get("age"):
            try:
                age = float(extra["age"])
            except ValueError:
                age = None
        if pid is None:
            pid = extra.get("patientid")
        if age is not None and not (0.0 <= age <= 130.0):
            age = None
    return Demographics(age_years=age, sex=sex, patient_id=pid, name=name)


def _statements(root: Element, q) -> list[str]:
    wanted = {"MDC_ECG_INTERPRETATION_STATEMENT", "MDC_ECG_INTERPRETATION_SUMMARY"}
    out = []
    for ann in root.iter(q("annotation")):
        if _code(ann, q) in wanted:
            text = _text(ann.find(q("value")))
            if text:
                out.append(text)
    return out
