"""The read_ecg dispatcher: content sniffing, refusals, and the combined error message."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.ecg import EcgRecord, LeadSource, assemble_record, read_ecg, sniff_format
from desktop_app.errors import EcgReadError


def test_read_ecg_missing_file(tmp_path):
    with pytest.raises(EcgReadError, match="expected an existing file, found no such file"):
        read_ecg(tmp_path / "nope.hea")


def test_read_ecg_folder(tmp_path):
    with pytest.raises(EcgReadError, match="found a folder"):
        read_ecg(tmp_path)


@pytest.mark.parametrize("name", ["empty.hea", "empty.xml", "empty.csv", "empty.dcm", "empty"])
def test_read_ecg_empty_file(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"")
    with pytest.raises(EcgReadError, match=r"empty file \(0 bytes\)"):
        read_ecg(path)


def test_read_ecg_unknown_content_lists_supported_formats(tmp_path):
    path = tmp_path / "notes.bin"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(EcgReadError, match="supported formats: .*WFDB") as info:
        read_ecg(path)
    assert info.value.format == "unknown"
    assert "content of no known format" in str(info.value)


def test_read_ecg_unknown_forced_format(tmp_path, ptbxl_record_path):
    with pytest.raises(EcgReadError, match="format 'nonsense'"):
        read_ecg(ptbxl_record_path, format="nonsense")


def test_sniff_format_real_wfdb(ptbxl_record_path):
    assert sniff_format(ptbxl_record_path) == "wfdb"


def test_read_ecg_error_is_value_error(tmp_path):
    # Callers that only know ValueError still catch reader failures.
    with pytest.raises(ValueError):
        read_ecg(tmp_path / "missing.csv")


def test_assemble_record_derives_limb_leads_exactly():
    rng = np.random.default_rng(0)
    lead_i = rng.normal(0, 0.3, 500)
    lead_ii = rng.normal(0, 0.3, 500)
    rec = assemble_record({"I": lead_i, "II": lead_ii}, 250.0, path=None, format="test")
    assert isinstance(rec, EcgRecord)
    np.testing.assert_allclose(rec.lead("III"), lead_ii - lead_i, atol=1e-6)
    np.testing.assert_allclose(rec.lead("aVR"), -(lead_i + lead_ii) / 2, atol=1e-6)
    np.testing.assert_allclose(rec.lead("aVL"), lead_i - lead_ii / 2, atol=1e-6)
    np.testing.assert_allclose(rec.lead("aVF"), lead_ii - lead_i / 2, atol=1e-6)
    assert rec.lead_sources[:6] == (LeadSource.RECORDED,) * 2 + (LeadSource.DERIVED,) * 4
    assert all(s is LeadSource.MISSING for s in rec.lead_sources[6:])
    assert np.all(np.isnan(rec.signal[6:]))


def test_assemble_record_derives_lead_ii_from_i_and_iii():
    lead_i = np.linspace(-0.5, 0.5, 100)
    lead_iii = np.linspace(0.2, -0.2, 100)
    rec = assemble_record({"i": lead_i, "III": lead_iii}, 100.0, path=None, format="test")
    np.testing.assert_allclose(rec.lead("II"), lead_i + lead_iii, atol=1e-6)
    assert rec.lead_sources[1] is LeadSource.DERIVED


def test_assemble_record_refuses_duplicate_lead():
    x = np.zeros(100)
    with pytest.raises(EcgReadError, match="lead aVR twice"):
        assemble_record({"aVR": x, "AVR": x}, 100.0, path=None, format="test")


def test_assemble_record_refuses_unequal_lengths():
    with pytest.raises(EcgReadError, match="same number of samples"):
        assemble_record({"I": np.zeros(100), "II": np.zeros(90)}, 100.0, path=None,
                        format="test")


def test_assemble_record_refuses_no_standard_leads():
    with pytest.raises(EcgReadError, match="found 0 .*other channels: vx, vy"):
        assemble_record({"vx": np.zeros(10), "vy": np.zeros(10)}, 100.0, path=None,
                        format="test")


def test_assemble_record_refuses_implausible_units():
    # Raw ADC counts mistaken for millivolts.
    with pytest.raises(EcgReadError, match="units"):
        assemble_record({"I": np.full(100, 2000.0), "II": np.zeros(100)}, 100.0, path=None,
                        format="test")


def test_assemble_record_flags_flat_lead():
    rng = np.random.default_rng(1)
    rec = assemble_record({"I": rng.normal(0, 0.3, 1000), "II": np.zeros(1000),
                           "V1": rng.normal(0, 0.3, 1000)}, 500.0, path=None, format="test")
    assert "flat" in rec.lead_flags[1]
    assert "flat" not in rec.lead_flags[0]
