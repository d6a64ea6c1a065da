"""Limb-lead derivation. Source: Einthoven's law (II = I + III) and Goldberger's augmented
leads (aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2), exact for ideal recordings."""

from __future__ import annotations

import numpy as np

from desktop_app.ecg._record import LEADS_12, LeadSource


def derive_missing_leads(
    found: dict[str, np.ndarray], n_samples: int, source: LeadSource = LeadSource.RECORDED
) -> tuple[dict[str, np.ndarray], list[LeadSource]]:
    """Complete the 12 leads: derive limb leads the physics allows, mark the rest missing.

    Parameters
    ----------
    found : standard lead name -> samples (mV), all of length ``n_samples``.
    n_samples : length of every lead.
    source : the :class:`LeadSource` of the leads in ``found``.

    Returns
    -------
    leads : all 12 names -> samples; missing leads are NaN.
    sources : one :class:`LeadSource` per lead in ``LEADS_12`` order.
    """
    leads = dict(found)
    derived: set[str] = set()
    # Any two of I, II, III give the third.
    if "III" not in leads and {"I", "II"} <= leads.keys():
        leads["III"] = leads["II"] - leads["I"]
        derived.add("III")
    if "II" not in leads and {"I", "III"} <= leads.keys():
        leads["II"] = leads["I"] + leads["III"]
        derived.add("II")
    if "I" not in leads and {"II", "III"} <= leads.keys():
        leads["I"] = leads["II"] - leads["III"]
        derived.add("I")
    if {"I", "II"} <= leads.keys():
        i, ii = leads["I"], leads["II"]
        for name, value in (("aVR", -(i + ii) / 2), ("aVL", i - ii / 2), ("aVF", ii - i / 2)):
            if name not in leads:
                leads[name] = value
                derived.add(name)
    sources: list[LeadSource] = []
    for name in LEADS_12:
        if name in derived:
            sources.append(LeadSource.DERIVED)
        elif name in leads:
            sources.append(source)
        else:
            leads[name] = np.full(n_samples, np.nan)
            sources.append(LeadSource.MISSING)
    return leads, sources
