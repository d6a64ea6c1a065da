"""R-peak detection and heart rate, for display next to the ECG (never for diagnosis).

The detector follows the stages of Pan & Tompkins (IEEE Trans Biomed Eng 1985;32:230-236):
a 5-15 Hz band-pass keeps the QRS energy and rejects P/T waves and baseline wander; the
derivative, squared, emphasises steep QRS slopes; a 150 ms moving-window integral merges each
QRS into one hump. Humps are kept by :func:`scipy.signal.find_peaks` with a refractory distance
and an amplitude threshold relative to the typical QRS hump, then each R peak is placed on the
largest deflection of the band-passed lead within the QRS.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

from desktop_app.ecg._record import LEADS_12, EcgRecord, LeadSource

# QRS energy band (Pan & Tompkins 1985).
_QRS_LOW_HZ = 5.0
_QRS_HIGH_HZ = 15.0
# Moving-window integration width: about the widest normal QRS (Pan & Tompkins 1985).
_INTEGRATION_S = 0.150
#: No two R peaks closer than this: 250 ms allows rates up to 240 bpm; the ventricles are
#: refractory for about 200 ms after a beat, so closer humps are a T wave or noise.
REFRACTORY_S = 0.250
# A hump must reach this fraction of the typical QRS hump (median of the largest hump in each
# 2 s window; 2 s holds at least one beat at rates of 30 bpm and above, and the median ignores a
# single movement artefact). Tall T waves in the squared derivative stay well below it.
_THRESHOLD_FRACTION = 0.3
_WINDOW_S = 2.0
# When most windows hold no beat (one or two beats in the record), their median is the noise
# floor; humps must also reach this fraction of the largest one (about 1/7 of its amplitude,
# as the hump is a squared quantity).
_GLOBAL_FRACTION = 0.02
# A QRS, even in a low-voltage limb lead (< 0.5 mV), keeps well over 0.02 mV after the 5-15 Hz
# band-pass; below that the "beat" is quantisation or amplifier noise.
_MIN_QRS_BAND_MV = 0.02
# Half-width of the search for the R peak around a hump's centre.
_R_SEARCH_S = 0.080
#: Heart rates outside this range are reported as unknown: they are detector failures, not
#: rhythms a resting ECG shows.
MIN_PLAUSIBLE_BPM = 20.0
MAX_PLAUSIBLE_BPM = 250.0
# Lead preference: II and V5 show the tallest, most upright QRS in most hearts (the classic
# monitoring leads); then I, then the rest.
_LEAD_PREFERENCE = ("II", "V5", "I", "V6", "V4", "aVF", "III", "V3", "V2", "V1", "aVL", "aVR")
# Leads with these flags are tried only after every clean lead.
_BAD_FLAGS = frozenset({"flat", "noisy", "clipped"})


def r_peaks(samples: np.ndarray, fs_hz: float) -> np.ndarray:
    """Indices of R peaks (QRS complexes) in one lead.

    Parameters
    ----------
    samples : 1-D samples of one lead in mV (finite).
    fs_hz : sampling rate in Hz (at least 40 Hz, so that the 5-15 Hz QRS band is visible).

    Returns
    -------
    np.ndarray
        int64 sample indices in increasing order, at least ``REFRACTORY_S`` apart; empty when
        the lead is too short, too slow a rate, flat, or has no QRS-like humps.
    """
    x = np.asarray(samples, dtype=np.float64).ravel()
    n_min = int(np.ceil(3 * _INTEGRATION_S * fs_hz))
    if fs_hz < 3 * _QRS_HIGH_HZ or x.size < max(n_min, 16) or not np.all(np.isfinite(x)):
        return np.empty(0, dtype=np.int64)
    sos = butter(2, [_QRS_LOW_HZ, _QRS_HIGH_HZ], btype="bandpass", fs=fs_hz, output="sos")
    band = sosfiltfilt(sos, x, padlen=min(x.size - 1, int(fs_hz)))
    if np.max(np.abs(band)) < _MIN_QRS_BAND_MV:
        return np.empty(0, dtype=np.int64)
    energy = np.gradient(band) ** 2
    width = max(1, int(round(_INTEGRATION_S * fs_hz)))
    hump = np.convolve(energy, np.ones(width) / width, mode="same")
    win = max(1, int(round(_WINDOW_S * fs_hz)))
    n_win = max(1, hump.size // win)
    window_max = hump[: n_win * win].reshape(n_win, win).max(axis=1) if hump.size >= win \
        else np.array([hump.max()])
    typical = float(np.median(window_max))
    if typical <= 0:
        return np.empty(0, dtype=np.int64)
    distance = max(1, int(round(REFRACTORY_S * fs_hz)))
    height = max(_THRESHOLD_FRACTION * typical, _GLOBAL_FRACTION * float(hump.max()))
    humps, _ = find_peaks(hump, height=height, distance=distance)
    half = max(1, int(round(_R_SEARCH_S * fs_hz)))
    peaks = []
    for h in humps:
        lo, hi = max(0, h - half), min(x.size, h + half + 1)
        r = lo + int(np.argmax(np.abs(band[lo:hi])))
        if abs(band[r]) >= _MIN_QRS_BAND_MV:
            peaks.append(r)
    peaks_arr = np.unique(np.asarray(peaks, dtype=np.int64))
    # Refining can pull two humps onto nearly the same deflection; keep the refractory rule.
    if peaks_arr.size > 1:
        keep = [0]
        for i in range(1, peaks_arr.size):
            if peaks_arr[i] - peaks_arr[keep[-1]] >= distance:
                keep.append(i)
        peaks_arr = peaks_arr[keep]
    return peaks_arr


def heart_rate_bpm(record: EcgRecord) -> float | None:
    """Mean ventricular rate in beats per minute, or None when it cannot be measured.

    The rate is 60 / median RR interval of the R peaks of the best available lead (II, then
    V5, then I, then the others; leads flagged flat, noisy or clipped last). The median keeps a
    missed or extra beat from moving the number; in an irregular rhythm it is the typical rate.

    Parameters
    ----------
    record : the ECG.

    Returns
    -------
    float or None
        None when no lead yields at least 2 beats at a rate within 20-250 bpm.
    """
    candidates = [
        name for name in _LEAD_PREFERENCE
        if record.lead_sources[LEADS_12.index(name)] is not LeadSource.MISSING
    ]
    candidates.sort(key=lambda name: bool(_BAD_FLAGS & set(
        record.lead_flags[LEADS_12.index(name)])))
    for name in candidates:
        peaks = r_peaks(record.lead(name), record.fs_hz)
        if peaks.size < 2:
            continue
        rr_s = np.diff(peaks) / record.fs_hz
        bpm = 60.0 / float(np.median(rr_s))
        if MIN_PLAUSIBLE_BPM <= bpm <= MAX_PLAUSIBLE_BPM:
            return bpm
    return None
