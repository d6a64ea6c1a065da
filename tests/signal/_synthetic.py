"""Synthetic ECG-like leads with a known beat timing, for detector and filter tests."""

from __future__ import annotations

import numpy as np

from desktop_app.ecg import EcgRecord, LeadSource, assemble_record


def beat_train(
    beat_times_s: np.ndarray,
    fs_hz: float,
    duration_s: float,
    *,
    qrs_mv: float = 1.2,
    t_mv: float = 0.3,
    p_mv: float = 0.12,
    noise_mv: float = 0.0,
    wander_mv: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """One lead: a P wave, a narrow QRS (R at each beat time) and a broad T wave per beat,
    plus optional white noise and 0.2 Hz respiratory baseline wander."""
    t = np.arange(int(round(duration_s * fs_hz))) / fs_hz
    x = np.zeros_like(t)
    for tb in beat_times_s:
        x += p_mv * np.exp(-0.5 * ((t - tb + 0.16) / 0.025) ** 2)
        x += -0.15 * qrs_mv * np.exp(-0.5 * ((t - tb + 0.025) / 0.008) ** 2)  # Q
        x += qrs_mv * np.exp(-0.5 * ((t - tb) / 0.010) ** 2)  # R
        x += -0.25 * qrs_mv * np.exp(-0.5 * ((t - tb - 0.028) / 0.009) ** 2)  # S
        x += t_mv * np.exp(-0.5 * ((t - tb - 0.30) / 0.055) ** 2)
    rng = np.random.default_rng(seed)
    x += noise_mv * rng.standard_normal(t.size)
    x += wander_mv * np.sin(2 * np.pi * 0.2 * t + 0.4)
    return x


def regular_beats(rate_bpm: float, duration_s: float, first_s: float = 0.4) -> np.ndarray:
    return np.arange(first_s, duration_s - 0.4, 60.0 / rate_bpm)


def record_from_leads(leads: dict[str, np.ndarray], fs_hz: float) -> EcgRecord:
    return assemble_record(leads, fs_hz, path=None, format="memory")


def twelve_lead_record(lead: np.ndarray, fs_hz: float) -> EcgRecord:
    """Every lead the same (scaled differently), so each lead holds the same beats."""
    scales = np.linspace(0.6, 1.2, 12)
    signal = np.stack([lead * s for s in scales]).astype(np.float32)
    return EcgRecord(signal=signal, fs_hz=fs_hz, lead_sources=(LeadSource.RECORDED,) * 12)

