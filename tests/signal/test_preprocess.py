"""The model's canonical input: 12 x 1000 float32 at 100 Hz, band-passed 0.5-40 Hz."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource, read_ecg
from desktop_app.errors import EcgValueError
from desktop_app.signal import (
    MODEL_DURATION_S, MODEL_FS_HZ, MODEL_N_SAMPLES, preprocess_for_model, r_peaks, resample,
)
from tests.signal._synthetic import beat_train, record_from_leads, regular_beats


def _record(signal: np.ndarray, fs_hz: float) -> EcgRecord:
    return EcgRecord(signal=np.asarray(signal, dtype=np.float32), fs_hz=fs_hz)


def _amplitude_at(x: np.ndarray, fs_hz: float, freq_hz: float) -> float:
    """Amplitude of one sine component (least squares on sin and cos)."""
    t = np.arange(x.size) / fs_hz
    basis = np.column_stack([np.sin(2 * np.pi * freq_hz * t), np.cos(2 * np.pi * freq_hz * t)])
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    return float(np.hypot(*coef))


def _sines(fs_hz: float, duration_s: float, components: dict[float, float], offset_mv=0.0):
    t = np.arange(int(round(fs_hz * duration_s))) / fs_hz
    x = np.full(t.size, offset_mv)
    for freq, amp in components.items():
        x += amp * np.sin(2 * np.pi * freq * t)
    return np.tile(x, (12, 1))


def test_model_constants():
    assert (MODEL_FS_HZ, MODEL_DURATION_S, MODEL_N_SAMPLES) == (100, 10.0, 1000)


def test_preprocess_ptbxl_record_1_shape_dtype_and_range(ptbxl_record_path):
    record = read_ecg(ptbxl_record_path)
    x = preprocess_for_model(record)
    assert x.shape == (12, 1000) and x.dtype == np.float32
    assert np.isfinite(x).all()
    # Zero-phase band-pass keeps the QRS where it was and removes the baseline.
    assert np.abs(x.mean(axis=1)).max() < 0.05
    raw_peaks = r_peaks(record.lead("II"), record.fs_hz)
    filtered_peaks = r_peaks(x[1], MODEL_FS_HZ)
    assert raw_peaks.size >= 8
    assert np.array_equal(raw_peaks, filtered_peaks)  # zero phase: beats do not move


@pytest.mark.parametrize("fs_hz", [100.0, 250.0, 257.0, 360.0, 500.0, 1000.0])
def test_preprocess_keeps_passband_and_removes_offset_at_any_rate(fs_hz):
    signal = _sines(fs_hz, 10.0, {10.0: 1.0, 0.1: 1.0}, offset_mv=2.0)
    x = preprocess_for_model(_record(signal, fs_hz))
    assert x.shape == (12, 1000)
    core = x[0, 200:800].astype(np.float64)  # away from the ends
    assert _amplitude_at(core, 100.0, 10.0) == pytest.approx(1.0, abs=0.03)
    assert abs(core.mean()) < 0.02  # DC offset gone
    assert _amplitude_at(x[0].astype(np.float64), 100.0, 0.1) < 0.15  # wander attenuated


def test_preprocess_removes_mains_hum():
    fs = 500.0
    signal = _sines(fs, 10.0, {8.0: 1.0, 50.0: 0.5, 60.0: 0.5})
    x = preprocess_for_model(_record(signal, fs))[0].astype(np.float64)
    assert _amplitude_at(x, 100.0, 8.0) == pytest.approx(1.0, abs=0.03)
    # 50 Hz is exactly the new Nyquist rate; 60 Hz would alias to 40 Hz without the
    # anti-aliasing filter. Both must be gone.
    assert _amplitude_at(x, 100.0, 40.0) < 0.05
    assert np.abs(x[100:900] - np.sin(2 * np.pi * 8.0 * np.arange(100, 900) / 100.0)).max() < 0.1


def test_preprocess_anti_aliases_high_frequencies():
    fs = 500.0
    # 230 Hz would fold to 30 Hz (inside the pass band) if samples were simply dropped.
    signal = _sines(fs, 10.0, {230.0: 1.0})
    x = preprocess_for_model(_record(signal, fs))[0].astype(np.float64)
    assert _amplitude_at(x, 100.0, 30.0) < 0.02
    naive = signal[0, ::5]
    assert _amplitude_at(naive, 100.0, 30.0) > 0.9  # the trap the filter avoids


def test_preprocess_missing_leads_are_zeros():
    fs = 500.0
    lead = beat_train(regular_beats(70, 10.0), fs, 10.0)
    record = record_from_leads({"V1": lead, "V2": lead, "I": lead, "II": 0.8 * lead}, fs)
    x = preprocess_for_model(record)
    for i, (name, src) in enumerate(zip(LEADS_12, record.lead_sources)):
        if src is LeadSource.MISSING:
            assert not x[i].any(), name
        else:
            assert np.abs(x[i]).max() > 0.1, name  # III = II - I is the smallest here


def test_preprocess_long_recording_keeps_first_ten_seconds():
    fs = 500.0
    t = np.arange(int(30 * fs)) / fs
    x = np.where(t < 10.0, np.sin(2 * np.pi * 5 * t), np.sin(2 * np.pi * 15 * t))
    out = preprocess_for_model(_record(np.tile(x, (12, 1)), fs))[0].astype(np.float64)
    assert _amplitude_at(out[:900], 100.0, 5.0) == pytest.approx(1.0, abs=0.05)
    assert _amplitude_at(out[:900], 100.0, 15.0) < 0.05


def test_preprocess_long_real_record_at_1000_hz(shared_data):
    record = read_ecg(shared_data / "records" / "s0010_re.hea")
    x = preprocess_for_model(record)
    assert x.shape == (12, 1000) and np.isfinite(x).all()
    # The same heart beats at the same times: compare against an independent decimation.
    ref = np.asarray(record.lead("V2")[: 10 * 1000 : 10], dtype=np.float64)
    ref = ref - np.convolve(ref, np.ones(101) / 101, mode="same")  # crude baseline removal
    r = np.corrcoef(x[LEADS_12.index("V2"), 100:900], ref[100:900])[0, 1]
    assert r > 0.9


def test_preprocess_pads_recording_between_5_and_10_s_with_zeros():
    fs = 250.0
    signal = _sines(fs, 6.0, {7.0: 1.0})
    x = preprocess_for_model(_record(signal, fs))
    assert x.shape == (12, 1000)
    assert not x[:, 600:].any()
    assert _amplitude_at(x[0, 100:500].astype(np.float64), 100.0, 7.0) == pytest.approx(
        1.0, abs=0.05)


@pytest.mark.parametrize("duration_s", [4.99, 1.0])
def test_preprocess_shorter_than_5_s_raises(duration_s):
    fs = 500.0
    signal = _sines(fs, duration_s, {7.0: 1.0})
    with pytest.raises(EcgValueError, match="at least 5 s"):
        preprocess_for_model(_record(signal, fs))


def test_preprocess_is_deterministic(ptbxl_record_path):
    record = read_ecg(ptbxl_record_path)
    assert np.array_equal(preprocess_for_model(record), preprocess_for_model(record))


@pytest.mark.parametrize("fs_from, fs_to, n_in, n_out", [
    (500.0, 100.0, 5000, 1000), (1000.0, 100.0, 10000, 1000), (257.0, 100.0, 2570, 1000),
    (360.0, 100.0, 3600, 1000), (100.0, 500.0, 1000, 5000), (100.0, 100.0, 1000, 1000),
])
def test_resample_lengths_and_frequency(fs_from, fs_to, n_in, n_out):
    t = np.arange(n_in) / fs_from
    x = np.sin(2 * np.pi * 3.0 * t)
    y = resample(x[None, :], fs_from, fs_to)
    assert y.shape == (1, n_out)
    assert _amplitude_at(y[0, 50:-50], fs_to, 3.0) == pytest.approx(1.0, abs=0.02)


def test_resample_keeps_dc_level_at_the_edges():
    y = resample(np.full((2, 5000), 1.5), 500.0, 100.0)
    assert np.allclose(y, 1.5, atol=1e-6)


@pytest.mark.parametrize("fs_from, fs_to", [(0.0, 100.0), (500.0, -1.0), (float("nan"), 100.0)])
def test_resample_invalid_rates_raise(fs_from, fs_to):
    with pytest.raises(EcgValueError):
        resample(np.zeros(100), fs_from, fs_to)
