"""Tests of the ECG -> image encodings (desktop_app.encoding).

Inputs are the model's canonical (12, 1000) signal: PTB-XL record 1 read with wfdb (its 100 Hz
version is already the canonical length and rate) and synthetic ECG-like signals whose beat times
are known.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import wfdb
from scipy import signal as sps

from desktop_app.ecg._record import LEADS_12
from desktop_app.encoding import ENCODINGS, PAPER_GAF_RP_MTF, SIGNAL_MV, Encoding, get_encoding
from desktop_app.encoding import _paper
from desktop_app.errors import EcgValueError

FS_HZ = 100.0


def read_canonical(header_path: Path) -> np.ndarray:
    """A 100 Hz, 10-s WFDB record as float32 (12, 1000) mV in LEADS_12 order.

    PTB-XL names the augmented leads ``AVR/AVL/AVF``; rows are matched by upper-cased name.
    """
    rec = wfdb.rdrecord(str(header_path.with_suffix("")))
    assert rec.fs == FS_HZ and rec.p_signal.shape == (1000, 12), (rec.fs, rec.p_signal.shape)
    names = [n.upper() for n in rec.sig_name]
    order = [names.index(lead.upper()) for lead in LEADS_12]
    return rec.p_signal[:, order].T.astype(np.float32)


def synthetic_ecg(rr_s: float = 0.8, first_beat_s: float = 0.4) -> tuple[np.ndarray, np.ndarray]:
    """Regular beats: a 1 mV-scale QRS (Gaussian, sigma 15 ms) and a T wave on every lead.

    Returns the (12, 1000) float32 signal in mV and the sample indices of the R peaks.
    """
    t = np.arange(1000) / FS_HZ
    beats = np.arange(first_beat_s, 10.0 - 0.3, rr_s)
    qrs = sum(np.exp(-0.5 * ((t - b) / 0.015) ** 2) for b in beats)
    t_wave = sum(np.exp(-0.5 * ((t - b - 0.3) / 0.06) ** 2) for b in beats)
    # Per-lead gains with the usual signs (aVR negative, V1 mostly negative).
    gains = np.array([0.6, 1.0, 0.4, -0.8, 0.1, 0.7, -0.9, 1.2, 1.4, 1.5, 1.2, 0.9])
    sig = gains[:, None] * qrs[None] + 0.2 * np.abs(gains)[:, None] * t_wave[None]
    return sig.astype(np.float32), np.round(beats * FS_HZ).astype(int)


@pytest.fixture(scope="module")
def record_1(shared_data: Path) -> np.ndarray:
    return read_canonical(shared_data / "records" / "00001_lr.hea")


# --- registry and the Encoding contract ------------------------------------------------------

def test_registry_lists_paper_and_signal_encodings():
    assert set(ENCODINGS) == {"paper_gaf_rp_mtf", "signal_mv"}
    for name, enc in ENCODINGS.items():
        assert isinstance(enc, Encoding) and enc.name == name and get_encoding(name) is enc
    assert PAPER_GAF_RP_MTF.output_shape == (3, 224, 224)
    assert SIGNAL_MV.output_shape == (3, 12, 1000)


def test_get_encoding_unknown_name_lists_known_ones():
    with pytest.raises(EcgValueError, match="paper_gaf_rp_mtf, signal_mv"):
        get_encoding("gaf")


def test_encoding_metadata_is_strings_and_parameters_read_only():
    for enc in ENCODINGS.values():
        meta = enc.metadata()
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
        assert meta["encoding.name"] == enc.name
        assert json.loads(meta["encoding.parameters"]) == json.loads(
            json.dumps(dict(enc.parameters)))
        assert json.loads(meta["encoding.output_shape"]) == list(enc.output_shape)
        with pytest.raises(TypeError):
            enc.parameters["input_fs_hz"] = 500  # type: ignore[index]


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_encode_shape_dtype_finite_on_real_and_synthetic(name, record_1):
    enc = get_encoding(name)
    rng = np.random.default_rng(1)
    inputs = [record_1, synthetic_ecg()[0], rng.normal(0, 0.3, (12, 1000)),
              np.zeros((12, 1000)), np.full((12, 1000), 40.0)]
    for sig in inputs:
        out = enc.encode(sig)
        assert out.shape == enc.output_shape and out.dtype == np.float32
        assert np.isfinite(out).all()
    if name == "paper_gaf_rp_mtf":
        out = enc.encode(record_1)
        assert out.min() >= 0.0 and out.max() <= 1.0
        assert out.std(axis=(1, 2)).min() > 0.05  # each channel carries an image, not a constant


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_encode_batch_equals_single_and_accepts_empty(name, record_1):
    enc = get_encoding(name)
    batch = np.stack([record_1, synthetic_ecg()[0], 0.5 * record_1])
    out = enc.encode_batch(batch)
    assert out.shape == (3, *enc.output_shape) and out.dtype == np.float32
    for i in range(3):
        np.testing.assert_array_equal(out[i], enc.encode(batch[i]))
    assert enc.encode_batch(np.zeros((0, 12, 1000))).shape == (0, *enc.output_shape)


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_encode_is_deterministic_and_leaves_input_alone(name, record_1):
    enc = get_encoding(name)
    before = record_1.copy()
    first = enc.encode(record_1)
    np.testing.assert_array_equal(first, enc.encode(record_1.astype(np.float64)))
    np.testing.assert_array_equal(record_1, before)


@pytest.mark.parametrize("name", sorted(ENCODINGS))
@pytest.mark.parametrize("shape", [(12, 500), (1000, 12), (8, 1000), (12000,)])
def test_encode_rejects_wrong_shape(name, shape):
    with pytest.raises(EcgValueError, match="12, 1000"):
        get_encoding(name).encode(np.zeros(shape))


def test_encode_batch_rejects_wrong_shape_and_non_numbers():
    with pytest.raises(EcgValueError, match=r"\(n, 12, 1000\)"):
        SIGNAL_MV.encode_batch(np.zeros((12, 1000)))
    with pytest.raises(EcgValueError, match="real numbers"):
        SIGNAL_MV.encode(np.zeros((12, 1000), dtype=complex))


@pytest.mark.parametrize("name", sorted(ENCODINGS))
def test_encode_missing_lead_nan_is_flat_zero(name, record_1):
    enc = get_encoding(name)
    with_nan = record_1.copy()
    with_nan[4] = np.nan  # aVL missing
    zeroed = record_1.copy()
    zeroed[4] = 0.0
    np.testing.assert_array_equal(enc.encode(with_nan), enc.encode(zeroed))


# --- the paper's transforms ------------------------------------------------------------------

def _windows() -> np.ndarray:
    rng = np.random.default_rng(7)
    t = np.linspace(0, 1, 100)
    return np.stack([rng.uniform(-1, 1, 100), np.sin(2 * np.pi * 3 * t),
                     np.exp(-0.5 * ((t - 0.35) / 0.02) ** 2) * 2 - 1, np.linspace(-1, 1, 100)])


def test_gasf_is_symmetric_with_cos_2phi_diagonal_and_cos_sum_entries():
    """GASF is cos(phi_i + phi_j) with phi = arccos(x) (pyts GramianAngularField, summation).

    Cross-check against pyts 0.14.1 in a throwaway venv (pyts is not an app dependency): on 200
    windows (uniform noise and sines) GASF, RP and MTF matched pyts' ``GramianAngularField(
    sample_range=None)``, ``RecurrencePlot()`` and ``MarkovTransitionField(n_bins=4)`` with max abs
    difference 0.0. The whole encoding of PTB-XL record 1 (and 3 rescaled noisy copies) matched
    the authors' pipeline (their get_r_peaks / split_data / signal_to_image with pyts, cv2 5.0.0
    resize on floats, same beat choice) to 1.8e-7, with identical R peaks; so did PTB-XL records
    1-100 (identical R peaks on all 100, max image difference 2.4e-7). Against their uint8 image
    path the difference is at most 0.007 (mean 0.002) of the [0, 1] range.
    """
    x = _windows()
    gasf = _paper.gramian_angular_summation_field(x)
    phi = np.arccos(x)
    np.testing.assert_allclose(gasf, np.cos(phi[:, :, None] + phi[:, None, :]), atol=1e-12)
    np.testing.assert_allclose(gasf, np.swapaxes(gasf, 1, 2), atol=0)
    np.testing.assert_allclose(np.diagonal(gasf, axis1=1, axis2=2), np.cos(2 * phi), atol=1e-12)
    # The float32 path keeps sin(phi) in float64, so it stays within float32 rounding.
    np.testing.assert_allclose(_paper.gramian_angular_summation_field(x, np.float32), gasf,
                               atol=2e-7)


def test_recurrence_plot_is_symmetric_distance_with_zero_diagonal():
    x = _windows()
    rp = _paper.recurrence_plot(x)
    assert (np.diagonal(rp, axis1=1, axis2=2) == 0).all()
    np.testing.assert_array_equal(rp, np.swapaxes(rp, 1, 2))
    i, j = 17, 63
    np.testing.assert_allclose(rp[:, i, j], np.abs(x[:, i] - x[:, j]))
    assert (rp >= 0).all()


def test_markov_transition_matrix_rows_sum_to_one_and_field_indexes_it():
    x = _windows()
    bins = _paper.quantile_bins(x, 4)
    # quantile bins of distinct values hold a quarter of the samples each
    for row in bins[[0, 1]]:
        assert np.bincount(row, minlength=4).tolist() == [25, 25, 25, 25]
    probs = _paper.markov_transition_matrix(bins, 4)
    for k in range(len(x)):
        counts = np.zeros((4, 4))
        for a, b in zip(bins[k, :-1], bins[k, 1:]):
            counts[a, b] += 1
        left = counts.sum(axis=1) > 0
        np.testing.assert_allclose(probs[k].sum(axis=1)[left], 1.0)
        np.testing.assert_array_equal(probs[k][~left], 0.0)
        expected = counts[left] / counts[left].sum(axis=1, keepdims=True)
        np.testing.assert_allclose(probs[k][left], expected)
    mtf = _paper.markov_transition_field(x, 4)
    i, j = 5, 80
    np.testing.assert_array_equal(mtf[:, i, j], probs[np.arange(len(x)), bins[:, i], bins[:, j]])
    assert mtf.min() >= 0 and mtf.max() <= 1


def test_markov_transition_field_with_tied_quantiles_stays_a_probability_field():
    x = np.zeros((1, 100))
    x[0, 40:45] = [0.2, 0.9, 1.0, 0.4, -0.3]  # 95 % of samples equal: three equal quantile edges
    mtf = _paper.markov_transition_field(x, 4)
    assert np.isfinite(mtf).all() and mtf.min() >= 0 and mtf.max() <= 1
    assert mtf[0, 0, 0] == pytest.approx(94 / 95)  # zero -> zero in 94 of the 95 steps from zero


# --- the paper's beat window and grid ---------------------------------------------------------

def test_paper_r_peaks_on_record_1_are_regular_and_window_sits_on_one(record_1):
    highpassed = sps.sosfiltfilt(_paper._SOS_HIGH, record_1.astype(np.float64), axis=-1,
                                 padtype="even", padlen=200)
    peaks = _paper.detect_r_peaks(highpassed)
    rr_s = np.diff(peaks) / FS_HZ
    # PTB-XL lists record 1 as sinus rhythm: every beat found, none doubled.
    assert 8 <= len(peaks) <= 17
    assert ((rr_s >= 0.6) & (rr_s <= 1.2)).all(), rr_s
    window, start = _paper.beat_window(record_1.astype(np.float64))
    r_index = start + _paper.R_OFFSET_SAMPLES
    assert r_index in peaks
    usable = peaks[(peaks >= 35) & (peaks < 935)]
    assert abs(r_index - 500) == np.abs(usable - 500).min()
    # It is the R wave: the local maximum of lead II within +-50 ms and near its record maximum.
    lead_ii = highpassed[1]
    assert lead_ii[r_index] == lead_ii[r_index - 5:r_index + 6].max()
    assert lead_ii[r_index] > 0.6 * lead_ii.max()
    assert window.shape == (12, 100)


@pytest.mark.parametrize("rr_s", [0.5, 0.8, 1.3])
def test_paper_r_peaks_match_synthetic_beats(rr_s):
    sig, beats = synthetic_ecg(rr_s=rr_s)
    highpassed = sps.sosfiltfilt(_paper._SOS_HIGH, sig.astype(np.float64), axis=-1,
                                 padtype="even", padlen=200)
    peaks = _paper.detect_r_peaks(highpassed)
    assert len(peaks) == len(beats)
    assert np.abs(peaks - beats).max() <= 1


def test_paper_without_r_peak_uses_middle_window():
    assert _paper.choose_window_start(np.array([], dtype=int)) == 465
    assert _paper.choose_window_start(np.array([10, 980])) == 465  # peaks too near the edges
    assert _paper.choose_window_start(np.array([100, 450, 560])) == 450 - 35


def test_paper_grid_puts_leads_in_3x4_paper_layout():
    images = np.broadcast_to(np.arange(12, dtype=np.float32)[None, :, None, None],
                             (3, 12, 100, 100))
    out = _paper.tile_and_resize(images)
    assert out.shape == (3, 224, 224)
    cell_h, cell_w = 224 / 3, 224 / 4
    for row in range(3):
        for col in range(4):
            y, x = int((row + 0.5) * cell_h), int((col + 0.5) * cell_w)
            assert out[0, y, x] == 3 * col + row  # I, II, III down the first column ... V6 last
    assert out[0, 0, 0] == 0 and out[0, -1, -1] == 11  # I top left, V6 bottom right


def test_paper_resize_uses_pixel_centre_bilinear():
    ramp = np.broadcast_to(np.arange(400, dtype=np.float32)[None, None, :],
                           (3, 300, 400)).reshape(3, 3, 100, 4, 100).transpose(0, 1, 3, 2, 4)
    images = np.empty((3, 12, 100, 100), dtype=np.float32)
    images[:, _paper._GRID_ORDER] = ramp
    out = _paper.tile_and_resize(images)
    expected = np.clip((np.arange(224) + 0.5) * 400 / 224 - 0.5, 0, 399)
    np.testing.assert_allclose(out[1, 100], expected, atol=1e-3)


def test_paper_encoding_discards_amplitude(record_1):
    """Scaling every lead by 2 (or 0.5) leaves the paper's image unchanged: mV are lost.

    Not bit-identical: the 1e-8 in x / (max|x| + 1e-8) moves the peak sample off 1 by ~1e-8/mV,
    and GASF's sqrt(1 - x^2) turns that into ~1e-4 there.
    """
    base = PAPER_GAF_RP_MTF.encode(record_1)
    for factor in (2.0, 0.5):
        np.testing.assert_allclose(PAPER_GAF_RP_MTF.encode(factor * record_1), base, atol=1e-3)


def test_paper_encoding_sees_only_one_beat(record_1):
    """Silencing all but 4 s around the chosen beat (a 3-5 s pause) barely changes the image.

    Only the filters' transients reach into the window: GASF and RP move by < 0.02; MTF, whose
    quantile bins are discontinuous, flips a few pixels (mean change < 0.01).
    """
    _, start = _paper.beat_window(record_1.astype(np.float64))
    silenced = record_1.copy()
    silenced[:, :max(0, start - 150)] = 0.0
    silenced[:, start + 250:] = 0.0
    assert _paper.beat_window(silenced.astype(np.float64))[1] == start
    diff = np.abs(PAPER_GAF_RP_MTF.encode(silenced) - PAPER_GAF_RP_MTF.encode(record_1))
    assert diff[:2].max() < 0.02
    assert diff[2].mean() < 0.01


# --- our signal image ------------------------------------------------------------------------

def test_signal_mv_keeps_amplitude_in_mv(record_1):
    out = SIGNAL_MV.encode(record_1)
    np.testing.assert_array_equal(out[0], record_1)  # |x| < 5 mV: channel 0 is the mV value
    doubled = SIGNAL_MV.encode(2.0 * record_1)
    assert not np.allclose(doubled, out)
    np.testing.assert_allclose(doubled[0], 2.0 * out[0], rtol=1e-6)
    np.testing.assert_allclose(doubled[1], np.clip(2.0 * out[1], -5, 5), rtol=1e-5, atol=1e-6)


def test_signal_mv_clips_at_5_mv():
    sig = np.zeros((12, 1000), dtype=np.float32)
    sig[3, 100:200] = 7.0
    sig[3, 300:400] = -9.0
    out = SIGNAL_MV.encode(sig)
    assert out[0, 3, 150] == 5.0 and out[0, 3, 350] == -5.0
    assert np.abs(out[1]).max() <= 5.0 and out[2].max() <= 5.0


def test_signal_mv_slope_is_mv_per_20_ms():
    t = np.arange(1000) / FS_HZ
    sig = np.tile(0.5 * t, (12, 1)).astype(np.float32)  # 0.5 mV/s ramp
    out = SIGNAL_MV.encode(sig)
    np.testing.assert_allclose(out[1], 0.5 * 0.02, rtol=1e-4)
    # Spatial velocity of equal slopes on all 8 independent leads is that slope.
    np.testing.assert_allclose(out[2], 0.5 * 0.02, rtol=1e-4)


def test_signal_mv_rhythm_channel_peaks_at_every_beat():
    sig, beats = synthetic_ecg(rr_s=0.9)
    rhythm = SIGNAL_MV.encode(sig)[2]
    assert (rhythm == rhythm[0]).all()  # the same on every lead's row
    peaks, _ = sps.find_peaks(rhythm[0], prominence=0.5 * rhythm[0].max())
    assert len(peaks) == len(beats)
    assert np.abs(peaks - beats).max() <= 2


def test_signal_mv_keeps_all_beats_and_rhythm(record_1):
    """Unlike the paper's encoding, a change far from any single beat changes the image."""
    changed = record_1.copy()
    changed[:, 900:] = 0.0
    assert not np.allclose(SIGNAL_MV.encode(changed)[:, :, 900:],
                           SIGNAL_MV.encode(record_1)[:, :, 900:])
