"""SCP-ECG reader: the 14 real files from SCP-Tools, variants written here, and refused inputs.

The real files (``shared_data/formats/scp``, farhad-abtahi/SCP-Tools, MIT) come from Welch
Allyn CardioControl carts (SCP-ECG 2.0, default Huffman table, first differences, 8 stored
leads). Several are the same recording passed through the SCP-Tools anonymiser in different
modes; the name keeps the acquisition date and time (``ECG_<yyyymmdd>_<hhmmss>_ANON<n>``)
unless the mode removes it (``00000000_000000``) or keeps the text fields (``preserve``).

Files with other encodings (no Huffman, second differences, custom Huffman tables,
reference-beat subtraction) are written in ``tmp_path`` by the small writer below, from the
samples of a real file, and read back. Damaged files are real files with one defect each.
"""

from __future__ import annotations

import binascii
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from desktop_app.ecg import read_ecg, sniff_format
from desktop_app.ecg._scp import read_scp, sniff
from desktop_app.errors import EcgReadError
from tests.ecg._heart_rate import heart_rate_bpm
from tests.ecg.contract import MAX_PTP_MV, MIN_PTP_MV, check_reader_contract

_NAME = re.compile(r"ECG_(\d{8}|preserve)_(\d{6})_ANON(\d+)\.SCP")
_CHEST = ("V1", "V2", "V3", "V4", "V5", "V6")
# Section 3 lead codes (EN 1064): the writer below uses them for the 8 leads a cart stores.
_CODES = {"I": 1, "II": 2, "V1": 3, "V2": 4, "V3": 5, "V4": 6, "V5": 7, "V6": 8}


def _scp_files(shared_data: Path) -> list[Path]:
    files = sorted((shared_data / "formats" / "scp").glob("*.SCP"))
    assert len(files) == 14, f"expected the 14 SCP-Tools files, found {len(files)}"
    return files


def _crc(chunk: bytes) -> int:
    return binascii.crc_hqx(chunk, 0xFFFF)


def _pointers(data: bytes) -> dict[int, tuple[int, int, int]]:
    """Section id -> (position of its pointer, length, 1-based index), from section 0."""
    sec0_len = struct.unpack_from("<I", data, 10)[0]
    out = {}
    for pos in range(22, min(6 + sec0_len, len(data)) - 9, 10):
        sid, length, index = struct.unpack_from("<HII", data, pos)
        if length:
            out[sid] = (pos, length, index)
    return out


def _section_body(data: bytes, sid: int) -> bytes:
    _, length, index = _pointers(data)[sid]
    return data[index - 1 + 16: index - 1 + length]


def _refresh_crcs(data: bytearray, *sids: int) -> bytearray:
    """Recompute the CRCs of the given sections and of the record, as a writer would."""
    ptr = _pointers(bytes(data))
    for sid in sids:
        _, length, index = ptr[sid] if sid else (0, struct.unpack_from("<I", data, 10)[0], 7)
        start = index - 1
        struct.pack_into("<H", data, start, _crc(bytes(data[start + 2:start + length])))
    struct.pack_into("<H", data, 0, _crc(bytes(data[2:])))
    return data


# --- a minimal SCP-ECG writer -----------------------------------------------------------------

def _section(sid: int, body: bytes, protocol: int = 20) -> bytes:
    if len(body) % 2:
        body += b"\0"  # sections have an even length
    mark = b"SCPECG" if protocol >= 20 else b"\0" * 6  # v1.x leaves the field reserved
    rest = struct.pack("<HIBB", sid, 16 + len(body), protocol, protocol) + mark + body
    return struct.pack("<H", _crc(rest)) + rest


def _record(bodies: dict[int, bytes], protocol: int = 20) -> bytes:
    ids = sorted(set(range(12)) | set(bodies))
    sec0_len = 16 + 10 * len(ids)
    blobs, pointers, offset = {}, b"", 6 + sec0_len
    for sid in ids:
        if sid == 0:
            pointers += struct.pack("<HII", 0, sec0_len, 7)
        elif sid in bodies:
            blobs[sid] = _section(sid, bodies[sid], protocol)
            pointers += struct.pack("<HII", sid, len(blobs[sid]), offset + 1)
            offset += len(blobs[sid])
        else:
            pointers += struct.pack("<HII", sid, 0, 0)
    record = _section(0, pointers, protocol) + b"".join(blobs[s] for s in sorted(blobs))
    rest = struct.pack("<I", 6 + len(record)) + record
    return struct.pack("<H", _crc(rest)) + rest


def _differences(x: np.ndarray, mode: int) -> np.ndarray:
    x = x.astype(np.int64)
    if mode == 0:
        return x
    d = np.diff(x, prepend=0) if mode == 1 else x.copy()
    if mode == 2:
        d[2:] = x[2:] - 2 * x[1:-1] + x[:-2]
    return d


def _lead_block(avm_nv: int, interval_us: int, mode: int, leads: list[bytes],
                flag: int = 0) -> bytes:
    return (struct.pack("<HHBB", avm_nv, interval_us, mode, flag)
            + struct.pack(f"<{len(leads)}H", *(len(b) for b in leads)) + b"".join(leads))


def _lead_defs(names: list[str], n: int, flags: int = 0x04,
               ranges: list[tuple[int, int]] | None = None) -> bytes:
    ranges = ranges or [(1, n)] * len(names)
    return struct.pack("<BB", len(names), flags | (len(names) << 3)) + b"".join(
        struct.pack("<IIB", a, b, _CODES[name]) for name, (a, b) in zip(names, ranges))


def _patient(age: bytes = struct.pack("<HB", 6, 2), sex: int = 2,
             when: bytes = struct.pack("<HBB", 2019, 3, 7),
             clock: bytes = bytes([14, 5, 9])) -> bytes:
    tags = [(2, b"PID-7731\0"), (0, b"Doe\0"), (1, b"Jane\0"), (4, age), (8, bytes([sex])),
            (25, when), (26, clock), (27, struct.pack("<H", 5)), (28, struct.pack("<H", 150)),
            (29, b"\x01")]
    return b"".join(struct.pack("<BH", t, len(v)) + v for t, v in tags) + b"\xff\0\0"


@pytest.fixture(scope="module")
def source(shared_data):
    """Integer samples (5 µV units) of a real 8-lead recording, to write variants from."""
    rec = read_scp(shared_data / "formats" / "scp" / "ECG_20070321_110542_ANON000004.SCP")
    names = ["I", "II", *_CHEST]
    ints = {n: np.round(rec.lead(n).astype(np.float64) / 0.005).astype(np.int64)
            for n in names}
    return rec, ints


def _write_plain(tmp_path: Path, ints: dict[str, np.ndarray], mode: int = 1,
                 extra: dict[int, bytes] | None = None, flag: int = 0,
                 name: str = "plain.scp", protocol: int = 20) -> Path:
    names = list(ints)
    n = len(next(iter(ints.values())))
    leads = [_differences(ints[k], mode).astype("<i2").tobytes() for k in names]
    bodies = {1: _patient(), 3: _lead_defs(names, n), 6: _lead_block(5000, 2000, mode, leads,
                                                                         flag)}
    bodies.update(extra or {})
    path = tmp_path / name
    path.write_bytes(_record(bodies, protocol))
    return path


# --- the real files ----------------------------------------------------------------------------

def test_read_scp_every_real_file_reads_plausibly(shared_data):
    for path in _scp_files(shared_data):
        data = path.read_bytes()
        s3 = _section_body(data, 3)
        codes = [s3[2 + 9 * i + 8] for i in range(s3[0])]
        start, end = struct.unpack_from("<II", s3, 2)
        interval_us = struct.unpack_from("<H", _section_body(data, 6), 2)[0]
        stored = {1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6"}
        chest = sum(stored.get(c, "") in _CHEST for c in codes)
        rec = read_scp(path)
        check_reader_contract(rec, n_leads_present=6 + chest)
        assert rec.source_format == "scp"
        assert abs(rec.fs_hz - 1e6 / interval_us) < 0.5 and rec.fs_hz == round(rec.fs_hz)
        assert rec.n_samples == end - start + 1
        assert 8.0 <= rec.duration_s <= 12.0, path.name
        present = [rec.lead(name) for name in rec.present_leads()]
        ptp = np.ptp(np.array(present, dtype=np.float64), axis=1)
        assert np.all((ptp >= MIN_PTP_MV) & (ptp <= MAX_PTP_MV)), (path.name, ptp)
        rate = heart_rate_bpm(rec)
        assert 40 <= rate <= 150, path.name
        machine = rec.meta["machine_measurements"]["heart_rate"]
        assert machine["unit"] == "bpm"
        assert rate == pytest.approx(machine["value"], rel=0.10), path.name


def test_read_scp_stores_v3r_and_v7_as_other_channels(shared_data):
    path = shared_data / "formats" / "scp" / "ECG_20060620_112352_ANON000002.SCP"
    rec = read_scp(path)
    assert rec.meta["ignored_channels"] == ["V3R", "V7"]
    assert "V3" not in rec.present_leads() and "V5" not in rec.present_leads()
    assert np.all(np.isnan(rec.lead("V3")))


def test_read_scp_variants_of_one_recording_agree(shared_data):
    groups: dict[str, list[Path]] = {}
    for path in _scp_files(shared_data):
        m = _NAME.fullmatch(path.name)
        assert m, path.name
        # The anonymiser's date-removing and text-preserving modes were applied to the
        # 2006-06-20 11:23:52 recording (same size and section layout as its named copies).
        key = "20060620_112352" if m.group(1) in ("00000000", "preserve") else \
            f"{m.group(1)}_{m.group(2)}"
        groups.setdefault(key, []).append(path)
    assert sorted(len(g) for g in groups.values()) == [1, 1, 2, 10]
    firsts = {}
    for key, paths in groups.items():
        recs = [read_scp(p) for p in paths]
        for other in recs[1:]:
            assert other.fs_hz == recs[0].fs_hz
            np.testing.assert_array_equal(other.signal, recs[0].signal)
            assert other.meta["machine_statements"] == recs[0].meta["machine_statements"]
            assert other.meta["machine_measurements"] == recs[0].meta["machine_measurements"]
        firsts[key] = recs[0]
    keys = sorted(firsts)
    for i, a in enumerate(keys):  # different recordings must not read the same
        for b in keys[i + 1:]:
            assert not np.array_equal(firsts[a].signal[:2], firsts[b].signal[:2])


def test_read_scp_acquisition_time_only_when_valid(shared_data):
    for path in _scp_files(shared_data):
        rec = read_scp(path)
        when = rec.meta.get("acquisition_time")
        # The anonymiser writes the year big-endian (an impossible date) except in the file
        # that kept the original time; that one must give the time in its name.
        s1 = _section_body(path.read_bytes(), 1)
        pos = s1.find(b"\x19\x04\x00")
        year = struct.unpack_from("<H", s1, pos + 3)[0]
        if 1950 <= year <= 2100:
            d, t = path.name.split("_")[1:3]
            assert when == f"{d[:4]}-{d[4:6]}-{d[6:]}T{t[:2]}:{t[2:4]}:{t[4:]}"
        else:
            assert when is None


def test_read_scp_tolerates_garbled_section_header_ids(shared_data):
    """ANON000005 was rewritten by an anonymiser that garbled every section header's id field
    (lengths and CRCs consistent); section 0 is trusted and each defect is reported."""
    folder = shared_data / "formats" / "scp"
    damaged = read_scp(folder / "ECG_20060620_112352_ANON000005.SCP")
    clean = read_scp(folder / "ECG_20060620_112352_ANON000002.SCP")
    np.testing.assert_array_equal(damaged.signal, clean.signal)
    assert len(damaged.meta["warnings"]) == 8
    assert all("section 0 trusted" in w for w in damaged.meta["warnings"])
    assert "warnings" not in clean.meta


def test_read_scp_machine_measurements_and_statements(shared_data):
    for path in _scp_files(shared_data):
        rec = read_scp(path)
        m = rec.meta["machine_measurements"]
        for name, (lo, hi) in {"qrs_duration": (40, 200), "qt_interval": (250, 550),
                               "qtc_interval": (300, 550)}.items():
            assert m[name]["unit"] == "ms" and lo <= m[name]["value"] <= hi, (path.name, name)
        if "pr_interval" in m:
            assert 80 <= m["pr_interval"]["value"] <= 350
        assert m["heart_rate"]["value"] == pytest.approx(60000 / m["rr_interval"]["value"],
                                                        rel=0.02)
        assert -180 <= m["qrs_axis"]["value"] <= 360
        statements = rec.meta["machine_statements"]
        assert statements and all(isinstance(s, str) and s == s.strip() for s in statements)
        assert not any("\x00" in s for s in statements)
        assert rec.meta["interpretation_status"] in ("unconfirmed", "confirmed", "overread")
        assert rec.meta["scp_version"] == "2.0"
        assert rec.meta["compression"] == "default Huffman"


def test_read_scp_decodes_latin1_statements_and_device(shared_data):
    rec = read_scp(shared_data / "formats" / "scp" / "ECG_20070321_110542_ANON000004.SCP")
    assert any("ålderskorrigerat" in s for s in rec.meta["machine_statements"])
    assert rec.meta["device"].startswith("Welch Allyn")
    assert rec.meta["filters_hz"] == {"low_pass": 35.0, "notch": 50.0}


def test_read_scp_reference_beats_match_the_rhythm(shared_data):
    """The median beat of section 5 must look like the beats of the rhythm: its shape after
    the first 150 ms (the cart puts a 1-mV marker at about 90 ms) correlates with the rhythm
    at every QRS."""
    rec = read_scp(shared_data / "formats" / "scp" / "ECG_20081029_105642_ANON000010.SCP")
    beats = rec.meta["reference_beats"]
    assert beats["fs_hz"] == rec.fs_hz
    assert set(beats["mv"]) == set(rec.meta["leads_in_file"])
    for name, beat in beats["mv"].items():
        assert 0.5 <= len(beat) / rec.fs_hz <= 1.2
        template = beat[int(0.15 * rec.fs_hz):].astype(np.float64)
        template = (template - template.mean()) / np.linalg.norm(template - template.mean())
        x = rec.lead(name).astype(np.float64)
        windows = np.lib.stride_tricks.sliding_window_view(x, len(template))
        centred = windows - windows.mean(axis=1, keepdims=True)
        corr = centred @ template / np.maximum(np.linalg.norm(centred, axis=1), 1e-9)
        assert corr.max() > 0.9, (name, corr.max())


def test_read_scp_demographics_stay_out_of_meta(shared_data):
    path = shared_data / "formats" / "scp" / "ECG_20060620_112352_ANON000002.SCP"
    rec = read_scp(path)
    assert rec.demographics.patient_id == "ANON000002"
    assert rec.demographics.sex is None  # the anonymiser wrote "R", not a sex code
    assert 0 < rec.demographics.age_years < 120
    assert "ANON000002" not in repr(rec.meta) and "REMOVE" not in repr(rec.meta)


def test_sniff_scp_claims_scp_files_only(shared_data):
    for path in _scp_files(shared_data):
        assert sniff(path.read_bytes()[:4096], path)
        assert sniff_format(path) == "scp"
    others = [shared_data / "records" / "00001_lr.dat",
              shared_data / "formats" / "dicom" / "pydicom-waveform_ecg.dcm",
              shared_data / "formats" / "muse" / "guangxi_teaching_sinus_rhythm.xml"]
    for path in others:
        assert not sniff(path.read_bytes()[:4096], path), path.name
    assert not sniff(b"", Path("x.scp")) and not sniff(b"\0" * 40, Path("x.scp"))


def test_read_ecg_dispatches_scp(shared_data):
    rec = read_ecg(_scp_files(shared_data)[0])
    assert rec.source_format == "scp"


# --- variants written here --------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0, 1, 2])
def test_read_scp_uncompressed_differences_round_trip(tmp_path, source, mode):
    _, ints = source
    rec = read_scp(_write_plain(tmp_path, ints, mode=mode))
    check_reader_contract(rec, fs_hz=500.0)
    assert rec.meta["compression"] == "none"
    for name, x in ints.items():
        np.testing.assert_allclose(rec.lead(name), x * 0.005, atol=1e-5)
    assert rec.demographics.sex == "female" and rec.demographics.age_years == 0.5
    assert rec.demographics.patient_id == "PID-7731" and rec.demographics.name == "Jane Doe"
    assert "PID-7731" not in repr(rec.meta) and "Doe" not in repr(rec.meta)
    assert rec.meta["acquisition_time"] == "2019-03-07T14:05:09"
    assert rec.meta["filters_hz"] == {"high_pass": 0.05, "low_pass": 150.0, "notch": 60.0}


def test_read_scp_version_1_file_without_mark(tmp_path, source):
    _, ints = source
    path = _write_plain(tmp_path, ints, protocol=13)
    assert path.read_bytes()[16:22] == b"\0" * 6
    assert sniff(path.read_bytes()[:4096], path)
    rec = read_scp(path)
    assert rec.meta["scp_version"] == "1.3"
    np.testing.assert_allclose(rec.lead("V2"), ints["V2"] * 0.005, atol=1e-5)


def _encode(bits: list[str]) -> bytes:
    s = "".join(bits)
    s += "0" * (-len(s) % 8)
    return int(s, 2).to_bytes(len(s) // 8, "big") if s else b""


def test_read_scp_custom_huffman_tables_with_switch(tmp_path, source):
    """Two tables: table 1 codes 0 / +-1 and a 16-bit escape, table 2 the same with other
    codes; a switch code in each. Base codes are stored with the first bit in the LSB."""
    _, ints = source
    def entry(prefix, total, mode, value, code):
        stored = int(code[::-1], 2)
        return struct.pack("<BBBhI", prefix, total, mode, value, stored)
    t1 = {0: "0", 1: "100", -1: "101", "esc": "110", "switch": "111"}
    t2 = {0: "10", 1: "110", -1: "1110", "esc": "0", "switch": "1111"}
    section2 = struct.pack("<H", 2)
    for table, other in ((t1, 2), (t2, 1)):
        codes = [entry(len(table[v]), len(table[v]), 1, v, table[v]) for v in (0, 1, -1)]
        codes.append(entry(len(table["esc"]), len(table["esc"]) + 16, 1, 0, table["esc"]))
        codes.append(entry(len(table["switch"]), len(table["switch"]), 0, other,
                           table["switch"]))
        section2 += struct.pack("<H", len(codes)) + b"".join(codes)
    names = list(ints)
    n = len(ints[names[0]])
    leads = []
    for k in names:
        bits, table = [], t1
        for i, d in enumerate(_differences(ints[k], 1)):
            if i == n // 2:  # switch tables half way through the lead
                bits.append(table["switch"])
                table = t2
            if d in (0, 1, -1):
                bits.append(table[int(d)])
            else:
                bits.append(table["esc"] + format(int(d) & 0xFFFF, "016b"))
        leads.append(_encode(bits))
    path = tmp_path / "huffman.scp"
    path.write_bytes(_record({2: section2, 3: _lead_defs(names, n),
                              6: _lead_block(5000, 2000, 1, leads)}))
    rec = read_scp(path)
    assert rec.meta["compression"] == "Huffman (2 tables)"
    for name, x in ints.items():
        np.testing.assert_allclose(rec.lead(name), x * 0.005, atol=1e-5)


def test_read_scp_adds_reference_beats_to_residual(tmp_path, source):
    """Reference-beat subtraction, as EN 1064 section 4 defines it and the ECG Toolkit's
    AddMedians applies it: rhythm sample s (1-based) in a type-0 zone gets beat sample
    s - fiducial_in_rhythm + fiducial_in_beat added."""
    _, ints = source
    names = list(ints)
    n = len(ints[names[0]])
    beat_len, beat_fid = 200, 80  # samples at 500 Hz: 400 ms, fiducial at sample 80
    rng = np.random.default_rng(7)
    beats = {k: rng.integers(-300, 300, beat_len) for k in names}
    centres = list(range(300, n - 300, 450))
    zones = [(0, c - 60, c, c + 90) for c in centres] + [(1, 150, 180, 200)]  # type 1 ignored
    residual = {k: ints[k].copy() for k in names}
    for _, sb, fc, se in zones[:-1]:
        for k in names:
            s = np.arange(sb, se + 1)
            residual[k][s - 1] -= beats[k][s - fc + beat_fid - 1]
    section4 = struct.pack("<HHH", beat_len * 2, beat_fid, len(zones)) + b"".join(
        struct.pack("<HIII", *z) for z in zones)
    section5 = _lead_block(5000, 2000, 0, [beats[k].astype("<i2").tobytes() for k in names])
    leads = [_differences(residual[k], 1).astype("<i2").tobytes() for k in names]
    bodies = {3: _lead_defs(names, n, flags=0x05), 4: section4, 5: section5,
              6: _lead_block(5000, 2000, 1, leads)}
    path = tmp_path / "subtracted.scp"
    path.write_bytes(_record(bodies))
    rec = read_scp(path)
    assert rec.meta["reference_beat_subtracted"] is True
    for k in names:
        np.testing.assert_allclose(rec.lead(k), ints[k] * 0.005, atol=1e-5)
    # Without the flag the residual is returned as stored: the addition did the work.
    bodies[3] = _lead_defs(names, n, flags=0x04)
    path.write_bytes(_record(bodies))
    plain = read_scp(path)
    assert not np.allclose(plain.lead("II"), rec.lead("II"), atol=1e-3)


def test_read_scp_refuses_subtraction_without_reference_beats(tmp_path, source):
    _, ints = source
    names = list(ints)
    n = len(ints[names[0]])
    leads = [_differences(ints[k], 1).astype("<i2").tobytes() for k in names]
    path = tmp_path / "no_s4.scp"
    path.write_bytes(_record({3: _lead_defs(names, n, flags=0x05),
                              6: _lead_block(5000, 2000, 1, leads)}))
    with pytest.raises(EcgReadError, match="section 4 missing"):
        read_scp(path)


def test_read_scp_refuses_bimodal_compression(tmp_path, source):
    _, ints = source
    with pytest.raises(EcgReadError, match="bimodal compression"):
        read_scp(_write_plain(tmp_path, ints, flag=1))


def test_read_scp_refuses_sequential_leads(tmp_path, source):
    _, ints = source
    names = list(ints)
    n = len(ints[names[0]])
    leads = [ints[k][: n // 2].astype("<i2").tobytes() for k in names]
    ranges = [(1, n // 2) if i % 2 == 0 else (n // 2 + 1, n) for i in range(len(names))]
    path = tmp_path / "sequential.scp"
    path.write_bytes(_record({3: _lead_defs(names, n, flags=0, ranges=ranges),
                              6: _lead_block(5000, 2000, 0, leads)}))
    with pytest.raises(EcgReadError, match="leads recorded over different samples"):
        read_scp(path)


def test_read_scp_refuses_long_huffman_codes(tmp_path, source):
    _, ints = source
    section2 = struct.pack("<HH", 1, 1) + struct.pack("<BBBhI", 20, 20, 1, 0, 0)
    names = list(ints)
    path = tmp_path / "long_codes.scp"
    path.write_bytes(_record({2: section2, 3: _lead_defs(names, 10),
                              6: _lead_block(5000, 2000, 1, [b"\0" * 40] * len(names))}))
    with pytest.raises(EcgReadError, match="20 prefix"):
        read_scp(path)


# --- damaged real files -------------------------------------------------------------------------

@pytest.fixture()
def real_bytes(shared_data) -> bytearray:
    return bytearray(
        (shared_data / "formats" / "scp" / "ECG_20081029_105642_ANON000010.SCP").read_bytes())


def _write(tmp_path: Path, data: bytes, name: str = "broken.scp") -> Path:
    path = tmp_path / name
    path.write_bytes(bytes(data))
    return path


def test_read_scp_refuses_truncated_file(tmp_path, real_bytes):
    for cut in (10, 200, len(real_bytes) // 2, len(real_bytes) - 1):
        with pytest.raises(EcgReadError, match="truncated"):
            read_scp(_write(tmp_path, real_bytes[:cut]))


def test_read_scp_refuses_wrong_record_crc(tmp_path, real_bytes):
    real_bytes[0] ^= 0xFF
    with pytest.raises(EcgReadError, match="record CRC"):
        read_scp(_write(tmp_path, real_bytes))


def test_read_scp_refuses_wrong_section_crc(tmp_path, real_bytes):
    _, length, index = _pointers(bytes(real_bytes))[6]
    real_bytes[index - 1 + length // 2] ^= 0x55  # a bit flip inside the rhythm data
    _refresh_crcs(real_bytes)  # the record CRC alone is made to match again
    with pytest.raises(EcgReadError, match="section 6 CRC"):
        read_scp(_write(tmp_path, real_bytes))


def test_read_scp_refuses_missing_rhythm_section(tmp_path, real_bytes):
    pos, _, _ = _pointers(bytes(real_bytes))[6]
    struct.pack_into("<II", real_bytes, pos + 2, 0, 0)
    _refresh_crcs(real_bytes, 0)
    with pytest.raises(EcgReadError, match=r"no section 6 \(rhythm data\)"):
        read_scp(_write(tmp_path, real_bytes))


def test_read_scp_refuses_pointer_past_end(tmp_path, real_bytes):
    pos, _, _ = _pointers(bytes(real_bytes))[7]
    struct.pack_into("<I", real_bytes, pos + 6, len(real_bytes) + 100)
    _refresh_crcs(real_bytes, 0)
    with pytest.raises(EcgReadError, match="section 7 inside the"):
        read_scp(_write(tmp_path, real_bytes))


@pytest.mark.parametrize("where", ["pointer", "record"])
def test_read_scp_refuses_huge_declared_length(tmp_path, real_bytes, where):
    if where == "pointer":
        pos, _, _ = _pointers(bytes(real_bytes))[6]
        struct.pack_into("<I", real_bytes, pos + 2, 0xFFFFFFF0)
        _refresh_crcs(real_bytes, 0)
        match = "section 6 inside the"
    else:
        struct.pack_into("<I", real_bytes, 2, 0xFFFFFFFF)
        match = "truncated"
    with pytest.raises(EcgReadError, match=match):
        read_scp(_write(tmp_path, real_bytes))


@pytest.mark.parametrize("n_leads", [7, 9, 0])
def test_read_scp_refuses_wrong_lead_count(tmp_path, real_bytes, n_leads):
    _, _, index = _pointers(bytes(real_bytes))[3]
    real_bytes[index - 1 + 16] = n_leads
    _refresh_crcs(real_bytes, 3)
    match = "lead count in section 3" if n_leads == 7 else "lead definitions"
    with pytest.raises(EcgReadError, match=match):
        read_scp(_write(tmp_path, real_bytes))


def test_read_scp_refuses_damaged_huffman_data(tmp_path, real_bytes):
    """Garbage with valid CRCs (a writer bug): the decoder runs out of data or meets
    codes it cannot place, and says so instead of returning noise."""
    _, length, index = _pointers(bytes(real_bytes))[6]
    body = index - 1 + 16
    first = body + 6 + 2 * 8
    size = struct.unpack_from("<H", real_bytes, body + 6)[0]
    real_bytes[first:first + size] = b"\xff" * size  # nine ones + 16 bits: too few samples
    _refresh_crcs(real_bytes, 6)
    with pytest.raises(EcgReadError, match="Huffman data ending after"):
        read_scp(_write(tmp_path, real_bytes))


def test_read_scp_refuses_non_scp_and_empty_files(tmp_path, shared_data):
    with pytest.raises(EcgReadError, match="truncated"):
        read_scp(_write(tmp_path, b""))
    dat = (shared_data / "records" / "00001_lr.dat").read_bytes()
    with pytest.raises(EcgReadError):
        read_scp(_write(tmp_path, dat, "wfdb.scp"))


def test_read_scp_random_damage_raises_only_read_errors(tmp_path, real_bytes):
    """Bytes overwritten in one section whose CRCs are then made to match (a buggy writer):
    the reader returns a record or raises EcgReadError, never anything else."""
    ptr = _pointers(bytes(real_bytes))
    rng = np.random.default_rng(20240607)
    sids = [0, 1, 2, 3, 4, 5, 7, 8, 10]  # section 6 alone is covered by the cases above
    for _ in range(60):
        data = bytearray(real_bytes)
        sid = sids[int(rng.integers(len(sids)))]
        _, length, index = ptr[sid] if sid else (0, struct.unpack_from("<I", data, 10)[0], 7)
        for pos in rng.integers(index - 1 + 2, index - 1 + length, size=3):
            data[int(pos)] = int(rng.integers(256))
        _refresh_crcs(data, sid)
        try:
            read_scp(_write(tmp_path, data))
        except EcgReadError:
            pass
