"""R-peak detection and heart rate on synthetic leads with known beats and on real records."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.ecg import read_ecg
from desktop_app.signal import heart_rate_bpm, r_peaks
from tests.signal._synthetic import (
    beat_train, record_from_leads, regular_beats, twelve_lead_record,
)


def _matches(found: np.ndarray, truth_s: np.ndarray, fs_hz: float, tol_s: float = 0.03):
    """(true positives, false positives, missed) with a tolerance on the R position."""
    truth = np.round(truth_s * fs_hz).astype(int)
    used = np.zeros(truth.size, dtype=bool)
    fp = 0
    for f in found:
        d = np.abs(truth - f)
        j = int(np.argmin(d))
        if d[j] <= tol_s * fs_hz and not used[j]:
            used[j] = True
        else:
            fp += 1
    return int(used.sum()), fp, int((~used).sum())


@pytest.mark.parametrize("fs_hz", [100.0, 250.0, 500.0, 1000.0])
@pytest.mark.parametrize("rate_bpm", [40.0, 72.0, 120.0, 180.0])
def test_r_peaks_finds_every_beat_of_a_regular_rhythm(fs_hz, rate_bpm):
    beats = regular_beats(rate_bpm, 10.0)
    x = beat_train(beats, fs_hz, 10.0, noise_mv=0.02, wander_mv=0.3)
    tp, fp, missed = _matches(r_peaks(x, fs_hz), beats, fs_hz)
    assert (fp, missed) == (0, 0)
    assert tp == beats.size


@pytest.mark.parametrize("rate_bpm", [45.0, 75.0, 110.0, 160.0])
def test_heart_rate_bpm_matches_known_rate(rate_bpm):
    fs = 500.0
    lead = beat_train(regular_beats(rate_bpm, 10.0), fs, 10.0, noise_mv=0.03, wander_mv=0.2)
    assert heart_rate_bpm(twelve_lead_record(lead, fs)) == pytest.approx(rate_bpm, abs=1.0)


def test_r_peaks_irregular_rhythm_keeps_each_beat():
    rng = np.random.default_rng(7)
    rr = rng.uniform(0.38, 1.1, size=30)  # atrial-fibrillation-like, 55-160 bpm
    beats = 0.3 + np.concatenate(([0.0], np.cumsum(rr)))
    beats = beats[beats < 9.7]
    fs = 250.0
    x = beat_train(beats, fs, 10.0, noise_mv=0.03, t_mv=0.4, seed=3)
    tp, fp, missed = _matches(r_peaks(x, fs), beats, fs)
    assert (fp, missed) == (0, 0)


def test_r_peaks_negative_qrs_and_tall_t_waves_counted_once():
    fs = 500.0
    beats = regular_beats(66.0, 10.0)
    # An inverted lead (aVR-like) whose T wave is nearly as tall as the QRS.
    x = -beat_train(beats, fs, 10.0, qrs_mv=1.0, t_mv=0.8)
    tp, fp, missed = _matches(r_peaks(x, fs), beats, fs)
    assert (tp, fp, missed) == (beats.size, 0, 0)


def test_r_peaks_respects_refractory_period():
    fs = 500.0
    x = beat_train(regular_beats(150.0, 10.0), fs, 10.0)
    peaks = r_peaks(x, fs)
    assert peaks.dtype == np.int64
    assert np.all(np.diff(peaks) >= 0.25 * fs)


@pytest.mark.parametrize("samples", [
    np.zeros(5000), np.full(5000, 0.3), np.zeros(10), np.array([]),
])
def test_r_peaks_no_beats_in_flat_or_tiny_input(samples):
    assert r_peaks(samples, 500.0).size == 0


def test_heart_rate_bpm_none_for_flat_recording_and_single_beat():
    fs = 500.0
    flat = twelve_lead_record(np.zeros(5000), fs)
    assert heart_rate_bpm(flat) is None
    one_beat = twelve_lead_record(beat_train(np.array([5.0]), fs, 10.0), fs)
    assert heart_rate_bpm(one_beat) is None


def test_heart_rate_bpm_none_for_implausibly_slow_rate():
    fs = 500.0
    lead = beat_train(np.array([1.0, 5.5, 9.9]), fs, 10.0)  # 13 bpm: not a resting rhythm
    assert heart_rate_bpm(twelve_lead_record(lead, fs)) is None


def test_heart_rate_bpm_falls_back_when_lead_ii_missing():
    fs = 500.0
    lead = beat_train(regular_beats(84.0, 10.0), fs, 10.0, noise_mv=0.02)
    record = record_from_leads({"V5": lead, "V1": -0.5 * lead}, fs)
    assert record.present_leads() == ["V1", "V5"]
    assert heart_rate_bpm(record) == pytest.approx(84.0, abs=1.0)


def test_heart_rate_bpm_prefers_clean_lead_over_flagged_one():
    fs = 500.0
    clean = beat_train(regular_beats(70.0, 10.0), fs, 10.0)
    # Lead II carries a different (wrong) rhythm but is flagged; V5 is clean.
    noisy_ii = beat_train(regular_beats(150.0, 10.0), fs, 10.0)
    record = record_from_leads({"II": noisy_ii, "V5": clean}, fs)
    flags = list(record.lead_flags)
    flags[1] = ("noisy",)
    record = record.replace(lead_flags=tuple(flags))
    assert heart_rate_bpm(record) == pytest.approx(70.0, abs=1.0)


def test_heart_rate_bpm_ptbxl_record_1_sinus_rhythm(ptbxl_record_path):
    record = read_ecg(ptbxl_record_path)
    rate = heart_rate_bpm(record)
    assert rate is not None and 50 <= rate <= 100
    peaks = r_peaks(record.lead("II"), record.fs_hz)
    # Sinus rhythm: one R peak per beat across the 10 s, at regular intervals.
    assert abs(peaks.size - rate * record.duration_s / 60) <= 1.5
    rr = np.diff(peaks) / record.fs_hz
    assert np.std(rr) / np.mean(rr) < 0.06


def test_heart_rate_bpm_js00001_atrial_fibrillation_irregular(shared_data):
    record = read_ecg(shared_data / "records" / "JS00001.hea")
    rate = heart_rate_bpm(record)
    assert rate is not None and 60 <= rate <= 180
    # The same beats are found in leads II and V5 (independent channels of the same heart).
    ii = r_peaks(record.lead("II"), record.fs_hz)
    v5 = r_peaks(record.lead("V5"), record.fs_hz)
    tp, fp, missed = _matches(ii, v5 / record.fs_hz, record.fs_hz, tol_s=0.06)
    assert fp + missed <= 1
    # Atrial fibrillation: irregularly irregular RR intervals.
    rr = np.diff(v5) / record.fs_hz
    assert np.std(rr) / np.mean(rr) > 0.08
