"""The model's canonical input: 12 leads, 100 Hz, 10 s, band-passed. Kept apart from display.

What the clinician sees is drawn from the record as the machine stored it (no filtering beyond
the machine's own). The encoder instead sees one fixed representation, whatever the source
format and rate, so that a 500 Hz MUSE export and a 100 Hz PTB-XL case land in the same space.
``model_export`` imports :func:`preprocess_for_model`, so training and the app share this code.
"""

from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np
from scipy.signal import butter, resample_poly, sosfiltfilt

from desktop_app.ecg._record import EcgRecord, LeadSource
from desktop_app.errors import EcgValueError

log = logging.getLogger(__name__)

#: Sampling rate of the model's input: PTB-XL's ``records100``, the case library's own rate.
MODEL_FS_HZ = 100
#: Length of the model's input: a standard resting 12-lead ECG is 10 s.
MODEL_DURATION_S = 10.0
MODEL_N_SAMPLES = int(MODEL_FS_HZ * MODEL_DURATION_S)
#: Shorter recordings are refused: under 5 s a slow rhythm shows too few beats to compare.
MIN_DURATION_S = 5.0

# Band-pass corners. 0.5 Hz: AHA/ACCF/HRS (Kligfield et al., Circulation 2007) allow a low
# cut-off up to 0.67 Hz for zero-phase digital filters without distorting the ST segment; it
# removes respiratory baseline wander. 40 Hz: the monitoring-grade upper corner (same source)
# that removes 50/60 Hz mains and most muscle noise; fine QRS notching above it is lost, which
# is acceptable for similarity search and what PTB-XL's 100 Hz records can hold anyway.
BANDPASS_LOW_HZ = 0.5
BANDPASS_HIGH_HZ = 40.0
# Order 2, applied forward and backward (sosfiltfilt): effectively order 4, zero phase.
_BANDPASS_ORDER = 2
# The 0.5 Hz high-pass has a time constant of about 0.3 s; padding 2 s (several time constants)
# with the odd extension keeps the start and end of the record free of the filter's transient.
_FILTER_PAD_S = 2.0
# Bounds the polyphase filter length for awkward rate ratios (e.g. 499.7 Hz -> 100 Hz).
_MAX_RATIO_DENOMINATOR = 1000


def resample(signal: np.ndarray, fs_from: float, fs_to: float) -> np.ndarray:
    """Resample along the last axis with an anti-aliasing polyphase filter.

    Parameters
    ----------
    signal : samples, shape (..., n_samples), any units; time runs along the last axis.
    fs_from : rate of ``signal`` in Hz.
    fs_to : wanted rate in Hz.

    Returns
    -------
    np.ndarray
        float64, shape (..., m) with ``m = ceil(n_samples * up / down)`` where ``up / down`` is
        ``fs_to / fs_from`` as a fraction with a denominator of at most 1000 (exact for every
        common ECG rate). Rows of NaN stay NaN.

    Raises
    ------
    EcgValueError
        When a rate is not a positive finite number or the signal has no samples.
    """
    x = np.asarray(signal, dtype=np.float64)
    for name, fs in (("fs_from", fs_from), ("fs_to", fs_to)):
        if not (np.isfinite(fs) and fs > 0):
            raise EcgValueError(f"{name} must be a positive rate in Hz; got {fs}")
    if x.ndim == 0 or x.shape[-1] == 0:
        raise EcgValueError(f"cannot resample a signal of shape {x.shape}")
    ratio = (Fraction(float(fs_to)) / Fraction(float(fs_from))).limit_denominator(
        _MAX_RATIO_DENOMINATOR
    )
    if ratio == 1:
        return x.copy()
    if ratio.numerator > _MAX_RATIO_DENOMINATOR * 100:
        raise EcgValueError(f"cannot resample from {fs_from:g} Hz to {fs_to:g} Hz")
    # padtype="line" extends the signal along its end trend instead of with zeros, so a lead
    # with a DC offset does not get a step (and a ringing edge) at both ends.
    return resample_poly(x, ratio.numerator, ratio.denominator, axis=-1, padtype="line")


def bandpass(
    signal: np.ndarray,
    fs_hz: float,
    low_hz: float = BANDPASS_LOW_HZ,
    high_hz: float = BANDPASS_HIGH_HZ,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass along the last axis.

    Parameters
    ----------
    signal : samples, shape (..., n_samples), finite.
    fs_hz : sampling rate in Hz.
    low_hz, high_hz : corner frequencies in Hz; ``high_hz`` is lowered to 0.45 * ``fs_hz``
        when the rate cannot represent it.

    Returns
    -------
    np.ndarray
        float64, same shape.
    """
    x = np.asarray(signal, dtype=np.float64)
    high = min(high_hz, 0.45 * fs_hz)
    sos = butter(_BANDPASS_ORDER, [low_hz, high], btype="bandpass", fs=fs_hz, output="sos")
    padlen = min(x.shape[-1] - 1, int(round(_FILTER_PAD_S * fs_hz)))
    return sosfiltfilt(sos, x, axis=-1, padtype="odd", padlen=padlen)


def preprocess_for_model(record: EcgRecord) -> np.ndarray:
    """The encoder's input for one record: (12, 1000) float32 mV, 100 Hz, 10 s, band-passed.

    Steps: missing leads become zeros; every lead is resampled to 100 Hz
    (:func:`resample`, anti-aliased), band-passed 0.5-40 Hz (zero-phase Butterworth), and the
    first 10 s are kept. A recording between 5 and 10 s long is padded at its end with zeros
    (after filtering, so the pad continues the filtered baseline at 0 mV instead of adding a
    step); the model sees a flat line there, the same as a missing lead.

    Parameters
    ----------
    record : the ECG, any rate and length of at least 5 s.

    Returns
    -------
    np.ndarray
        float32, shape (12, 1000), mV, rows in ``LEADS_12`` order.

    Raises
    ------
    EcgValueError
        When the recording is shorter than 5 s.
    """
    if record.duration_s < MIN_DURATION_S:
        raise EcgValueError(
            f"the recording lasts {record.duration_s:.1f} s; finding similar cases needs at "
            f"least {MIN_DURATION_S:g} s of a 12-lead ECG"
        )
    sig = np.array(record.signal, dtype=np.float64)
    missing = [s is LeadSource.MISSING for s in record.lead_sources]
    sig[missing] = 0.0
    # Only the first 10 s are used; cut before resampling (with a filter margin) so a long
    # Holter-like export does not cost time for samples that are then thrown away.
    keep = min(sig.shape[1], int(np.ceil((MODEL_DURATION_S + _FILTER_PAD_S) * record.fs_hz)))
    sig = resample(sig[:, :keep], record.fs_hz, MODEL_FS_HZ)
    sig = bandpass(sig, MODEL_FS_HZ)
    sig[missing] = 0.0
    out = np.zeros((12, MODEL_N_SAMPLES), dtype=np.float32)
    n = min(MODEL_N_SAMPLES, sig.shape[1])
    out[:, :n] = sig[:, :n]
    if n < MODEL_N_SAMPLES:
        log.debug("recording of %.2f s padded with zeros to %g s", record.duration_s,
                  MODEL_DURATION_S)
    return out
