"""Our encoding: the whole 10-s, 12-lead signal as a (3, 12, 1000) image in fixed mV units.

Rows are the 12 leads in ``LEADS_12`` order, columns are the 1000 samples (10 s at 100 Hz), and the
three channels are

0. **amplitude**: the signal in mV, 1.0 = 1 mV (the standard calibration pulse, 10 mm at
   10 mm/mV), clipped at +-5 mV;
1. **slope**: the central-difference derivative times 20 ms, i.e. mV per 20 ms (two samples),
   clipped at +-5. The constant puts slope on the scale of channel 0: in PTB-XL records 1-100
   (0.5 Hz high-passed) the median ratio of a lead's steepest slope to its largest amplitude is
   58 /s (about 1 / 17 ms), and the steepest slope of all, 243 mV/s, reads 4.9, under the clip.
   A steep intrinsicoid upstroke stands out from a slurred one (bundle branch block, WPW);
2. **rhythm**: the spatial velocity, the root mean square over the 8 independent leads (I, II,
   V1-V6; III, aVR, aVL and aVF are linear combinations of I and II and would weight the limb
   leads four times over) of channel 1 before clipping, smoothed with a Gaussian of sigma 20 ms
   and clipped at 5. It is the same for all 12 rows: its peaks mark every QRS complex in every
   lead's row, so each patch sees where the beats are, and the spacing of the peaks is the RR
   rhythm, even in leads where the QRS is small. (Spatial velocity is the classic
   vectorcardiographic QRS detector; the smoothing is the same for every record.)

Why fixed units and no per-record normalisation: voltage is diagnostic. Sokolow-Lyon LVH is
SV1 + RV5/V6 >= 3.5 mV, low voltage is QRS < 0.5 mV in every limb lead, ST elevation is judged in
0.1 mV steps. So the same mV gives the same pixel value in every record, and scaling a record by 2
changes its image (a test checks it; the paper's encoding loses this). The +-5 mV clip keeps large
QRS complexes (real ones rarely pass 5 mV; larger means artefact or mis-scaled units, see
``MAX_PLAUSIBLE_MV``) while keeping the range small for the patch embedding. Nothing is
re-referenced or resampled: the input is already the model's canonical signal.

Why (12, 1000) and which patches. The trainer picks the patch; the image supports these token
grids (s/step measured for ViT-Tiny, bf16, batch 64, in PLATFORM.md section 5, except where marked
"est." = interpolated by token count):

============  ========  ======================================================  =============
patch (h, w)  tokens    one token is                                             s/step bf16
============  ========  ======================================================  =============
(1, 50)       240       one lead, 0.5 s                                          1.97-2.34
(1, 100)      120       one lead, 1 s (about one beat)                           0.96
(3, 25)       160       one lead group, 0.25 s                                   ~1.3 (est.)
(3, 50)       80        one lead group, 0.5 s                                    ~0.6 (est.)
(12, 10)      100       all 12 leads, 0.1 s (the heart's vector at that moment)  ~0.8 (est.)
============  ========  ======================================================  =============

Patches 3 rows tall line up with the four columns of the printed 3 x 4 ECG: (I, II, III),
(aVR, aVL, aVF), (V1, V2, V3), (V4, V5, V6); the chest groups match the septal/anterior and the
anterolateral territories, while the inferior leads (II, III, aVF) straddle the two limb groups,
which attention has to join, as with any fixed patch. Square patches on
a 2-D rearrangement (for example four 2.5-s strips stacked into (3, 48, 250)) were rejected: they
cut the rhythm at the strip edges and make a patch mix leads from different strips. A (3, 224,
224) resampling was rejected too: it would stretch 12 rows to 224 (wasting tokens on
interpolated rows) and squeeze 1000 samples into 224 (losing QRS detail at an already low 100 Hz).
Recommendation: (1, 50) when the 90-minute training budget allows about 9 epochs, else (3, 25).

Memory: one record is 3 x 12 x 1000 float32 = 144 kB; 17k records are 2.4 GB, or compute the
encoding on the fly (it takes well under a millisecond per record, see benchmarks).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

FS_HZ = 100.0
N_SAMPLES = 1000
# 1.0 per mV: the standard calibration pulse (10 mm/mV, IEC 60601-2-25).
AMPLITUDE_SCALE_PER_MV = 1.0
AMPLITUDE_CLIP_MV = 5.0
SLOPE_INTERVAL_S = 0.02
SLOPE_CLIP = 5.0
RHYTHM_SIGMA_S = 0.02
RHYTHM_CLIP = 5.0
# I, II, V1..V6 in LEADS_12 order: the 8 independent leads of the standard 12-lead ECG.
INDEPENDENT_LEADS = (0, 1, 6, 7, 8, 9, 10, 11)


def encode_signal_batch(signals_mv: np.ndarray) -> np.ndarray:
    """Encode canonical ECGs as (amplitude, slope, rhythm) images in fixed units.

    Parameters
    ----------
    signals_mv : float array, shape (n, 12, 1000): 10 s at 100 Hz in mV, ``LEADS_12`` order,
        finite (the caller validates it).

    Returns
    -------
    float32 array, shape (n, 3, 12, 1000): channel 0 in mV (clipped at +-5), channel 1 in mV per
    20 ms (clipped at +-5), channel 2 the smoothed RMS slope of I, II, V1-V6 (0..5), repeated on
    every row.
    """
    x = np.asarray(signals_mv, dtype=np.float32)
    out = np.empty((x.shape[0], 3, x.shape[1], x.shape[2]), dtype=np.float32)
    np.clip(x * AMPLITUDE_SCALE_PER_MV, -AMPLITUDE_CLIP_MV, AMPLITUDE_CLIP_MV, out=out[:, 0])
    slope = np.gradient(x, axis=-1) * np.float32(FS_HZ * SLOPE_INTERVAL_S)
    np.clip(slope, -SLOPE_CLIP, SLOPE_CLIP, out=out[:, 1])
    velocity = np.sqrt(np.mean(slope[:, INDEPENDENT_LEADS] ** 2, axis=1))  # (n, 1000)
    velocity = gaussian_filter1d(velocity, RHYTHM_SIGMA_S * FS_HZ, axis=-1, mode="nearest")
    out[:, 2] = np.clip(velocity, 0.0, RHYTHM_CLIP)[:, None, :]
    return out


def encode_signal(signal_mv: np.ndarray) -> np.ndarray:
    """Encode one canonical ECG; see :func:`encode_signal_batch`.

    Parameters
    ----------
    signal_mv : float array, shape (12, 1000), mV at 100 Hz in ``LEADS_12`` order, finite.

    Returns
    -------
    float32 array, shape (3, 12, 1000).
    """
    return encode_signal_batch(np.asarray(signal_mv)[None])[0]
