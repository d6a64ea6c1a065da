"""EDF / EDF+ / BDF reader: files written by the format's reference writer, and refused inputs.

No real 12-lead EDF is in the shared data, so every EDF here is written in ``tmp_path`` by
edfio (the library the reader uses, whose writer follows the EDF/EDF+ specification) from the
real PTB-XL record 00001 read with wfdb, and read back.
"""

from __future__ import annotations

import datetime as dt

import edfio
import numpy as np
import pytest
import wfdb

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource, read_ecg
from desktop_app.ecg._edf import read_edf, sniff
from desktop_app.errors import EcgReadError
from tests.ecg.contract import check_reader_contract

# PTB-XL names the augmented leads AVR/AVL/AVF; labels as EDF writers spell them.
_EDF_LABEL = {"I": "ECG I", "II": "EKG II", "III": "ECG III", "AVR": "ECG aVR",
              "AVL": "ECG-aVL", "AVF": "ECG_aVF", "V1": "ECG V1", "V2": "V2", "V3": "ECG V3",
              "V4": "ECG V4", "V5": "ECG V5", "V6": "ECG V6"}


@pytest.fixture(scope="module")
def ptbxl(ptbxl_record_path):
    rec = wfdb.rdrecord(str(ptbxl_record_path.with_suffix("")))
    assert all(u == "mV" for u in rec.units)
    return rec


def _signal(samples_mv: np.ndarray, fs_hz: float, label: str, unit: str = "uV",
            cls=edfio.EdfSignal):
    factor = {"uV": 1000.0, "mV": 1.0, "V": 0.001}[unit]
    return cls(samples_mv * factor, fs_hz, label=label, physical_dimension=unit)


def _twelve_lead(ptbxl, units=None) -> list[edfio.EdfSignal]:
    out = []
    for i, name in enumerate(ptbxl.sig_name):
        unit = (units or {}).get(name, "uV")
        out.append(_signal(ptbxl.p_signal[:, i], ptbxl.fs, _EDF_LABEL[name], unit))
    return out


def _write(tmp_path, signals, name="rec.edf", **kwargs):
    path = tmp_path / name
    edfio.Edf(signals, **kwargs).write(path)
    return path


def _quantum_mv(ptbxl) -> float:
    # edfio spreads each signal's own range over the 16-bit digital range.
    return float(np.ptp(ptbxl.p_signal, axis=0).max()) / 65535.0


def test_read_edf_twelve_lead_round_trip(tmp_path, ptbxl):
    path = _write(tmp_path, _twelve_lead(ptbxl, units={"V1": "mV", "V6": "V"}))
    rec = check_reader_contract(read_edf(path), fs_hz=ptbxl.fs)
    assert isinstance(rec, EcgRecord)
    assert rec.source_format == "edf"
    assert rec.fs_hz == ptbxl.fs
    assert rec.signal.shape == (12, ptbxl.sig_len)
    assert rec.lead_sources == (LeadSource.RECORDED,) * 12
    expected = {("aVR" if n == "AVR" else "aVL" if n == "AVL" else "aVF" if n == "AVF" else n):
                ptbxl.p_signal[:, i] for i, n in enumerate(ptbxl.sig_name)}
    for name in LEADS_12:
        np.testing.assert_allclose(rec.lead(name), expected[name],
                                   atol=_quantum_mv(ptbxl) + 1e-5)
    assert rec.meta["edf_type"] == "EDF"
    assert rec.meta["channel_labels"]["aVL"] == "ECG-aVL"


def test_read_edf_three_lead_holter_with_other_channels(tmp_path, ptbxl):
    idx = {n: i for i, n in enumerate(ptbxl.sig_name)}
    resp = np.sin(np.linspace(0, 6 * np.pi, int(ptbxl.sig_len / 4)))
    signals = [_signal(ptbxl.p_signal[:, idx[n]], ptbxl.fs, lab)
               for n, lab in (("II", "ECG II"), ("V1", "ECG V1"), ("V5", "ECG V5"))]
    signals.append(edfio.EdfSignal(resp, ptbxl.fs / 4, label="Resp", physical_dimension="mV"))
    rec = check_reader_contract(read_edf(_write(tmp_path, signals)), fs_hz=ptbxl.fs,
                                n_leads_present=3)
    assert rec.signal.shape == (12, ptbxl.sig_len)
    assert rec.present_leads() == ["II", "V1", "V5"]
    assert all(np.isnan(rec.lead(n)).all() for n in ("I", "aVR", "V2", "V6"))
    assert rec.meta["ignored_channels"] == ["Resp"]
    np.testing.assert_allclose(rec.lead("V5"), ptbxl.p_signal[:, idx["V5"]],
                               atol=_quantum_mv(ptbxl) + 1e-5)


def test_read_edf_resamples_slower_lead(tmp_path, ptbxl):
    signals = _twelve_lead(ptbxl)
    v1 = ptbxl.p_signal[::2, ptbxl.sig_name.index("V1")]
    signals[6] = _signal(v1, ptbxl.fs / 2, "ECG V1")
    rec = check_reader_contract(read_edf(_write(tmp_path, signals)), fs_hz=ptbxl.fs)
    assert rec.signal.shape == (12, ptbxl.sig_len)
    assert rec.meta["resampled_leads"] == {"V1": ptbxl.fs / 2}
    # Interpolated back to 100 Hz, V1 still follows the original closely.
    corr = np.corrcoef(rec.lead("V1"), ptbxl.p_signal[:, ptbxl.sig_name.index("V1")])[0, 1]
    assert corr > 0.9


def test_read_edf_plus_patient_and_annotations(tmp_path, ptbxl):
    patient = edfio.Patient(code="MCH-0234567", sex="F", birthdate=dt.date(1951, 5, 2),
                            name="Haagse_Harry")
    recording = edfio.Recording(startdate=dt.date(2020, 3, 1))
    notes = [edfio.EdfAnnotation(1.5, None, "cough")]
    path = _write(tmp_path, _twelve_lead(ptbxl), patient=patient, recording=recording,
                  annotations=notes)
    rec = read_edf(path)
    assert rec.meta["edf_type"] == "EDF+C"
    assert rec.demographics.sex == "female"
    assert rec.demographics.age_years == 68.0
    assert rec.demographics.patient_id == "MCH-0234567"
    assert rec.meta["annotations"] == [{"onset_s": 1.5, "duration_s": None, "text": "cough"}]
    assert "MCH-0234567" not in repr(rec.meta)


def test_read_edf_bdf_round_trip(tmp_path, ptbxl):
    signals = [_signal(ptbxl.p_signal[:, i], ptbxl.fs, _EDF_LABEL[n], cls=edfio.BdfSignal)
               for i, n in enumerate(ptbxl.sig_name)]
    path = tmp_path / "rec.bdf"
    edfio.Bdf(signals).write(path)
    assert sniff(path.read_bytes()[:4096], path)
    rec = check_reader_contract(read_edf(path), fs_hz=ptbxl.fs)
    assert rec.meta["edf_type"] == "BDF"
    np.testing.assert_allclose(rec.lead("V3"), ptbxl.p_signal[:, ptbxl.sig_name.index("V3")],
                               atol=1e-4)


def test_read_edf_cuts_long_recording(tmp_path, ptbxl):
    rec = read_edf(_write(tmp_path, _twelve_lead(ptbxl)), max_duration_s=4.0)
    assert rec.duration_s == 4.0
    assert rec.meta["cut_to_s"] == 4.0


def test_read_ecg_dispatches_edf(tmp_path, ptbxl):
    path = _write(tmp_path, _twelve_lead(ptbxl), name="recording.bin")
    assert read_ecg(path).source_format == "edf"


def test_sniff_edf(tmp_path, ptbxl, shared_data):
    path = _write(tmp_path, _twelve_lead(ptbxl))
    assert sniff(path.read_bytes()[:4096], path)
    muse = shared_data / "formats" / "muse" / "guangxi_teaching_sinus_rhythm.xml"
    assert not sniff(muse.read_bytes()[:4096], muse)
    assert not sniff(b"0       " + b"x" * 300, path)
    assert not sniff(b"", path)


def _patched(path, offset: int, value: bytes):
    data = bytearray(path.read_bytes())
    data[offset:offset + len(value)] = value
    path.write_bytes(bytes(data))
    return path


def test_read_edf_refuses_truncated_file(tmp_path, ptbxl):
    path = _write(tmp_path, _twelve_lead(ptbxl))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(EcgReadError, match="truncated"):
        read_edf(path)


def test_read_edf_refuses_huge_record_count(tmp_path, ptbxl):
    path = _patched(_write(tmp_path, _twelve_lead(ptbxl)), 236, b"99999999")
    with pytest.raises(EcgReadError, match="99999999 data records"):
        read_edf(path)


def test_read_edf_refuses_huge_samples_per_record(tmp_path, ptbxl):
    path = _write(tmp_path, _twelve_lead(ptbxl))
    n_signals = 12
    spr_offset = 256 + (16 + 80 + 8 + 8 + 8 + 8 + 8 + 80) * n_signals
    _patched(path, spr_offset, b"99999999")
    with pytest.raises(EcgReadError, match="samples per data record"):
        read_edf(path)


def test_read_edf_refuses_file_without_ecg_channel(tmp_path, ptbxl):
    x = ptbxl.p_signal[:, 0]
    signals = [edfio.EdfSignal(x, ptbxl.fs, label="EEG Fpz-Cz", physical_dimension="uV"),
               edfio.EdfSignal(x, ptbxl.fs, label="Resp", physical_dimension="mV"),
               edfio.EdfSignal(x, ptbxl.fs, label="ECG1", physical_dimension="mV")]
    with pytest.raises(EcgReadError, match="labelled as a standard lead.*ECG1"):
        read_edf(_write(tmp_path, signals))


def test_read_edf_refuses_unknown_units(tmp_path, ptbxl):
    signals = _twelve_lead(ptbxl)
    signals[0] = edfio.EdfSignal(ptbxl.p_signal[:, 0], ptbxl.fs, label="ECG I",
                                 physical_dimension="mmHg")
    with pytest.raises(EcgReadError, match="uV, mV or V"):
        read_edf(_write(tmp_path, signals))


def test_read_edf_refuses_discontinuous_recording(tmp_path, ptbxl):
    path = _write(tmp_path, _twelve_lead(ptbxl))
    _patched(path, 192, b"EDF+D")
    with pytest.raises(EcgReadError, match="discontinuous"):
        read_edf(path)


def test_read_edf_refuses_empty_and_foreign_files(tmp_path):
    empty = tmp_path / "empty.edf"
    empty.write_bytes(b"")
    with pytest.raises(EcgReadError, match="empty file"):
        read_edf(empty)
    foreign = tmp_path / "notes.edf"
    foreign.write_bytes(b"hello, this is not an EDF header" * 20)
    with pytest.raises(EcgReadError, match="256-byte EDF header"):
        read_edf(foreign)
