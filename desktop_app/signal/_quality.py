"""Per-lead signal-quality flags shown to the clinician where the lead is drawn."""

from __future__ import annotations

import numpy as np

# Thresholds are generic signal properties, not tuned to any sample:
# - flat: a lead whose peak-to-peak amplitude stays under 0.05 mV for the whole recording has no
#   visible QRS at 10 mm/mV (0.5 mm on paper): an electrode is off or the channel is empty.
# - clipped: 2 % or more of samples sitting exactly on the lead's extreme value means the
#   amplifier saturated.
# - noisy: more than half the signal power above 40 Hz (muscle, mains) when fs allows seeing it;
#   diagnostic ECG energy lies below 40 Hz (AHA bandwidth recommendations, Kligfield 2007).
FLAT_PTP_MV = 0.05
CLIPPED_FRACTION = 0.02
NOISY_HF_FRACTION = 0.5
NOISY_CORNER_HZ = 40.0


def quality_flags(samples: np.ndarray, fs_hz: float) -> tuple[str, ...]:
    """Quality flags of one lead: any of ``"flat"``, ``"clipped"``, ``"noisy"``.

    Parameters
    ----------
    samples : 1-D samples in mV (finite).
    fs_hz : sampling rate in Hz.
    """
    x = np.asarray(samples, dtype=np.float64)
    flags: list[str] = []
    ptp = float(np.ptp(x)) if x.size else 0.0
    if ptp < FLAT_PTP_MV:
        return ("flat",)
    for extreme in (x.max(), x.min()):
        if np.count_nonzero(x == extreme) >= max(3, CLIPPED_FRACTION * x.size):
            flags.append("clipped")
            break
    if fs_hz > 2 * NOISY_CORNER_HZ + 10 and x.size >= 64:
        d = x - x.mean()
        spec = np.abs(np.fft.rfft(d)) ** 2
        freqs = np.fft.rfftfreq(d.size, 1.0 / fs_hz)
        spec = spec[freqs >= 0.5]
        freqs = freqs[freqs >= 0.5]
        total = spec.sum()
        if total > 0 and spec[freqs > NOISY_CORNER_HZ].sum() / total > NOISY_HF_FRACTION:
            flags.append("noisy")
    return tuple(flags)
