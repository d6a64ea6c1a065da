"""DICOM waveform reader: real files, group choice, writer round trip, and refused inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.waveforms.numpy_handler import multiplex_array

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource, read_ecg
from desktop_app.ecg._dicom import read_dicom, sniff
from desktop_app.errors import EcgReadError
from tests.ecg._write_dicom import GENERAL_ECG_STORAGE, TWELVE_LEAD_ECG_STORAGE, write_dicom

# name -> (fs_hz, n_samples) of the rhythm multiplex group.
REAL_DICOM = {
    "pydicom-waveform_ecg.dcm": (1000.0, 10000),
    "guangxi_teaching_sinus_rhythm.dcm": (500.0, 5000),
}


def _check_record(rec: EcgRecord, fs_hz: float, n_samples: int) -> None:
    assert isinstance(rec, EcgRecord)
    assert rec.source_format == "dicom"
    assert rec.signal.dtype == np.float32
    assert rec.signal.shape == (12, n_samples)
    assert rec.fs_hz == fs_hz
    present = rec.signal[[s is not LeadSource.MISSING for s in rec.lead_sources]]
    assert np.all(np.isfinite(present))
    peak_mv = float(np.max(np.abs(present)))
    assert 0.1 < peak_mv < 10.0


@pytest.fixture
def dicom_dir(shared_data):
    return shared_data / "formats" / "dicom"


@pytest.mark.parametrize("name", sorted(REAL_DICOM))
def test_read_dicom_real_file(dicom_dir, name):
    fs_hz, n = REAL_DICOM[name]
    rec = read_dicom(dicom_dir / name)
    _check_record(rec, fs_hz, n)
    assert rec.lead_sources == (LeadSource.RECORDED,) * 12
    # Carts store limb leads computed from I and II: Einthoven holds to one quantisation step,
    # which it only does when every channel got the right name and gain.
    np.testing.assert_allclose(rec.lead("III"), rec.lead("II") - rec.lead("I"), atol=0.005)
    np.testing.assert_allclose(rec.lead("aVF"), rec.lead("II") - rec.lead("I") / 2, atol=0.005)


def test_read_dicom_pydicom_file_matches_pydicom(dicom_dir):
    path = dicom_dir / "pydicom-waveform_ecg.dcm"
    rec = read_dicom(path)
    ds = pydicom.dcmread(path)
    group = ds.WaveformSequence[0]
    # pydicom's own conversion (sensitivity x correction + baseline), in uV.
    np.testing.assert_allclose(rec.signal, ds.waveform_array(0).T / 1000.0, atol=1e-6)
    # And from raw counts: every channel is 1.25 uV per count, baseline 0.
    sens_uv = np.array([float(ch.ChannelSensitivity) for ch in group.ChannelDefinitionSequence])
    assert np.all(sens_uv == 1.25)
    raw = multiplex_array(ds, 0, as_raw=True)
    np.testing.assert_allclose(rec.signal, (raw * sens_uv).T / 1000.0, atol=1e-6)
    assert rec.meta["multiplex_group"] == "RHYTHM"
    assert rec.meta["other_multiplex_groups"] == ["MEDIAN BEAT"]
    assert rec.meta["machine_statements"] == ["RITMO SINUSALE", "ECG NORMALE"]
    assert rec.meta["machine_measurements"]["QRS Duration"] == {"value": 75.0, "unit": "ms"}
    assert rec.meta["filters_hz"] == {"high_pass": 0.05, "low_pass": 300.0}
    assert rec.demographics.age_years == 42.0
    assert rec.demographics.sex == "female"


def test_read_dicom_guangxi_muse_conversion(dicom_dir):
    rec = read_dicom(dicom_dir / "guangxi_teaching_sinus_rhythm.dcm")
    assert rec.fs_hz == 500.0
    assert rec.duration_s == pytest.approx(10.0)
    # aVR is coded 2:62 with meaning "aVR, augmented voltage, right": found by its code.
    np.testing.assert_allclose(rec.lead("aVR"), -(rec.lead("I") + rec.lead("II")) / 2,
                               atol=0.005)
    ds = pydicom.dcmread(dicom_dir / "guangxi_teaching_sinus_rhythm.dcm")
    # MUSE's 4.88 uV per count lives in the correction factor; pydicom applies it too.
    np.testing.assert_allclose(rec.signal, ds.waveform_array(0).T / 1000.0, atol=1e-6)
    assert rec.demographics.sex == "male"
    assert rec.demographics.age_years == 11.0
    assert rec.meta["sop_class"] == "General ECG Waveform Storage"


def test_read_dicom_picks_rhythm_group_when_listed_second(dicom_dir, tmp_path):
    ds = pydicom.dcmread(dicom_dir / "pydicom-waveform_ecg.dcm")
    ds.WaveformSequence = [ds.WaveformSequence[1], ds.WaveformSequence[0]]
    path = tmp_path / "median_first.dcm"
    ds.save_as(path)
    rec = read_dicom(path)
    assert rec.n_samples == 10000
    assert rec.meta["multiplex_group"] == "RHYTHM"


def test_sniff_dicom_claims_only_dicom(shared_data):
    formats = shared_data / "formats"
    claimed = {p.name for p in formats.glob("*/*") if p.is_file()
               and sniff(p.read_bytes()[:4096], p)}
    assert claimed == set(REAL_DICOM)


@pytest.mark.parametrize("head, expected", [
    (b"\x00" * 128 + b"DICM" + b"\x02\x00", True),
    (b"\x00" * 128 + b"DICX", False),
    (b"DICM" + b"\x00" * 200, False),
    (b"\x00" * 131, False),
    (b"", False),
])
def test_sniff_dicom_preamble(tmp_path, head, expected):
    assert sniff(head, tmp_path / "x.dcm") is expected


def test_read_ecg_dispatches_dicom(dicom_dir):
    assert read_ecg(dicom_dir / "pydicom-waveform_ecg.dcm").source_format == "dicom"


def test_write_dicom_roundtrip_12_leads(tmp_path):
    rng = np.random.default_rng(11)
    signal_mv = rng.normal(0.0, 0.4, (12, 5000))
    path = write_dicom(signal_mv, 500.0, tmp_path / "rt.dcm", LEADS_12)
    assert str(pydicom.dcmread(path).SOPClassUID) == TWELVE_LEAD_ECG_STORAGE
    rec = read_ecg(path)
    _check_record(rec, 500.0, 5000)
    assert rec.lead_sources == (LeadSource.RECORDED,) * 12
    # 1 uV per count: within 0.5 uV plus float32.
    np.testing.assert_allclose(rec.signal, signal_mv, atol=0.0005 + 1e-6)


def test_write_dicom_roundtrip_low_rate_eight_leads(tmp_path):
    # 100 Hz is below the 12-lead IOD's 200 Hz floor: written as General ECG Waveform.
    rng = np.random.default_rng(12)
    names = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    signal_mv = rng.normal(0.0, 0.4, (8, 1000))
    path = write_dicom(signal_mv, 100.0, tmp_path / "eight.dcm", names)
    assert str(pydicom.dcmread(path).SOPClassUID) == GENERAL_ECG_STORAGE
    rec = read_dicom(path)
    assert rec.fs_hz == 100.0
    np.testing.assert_allclose(rec.lead("V6"), signal_mv[7], atol=0.0005 + 1e-6)
    assert rec.lead_sources[LEADS_12.index("aVL")] is LeadSource.DERIVED


def _small_dicom(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    return write_dicom(rng.normal(0, 0.3, (3, 400)), 500.0, tmp_path / "small.dcm",
                       ["I", "II", "V1"])


def _edit(tmp_path: Path, change) -> Path:
    ds = pydicom.dcmread(_small_dicom(tmp_path))
    change(ds)
    path = tmp_path / "edited.dcm"
    ds.save_as(path)
    return path


def _group(ds):
    return ds.WaveformSequence[0]


def _channel(ds, i=0):
    return ds.WaveformSequence[0].ChannelDefinitionSequence[i]


def test_read_dicom_applies_baseline_and_mv_units(tmp_path):
    reference = read_dicom(_small_dicom(tmp_path))

    def to_mv(ds):
        for ch in _group(ds).ChannelDefinitionSequence:
            ch.ChannelSensitivity = "0.001"
            ch.ChannelSensitivityUnitsSequence[0].CodeValue = "mV"
            ch.ChannelBaseline = "0.25"  # in mV, the sensitivity's units (PS3.3 C.10.9.1.4.3)

    rec = read_dicom(_edit(tmp_path, to_mv))
    np.testing.assert_allclose(rec.lead("V1"), reference.lead("V1") + 0.25, atol=1e-6)


def _declare_more_samples(ds):
    _group(ds).NumberOfWaveformSamples = 10_000_000


def _drop_waveforms(ds):
    del ds.WaveformSequence


def _mu_law(ds):
    _group(ds).WaveformBitsAllocated = 8
    _group(ds).WaveformSampleInterpretation = "MB"


def _no_sensitivity(ds):
    del _channel(ds).ChannelSensitivity


def _odd_units(ds):
    _channel(ds).ChannelSensitivityUnitsSequence[0].CodeValue = "mmHg"


def _channel_count(ds):
    _group(ds).NumberOfWaveformChannels = 5


def _zero_rate(ds):
    _group(ds).SamplingFrequency = "0"


def _no_ecg_leads(ds):
    for ch in _group(ds).ChannelDefinitionSequence:
        ch.ChannelSourceSequence[0].CodeValue = "2:0"
        ch.ChannelSourceSequence[0].CodeMeaning = "Pressure"


def _duplicate_lead(ds):
    _channel(ds, 1).ChannelSourceSequence[0].CodeValue = "2:1"


EDITED_DICOM = [
    ("declared_samples_beyond_data", _declare_more_samples, r"only \d+ bytes"),
    ("waveform_class_without_waveform", _drop_waveforms,
     "12-lead ECG Waveform Storage .*without waveform data; the file may be truncated"),
    ("mu_law", _mu_law, "8-bit MB samples"),
    ("no_sensitivity", _no_sensitivity, "channel sensitivity"),
    ("pressure_units", _odd_units, "units 'mmHg'"),
    ("channel_count", _channel_count, "5 channels declared, 3 defined"),
    ("zero_rate", _zero_rate, "sampling frequency"),
    ("no_ecg_leads", _no_ecg_leads, "group with standard ECG leads"),
    ("duplicate_lead", _duplicate_lead, "lead I twice"),
]


@pytest.mark.parametrize("case, change, message", EDITED_DICOM, ids=[c[0] for c in EDITED_DICOM])
def test_read_dicom_refuses_edited_file(tmp_path, case, change, message):
    path = _edit(tmp_path, change)
    with pytest.raises(EcgReadError, match=message) as info:
        read_dicom(path)
    assert info.value.format == "dicom"


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.95])
def test_read_dicom_refuses_truncated_real_file(dicom_dir, tmp_path, fraction):
    data = (dicom_dir / "pydicom-waveform_ecg.dcm").read_bytes()
    path = tmp_path / "truncated.dcm"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(EcgReadError, match="truncated"):
        read_dicom(path)


def test_read_dicom_refuses_image(tmp_path):
    # A real CT image from pydicom's bundled test data: DICOM, but no waveform.
    path = Path(get_testdata_file("CT_small.dcm"))
    with pytest.raises(EcgReadError, match=r"CT Image Storage \(modality CT\) without waveform"):
        read_dicom(path)


@pytest.mark.parametrize("content, message", [
    (b"", r"empty file \(0 bytes\)"),
    (b"not a dicom file at all" * 20, "128-byte preamble"),
])
def test_read_dicom_refuses_non_dicom(tmp_path, content, message):
    path = tmp_path / "x.dcm"
    path.write_bytes(content)
    with pytest.raises(EcgReadError, match=message):
        read_dicom(path)


def test_read_ecg_refuses_image_through_dispatcher():
    with pytest.raises(EcgReadError, match="without waveform data"):
        read_ecg(get_testdata_file("CT_small.dcm"))


def test_read_dicom_keeps_identifiers_out_of_logs(dicom_dir, caplog):
    path = dicom_dir / "pydicom-waveform_ecg.dcm"
    ds = pydicom.dcmread(path)
    with caplog.at_level("DEBUG"):
        rec = read_ecg(path, fs_hz=123.0)  # an option of another reader, logged as ignored
    assert rec.demographics.patient_id == str(ds.PatientID)
    assert rec.demographics.name == str(ds.PatientName)
    assert "ignored" in caplog.text
    assert str(ds.PatientID) not in caplog.text
    assert str(ds.PatientName) not in caplog.text
