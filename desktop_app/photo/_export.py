"""A digitised picture on disk: a WFDB record of its leads and a PNG of the overlay."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from desktop_app.ecg._record import LEADS_12, EcgRecord, LeadSource
from desktop_app.photo._digitise import Digitised, draw_overlay

# WFDB stores 16-bit integers; 1000 units per mV (as PTB-XL does) keeps 1 µV steps and a
# range of ±32 mV, far beyond the digitiser's ±10 mV bound.
_ADC_GAIN_PER_MV = 1000.0
_EINTHOVEN = ("I", "II", "III")


@dataclass(frozen=True)
class DigitisedFiles:
    """What :func:`write_digitised` wrote.

    Attributes
    ----------
    header, signal : the WFDB record's ``.hea`` and ``.dat`` files.
    overlay : the PNG of the rectified page with the traces drawn over it.
    leads : names of the leads in the record (missing leads are left out).
    """

    header: Path
    signal: Path
    overlay: Path
    leads: tuple[str, ...]


def record_name(stem: str) -> str:
    """A WFDB record name from a file stem: letters, digits, ``_`` and ``-`` only."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("_")
    return name or "photo"


def known_mask(record: EcgRecord) -> np.ndarray:
    """(12, n) bool: samples the picture shows; False outside each lead's printed window.

    A 3 x 4 page prints each lead for 2.5 s only; the record holds 0 mV elsewhere (an
    :class:`EcgRecord` must be finite). A derived limb lead is computed from two of I, II, III
    (Einthoven), so it is known where at least two of those were digitised; missing leads are
    known nowhere.
    """
    fs = record.fs_hz
    t = np.arange(record.n_samples) / fs
    windows = record.meta.get("photo", {}).get("windows_s", {})
    mask = np.zeros((12, record.n_samples), dtype=bool)
    for i, (lead, src) in enumerate(zip(LEADS_12, record.lead_sources)):
        if src is LeadSource.MISSING:
            continue
        if lead in windows:
            t0, t1 = windows[lead]
            mask[i] = (t >= t0 - 0.5 / fs) & (t <= t1 + 0.5 / fs)
        elif src is LeadSource.DERIVED:
            count = np.zeros(record.n_samples, dtype=np.int64)
            for limb in _EINTHOVEN:
                j = LEADS_12.index(limb)
                if limb in windows and record.lead_sources[j] is not LeadSource.DERIVED:
                    t0, t1 = windows[limb]
                    count += (t >= t0 - 0.5 / fs) & (t <= t1 + 0.5 / fs)
            mask[i] = count >= 2
        else:
            mask[i] = True
    return mask


def fill_unseen(record: EcgRecord) -> EcgRecord:
    """The record the encoder should see: each lead's printed window repeated over 10 s.

    A 3 x 4 page prints each lead for 2.5 s; the digitised record holds 0 mV elsewhere, and a
    flat line for three quarters of most leads is not what the encoder was trained on (it sees
    whole 10-s recordings). For search only, each partly shown lead is continued periodically
    from its longest printed stretch (centred on its median, so the joins stay near the
    baseline), leaving that stretch where it was. Beat shapes are kept; the rhythm outside the
    window is an assumption, which is why the record the clinician sees is never changed.

    Parameters
    ----------
    record : any record; one without ``meta["photo"]["windows_s"]`` is returned as it is.

    Returns
    -------
    EcgRecord
        A copy with the unseen samples filled (missing leads stay missing).
    """
    if not record.meta.get("photo", {}).get("windows_s"):
        return record
    known = known_mask(record)
    signal = np.array(record.signal, dtype=np.float64, copy=True)
    n = record.n_samples
    for i in range(len(LEADS_12)):
        k = known[i]
        if k.all() or not k.any():
            continue
        # Longest run of known samples.
        edges = np.flatnonzero(np.diff(np.concatenate(([0], k.astype(np.int8), [0]))))
        starts, stops = edges[::2], edges[1::2]
        j = int(np.argmax(stops - starts))
        a, b = int(starts[j]), int(stops[j])
        if b - a < 2:
            continue
        seg = signal[i, a:b] - np.median(signal[i, a:b])
        signal[i] = seg[(np.arange(n) - a) % (b - a)]
    return record.replace(signal=signal)


def write_digitised(result: Digitised, out_dir: str | Path, *, name: str) -> DigitisedFiles:
    """Write a digitised picture as a WFDB record plus ``<name>_overlay.png``.

    Samples outside a lead's printed window are written as WFDB's invalid value (``-32768`` in
    format 16), which WFDB tools read as "no sample" (NaN), so the file never claims a flat
    0 mV where the paper showed another lead. The header's comments name the picture, the
    layout, speed, gain and each lead's confidence and window.

    Parameters
    ----------
    result : from :func:`desktop_app.photo.digitise_array`.
    out_dir : folder to write into (created if needed).
    name : record name (see :func:`record_name`); files are ``<name>.hea``, ``<name>.dat``
        and ``<name>_overlay.png``.

    Returns
    -------
    DigitisedFiles

    Raises
    ------
    OSError
        When the folder or a file cannot be written.
    """
    import wfdb  # imported here: only writing needs it

    rec = result.record
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mask = known_mask(rec)
    keep = [i for i, s in enumerate(rec.lead_sources) if s is not LeadSource.MISSING]
    signal = np.where(mask, rec.signal.astype(np.float64), np.nan)[keep].T
    photo = rec.meta.get("photo", {})
    comments = [
        f"source: digitised from picture {rec.source_path.name if rec.source_path else '?'}",
        f"layout: {photo.get('layout')} speed_mm_s: {photo.get('speed_mm_s')} "
        f"gain_mm_mv: {photo.get('gain_mm_mv')}",
        "samples outside a lead's printed window are invalid (not on the paper)",
    ]
    conf = photo.get("confidence", {})
    windows = photo.get("windows_s", {})
    for i in range(12):
        lead, src = LEADS_12[i], rec.lead_sources[i]
        line = f"lead {lead}: {src.value}"
        if lead in windows:
            line += f" window_s {windows[lead][0]:g}-{windows[lead][1]:g}"
        if lead in conf:
            line += f" confidence {conf[lead]:g}"
        comments.append(line)
    leads = tuple(LEADS_12[i] for i in keep)
    # wfdb validates the record before writing and raises plain ValueErrors; the inputs here
    # are built above (finite or NaN, named leads), so a failure is a bug, not bad input.
    wfdb.wrsamp(name, fs=rec.fs_hz, units=["mV"] * len(keep), sig_name=list(leads),
                p_signal=signal, fmt=["16"] * len(keep),
                adc_gain=[_ADC_GAIN_PER_MV] * len(keep), baseline=[0] * len(keep),
                comments=comments, write_dir=str(out))
    overlay = out / f"{name}_overlay.png"
    draw_overlay(result).save(overlay)
    return DigitisedFiles(out / f"{name}.hea", out / f"{name}.dat", overlay, leads)
