"""WFDB reader: the real records, agreement with wfdb itself, variants, and refused inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import wfdb

from desktop_app.ecg import LEADS_12, LeadSource, normalise_lead_name, read_ecg
from desktop_app.ecg._wfdb import MAX_TOTAL_SAMPLES, read_wfdb, sniff
from desktop_app.errors import EcgReadError
from tests.ecg.contract import check_reader_contract

# record -> (fs_hz, n_samples) as stated on each header's record line.
REAL_RECORDS = {
    "00001_lr": (100.0, 1000),
    "JS00001": (500.0, 5000),
    "s0010_re": (1000.0, 38400),
}


@pytest.fixture
def records_dir(shared_data) -> Path:
    return shared_data / "records"


def _write(tmp_path: Path, name: str, signal_mv: np.ndarray, fs_hz: float,
           sig_names: list[str], units: str = "mV", gain: float = 1000.0) -> Path:
    """Write (n_leads, n_samples) in ``units`` with wfdb's own writer; return the .hea path."""
    n = len(sig_names)
    wfdb.wrsamp(name, fs=fs_hz, units=[units] * n, sig_name=list(sig_names),
                p_signal=np.asarray(signal_mv, dtype=np.float64).T, fmt=["16"] * n,
                adc_gain=[gain] * n, baseline=[0] * n, write_dir=str(tmp_path))
    return tmp_path / f"{name}.hea"


def _synthetic_leads(n_leads: int, n_samples: int, fs_hz: float) -> np.ndarray:
    # A distinct frequency and amplitude per lead, so a lead read into the wrong row shows.
    t = np.arange(n_samples) / fs_hz
    k = np.arange(1, n_leads + 1)[:, None]
    return (0.2 + 0.1 * k) * np.sin(2 * np.pi * (0.7 + 0.3 * k) * t)


@pytest.mark.parametrize("name", sorted(REAL_RECORDS))
def test_read_wfdb_real_record_passes_contract(records_dir, name):
    fs_hz, n_samples = REAL_RECORDS[name]
    rec = check_reader_contract(read_wfdb(records_dir / f"{name}.hea"), fs_hz=fs_hz)
    assert rec.n_samples == n_samples
    assert rec.source_format == "wfdb"
    assert rec.source_path == records_dir / f"{name}.hea"
    assert rec.lead_sources == (LeadSource.RECORDED,) * 12
    assert rec.meta["record_name"] == name


@pytest.mark.parametrize("name", sorted(REAL_RECORDS))
def test_read_wfdb_matches_wfdb_rdrecord(records_dir, name):
    header = wfdb.rdheader(str(records_dir / name))
    standard = [i for i, s in enumerate(header.sig_name) if normalise_lead_name(s)]
    ref = wfdb.rdrecord(str(records_dir / name), channels=standard)
    rec = read_wfdb(records_dir / f"{name}.hea")
    for col, sig_name in enumerate(ref.sig_name):
        assert ref.units[col] == "mV"
        np.testing.assert_allclose(rec.lead(normalise_lead_name(sig_name)),
                                   ref.p_signal[:, col], rtol=0, atol=1e-6)


@pytest.mark.parametrize("name, suffix", [("00001_lr", ".dat"), ("JS00001", ".mat"),
                                          ("s0010_re", ".dat"), ("00001_lr", "")])
def test_read_wfdb_accepts_signal_file_or_record_name(records_dir, name, suffix):
    via_header = read_wfdb(records_dir / f"{name}.hea")
    rec = read_wfdb(records_dir / f"{name}{suffix}")
    np.testing.assert_array_equal(rec.signal, via_header.signal)
    assert rec.source_path == records_dir / f"{name}.hea"


def test_read_wfdb_challenge_header_comments(records_dir):
    rec = read_wfdb(records_dir / "JS00001.hea")
    assert rec.demographics.age_years == 85.0
    assert rec.demographics.sex == "male"
    assert rec.meta["dx_snomed"] == ["164889003", "59118001", "164934002"]
    assert "Rx: Unknown" in rec.meta["header_comments"]


def test_read_wfdb_ptb_comments_and_absent_frank_leads(records_dir):
    rec = read_wfdb(records_dir / "s0010_re.hea")
    assert rec.demographics.age_years == 81.0
    assert rec.demographics.sex == "female"
    assert rec.meta["diagnosis"] == "Myocardial infarction"
    assert rec.meta["ignored_channels"] == ["vx", "vy", "vz"]
    assert any("s0010_re.xyz" in note for note in rec.meta["notes"])


def test_read_wfdb_ptbxl_has_no_demographics(records_dir):
    rec = read_wfdb(records_dir / "00001_lr.hea")
    assert rec.demographics.age_years is None and rec.demographics.sex is None
    assert "dx_snomed" not in rec.meta


def test_read_wfdb_lead_name_variants_land_in_their_rows(tmp_path):
    spellings = ["v6", "Lead II", "AVF", "aVL", "avr", "III", "V5", "v4", "V3", "D1", "v2",
                 "V1"]
    signal = _synthetic_leads(12, 1000, 500.0)
    hea = _write(tmp_path, "variants", signal, 500.0, spellings)
    rec = check_reader_contract(read_wfdb(hea), fs_hz=500.0)
    for row, spelling in zip(signal, spellings):
        np.testing.assert_allclose(rec.lead(normalise_lead_name(spelling)), row, atol=1e-3)


@pytest.mark.parametrize("units, scale, gain", [("uV", 1e3, 1.0), ("V", 1e-3, 1e6),
                                                ("mV", 1.0, 1000.0)])
def test_read_wfdb_converts_units_to_mv(tmp_path, units, scale, gain):
    signal_mv = _synthetic_leads(12, 500, 250.0)
    hea = _write(tmp_path, f"units_{units}", signal_mv * scale, 250.0, list(LEADS_12),
                 units=units, gain=gain)
    rec = check_reader_contract(read_wfdb(hea), fs_hz=250.0)
    np.testing.assert_allclose(rec.signal, signal_mv, atol=1e-3)


def test_read_wfdb_any_sampling_rate(tmp_path):
    signal = _synthetic_leads(12, 2570, 257.0)
    hea = _write(tmp_path, "odd_rate", signal, 257.0, list(LEADS_12))
    rec = check_reader_contract(read_wfdb(hea), fs_hz=257.0)
    assert rec.n_samples == 2570


def test_read_wfdb_single_standard_lead_leaves_others_missing(tmp_path):
    signal = _synthetic_leads(1, 1000, 500.0)
    hea = _write(tmp_path, "one_lead", signal, 500.0, ["II"])
    rec = check_reader_contract(read_wfdb(hea), fs_hz=500.0, n_leads_present=1)
    assert rec.present_leads() == ["II"]


def test_read_wfdb_invalid_samples_filled_and_flagged(tmp_path):
    signal = _synthetic_leads(12, 1000, 500.0)
    signal[1, 200:210] = np.nan  # a short dropout in II
    signal[7, :] = np.nan        # V2 never connected
    hea = _write(tmp_path, "gaps", signal, 500.0, list(LEADS_12))
    rec = check_reader_contract(read_wfdb(hea), fs_hz=500.0, n_leads_present=11)
    assert rec.lead_sources[LEADS_12.index("V2")] is LeadSource.MISSING
    assert "gaps_filled" in rec.lead_flags[LEADS_12.index("II")]
    assert rec.meta["gaps_filled"] == {"II": 10}
    gap = rec.lead("II")[200:210]
    lo, hi = sorted((rec.lead("II")[199], rec.lead("II")[210]))
    assert np.all((gap >= lo - 1e-6) & (gap <= hi + 1e-6))


def test_read_wfdb_nonstandard_channels_ignored(tmp_path):
    signal = _synthetic_leads(3, 1000, 500.0)
    hea = _write(tmp_path, "mixed", signal, 500.0, ["I", "RESP", "II"])
    rec = check_reader_contract(read_wfdb(hea), fs_hz=500.0, n_leads_present=6)
    assert rec.meta["ignored_channels"] == ["RESP"]
    np.testing.assert_allclose(rec.lead("II"), signal[2], atol=1e-3)


# --- refused inputs -------------------------------------------------------------------------

def _copy_ptbxl(tmp_path: Path, shared_data: Path, *, dat: bool = True) -> Path:
    src = shared_data / "records"
    shutil.copyfile(src / "00001_lr.hea", tmp_path / "00001_lr.hea")
    if dat:
        shutil.copyfile(src / "00001_lr.dat", tmp_path / "00001_lr.dat")
    return tmp_path / "00001_lr.hea"


def _truncated_dat(tmp_path, shared_data):
    hea = _copy_ptbxl(tmp_path, shared_data)
    dat = hea.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:10_000])
    return hea


def _missing_signal_file(tmp_path, shared_data):
    return _copy_ptbxl(tmp_path, shared_data, dat=False)


def _dat_without_header(tmp_path, shared_data):
    hea = _copy_ptbxl(tmp_path, shared_data)
    hea.unlink()
    return tmp_path / "00001_lr.dat"


def _standard_leads_in_missing_second_file(tmp_path, shared_data):
    signal = _synthetic_leads(6, 1000, 500.0)
    hea = _write(tmp_path, "split", signal, 500.0, ["I", "II", "III", "aVR", "aVL", "aVF"])
    lines = hea.read_text().splitlines()
    extra = [f"split.vvv 16 1000(0)/mV 16 0 0 0 0 V{k}" for k in range(1, 7)]
    lines[0] = lines[0].replace("split 6 ", "split 12 ")
    hea.write_text("\n".join(lines + extra) + "\n")
    return hea


def _no_standard_leads(tmp_path, shared_data):
    return _write(tmp_path, "vitals", _synthetic_leads(3, 1000, 125.0), 125.0,
                  ["ABP", "PLETH", "RESP"])


def _edit_header(tmp_path, shared_data, old: str, new: str) -> Path:
    hea = _copy_ptbxl(tmp_path, shared_data)
    text = hea.read_text()
    assert old in text
    hea.write_text(text.replace(old, new, 1))
    return hea


def _corrupt_record_line(tmp_path, shared_data):
    return _edit_header(tmp_path, shared_data, "00001_lr 12 100 1000", "00001_lr twelve 100")


def _fewer_signal_lines(tmp_path, shared_data):
    hea = _copy_ptbxl(tmp_path, shared_data)
    hea.write_text("\n".join(hea.read_text().splitlines()[:-1]) + "\n")
    return hea


def _zero_signals(tmp_path, shared_data):
    hea = tmp_path / "nothing.hea"
    hea.write_text("nothing 0 500 1000\n")
    return hea


def _huge_declared_length(tmp_path, shared_data):
    return _edit_header(tmp_path, shared_data, "00001_lr 12 100 1000",
                        f"00001_lr 12 100 {MAX_TOTAL_SAMPLES * 100}")


def _non_voltage_units(tmp_path, shared_data):
    return _edit_header(tmp_path, shared_data, "1000.0(0)/mV 16 0 -119", "1000.0(0)/mmHg 16 0 -119")


def _zero_sampling_rate(tmp_path, shared_data):
    return _edit_header(tmp_path, shared_data, "00001_lr 12 100 1000", "00001_lr 12 0 1000")


def _empty_header(tmp_path, shared_data):
    hea = tmp_path / "empty.hea"
    hea.write_bytes(b"")
    return hea


def _comments_only(tmp_path, shared_data):
    hea = tmp_path / "notes.hea"
    hea.write_text("# exported by hand\n\n# nothing else\n")
    return hea


def _binary_header(tmp_path, shared_data):
    hea = tmp_path / "junk.hea"
    hea.write_bytes(bytes(range(256)) * 8)
    return hea


def _multi_segment(tmp_path, shared_data):
    hea = tmp_path / "multi.hea"
    hea.write_text("multi/2 12 500 1000\nmulti_1 500\nmulti_2 500\n")
    return hea


BROKEN = {
    "truncated_dat": (_truncated_dat, r"10,000 bytes: the signal file is truncated"),
    "missing_signal_file": (_missing_signal_file, r"no file 00001_lr\.dat"),
    "dat_without_header": (_dat_without_header, r"no 00001_lr\.hea beside 00001_lr\.dat"),
    "standard_leads_in_missing_second_file": (
        _standard_leads_in_missing_second_file, r"no file split\.vvv \(it holds leads V1"),
    "no_standard_leads": (_no_standard_leads, r"standard ECG leads.*'ABP', 'PLETH', 'RESP'"),
    "corrupt_record_line": (_corrupt_record_line, r"a line wfdb cannot parse"),
    "fewer_signal_lines": (_fewer_signal_lines, r"expected 12 signal lines.*found 11"),
    "zero_signals": (_zero_signals, r"a header with 0 signals"),
    "huge_declared_length": (_huge_declared_length, r"expected a resting ECG \(at most"),
    "non_voltage_units": (_non_voltage_units, r"voltage unit.*units 'mmHg'"),
    "zero_sampling_rate": (_zero_sampling_rate, r"sampling rate of 1-100000 Hz"),
    "empty_header": (_empty_header, r"an empty file \(0 bytes\)"),
    "comments_only": (_comments_only, r"only comments or blank lines"),
    "binary_header": (_binary_header, r"found binary content"),
    "multi_segment": (_multi_segment, r"a multi-segment record with 2 segments"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_read_wfdb_refuses_broken_input(tmp_path, shared_data, case):
    make, match = BROKEN[case]
    path = make(tmp_path, shared_data)
    with pytest.raises(EcgReadError, match=match) as info:
        read_wfdb(path)
    assert info.value.format == "wfdb"
    assert info.value.hint  # every refusal says what to do


def test_read_wfdb_wraps_wfdb_errors_with_cause(tmp_path, shared_data):
    with pytest.raises(EcgReadError) as info:
        read_wfdb(_corrupt_record_line(tmp_path, shared_data))
    assert isinstance(info.value.__cause__, ValueError)


# --- sniffing and the dispatcher ------------------------------------------------------------

@pytest.mark.parametrize("name", ["00001_lr.hea", "JS00001.hea", "s0010_re.hea",
                                  "00001_lr.dat", "JS00001.mat", "s0010_re.dat"])
def test_sniff_claims_real_record_files(records_dir, name):
    path = records_dir / name
    assert sniff(path.read_bytes()[:4096], path)


@pytest.mark.parametrize("head, name", [
    (b"I,II,III\n0.1,0.2,0.1\n", "leads.csv"),
    (b'<?xml version="1.0"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3"/>', "ecg.xml"),
    (b"1 2 3 4\n5 6 7 8\n", "numbers.txt"),
    (bytes(range(256)) * 16, "junk.bin"),
    (b"\x00" * 128 + b"DICM", "ecg.dcm"),
    (b"", "nothing.hea"),
])
def test_sniff_refuses_other_content(tmp_path, head, name):
    assert not sniff(head, tmp_path / name)


def test_sniff_refuses_signal_file_without_header(tmp_path):
    assert not sniff(b"\x01\x02" * 100, tmp_path / "lonely.dat")


@pytest.mark.parametrize("name", ["00001_lr.hea", "JS00001.mat", "s0010_re.dat"])
def test_read_ecg_dispatches_wfdb(records_dir, name):
    rec = read_ecg(records_dir / name)
    assert rec.source_format == "wfdb"
    fs_hz, n_samples = REAL_RECORDS[Path(name).stem]
    check_reader_contract(rec, fs_hz=fs_hz)
    assert rec.n_samples == n_samples
