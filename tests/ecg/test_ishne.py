"""ISHNE Holter reader: files written per the spec from a real record, and refused inputs.

No real ISHNE file is in the shared data, so every file here is written in ``tmp_path`` by
``tests.ecg._write_ishne`` (byte by byte per the ISHNE 1.0 spec; no maintained Python writer
exists) from the real PTB-XL record 00001, read with :func:`desktop_app.ecg.read_ecg`, and read
back. The round trip is the conformance case of this format: the only loss a correct reader
may show is the rounding to each lead's amplitude resolution.
"""

from __future__ import annotations

import datetime as dt
import struct

import numpy as np
import pytest

from desktop_app.ecg import LEADS_12, LeadSource, read_ecg
from desktop_app.ecg._ishne import read_ishne, sniff
from desktop_app.errors import EcgReadError
from tests.ecg._write_ishne import ishne_bytes, refresh_crc, write_ishne
from tests.ecg.contract import check_reader_contract

FS_HZ = 100  # PTB-XL record 1 is stored at 100 Hz
# Holter recorders commonly store 2.5 uV per count; the limb leads get 1 uV so that each lead's
# own resolution must be applied.
RESOLUTION_NV = [1000] * 6 + [2500] * 6


@pytest.fixture(scope="module")
def ptbxl(ptbxl_record_path) -> np.ndarray:
    """PTB-XL record 1 as (12, n) mV in LEADS_12 order."""
    rec = read_ecg(ptbxl_record_path)
    assert rec.fs_hz == FS_HZ and rec.lead_sources == (LeadSource.RECORDED,) * 12
    return rec.signal.astype(np.float64)


def _rows(ptbxl, names):
    return np.stack([ptbxl[LEADS_12.index(n)] for n in names])


def test_read_ishne_twelve_lead_round_trip(tmp_path, ptbxl):
    path = write_ishne(tmp_path / "rec.ecg", ptbxl, FS_HZ, list(LEADS_12),
                       resolution_nv=RESOLUTION_NV, quality=[1] * 12)
    rec = check_reader_contract(read_ishne(path), fs_hz=FS_HZ)
    assert rec.source_format == "ishne"
    assert rec.signal.shape == ptbxl.shape
    assert rec.lead_sources == (LeadSource.RECORDED,) * 12
    for i, name in enumerate(LEADS_12):
        # Rounding to the lead's resolution (half a step), plus float32 storage.
        np.testing.assert_allclose(rec.lead(name), ptbxl[i],
                                   atol=RESOLUTION_NV[i] * 0.5e-6 + 1e-6, err_msg=name)
    assert rec.meta["resolution_nv"]["V1"] == 2500
    assert rec.meta["lead_quality"]["II"] == "good"
    assert rec.meta["start_time"] == "2024-03-01T08:30:00"
    assert rec.meta["duration_s"] == ptbxl.shape[1] / FS_HZ
    assert "cut_to_s" not in rec.meta and "ignored_channels" not in rec.meta


def test_read_ishne_holter_leads_go_to_ignored_channels(tmp_path, ptbxl):
    # A typical 3-channel Holter: one EASI bipolar lead and two standard ones.
    signal = np.stack([ptbxl[0], ptbxl[LEADS_12.index("II")], ptbxl[LEADS_12.index("V5")]])
    path = write_ishne(tmp_path / "holter.ecg", signal, FS_HZ, ["ES", "II", "V5"],
                       resolution_nv=2500)
    rec = check_reader_contract(read_ishne(path), fs_hz=FS_HZ, n_leads_present=2)
    assert rec.present_leads() == ["II", "V5"]
    assert rec.meta["ignored_channels"] == ["ES (lead 1)"]
    np.testing.assert_allclose(rec.lead("V5"), signal[2], atol=1.25e-3 + 1e-6)


def test_read_ishne_lead_codes_follow_the_spec_table(tmp_path, ptbxl):
    # Codes 8, 9, 10 are aVR, aVL, aVF (spec table 1); raw codes, not names, go in the file.
    names = ["aVR", "aVL", "aVF"]
    path = write_ishne(tmp_path / "aug.ecg", _rows(ptbxl, names), FS_HZ, [8, 9, 10])
    rec = read_ishne(path)
    for name in names:
        np.testing.assert_allclose(rec.lead(name), ptbxl[LEADS_12.index(name)], atol=6e-4)


def test_read_ishne_cuts_long_recording(tmp_path, ptbxl):
    minute = np.tile(ptbxl, (1, 6))  # 60 s
    path = write_ishne(tmp_path / "long.ecg", minute, FS_HZ, list(LEADS_12))
    rec = read_ishne(path, max_duration_s=20.0)
    assert rec.signal.shape == (12, 20 * FS_HZ)
    assert rec.meta["cut_to_s"] == 20.0
    assert rec.meta["duration_s"] == 60.0
    np.testing.assert_allclose(rec.signal, minute[:, :20 * FS_HZ], atol=6e-4)


def test_read_ishne_reads_only_the_start_of_a_day_long_recording(tmp_path):
    # 24 h of 12 leads at 1 kHz is 2 GB; the file is sparse, so nothing is written to disk,
    # and only the first 300 s (7.2 MB) may be read.
    n_day = 24 * 3600 * 1000
    one = np.zeros((12, 2))
    head = ishne_bytes(one, 1000, list(LEADS_12), fields={"n_samples": n_day})[:522]
    path = tmp_path / "day.ecg"
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(522 + n_day * 12 * 2)
    rec = read_ishne(path)
    assert rec.signal.shape == (12, 300 * 1000)
    assert rec.meta["cut_to_s"] == 300.0
    assert rec.meta["duration_s"] == 24 * 3600.0


def test_read_ishne_demographics_stay_out_of_meta(tmp_path, ptbxl):
    path = write_ishne(tmp_path / "p.ecg", ptbxl, FS_HZ, list(LEADS_12), first_name="Anna",
                       last_name="Jansen", patient_id="HOL-778812", sex=2,
                       birth_date=dt.date(1951, 5, 2), record_date=dt.date(2020, 3, 1))
    rec = read_ishne(path)
    assert rec.demographics.sex == "female"
    assert rec.demographics.age_years == 68.0
    assert rec.demographics.name == "Anna Jansen"
    assert rec.demographics.patient_id == "HOL-778812"
    assert not any(s in repr(rec.meta) for s in ("Anna", "Jansen", "HOL-778812"))


def test_read_ishne_sample_count_over_all_leads(tmp_path, ptbxl):
    # ECG Toolkit writes the count over all leads; accepted where it fills the data exactly.
    n = ptbxl.shape[1]
    path = write_ishne(tmp_path / "toolkit.ecg", ptbxl, FS_HZ, list(LEADS_12),
                       fields={"n_samples": n * 12})
    rec = read_ishne(path)
    assert rec.signal.shape == (12, n)
    np.testing.assert_allclose(rec.signal, ptbxl, atol=6e-4)
    assert "all leads" in rec.meta["notes"][0]


def test_read_ishne_fills_lead_fault_samples(tmp_path, ptbxl):
    counts = np.round(ptbxl * 1000).astype(np.int16)  # 1000 nV per count
    counts[1, 100:110] = -32768
    path = write_ishne(tmp_path / "fault.ecg", counts, FS_HZ, list(LEADS_12))
    rec = check_reader_contract(read_ishne(path), fs_hz=FS_HZ)
    assert rec.meta["gaps_filled"] == {"II": 10}
    assert "gaps_filled" in rec.lead_flags[1] and "gaps_filled" not in rec.lead_flags[0]
    expected = np.interp(np.arange(100, 110), [99, 110], ptbxl[1, [99, 110]])
    np.testing.assert_allclose(rec.lead("II")[100:110], expected, atol=1e-3)


def test_read_ishne_crc_covers_the_variable_block(tmp_path, ptbxl):
    data = ishne_bytes(ptbxl, FS_HZ, list(LEADS_12), var_block=b"recorded at home\x00")
    good = tmp_path / "var.ecg"
    good.write_bytes(data)
    np.testing.assert_allclose(read_ishne(good).signal, ptbxl, atol=6e-4)
    bad = tmp_path / "var_bad.ecg"
    bad.write_bytes(data[:522] + b"R" + data[523:])
    with pytest.raises(EcgReadError, match="CRC"):
        read_ishne(bad)


def _patch(data: bytes, offset: int, fmt: str, value) -> bytes:
    end = offset + struct.calcsize(fmt)
    return refresh_crc(data[:offset] + struct.pack(fmt, value) + data[end:])


def _broken(kind: str, ptbxl) -> bytes:
    good = ishne_bytes(ptbxl, FS_HZ, list(LEADS_12))
    return {
        "wrong_magic": b"ISHNE2.0" + good[8:],
        "wrong_crc": good[:8] + bytes([good[8] ^ 0xFF, good[9]]) + good[10:],
        "truncated_header": good[:300],
        "truncated_data": good[:-1000],
        "huge_sample_count": ishne_bytes(ptbxl, FS_HZ, list(LEADS_12),
                                         fields={"n_samples": 2**31 - 1}),
        "zero_leads": ishne_bytes(ptbxl, FS_HZ, list(LEADS_12), fields={"n_leads": 0}),
        "thirteen_leads": ishne_bytes(ptbxl, FS_HZ, list(LEADS_12), fields={"n_leads": 13}),
        "annotation_file": b"ANN  1.0" + good[8:],
        "empty": b"",
        "zero_rate": _patch(good, 272, "<h", 0),
        "var_block_elsewhere": _patch(good, 18, "<i", 600),
        "ecg_block_past_end": _patch(good, 22, "<i", len(good) + 10),
        "zero_resolution": _patch(good, 206 + 2, "<h", 0),
        "only_bipolar_leads": ishne_bytes(ptbxl[:3], FS_HZ, ["X bipolar", "Y bipolar", "AI"]),
    }[kind]


BROKEN = {
    "wrong_magic": r"starting with 'ISHNE1\.0'.*not an ISHNE Holter file",
    "wrong_crc": r"CRC matches its stored checksum.*header is damaged",
    "truncated_header": r"header of 522 bytes, found a file of 300 bytes; the file is truncated",
    "truncated_data": r"as the header says.*truncated or its header is damaged",
    "huge_sample_count": r"2,147,483,647 samples per lead.*truncated or its header is damaged",
    "zero_leads": r"1\.\.12 stored leads, found 0",
    "thirteen_leads": r"1\.\.12 stored leads, found 13",
    "annotation_file": r"beat annotation file.*open the ECG file of the same recording",
    "empty": r"empty file \(0 bytes\)",
    "zero_rate": r"sampling rate of at least 1 Hz, found 0 Hz",
    "var_block_elsewhere": r"variable block at byte 522.*found offset 600",
    "ecg_block_past_end": r"ECG block after the header",
    "zero_resolution": r"amplitude resolution of at least 1 nV for lead II, found 0 nV",
    "only_bipolar_leads": r"standard leads \(ISHNE lead codes 5-16\).*X bipolar.*bipolar",
}


@pytest.mark.parametrize("kind", sorted(BROKEN))
def test_read_ishne_refuses_broken_files(tmp_path, ptbxl, kind):
    path = tmp_path / f"{kind}.ecg"
    path.write_bytes(_broken(kind, ptbxl))
    with pytest.raises(EcgReadError, match=BROKEN[kind]) as info:
        read_ishne(path)
    assert info.value.format == "ishne"


def test_read_ishne_random_header_damage_raises_only_read_errors(tmp_path, ptbxl):
    """Header bytes overwritten, then the CRC made to match (a buggy writer): the reader
    returns a record or raises EcgReadError, never anything else."""
    good = ishne_bytes(ptbxl, FS_HZ, list(LEADS_12))
    rng = np.random.default_rng(8)
    path = tmp_path / "damaged.ecg"
    outcomes = {"read": 0, "refused": 0}
    for _ in range(100):
        data = bytearray(good)
        for pos in rng.integers(10, 522, size=int(rng.integers(1, 6))):
            data[pos] = int(rng.integers(0, 256))
        path.write_bytes(refresh_crc(bytes(data)))
        try:
            read_ishne(path)
            outcomes["read"] += 1
        except EcgReadError:
            outcomes["refused"] += 1
    assert outcomes["read"] and outcomes["refused"], outcomes


def test_read_ishne_only_bipolar_hint_says_why(tmp_path, ptbxl):
    path = tmp_path / "xyz.ecg"
    path.write_bytes(_broken("only_bipolar_leads", ptbxl))
    with pytest.raises(EcgReadError, match="cannot be guessed"):
        read_ishne(path)


def test_read_ishne_refuses_non_positive_duration(tmp_path, ptbxl):
    path = write_ishne(tmp_path / "rec.ecg", ptbxl, FS_HZ, list(LEADS_12))
    with pytest.raises(EcgReadError, match="positive, finite max_duration_s"):
        read_ishne(path, max_duration_s=0)


def test_sniff_ishne_claims_ecg_and_annotation_files_only(ptbxl, ptbxl_record_path):
    data = ishne_bytes(ptbxl, FS_HZ, list(LEADS_12))
    assert sniff(data[:4096], ptbxl_record_path)
    assert sniff(b"ANN  1.0" + data[8:4096], ptbxl_record_path)
    assert not sniff(b"", ptbxl_record_path)
    assert not sniff(b"0       " + data[8:4096], ptbxl_record_path)
    assert not sniff(ptbxl_record_path.read_bytes()[:4096], ptbxl_record_path)


@pytest.mark.parametrize("suffix", [".ecg", ".bin"])
def test_read_ecg_dispatches_ishne_by_content(tmp_path, ptbxl, suffix):
    # Passes once FORMATS lists the ISHNE reader.
    path = write_ishne(tmp_path / f"holter{suffix}", ptbxl, FS_HZ, list(LEADS_12))
    rec = read_ecg(path)
    assert rec.source_format == "ishne"
    np.testing.assert_allclose(rec.signal, ptbxl, atol=6e-4)
    ann = tmp_path / "holter.ann"
    ann.write_bytes(b"ANN  1.0" + path.read_bytes()[8:])
    with pytest.raises(EcgReadError, match="beat annotation file"):
        read_ecg(ann)
