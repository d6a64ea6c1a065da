"""Philips SierraECG XML reader: the real XLI file against the reference decoder; refusals."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource, read_ecg
from desktop_app.ecg._philips import read_philips, sniff
from desktop_app.errors import EcgReadError
from tests.ecg._heart_rate import heart_rate_bpm
from tests.ecg.contract import check_reader_contract

# Stored units (5 uV each in this file) of every lead at sample 2750 (= 5500 / 2), as published
# by the reference decoder's own test for this very file: sierra-ecg-tools (C. Watford, MIT),
# sierraecg-js/packages/sierraecg-core/tests/sierraecg.test.js, "can read SierraECG 1.03 file".
# The Python package sierraecg 0.4.0 gives the same values and agrees with this reader on all
# 12 x 5264 samples (checked when this reader was written).
REFERENCE_SAMPLE = 2750
REFERENCE_UNITS = (-9, -17, -7, 13, -1, -12, 0, -1, -3, -4, -7, -6)


@pytest.fixture
def philips_path(shared_data):
    return shared_data / "formats" / "philips" / "129DYPRG.XML"


@pytest.fixture
def philips_text(philips_path):
    return philips_path.read_text(encoding="utf-8")


def _write(tmp_path, text: str, name: str = "broken.xml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _resolution_uv(text: str) -> float:
    return float(re.search(r"<signalresolution>([\d.]+)<", text).group(1))


def test_read_philips_real_file(philips_path, philips_text):
    rec = check_reader_contract(read_philips(philips_path), fs_hz=500.0)
    assert isinstance(rec, EcgRecord)
    assert rec.source_format == "philips"
    assert rec.fs_hz == 500.0
    # 11 s per channel are stored; the recording is followed by padding and a calibration
    # pulse, which are removed.
    assert 5000 <= rec.n_samples < 5500
    assert rec.meta["trailing_samples_removed"] == 5500 - rec.n_samples
    assert rec.lead_sources == (LeadSource.RECORDED,) * 12
    assert 0.5 < float(np.max(np.abs(rec.signal))) < 10.0
    assert rec.demographics.age_years == 50.0
    assert rec.demographics.sex == "male"
    assert rec.meta["machine_statements"][0] == "Sinus bradycardia (rate< 50)"
    assert rec.meta["device"] == "HeartstartMRx"
    assert rec.meta["document_version"] == "1.03"


def test_read_philips_matches_reference_decoder(philips_path, philips_text):
    rec = read_philips(philips_path)
    units = rec.signal[:, REFERENCE_SAMPLE] * 1000.0 / _resolution_uv(philips_text)
    np.testing.assert_allclose(units, REFERENCE_UNITS, atol=1e-3)


def test_read_philips_limb_leads_follow_einthoven(philips_path, philips_text):
    # III, aVR, aVL, aVF are stored as residuals; once resolved they must obey Einthoven and
    # Goldberger to within the cart's rounding (two stored units), which fails if the residual
    # rule or the lead order is wrong.
    rec = read_philips(philips_path)
    step_mv = 2.0 * _resolution_uv(philips_text) / 1000.0 + 1e-6  # + float32 rounding
    lead = {name: rec.lead(name).astype(np.float64) for name in LEADS_12}
    np.testing.assert_allclose(lead["III"], lead["II"] - lead["I"], atol=step_mv)
    np.testing.assert_allclose(lead["aVR"], -(lead["I"] + lead["II"]) / 2, atol=step_mv)
    np.testing.assert_allclose(lead["aVL"], lead["I"] - lead["II"] / 2, atol=step_mv)
    np.testing.assert_allclose(lead["aVF"], lead["II"] - lead["I"] / 2, atol=step_mv)


def test_read_philips_rate_matches_cart_measurement(philips_path):
    rec = read_philips(philips_path)
    measured = rec.meta["machine_measurements"]["ventricular_rate"]
    assert measured["unit"] == "bpm"
    assert heart_rate_bpm(rec) == pytest.approx(measured["value"], rel=0.05)


def test_read_philips_uncompressed_round_trip(tmp_path, philips_path, philips_text):
    """The same leads written as uncompressed Base64 int16 read back unchanged."""
    rec = read_philips(philips_path)
    res_uv = _resolution_uv(philips_text)
    counts = np.rint(rec.signal * 1000.0 / res_uv).astype("<i2")
    n = rec.n_samples
    payload = base64.b64encode(counts.tobytes()).decode("ascii")
    text = re.sub(r"<parsedwaveforms[^>]*>[^<]*</parsedwaveforms>",
                  f'<parsedwaveforms dataencoding="Base64" compressflag="False" '
                  f'durationperchannel="{n * 2}">{payload}</parsedwaveforms>', philips_text)
    back = check_reader_contract(read_philips(_write(tmp_path, text, "plain.xml")),
                                 fs_hz=rec.fs_hz)
    np.testing.assert_allclose(back.signal, rec.signal, atol=1e-6)


def test_read_philips_utf16_file(tmp_path, philips_path, philips_text):
    # TraceMasterVue writes 1.04 files as UTF-16 with a byte-order mark.
    path = tmp_path / "utf16.xml"
    path.write_bytes(philips_text.replace('encoding="UTF-8"', 'encoding="utf-16"')
                     .encode("utf-16"))
    assert sniff(path.read_bytes()[:4096], path)
    np.testing.assert_array_equal(read_philips(path).signal, read_philips(philips_path).signal)


def test_read_ecg_dispatches_philips(philips_path):
    assert read_ecg(philips_path).source_format == "philips"


def test_sniff_philips_claims_only_philips(philips_path, shared_data):
    assert sniff(philips_path.read_bytes()[:4096], philips_path)
    for other in (shared_data / "formats" / "muse" / "guangxi_teaching_sinus_rhythm.xml",
                  shared_data / "formats" / "aecg" / "fda-minimum-aecg.xml"):
        assert not sniff(other.read_bytes()[:4096], other)
    assert not sniff(b"\x00" * 10, philips_path)


def _waveform_span(text: str) -> tuple[int, int]:
    body = text.index(">", text.index("<parsedwaveforms")) + 1
    return body, text.index("</parsedwaveforms>")


def _cut_waveform(text: str) -> str:
    body, end = _waveform_span(text)
    data = base64.b64decode("".join(text[body:end].split()))
    # Still valid Base64, but only the first third of the XLI chunks.
    return text[:body] + base64.b64encode(data[: len(data) // 3]).decode() + text[end:]


def _damage_base64(text: str) -> str:
    body, _ = _waveform_span(text)
    return text[:body] + "*" + text[body:]


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t[: len(t) // 2], "well-formed XML"),
        (_damage_base64, "Base64"),
        (_cut_waveform, "truncated"),
        (lambda t: t.replace("<numberchannelsvalid>12<", "<numberchannelsvalid>20<"),
         "valid leads"),
        (lambda t: t.replace('durationperchannel="11000"', 'durationperchannel="22000"'),
         "samples in XLI chunk"),
        (lambda t: t.replace("<documentversion>1.03<", "<documentversion>0.9<"),
         "version 1.03 or 1.04"),
        (lambda t: t.replace('<?xml version="1.0" encoding="UTF-8"?>',
                             '<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE restingecgdata '
                             '[<!ENTITY x SYSTEM "file:///etc/passwd">]>').replace(
                                 "<documentname>", "<documentname>&x;"), "entity"),
        (lambda t: t.replace("<samplingrate>500<", "<samplingrate>fast<"), "samplingrate"),
    ],
    ids=["truncated-xml", "bad-base64", "truncated-xli", "lead-count", "sample-count",
         "version", "external-entity", "bad-rate"],
)
def test_read_philips_refuses_broken_file(tmp_path, philips_text, edit, match):
    path = _write(tmp_path, edit(philips_text))
    with pytest.raises(EcgReadError, match=match):
        read_philips(path)


def test_read_philips_refuses_empty_file(tmp_path):
    path = tmp_path / "empty.xml"
    path.write_bytes(b"")
    with pytest.raises(EcgReadError, match="empty file"):
        read_philips(path)
