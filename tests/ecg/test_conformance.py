"""Conformance (issue 2): one real record, written into every format, reads back the same.

PTB-XL record 1 is read with wfdb itself (in mV), written by each format's own library where
one exists (``wfdb.wrsamp``, the ``csv`` module, pydicom through ``tests.ecg._write_dicom``;
aECG has no maintained writer, so ``tests.ecg._write_aecg`` writes the minimal schema), then
read back with :func:`desktop_app.ecg.read_ecg`. Each case states its tolerance: the
quantisation step of what was written, which is the only loss a correct reader may show.
"""

from __future__ import annotations

import csv
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import wfdb
from scipy.signal import resample_poly

from desktop_app.ecg import LEADS_12, normalise_lead_name, read_ecg
from tests.ecg.contract import check_reader_contract


def _write_wfdb(signal_mv: np.ndarray, fs_hz: float, path: Path, names) -> Path:
    n = len(names)
    wfdb.wrsamp(path.stem, fs=fs_hz, units=["mV"] * n, sig_name=list(names),
                p_signal=signal_mv.T, fmt=["16"] * n, adc_gain=[1000.0] * n,
                baseline=[0] * n, write_dir=str(path.parent))
    return path.with_suffix(".hea")


def _write_csv(signal_mv: np.ndarray, fs_hz: float, path: Path, names) -> Path:
    with open(path, "w", newline="") as fh:
        fh.write(f"# fs_hz={fs_hz:g}\n")
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([f"{v:.6f}" for v in row] for row in signal_mv.T)
    return path


def _lazy(module: str, func: str) -> Callable:
    # Written by another helper; imported only when its case runs.
    def write(*args):
        return getattr(importlib.import_module(module), func)(*args)
    return write


@dataclass(frozen=True)
class Case:
    writer: Callable
    suffix: str
    fs_hz: float
    tolerance_mv: float
    why: str


CASES = {
    "wfdb_100hz": Case(_write_wfdb, ".dat", 100.0, 1e-3,
                       "format 16 at 1000 adu/mV: one step is 0.001 mV"),
    "wfdb_500hz": Case(_write_wfdb, ".dat", 500.0, 1e-3,
                       "resampled to 500 Hz, then format 16 at 1000 adu/mV: 0.001 mV"),
    "csv": Case(_write_csv, ".csv", 100.0, 1e-5,
                "6 decimals round by 5e-7 mV; float32 adds ~2e-7 mV at these amplitudes"),
    "aecg": Case(_lazy("tests.ecg._write_aecg", "write_aecg"), ".xml", 100.0, 1e-3,
                 "digits are integers in uV: rounding by 0.0005 mV"),
    "dicom": Case(_lazy("tests.ecg._write_dicom", "write_dicom"), ".dcm", 500.0, 1e-3,
                  "16-bit samples at 1 uV per count: rounding by 0.0005 mV"),
}


@pytest.fixture(scope="module")
def ptbxl_reference(shared_data) -> tuple[np.ndarray, float, list[str]]:
    """PTB-XL record 1 read by wfdb: (12, n) in mV, fs in Hz, the file's own lead names."""
    ref = wfdb.rdrecord(str(shared_data / "records" / "00001_lr"))
    assert ref.units == ["mV"] * 12
    # Rows are compared with the record's rows, so the file's order must be the standard one.
    assert [normalise_lead_name(n) for n in ref.sig_name] == list(LEADS_12)
    return ref.p_signal.T.copy(), float(ref.fs), list(ref.sig_name)


@pytest.mark.parametrize("case", list(CASES))
def test_conformance_round_trip_through_format(tmp_path, ptbxl_reference, case):
    spec = CASES[case]
    signal_mv, fs_hz, names = ptbxl_reference
    if spec.fs_hz != fs_hz:
        up = int(round(spec.fs_hz / fs_hz))
        assert up * fs_hz == spec.fs_hz
        signal_mv = resample_poly(signal_mv, up, 1, axis=1)
    # wfdb keeps the file's own spelling (AVR); the others take the standard names.
    lead_names = names if spec.writer is _write_wfdb else list(LEADS_12)
    path = spec.writer(signal_mv, spec.fs_hz, tmp_path / f"ptbxl_00001{spec.suffix}",
                       lead_names)
    rec = check_reader_contract(read_ecg(Path(path)), fs_hz=spec.fs_hz)
    assert rec.n_samples == signal_mv.shape[1]
    worst = float(np.max(np.abs(rec.signal.astype(np.float64) - signal_mv)))
    assert worst <= spec.tolerance_mv, f"{case}: off by {worst:.3g} mV ({spec.why})"
