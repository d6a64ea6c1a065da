"""Trace codec: real records round-trip within the drawn-scale tolerance; damage is refused."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.ecg import read_ecg
from desktop_app.errors import EcgValueError
from desktop_app.library import DEFAULT_QUANTUM_UV, decode_traces, encode_traces
from tests.library._real import pack_signals

# At the standard 10 mm/mV, 10 µV is 0.1 mm: under a trace line's width on paper or screen.
DRAWN_SCALE_TOLERANCE_MV = 0.010


def test_traces_roundtrip_real_ptbxl_records_within_drawn_scale(shared_data):
    ids, signals = pack_signals(shared_data)
    worst = 0.0
    for sig in signals[::10]:
        back = decode_traces(encode_traces(sig))
        assert back.shape == sig.shape and back.dtype == np.float32
        worst = max(worst, float(np.max(np.abs(back - sig))))
    assert worst < DRAWN_SCALE_TOLERANCE_MV
    # The bound is the codec's, half a quantum, not luck.
    assert worst <= DEFAULT_QUANTUM_UV / 2000 + 1e-6


@pytest.mark.parametrize("name", ["JS00001.hea", "s0010_re.hea"])
def test_traces_roundtrip_other_rates_and_recorded_limb_leads(shared_data, name):
    record = read_ecg(shared_data / "records" / name)
    back = decode_traces(encode_traces(record.signal, 5.0))
    present = ~np.isnan(record.signal).all(axis=1)
    assert np.array_equal(np.isnan(back).all(axis=1), ~present)
    assert np.nanmax(np.abs(back - record.signal)) <= 0.0025 + 1e-6


def test_traces_missing_lead_stays_missing(shared_data):
    _, signals = pack_signals(shared_data)
    sig = signals[3].copy()
    sig[[0, 7]] = np.nan  # lead I (the limb prediction's input) and V2 missing
    back = decode_traces(encode_traces(sig))
    assert np.isnan(back[[0, 7]]).all()
    assert np.nanmax(np.abs(back - sig)) < DRAWN_SCALE_TOLERANCE_MV


def test_traces_compress_real_records_below_int16_zlib(shared_data):
    import zlib

    _, signals = pack_signals(shared_data)
    ours = sum(len(encode_traces(s)) for s in signals[:50])
    plain = sum(len(zlib.compress(np.round(s * 200).astype(np.int16).tobytes(), 9))
                for s in signals[:50])
    assert ours < 0.6 * plain


@pytest.mark.parametrize("damage", ["truncate", "flip", "magic"])
def test_traces_damaged_blob_raises(shared_data, damage):
    _, signals = pack_signals(shared_data)
    blob = bytearray(encode_traces(signals[0]))
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
    else:
        blob[0:4] = b"XXXX"
    with pytest.raises(EcgValueError, match="stored traces"):
        decode_traces(bytes(blob))


def test_traces_refuses_non_finite_present_lead(shared_data):
    _, signals = pack_signals(shared_data)
    sig = signals[0].copy()
    sig[2, 10] = np.inf
    with pytest.raises(EcgValueError, match="non-finite"):
        encode_traces(sig)
