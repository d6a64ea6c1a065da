"""CSV reader: tables written from a real record in the shapes real exports take, and refusals."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import wfdb

from desktop_app.ecg import LEADS_12, LeadSource, read_ecg
from desktop_app.ecg._csv import read_csv, sniff
from desktop_app.errors import EcgReadError
from tests.ecg.contract import check_reader_contract


@pytest.fixture(scope="module")
def ptbxl_mv(shared_data) -> tuple[np.ndarray, float]:
    """PTB-XL record 1 as read by wfdb itself: (12, n_samples) in mV, and fs in Hz."""
    ref = wfdb.rdrecord(str(shared_data / "records" / "00001_lr"))
    assert ref.units == ["mV"] * 12
    return ref.p_signal.T.copy(), float(ref.fs)


def _write_table(path: Path, names: list[str], columns: np.ndarray, *, delimiter: str = ",",
                 preamble: tuple[str, ...] = (), fmt: str = "{:.6f}",
                 decimal_comma: bool = False, encoding: str = "utf-8") -> Path:
    with open(path, "w", newline="", encoding=encoding) as fh:
        for line in preamble:
            fh.write(line + "\n")
        writer = csv.writer(fh, delimiter=delimiter, lineterminator="\n")
        writer.writerow(names)
        for row in np.asarray(columns).T:
            cells = [fmt.format(v) for v in row]
            if decimal_comma:
                cells = [c.replace(".", ",") for c in cells]
            writer.writerow(cells)
    return path


def test_read_csv_comma_with_rate_line(tmp_path, ptbxl_mv):
    signal, fs = ptbxl_mv
    path = _write_table(tmp_path / "ecg.csv", list(LEADS_12), signal, preamble=("# fs_hz=100",))
    rec = check_reader_contract(read_csv(path), fs_hz=fs)
    np.testing.assert_allclose(rec.signal, signal, atol=1e-5)
    assert rec.source_format == "csv" and rec.meta["fs_source"] == "comment"


@pytest.mark.parametrize("line", ["# fs_hz=100", "# sampling_rate: 100 Hz", "# fs: 100",
                                  "# Sampling rate = 100Hz", "Sampling rate: 100 Hz",
                                  "# fs: 0.1 kHz"])
def test_read_csv_rate_line_spellings(tmp_path, ptbxl_mv, line):
    signal, _ = ptbxl_mv
    path = _write_table(tmp_path / "ecg.csv", list(LEADS_12), signal, preamble=(line,))
    assert read_csv(path).fs_hz == 100.0


def test_read_csv_semicolon_with_decimal_comma(tmp_path, ptbxl_mv):
    signal, fs = ptbxl_mv
    path = _write_table(tmp_path / "ecg.csv", list(LEADS_12), signal, delimiter=";",
                        preamble=("# fs_hz=100",), decimal_comma=True)
    rec = check_reader_contract(read_csv(path), fs_hz=fs)
    np.testing.assert_allclose(rec.signal, signal, atol=1e-5)
    assert rec.meta["delimiter"] == ";"


def test_read_csv_tab_separated_utf16(tmp_path, ptbxl_mv):
    # Spreadsheets' "Unicode text" export: UTF-16 with BOM, tab separated.
    signal, fs = ptbxl_mv
    path = _write_table(tmp_path / "ecg.txt", list(LEADS_12), signal, delimiter="\t",
                        preamble=("# fs_hz=100",), encoding="utf-16")
    rec = check_reader_contract(read_csv(path), fs_hz=fs)
    np.testing.assert_allclose(rec.signal, signal, atol=1e-5)


@pytest.mark.parametrize("name, scale, fmt", [
    ("time", 1.0, "{:.2f}"), ("t", 1.0, "{:.2f}"), ("seconds", 1.0, "{:.2f}"),
    ("time (s)", 1.0, "{:.2f}"), ("ms", 1e3, "{:.0f}"), ("time [ms]", 1e3, "{:.0f}"),
    ("time", 1e3, "{:.0f}"),  # no unit but steps of 10: milliseconds
])
def test_read_csv_rate_from_time_column(tmp_path, ptbxl_mv, name, scale, fmt):
    signal, fs = ptbxl_mv
    time = np.arange(signal.shape[1]) / fs * scale
    path = tmp_path / "ecg.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([name, *LEADS_12])
        for t, row in zip(time, signal.T):
            writer.writerow([fmt.format(t), *(f"{v:.6f}" for v in row)])
    rec = check_reader_contract(read_csv(path), fs_hz=fs)
    assert rec.meta["fs_source"] == "time column"
    np.testing.assert_allclose(rec.signal, signal, atol=1e-5)


def test_read_csv_rate_argument(tmp_path, ptbxl_mv):
    signal, fs = ptbxl_mv
    path = _write_table(tmp_path / "ecg.csv", list(LEADS_12), signal)
    rec = check_reader_contract(read_csv(path, fs_hz=fs), fs_hz=fs)
    assert rec.meta["fs_source"] == "argument"


@pytest.mark.parametrize("names", [
    ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"],
    ["I", "II", "III", "AVR", "AVL", "AVF", "V1", "V2", "V3", "V4", "V5", "V6"],
    ["Lead I", "Lead II", "Lead III", "Lead aVR", "Lead aVL", "Lead aVF",
     "Lead V1", "Lead V2", "Lead V3", "Lead V4", "Lead V5", "Lead V6"],
    ["MDC_ECG_LEAD_I", "MDC_ECG_LEAD_II", "MDC_ECG_LEAD_III", "MDC_ECG_LEAD_AVR",
     "MDC_ECG_LEAD_AVL", "MDC_ECG_LEAD_AVF", "MDC_ECG_LEAD_V1", "MDC_ECG_LEAD_V2",
     "MDC_ECG_LEAD_V3", "MDC_ECG_LEAD_V4", "MDC_ECG_LEAD_V5", "MDC_ECG_LEAD_V6"],
])
def test_read_csv_lead_name_variants(tmp_path, ptbxl_mv, names):
    signal, fs = ptbxl_mv
    path = _write_table(tmp_path / "ecg.csv", names, signal, preamble=("# fs_hz=100",))
    rec = check_reader_contract(read_csv(path), fs_hz=fs)
    np.testing.assert_allclose(rec.signal, signal, atol=1e-5)


def test_read_csv_columns_in_any_order_with_extra_columns(tmp_path, ptbxl_mv):
    signal, fs = ptbxl_mv
    order = [11, 0, 5, 3, 7, 1, 9, 2, 10, 4, 8, 6]
    names = ["sample"] + [LEADS_12[k] for k in order] + ["marker"]
    n = signal.shape[1]
    columns = np.vstack([np.arange(n), signal[order], np.zeros(n)])
    path = _write_table(tmp_path / "ecg.csv", names, columns, preamble=("# fs_hz=100",))
    rec = check_reader_contract(read_csv(path), fs_hz=fs)
    np.testing.assert_allclose(rec.signal, signal, atol=1e-5)
    assert rec.meta["ignored_channels"] == ["sample", "marker"]


@pytest.mark.parametrize("how", ["column (uV)", "column [µV]", "units line"])
def test_read_csv_microvolts_converted(tmp_path, ptbxl_mv, how):
    signal, fs = ptbxl_mv
    names = list(LEADS_12)
    preamble = ["# fs_hz=100"]
    if how == "units line":
        preamble.append("# units: uV")
    else:
        unit = how.split(" ", 1)[1]
        names = [f"{n} {unit}" for n in names]
    path = _write_table(tmp_path / "ecg.csv", names, signal * 1e3, preamble=tuple(preamble),
                        fmt="{:.3f}")
    rec = check_reader_contract(read_csv(path), fs_hz=fs)
    np.testing.assert_allclose(rec.signal, signal, atol=1e-5)


def test_read_csv_two_limb_leads_derive_the_rest(tmp_path, ptbxl_mv):
    signal, fs = ptbxl_mv
    path = _write_table(tmp_path / "ecg.csv", ["I", "II"], signal[:2],
                        preamble=("# fs_hz=100",))
    rec = check_reader_contract(read_csv(path), fs_hz=fs, n_leads_present=6)
    assert rec.lead_sources[2:6] == (LeadSource.DERIVED,) * 4
    np.testing.assert_allclose(rec.lead("III"), signal[1] - signal[0], atol=1e-5)


# --- refused inputs -------------------------------------------------------------------------

def _text(content: str):
    def make(tmp_path):
        path = tmp_path / "ecg.csv"
        path.write_text(content)
        return path
    return make


def _binary_junk(tmp_path):
    path = tmp_path / "ecg.csv"
    path.write_bytes(bytes(range(256)) * 64)
    return path


def _empty(tmp_path):
    path = tmp_path / "ecg.csv"
    path.write_bytes(b"")
    return path


_GOOD_ROWS = "".join(f"{0.1 * k:.3f},{-0.1 * k:.3f},{0.05 * k:.3f}\n" for k in range(1, 10))
BROKEN = {
    "non_numeric_cell": (
        _text("# fs_hz=500\nI,II,V1\n0.1,0.2,0.3\n0.1,abc,0.3\n" + _GOOD_ROWS),
        r"'abc' on line 4, column 'II'"),
    "empty_cell": (
        _text("# fs_hz=500\nI,II,V1\n0.1,0.2,0.3\n0.1,,0.3\n" + _GOOD_ROWS),
        r"'' on line 4, column 'II'"),
    "nan_cell": (
        _text("# fs_hz=500\nI,II,V1\n0.1,0.2,0.3\n" + _GOOD_ROWS + "NaN,0.2,0.3\n"),
        r"'NaN' on line 13, column 'I'"),
    "no_sampling_rate": (
        _text("I,II,V1\n" + _GOOD_ROWS),
        r"no rate line and no time column; give the sampling rate with the --fs option"
        r".*`# fs_hz=500`"),
    "unreadable_rate_line": (
        _text("# fs: fast\nI,II,V1\n" + _GOOD_ROWS), r"'fs: fast' on line 1.*--fs"),
    "mismatched_column_count": (
        _text("# fs_hz=500\nI,II,V1\n0.1,0.2,0.3\n0.1,0.2\n" + _GOOD_ROWS),
        r"expected 3 cells per row.*found 2 cells on line 4"),
    "binary_junk": (_binary_junk, r"found binary content"),
    "empty_file": (_empty, r"an empty file \(0 bytes\)"),
    "no_lead_columns": (
        _text("# fs_hz=500\nfoo,bar\n1,2\n3,4\n"), r"a header row naming leads"),
    "header_only": (_text("# fs_hz=500\nI,II,V1\n"), r"rows of samples under the header row"),
    "comments_only": (_text("# fs_hz=500\n# nothing\n"), r"no table"),
    "rate_line_contradicts_time": (
        _text("# fs_hz=250\ntime,I,II\n" + "".join(f"{k / 500:.4f},0.{k},0.{k}\n"
                                                   for k in range(1, 10))),
        r"250 Hz on line 1 but 500 Hz from the time column"),
    "irregular_time": (
        _text("time,I,II\n0.000,0.1,0.2\n0.002,0.3,0.1\n0.004,0.2,0.3\n0.010,0.5,0.1\n"
              "0.012,0.1,0.1\n"), r"a regularly sampled time column"),
    "microvolts_as_millivolts": (
        _text("# fs_hz=500\nI,II\n" + "".join(f"{100 * k},{-80 * k}\n" for k in range(10))),
        r"a peak of 900 mV; if the values are microvolts"),
    "non_voltage_unit": (
        _text("# fs_hz=500\nI (mmHg),II\n1,2\n3,4\n"), r"unit 'mmHg' in column 'I \(mmHg\)'"),
    "duplicate_lead": (
        _text("# fs_hz=500\nI,II,I\n0.1,0.2,0.3\n0.3,0.2,0.1\n"), r"lead I twice"),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_read_csv_refuses_broken_input(tmp_path, case):
    make, match = BROKEN[case]
    with pytest.raises(EcgReadError, match=match) as info:
        read_csv(make(tmp_path))
    assert info.value.format == "csv"
    assert info.value.hint


# --- sniffing and the dispatcher ------------------------------------------------------------

@pytest.mark.parametrize("head", [
    b"# fs_hz=500\nI,II,III\n0.1,0.2,0.1\n",
    b"time;I;II\n0;0,1;0,2\n",
    b"\xef\xbb\xbfLead I\tLead II\n0.1\t0.2\n",
    "I,II\n0.1,0.2\n".encode("utf-16"),
])
def test_sniff_claims_lead_tables(tmp_path, head):
    assert sniff(head, tmp_path / "x.csv")


@pytest.mark.parametrize("head", [
    b'<?xml version="1.0"?>\n<AnnotatedECG xmlns="urn:hl7-org:v3"><I>,</I></AnnotatedECG>',
    b"<restingecgdata>I,II</restingecgdata>",
    bytes(range(256)) * 16,
    b"\x00" * 128 + b"DICM" + b"I,II,III",
    b"00001_lr 12 100 1000\n00001_lr.dat 16 1000.0(0)/mV 16 0 -119 1508 0 I\n",
    b"1,2,3\n4,5,6\n",
    b"",
])
def test_sniff_refuses_other_content(tmp_path, head):
    assert not sniff(head, tmp_path / "x.csv")


def test_read_ecg_dispatches_csv(tmp_path, ptbxl_mv):
    signal, fs = ptbxl_mv
    path = _write_table(tmp_path / "ecg.csv", list(LEADS_12), signal, preamble=("# fs_hz=100",))
    rec = check_reader_contract(read_ecg(path), fs_hz=fs)
    assert rec.source_format == "csv"


def test_read_ecg_passes_rate_to_csv(tmp_path, ptbxl_mv):
    signal, fs = ptbxl_mv
    path = _write_table(tmp_path / "ecg.csv", list(LEADS_12), signal)
    with pytest.raises(EcgReadError, match="--fs"):
        read_ecg(path)
    check_reader_contract(read_ecg(path, fs_hz=fs), fs_hz=fs)


def test_read_ecg_binary_junk_with_csv_suffix(tmp_path):
    with pytest.raises(EcgReadError, match="binary content"):
        read_ecg(_binary_junk(tmp_path))
