"""The baseline encoding of Qiu et al.: one heartbeat per lead as GASF, RP and MTF images.

Source: J. Qiu et al., "Automated Cardiovascular Record Retrieval by Multimodal Learning between
Electrocardiogram and Clinical Report", ML4H 2023 (arXiv:2304.06286), and the authors' public code,
github.com/Jielin-Qiu/ECG_image_encoding at commit 7b5b72d (``ecg_extract_lead_image.py``,
``utilities.py``: ``get_r_peaks``, ``split_data``; ``process_img_feature.py``: ``signal_to_image``,
``extract_image_feature_grid``), which calls pyts' ``GramianAngularField``, ``RecurrencePlot`` and
``MarkovTransitionField``. The transforms are re-implemented here in numpy (pyts pulls numba and
scikit-learn into the app); the tests check them against transcriptions of pyts' definitions.

Pipeline, as in that code (input: the model's canonical (12, 1000) signal, 10 s at 100 Hz, mV):

1. 0.5 Hz high-pass (Butterworth order 2, zero-phase ``sosfiltfilt``, even padding of 200 samples).
2. R peaks on lead II with the authors' detector: a beat period from the periodogram of each
   lead's peak train (median over the 12 leads), then ``find_peaks`` on lead II scaled by its
   median per-second maximum (prominence 0.6, distance 0.6 periods).
3. 15 Hz low-pass (Butterworth order 2, zero-phase), applied after peak detection as they do.
4. One 1-s window, 100 samples, from 35 samples before an R peak to 65 after (the R peak sits at
   sample 35 of the window). The authors pick a random beat (seeded by the file's index); this
   app must be deterministic, so it takes the usable R peak nearest the middle of the record
   (sample 500). With no usable peak (a flat or very noisy lead II) the authors drop the file;
   here the window is placed with its "R" at sample 500 and a debug message is logged.
5. Each lead's window is scaled by its own maximum absolute value, x / (max|x| + 1e-8), so it
   spans [-1, 1] (the paper calls this normalisation; the code divides by max|x|, not min-max).
6. Per lead, three 100 x 100 images, each mapped to [0, 1] as the code's ``np.interp`` to
   [0, 255] does (we keep floats: their ``uint8`` truncation and JPEG storage are left out):

   - GASF ``cos(phi_i + phi_j)`` with ``phi = arccos(x)`` (pyts ``GramianAngularField(
     sample_range=None, method='summation')``), mapped ``(g + 1) / 2``;
   - RP: unthresholded distance ``|x_i - x_j|`` (pyts ``RecurrencePlot()`` defaults:
     dimension 1, no threshold), mapped ``min(d, 1)`` (``np.interp`` clips distances above 1);
   - MTF with 4 quantile bins (pyts ``MarkovTransitionField(n_bins=4)``, strategy 'quantile',
     no aggregation): ``M[bin(x_i), bin(x_j)]`` where ``M`` is the row-normalised first-order
     transition matrix of the binned window; already in [0, 1].
7. Channels in the order (GASF, RP, MTF). The 12 lead images are tiled in the paper-ECG 3 x 4
   grid, column ``j // 3``, row ``j % 3`` for lead ``j`` of ``LEADS_12``::

       I    aVR  V1  V4
       II   aVL  V2  V5
       III  aVF  V3  V6

   giving (3, 300, 400), then resized to (3, 224, 224) with bilinear interpolation using
   OpenCV's ``INTER_LINEAR`` pixel-centre convention (no anti-aliasing), as ``cv2.resize`` does.
   A 16 x 16 ViT patch therefore covers about 7 x 7 samples of one lead's 100 x 100 image.

What this encoding throws away, by construction:

- absolute amplitude: each lead is scaled to max|x| = 1, so voltage criteria (LVH, low voltage),
  relative lead amplitudes and the size of ST deviations in mV are gone (scaling the whole input
  by 2 leaves the image unchanged; a test shows it);
- every beat but one: ectopic beats, beat-to-beat variation and anything outside the chosen
  second are lost;
- rhythm: RR intervals, heart rate, AV conduction across beats and P waves outside the window
  (atrial fibrillation or AV block cannot be seen from one beat);
- the sign of a lead's deflection only partly survives (GASF is unchanged when x -> -x);
- frequency content above 15 Hz (notching, pacemaker spikes) through the low-pass.
"""

from __future__ import annotations

import logging

import numpy as np
from scipy import signal as sps

logger = logging.getLogger(__name__)

FS_HZ = 100.0
N_SAMPLES = 1000
# Butterworth order 2 and the corners of ecg_extract_lead_image.py (0.5 Hz baseline, 15 Hz noise).
HIGHPASS_HZ = 0.5
LOWPASS_HZ = 15.0
FILTER_ORDER = 2
# split_data(): a 1-s window with the R peak 35 samples (0.35 s) from its start.
WINDOW_SAMPLES = 100
R_OFFSET_SAMPLES = 35
MTF_BINS = 4
OUTPUT_SIZE = 224
GRID_ROWS, GRID_COLS = 3, 4
LEAD_II = 1  # index in LEADS_12

_SOS_HIGH = sps.butter(FILTER_ORDER, HIGHPASS_HZ / (FS_HZ / 2), btype="high", output="sos")
_SOS_LOW = sps.butter(FILTER_ORDER, LOWPASS_HZ / (FS_HZ / 2), btype="low", output="sos")

# get_r_peaks(): physiological limits of the beat-period search (20..140 bpm) and peak spacing.
_MAX_RATE_HZ = 140 / 60
_MIN_RATE_HZ = 20 / 60


def gramian_angular_summation_field(x: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Gramian angular summation field of each row of ``x``.

    Parameters
    ----------
    x : array, shape (..., n); values within [-1, 1] (dimensionless, already scaled).
    dtype : dtype of the products and the result; sin(phi) is always computed in float64
        (``1 - x**2`` cancels badly in float32 near |x| = 1: errors up to 1e-4).

    Returns
    -------
    array, shape (..., n, n), values in [-1, 1]: ``cos(phi_i + phi_j)`` with ``phi = arccos(x)``.
    """
    x = np.asarray(x, dtype=np.float64)
    cos_phi = x.astype(dtype)
    sin_phi = np.sqrt(np.clip(1.0 - x * x, 0.0, 1.0)).astype(dtype)
    return (cos_phi[..., :, None] * cos_phi[..., None, :]
            - sin_phi[..., :, None] * sin_phi[..., None, :])


def recurrence_plot(x: np.ndarray) -> np.ndarray:
    """Unthresholded recurrence plot (dimension 1, delay 1) of each row of ``x``.

    Parameters
    ----------
    x : array, shape (..., n).

    Returns
    -------
    array, shape (..., n, n): the distances ``|x_i - x_j|``, in the units of ``x``.
    """
    return np.abs(x[..., :, None] - x[..., None, :])


def quantile_bins(x: np.ndarray, n_bins: int = MTF_BINS) -> np.ndarray:
    """Bin each row of ``x`` by its own quantiles, as pyts' ``KBinsDiscretizer('quantile')``.

    Parameters
    ----------
    x : array, shape (m, n).
    n_bins : number of quantile bins.

    Returns
    -------
    int64 array, shape (m, n), values in 0 .. n_bins - 1.
    """
    edges = np.percentile(x, np.linspace(0, 100, n_bins + 1)[1:-1], axis=1).T  # (m, n_bins - 1)
    # searchsorted(edges, x, side='left') == number of edges strictly below x. pyts also merges
    # equal edges; that only relabels bins, which leaves the transition field unchanged.
    return np.sum(x[:, :, None] > edges[:, None, :], axis=2).astype(np.int64)


def markov_transition_matrix(bins: np.ndarray, n_bins: int = MTF_BINS) -> np.ndarray:
    """First-order transition probabilities between bins, one matrix per row of ``bins``.

    Parameters
    ----------
    bins : int array, shape (m, n), values in 0 .. n_bins - 1.
    n_bins : number of bins.

    Returns
    -------
    array, shape (m, n_bins, n_bins): ``P[k, a, b]`` is the share of steps of row ``k`` that go
    from bin ``a`` to bin ``b``. Rows of occupied bins sum to 1; rows of bins never left stay 0.
    """
    m = bins.shape[0]
    flat = (np.arange(m)[:, None] * n_bins + bins[:, :-1]) * n_bins + bins[:, 1:]
    counts = np.bincount(flat.ravel(), minlength=m * n_bins * n_bins).astype(np.float64)
    counts = counts.reshape(m, n_bins, n_bins)
    totals = counts.sum(axis=2, keepdims=True)
    totals[totals == 0] = 1.0
    return counts / totals


def markov_transition_field(x: np.ndarray, n_bins: int = MTF_BINS) -> np.ndarray:
    """Markov transition field of each row of ``x`` (no aggregation: image size = n).

    Parameters
    ----------
    x : array, shape (m, n).
    n_bins : number of quantile bins.

    Returns
    -------
    array, shape (m, n, n), values in [0, 1]: ``P[bin(x_i), bin(x_j)]``.
    """
    bins = quantile_bins(x, n_bins)
    probs = markov_transition_matrix(bins, n_bins)
    rows = np.arange(x.shape[0])[:, None, None]
    return probs[rows, bins[:, :, None], bins[:, None, :]]


def _dominant_polarity_scale(leads: np.ndarray) -> np.ndarray:
    # get_r_peaks(): divide each lead by the median of its per-second maxima (or minus the median
    # of its minima when those are larger), so an R wave is about 1 whatever the gain or polarity.
    per_second = leads.reshape(leads.shape[0], -1, int(FS_HZ))
    magnitude_pos = np.abs(np.median(per_second.max(axis=2), axis=1))
    magnitude_neg = np.abs(np.median(per_second.min(axis=2), axis=1))
    scale = np.where(magnitude_pos > magnitude_neg, 1.0 / (magnitude_pos + 1e-8),
                     -1.0 / (magnitude_neg + 1e-8))
    return leads * scale[:, None]


_FREQS_HZ = np.fft.rfftfreq(N_SAMPLES, d=1.0 / FS_HZ)
_RATE_BAND = (_FREQS_HZ < _MAX_RATE_HZ) & (_FREQS_HZ > _MIN_RATE_HZ)


def detect_r_peaks(highpassed: np.ndarray) -> np.ndarray:
    """R peaks on lead II with the detector of Qiu et al. (``get_r_peaks``).

    Each lead gives a beat period: peaks of the polarity-scaled lead (prominence 0.6, at most
    140 bpm), then the strongest frequency between 20 and 140 bpm of that peak train's
    periodogram, weighted by 1/f. The median period over the 12 leads sets the minimum spacing
    (0.6 periods) of the peaks searched on lead II, scaled by its median per-second maximum.

    Parameters
    ----------
    highpassed : float array, shape (12, 1000): 10 s at 100 Hz in mV, ``LEADS_12`` order, after
        the 0.5 Hz high-pass.

    Returns
    -------
    int array of sample indices of the R peaks found on lead II (possibly empty).
    """
    scaled = _dominant_polarity_scale(highpassed)
    trains = np.zeros_like(scaled)
    for lead, train in zip(scaled, trains):
        peaks, _ = sps.find_peaks(lead, distance=0.8 * FS_HZ / _MAX_RATE_HZ, prominence=0.6)
        train[peaks] = 1.0
    # scipy.signal.periodogram's density is |rfft|^2 times a constant in this band (boxcar
    # window; the mean removal only touches 0 Hz), so its argmax is the rfft's; one rfft for all
    # leads instead of 12 periodogram calls, which took about two thirds of this function's time.
    power = np.abs(np.fft.rfft(trains, axis=1)[:, _RATE_BAND]) ** 2 / _FREQS_HZ[_RATE_BAND]
    periods = FS_HZ / _FREQS_HZ[_RATE_BAND][np.argmax(power, axis=1)]
    distance = float(np.median(periods))
    lead_ii = highpassed[LEAD_II]
    magnitude_pos = abs(np.median(lead_ii.reshape(-1, int(FS_HZ)).max(axis=1)))
    peaks, _ = sps.find_peaks(lead_ii / (magnitude_pos + 1e-8), distance=max(1.0, 0.6 * distance),
                              prominence=0.6)
    return peaks.astype(np.int64)


def choose_window_start(r_peaks: np.ndarray) -> int:
    """First sample of the 1-s window: around the usable R peak nearest the record's middle.

    Parameters
    ----------
    r_peaks : sample indices of R peaks on lead II.

    Returns
    -------
    int: start index; the window is ``[start, start + 100)`` and its R peak is ``start + 35``.
    """
    usable = r_peaks[(r_peaks >= R_OFFSET_SAMPLES)
                     & (r_peaks < N_SAMPLES - (WINDOW_SAMPLES - R_OFFSET_SAMPLES))]
    if usable.size == 0:
        logger.debug("no usable R peak on lead II; using a window centred on the record's middle")
        return N_SAMPLES // 2 - R_OFFSET_SAMPLES
    nearest = usable[np.argmin(np.abs(usable - N_SAMPLES // 2))]
    return int(nearest) - R_OFFSET_SAMPLES


def _bilinear_taps(dst: int, src: int) -> tuple[np.ndarray, np.ndarray]:
    # cv2.resize INTER_LINEAR: src coordinate (d + 0.5) * src/dst - 0.5, clamped at the borders;
    # each output pixel mixes two neighbours, so two gathers beat a dense resize matrix.
    pos = np.clip((np.arange(dst) + 0.5) * (src / dst) - 0.5, 0.0, src - 1.0)
    left = np.minimum(np.floor(pos).astype(np.int64), src - 2)
    return left, (pos - left).astype(np.float32)


_ROW_LEFT, _ROW_FRAC = _bilinear_taps(OUTPUT_SIZE, GRID_ROWS * WINDOW_SAMPLES)
_COL_LEFT, _COL_FRAC = _bilinear_taps(OUTPUT_SIZE, GRID_COLS * WINDOW_SAMPLES)
# Lead j of LEADS_12 goes to column j // 3, row j % 3 (extract_image_feature_grid).
_GRID_ORDER = np.array([[GRID_ROWS * c + r for c in range(GRID_COLS)] for r in range(GRID_ROWS)])


def beat_window(signal_mv: np.ndarray) -> tuple[np.ndarray, int]:
    """Filter as the paper does and cut the 1-s window of all 12 leads around one R peak.

    Parameters
    ----------
    signal_mv : float array, shape (12, 1000), mV at 100 Hz in ``LEADS_12`` order; finite.

    Returns
    -------
    window : float64 array, shape (12, 100), mV after the 0.5 Hz high-pass and 15 Hz low-pass.
    start : index of the window's first sample in the input (its R peak is ``start + 35``).
    """
    highpassed = sps.sosfiltfilt(_SOS_HIGH, signal_mv, axis=-1, padtype="even", padlen=200)
    start = choose_window_start(detect_r_peaks(highpassed))
    lowpassed = sps.sosfiltfilt(_SOS_LOW, highpassed, axis=-1, padtype="even", padlen=200)
    return lowpassed[:, start:start + WINDOW_SAMPLES], start


def lead_images(window: np.ndarray) -> np.ndarray:
    """GASF, RP and MTF of each lead's window, mapped to [0, 1] as the paper's code does.

    Parameters
    ----------
    window : float array, shape (12, 100), one beat per lead (any units).

    Returns
    -------
    float32 array, shape (3, 12, 100, 100): channels (GASF, RP, MTF), one image per lead.
    """
    scaled = window / (np.max(np.abs(window), axis=1, keepdims=True) + 1e-8)
    # Bins from float64 (a float32 rounding could move a sample across a quantile edge); the
    # 3 x 12 x 10^4 pixels in float32, the output's precision.
    mtf = markov_transition_field(scaled, MTF_BINS)
    out = np.empty((3, *mtf.shape), dtype=np.float32)
    out[0] = gramian_angular_summation_field(scaled, np.float32)
    scaled = scaled.astype(np.float32)
    out[0] += 1.0
    out[0] *= 0.5
    np.minimum(recurrence_plot(scaled), 1.0, out=out[1])
    out[2] = mtf
    return out


def tile_and_resize(images: np.ndarray) -> np.ndarray:
    """Tile (3, 12, 100, 100) lead images in the 3 x 4 paper grid and resize to (3, 224, 224).

    Parameters
    ----------
    images : float array, shape (3, 12, 100, 100).

    Returns
    -------
    float32 array, shape (3, 224, 224).
    """
    n_ch = images.shape[0]
    grid = images[:, _GRID_ORDER]  # (3, rows, cols, 100, 100)
    grid = grid.transpose(0, 1, 3, 2, 4).reshape(
        n_ch, GRID_ROWS * WINDOW_SAMPLES, GRID_COLS * WINDOW_SAMPLES)
    frac = _ROW_FRAC[:, None]
    rows = grid[:, _ROW_LEFT] * (1.0 - frac) + grid[:, _ROW_LEFT + 1] * frac
    frac = _COL_FRAC
    return (rows[:, :, _COL_LEFT] * (1.0 - frac) + rows[:, :, _COL_LEFT + 1] * frac).astype(
        np.float32, copy=False)


def encode_paper(signal_mv: np.ndarray) -> np.ndarray:
    """Encode one canonical ECG as the paper's (GASF, RP, MTF) 3 x 4 lead grid.

    Parameters
    ----------
    signal_mv : float array, shape (12, 1000): 10 s at 100 Hz in mV, ``LEADS_12`` order, finite
        (the caller validates it).

    Returns
    -------
    float32 array, shape (3, 224, 224), values in [0, 1].
    """
    window, _ = beat_window(np.asarray(signal_mv, dtype=np.float64))
    return tile_and_resize(lead_images(window))
