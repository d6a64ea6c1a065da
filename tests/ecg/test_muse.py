"""GE MUSE XML reader: the real export, agreement with its DICOM copy, and refused inputs."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource, read_ecg
from desktop_app.ecg._muse import read_muse, sniff
from desktop_app.errors import EcgReadError
from tests.ecg._heart_rate import heart_rate_bpm
from tests.ecg.contract import check_reader_contract

STORED = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


@pytest.fixture
def muse_path(shared_data):
    return shared_data / "formats" / "muse" / "guangxi_teaching_sinus_rhythm.xml"


@pytest.fixture
def muse_text(muse_path):
    return muse_path.read_text(encoding="utf-8")


def _rhythm_span(text: str) -> tuple[int, int]:
    start = text.index("<WaveformType>Rhythm</WaveformType>")
    return start, text.index("</Waveform>", start)


def _edit_rhythm(text: str, old: str, new: str) -> str:
    """Replace the first ``old`` inside the rhythm waveform (not the median beat)."""
    start, end = _rhythm_span(text)
    pos = text.index(old, start, end)
    return text[:pos] + new + text[pos + len(old):]


def _write(tmp_path, text: str, name: str = "broken.xml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_muse_real_file(muse_path):
    rec = check_reader_contract(read_muse(muse_path), fs_hz=500.0)
    assert isinstance(rec, EcgRecord)
    assert rec.source_format == "muse"
    assert rec.signal.shape == (12, 5000)
    assert rec.fs_hz == 500.0
    for name, src in zip(LEADS_12, rec.lead_sources):
        assert src is (LeadSource.RECORDED if name in STORED else LeadSource.DERIVED)
    assert 0.5 < float(np.max(np.abs(rec.signal))) < 5.0
    np.testing.assert_allclose(rec.lead("III"), rec.lead("II") - rec.lead("I"), atol=1e-5)
    assert rec.demographics.sex == "male"
    assert rec.demographics.age_years == 11.0
    # The confirmed diagnosis, in the file's own language (not the original, unconfirmed one).
    assert rec.meta["machine_statements"] == ["窦性心律", "ST段抬高（提示心室早期复极）"]
    assert rec.meta["device"] == "MAC P"
    assert rec.meta["acquisition_time"] == "2024-01-01T10:35:17"
    assert rec.meta["other_waveforms"] == ["Median"]
    assert rec.meta["filters_hz"]["low_pass"] == 150.0


def test_read_muse_samples_match_base64_and_gain(muse_path, muse_text):
    rec = read_muse(muse_path)
    start, end = _rhythm_span(muse_text)
    block = muse_text[muse_text.index("<LeadID>V2</LeadID>", start, end):end]
    per_bit = float(
        re.search(r"<LeadAmplitudeUnitsPerBit>([\d.]+)<", muse_text[start:]).group(1))
    data = re.search(r"<WaveFormData>([^<]+)<", block).group(1)
    counts = np.frombuffer(base64.b64decode("".join(data.split())), dtype="<i2")
    np.testing.assert_allclose(rec.lead("V2"), counts * per_bit / 1000.0, atol=1e-6)


def test_read_muse_rate_matches_muse_measurement(muse_path):
    rec = read_muse(muse_path)
    measured = rec.meta["machine_measurements"]["ventricular_rate"]
    assert measured["unit"] == "bpm"
    assert heart_rate_bpm(rec) == pytest.approx(measured["value"], rel=0.05)
    assert rec.meta["machine_measurements"]["qrs_duration"]["unit"] == "ms"


def test_read_muse_agrees_with_dicom_copy(muse_path, shared_data):
    """The DICOM next to it was converted from this file by ecg2dcm (see ATTRIBUTION.md)."""
    from desktop_app.ecg._dicom import read_dicom

    muse = read_muse(muse_path)
    dicom = read_dicom(shared_data / "formats" / "dicom" / "guangxi_teaching_sinus_rhythm.dcm")
    assert dicom.fs_hz == muse.fs_hz
    # One DICOM quantisation step (4.88 uV): the DICOM stores derived limb leads rounded.
    np.testing.assert_allclose(muse.signal, dicom.signal, atol=0.00489)


def test_read_ecg_dispatches_muse(muse_path):
    assert read_ecg(muse_path).source_format == "muse"


def test_sniff_muse_claims_only_muse(muse_path, shared_data):
    assert sniff(muse_path.read_bytes()[:4096], muse_path)
    others = [shared_data / "formats" / "aecg" / "hl7-2003-12-example-aecg.xml",
              shared_data / "formats" / "philips" / "129DYPRG.XML",
              shared_data / "formats" / "dicom" / "guangxi_teaching_sinus_rhythm.dcm"]
    for other in others:
        assert not sniff(other.read_bytes()[:4096], other)
    assert not sniff(b"", muse_path)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t[: len(t) // 2], "well-formed XML"),
        (lambda t: _edit_rhythm(t, "<WaveFormData>\n", "<WaveFormData>\n!!!!"), "Base64"),
        (lambda t: _edit_rhythm(t, "<NumberofLeads>8<", "<NumberofLeads>9<"), "9 leads"),
        (lambda t: _edit_rhythm(t, "<LeadSampleCountTotal>5000<",
                                "<LeadSampleCountTotal>5001<"), "5001 samples"),
        (lambda t: _edit_rhythm(t, "<LeadAmplitudeUnits>MICROVOLTS<",
                                "<LeadAmplitudeUnits>FURLONGS<"), "MICROVOLTS or MILLIVOLTS"),
        (lambda t: t.replace("<WaveformType>Rhythm<", "<WaveformType>Other<"),
         "of type Rhythm"),
        (lambda t: t.replace('<!DOCTYPE RestingECG SYSTEM "restecg.dtd">',
                             '<!DOCTYPE RestingECG [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                             ).replace("<MuseVersion>", "<MuseVersion>&x;"), "entity"),
        (lambda t: t.replace("<RestingECG>", "<RestingEcg>").replace("</RestingECG>",
                                                                     "</RestingEcg>"),
         "root element <RestingECG>"),
    ],
    ids=["truncated", "bad-base64", "lead-count", "sample-count", "units", "no-rhythm",
         "external-entity", "wrong-root"],
)
def test_read_muse_refuses_broken_file(tmp_path, muse_text, edit, match):
    path = _write(tmp_path, edit(muse_text))
    with pytest.raises(EcgReadError, match=match):
        read_muse(path)


def test_read_muse_refuses_altered_samples(tmp_path, muse_text):
    # A valid Base64 character swapped for another: decodes fine, but the CRC32 catches it.
    start, end = _rhythm_span(muse_text)
    pos = muse_text.index("<WaveFormData>", start, end) + len("<WaveFormData>") + 10
    while not muse_text[pos].isalnum():
        pos += 1
    swapped = "B" if muse_text[pos] != "B" else "C"
    path = _write(tmp_path, muse_text[:pos] + swapped + muse_text[pos + 1:])
    with pytest.raises(EcgReadError, match="LeadDataCRC32"):
        read_muse(path)


def test_read_muse_refuses_empty_file(tmp_path):
    path = tmp_path / "empty.xml"
    path.write_bytes(b"")
    with pytest.raises(EcgReadError, match="empty file"):
        read_muse(path)
