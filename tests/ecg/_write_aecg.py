"""Write a minimal HL7 aECG file, for round-trip and conformance tests.

No maintained Python library writes aECG (FDA's ``aecg-python`` only reads it), so this writes
the smallest document the HL7 aECG schema (PORT_MT020001) allows around one ``RHYTHM`` series:
a ``TIME_ABSOLUTE`` sequence with a regular increment and one ``SLIST_PQ`` per lead, digits as
integers in microvolts (origin 0 uV, scale 1 uV). Structure follows the FDA's minimal example
(``fda-minimum-aecg.xml`` in the shared data).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from desktop_app.ecg import normalise_lead_name

HL7_NS = "urn:hl7-org:v3"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


def write_aecg(
    signal_mv: np.ndarray,
    fs_hz: float,
    path: str | Path,
    lead_names: list[str] | tuple[str, ...],
    *,
    effective_time: str = "20000101120000",
) -> Path:
    """Write leads as an HL7 aECG with one rhythm series.

    Parameters
    ----------
    signal_mv : shape (n_leads, n_samples), millivolts. Rows that are all NaN (missing leads)
        are left out; other non-finite values are an error.
    fs_hz : sampling rate in Hz; written as the time increment 1/fs_hz in seconds.
    path : the ``.xml`` file to write.
    lead_names : one name per row, any spelling ``normalise_lead_name`` knows; written as
        ``MDC_ECG_LEAD_<NAME>``.
    effective_time : HL7 TS of the acquisition (YYYYMMDDHHMMSS).

    Returns
    -------
    Path
        ``path``. Amplitudes are rounded to 1 uV, so a reader returns them within 0.5 uV.

    Raises
    ------
    ValueError
        Shape and lead names disagree, a name is not a standard lead, or a lead has NaN.
    """
    sig = np.asarray(signal_mv, dtype=np.float64)
    if sig.ndim != 2 or sig.shape[0] != len(lead_names):
        raise ValueError(f"signal shape {sig.shape} does not match {len(lead_names)} lead names")
    ET.register_namespace("", HL7_NS)
    ET.register_namespace("xsi", XSI_NS)

    def el(parent, tag, **attrs):
        return ET.SubElement(parent, f"{{{HL7_NS}}}{tag}", attrs)

    root = ET.Element(f"{{{HL7_NS}}}AnnotatedECG", {"type": "Observation"})
    el(root, "id", root="2.25.1")
    el(root, "code", code="93000", codeSystem="2.16.840.1.113883.6.12", codeSystemName="CPT-4")
    el(el(root, "effectiveTime"), "center", value=effective_time)
    assignment = el(el(el(root, "componentOf"), "timepointEvent"), "componentOf")
    assignment = el(assignment, "subjectAssignment")
    el(el(el(assignment, "subject"), "trialSubject"), "id", root="2.25.2", extension="TEST")
    el(el(el(assignment, "componentOf"), "clinicalTrial"), "id", root="2.25.3")
    series = el(el(root, "component"), "series")
    el(series, "code", code="RHYTHM", codeSystem="2.16.840.1.113883.5.4")
    seq_set = el(el(series, "component"), "sequenceSet")
    time_seq = el(el(seq_set, "component"), "sequence")
    el(time_seq, "code", code="TIME_ABSOLUTE", codeSystem="2.16.840.1.113883.5.4")
    value = el(time_seq, "value", **{f"{{{XSI_NS}}}type": "GLIST_TS"})
    el(value, "head", value=effective_time)
    el(value, "increment", value=repr(1.0 / float(fs_hz)), unit="s")
    for name, row in zip(lead_names, sig):
        if np.all(np.isnan(row)):
            continue
        if not np.all(np.isfinite(row)):
            raise ValueError(f"lead {name} has non-finite samples")
        std = normalise_lead_name(name)
        if std is None:
            raise ValueError(f"{name!r} is not one of the 12 standard leads")
        seq = el(el(seq_set, "component"), "sequence")
        el(seq, "code", code=f"MDC_ECG_LEAD_{std.upper()}", codeSystem="2.16.840.1.113883.6.24")
        value = el(seq, "value", **{f"{{{XSI_NS}}}type": "SLIST_PQ"})
        el(value, "origin", value="0", unit="uV")
        el(value, "scale", value="1", unit="uV")
        digits = np.rint(row * 1000.0).astype(np.int64)
        el(value, "digits").text = " ".join(map(str, digits.tolist()))
    path = Path(path)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
