"""Lead-name variants seen in real files, mapped to the names in ``LEADS_12``."""

from __future__ import annotations

import re

from desktop_app.ecg._record import LEADS_12

_CANON = {name.upper(): name for name in LEADS_12}
# Spellings used by real devices and databases: PTB (lower case), PTB-XL (AVR), aECG
# (MDC_ECG_LEAD_AVR), DICOM ("Lead I (Einthoven)"), MUSE ("aVR"), roman numerals with "LEAD".
_ALIASES = {
    "D1": "I", "D2": "II", "D3": "III", "DI": "I", "DII": "II", "DIII": "III",
    "MDC_ECG_LEAD_I": "I", "MDC_ECG_LEAD_II": "II", "MDC_ECG_LEAD_III": "III",
    "MDC_ECG_LEAD_AVR": "aVR", "MDC_ECG_LEAD_AVL": "aVL", "MDC_ECG_LEAD_AVF": "aVF",
    "-AVR": None,  # inverted aVR (Cabrera display) is not aVR; refuse to guess
}


def normalise_lead_name(raw: str) -> str | None:
    """Return the standard name of a lead label, or None if it is not one of the 12 leads.

    >>> normalise_lead_name("AVR"), normalise_lead_name("v1"), normalise_lead_name("Lead II")
    ('aVR', 'V1', 'II')
    """
    s = raw.strip().upper()
    if s in _ALIASES:
        return _ALIASES[s]
    s = re.sub(r"^MDC_ECG_LEAD_", "", s)
    s = re.sub(r"\(.*?\)", "", s)  # "Lead I (Einthoven)" -> "Lead I"
    s = re.sub(r"^(LEAD|ABL)[\s_-]*", "", s.strip())
    s = s.replace(" ", "").replace("_", "")
    if s in _ALIASES:
        return _ALIASES[s]
    return _CANON.get(s)
