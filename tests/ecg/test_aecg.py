"""HL7 aECG reader: real files, the sniffer, writer round trip, and refused inputs."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_app.ecg import LEADS_12, EcgRecord, LeadSource, read_ecg
from desktop_app.ecg._aecg import read_aecg, sniff
from desktop_app.errors import EcgReadError
from tests.ecg._write_aecg import write_aecg

# name -> (fs_hz, n_samples) as stated in each file's time sequence and digit lists.
REAL_AECG = {
    "hl7-2003-12-example-aecg.xml": (500.0, 5000),
    "fda-ectd-subject1_0.xml": (500.0, 5000),
    "liryc-hl7aecg-example.xml": (100.0, 1000),
}


def _check_record(rec: EcgRecord, fs_hz: float, n_samples: int) -> None:
    assert isinstance(rec, EcgRecord)
    assert rec.source_format == "aecg"
    assert rec.signal.dtype == np.float32
    assert rec.signal.shape == (12, n_samples)
    assert rec.fs_hz == fs_hz
    present = rec.signal[[s is not LeadSource.MISSING for s in rec.lead_sources]]
    assert np.all(np.isfinite(present))
    # A resting ECG in mV: QRS peaks of tenths of a mV to a few mV, never tens.
    peak_mv = float(np.max(np.abs(present)))
    assert 0.1 < peak_mv < 10.0


@pytest.fixture
def aecg_dir(shared_data):
    return shared_data / "formats" / "aecg"


@pytest.mark.parametrize("name", sorted(REAL_AECG))
def test_read_aecg_real_file(aecg_dir, name):
    fs_hz, n = REAL_AECG[name]
    rec = read_aecg(aecg_dir / name)
    _check_record(rec, fs_hz, n)
    assert rec.lead_sources == (LeadSource.RECORDED,) * 12
    assert len(rec.meta["aecg_lead_codes"]) == 12


@pytest.mark.parametrize("name", ["hl7-2003-12-example-aecg.xml", "fda-ectd-subject1_0.xml"])
def test_read_aecg_real_leads_obey_einthoven(aecg_dir, name):
    # The cart stored all 12 leads; III = II - I holds to the 2.5 uV quantisation step, which
    # only works out if every lead was scaled and assigned correctly.
    rec = read_aecg(aecg_dir / name)
    np.testing.assert_allclose(rec.lead("III"), rec.lead("II") - rec.lead("I"), atol=0.0026)
    np.testing.assert_allclose(rec.lead("aVR"), -(rec.lead("I") + rec.lead("II")) / 2,
                               atol=0.0026)


def test_read_aecg_hl7_example_values_and_demographics(aecg_dir):
    rec = read_aecg(aecg_dir / "hl7-2003-12-example-aecg.xml")
    # First digits of MDC_ECG_LEAD_I: "-2 -2 -2 -2 -3 -4", scale 2.5 uV, origin 0.
    np.testing.assert_allclose(rec.lead("I")[:6], np.array([-2, -2, -2, -2, -3, -4]) * 0.0025,
                               atol=1e-7)
    # V1 digits begin "43 43 43 43 43 42".
    np.testing.assert_allclose(rec.lead("V1")[:6], np.array([43] * 5 + [42]) * 0.0025,
                               atol=1e-7)
    assert rec.demographics.sex == "male"
    assert rec.demographics.age_years == 49.0  # born 1953-05-08, recorded 2002-11-22
    assert rec.meta["device"] == "ELI250"
    assert rec.meta["effective_time"] == "2002-11-22T09:10:00"
    assert rec.meta["filters_hz"]["low_pass"] == 150.0
    # The representative beats (a derived series) are not the recording.
    assert rec.n_samples == 5000


def test_read_aecg_liryc_statements_and_unknown_sex(aecg_dir):
    rec = read_aecg(aecg_dir / "liryc-hl7aecg-example.xml")
    assert rec.demographics.sex is None  # administrativeGenderCode "UN"
    assert rec.demographics.age_years is None
    assert "Rythme sinusal avec ESA" in rec.meta["machine_statements"]
    assert rec.meta["filters_hz"] == {"low_pass": 35.0, "high_pass": 0.56, "notch": 50.0}


def test_read_aecg_minimal_file_reads_its_one_lead_fragment(aecg_dir):
    # The FDA minimal example is valid aECG but holds 13 samples (26 ms) of lead II only.
    # The reader returns exactly that; whether 26 ms is enough to use is the caller's call.
    rec = read_aecg(aecg_dir / "fda-minimum-aecg.xml")
    assert rec.signal.shape == (12, 13)
    assert rec.duration_s == pytest.approx(0.026)
    assert rec.present_leads() == ["II"]
    digits = np.array([-2, -2, -2, -2, -3, -4, -3, -5, -5, -4, -6, -9, -9])
    np.testing.assert_allclose(rec.lead("II"), digits * 0.0025, atol=1e-7)
    assert np.all(np.isnan(rec.lead("I")))


def test_sniff_aecg_claims_only_aecg(shared_data):
    formats = shared_data / "formats"
    claimed = {p.name for p in formats.glob("*/*") if p.is_file()
               and sniff(p.read_bytes()[:4096], p)}
    assert claimed == set(REAL_AECG) | {"fda-minimum-aecg.xml"}
    # The other XML dialects were looked at and refused.
    assert (formats / "muse" / "guangxi_teaching_sinus_rhythm.xml").is_file()
    assert (formats / "philips" / "129DYPRG.XML").is_file()


@pytest.mark.parametrize("head, expected", [
    (b'<?xml version="1.0"?>\n<!-- c --><AnnotatedECG xmlns="urn:hl7-org:v3">', True),
    (b'\xef\xbb\xbf<hl7:AnnotatedECG xmlns:hl7="urn:hl7-org:v3">', True),
    ('<AnnotatedECG xmlns="urn:hl7-org:v3">'.encode("utf-16"), True),
    (b'<AnnotatedECG xmlns="urn:example:other">', False),
    (b'<?xml version="1.0"?><RestingECG><MuseInfo>', False),
    (b'<restingecgdata xmlns="http://www3.medical.philips.com">', False),
    (b"", False),
    (b"\x00\xff" * 100, False),
])
def test_sniff_aecg_root_element(tmp_path, head, expected):
    assert sniff(head, tmp_path / "x.xml") is expected


def test_read_ecg_dispatches_aecg(aecg_dir):
    rec = read_ecg(aecg_dir / "hl7-2003-12-example-aecg.xml")
    assert rec.source_format == "aecg"


def test_write_aecg_roundtrip_12_leads(tmp_path):
    rng = np.random.default_rng(7)
    signal_mv = rng.normal(0.0, 0.4, (12, 2000))
    path = write_aecg(signal_mv, 500.0, tmp_path / "rt.xml", LEADS_12)
    rec = read_ecg(path)
    _check_record(rec, 500.0, 2000)
    assert rec.lead_sources == (LeadSource.RECORDED,) * 12
    # Digits are whole microvolts: 0.5 uV rounding plus float32.
    np.testing.assert_allclose(rec.signal, signal_mv, atol=0.0005 + 1e-6)


def test_write_aecg_roundtrip_eight_leads_derives_limb_leads(tmp_path):
    rng = np.random.default_rng(8)
    names = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    signal_mv = rng.normal(0.0, 0.4, (8, 1000))
    rec = read_aecg(write_aecg(signal_mv, 250.0, tmp_path / "eight.xml", names))
    assert rec.fs_hz == 250.0
    assert [rec.lead_sources[LEADS_12.index(n)] for n in ("III", "aVR", "aVL", "aVF")] == [
        LeadSource.DERIVED] * 4
    np.testing.assert_allclose(rec.lead("III"), signal_mv[1] - signal_mv[0], atol=0.0011)


def _small_aecg(tmp_path, fs_hz=500.0) -> str:
    rng = np.random.default_rng(3)
    path = write_aecg(rng.normal(0, 0.3, (3, 50)), fs_hz, tmp_path / "small.xml",
                      ["I", "II", "V1"])
    return path.read_text(encoding="utf-8")


def test_read_aecg_increment_in_ms_and_scale_in_mv(tmp_path):
    text = _small_aecg(tmp_path, fs_hz=500.0)
    reference = read_aecg(tmp_path / "small.xml")
    text = text.replace('unit="s"', 'unit="ms"').replace('value="0.002"', 'value="2"')
    # Same digits, scale 0.001 mV = 1 uV: identical amplitudes.
    text = text.replace('<scale value="1" unit="uV"', '<scale value="0.001" unit="mV"')
    path = tmp_path / "ms.xml"
    path.write_text(text, encoding="utf-8")
    rec = read_aecg(path)
    assert rec.fs_hz == 500.0
    np.testing.assert_allclose(rec.lead("V1"), reference.lead("V1"), atol=1e-7)


def test_read_aecg_applies_origin(tmp_path):
    text = _small_aecg(tmp_path)
    reference = read_aecg(tmp_path / "small.xml")
    path = tmp_path / "origin.xml"
    path.write_text(text.replace('<origin value="0" unit="uV"', '<origin value="0.5" unit="mV"'),
                    encoding="utf-8")
    np.testing.assert_allclose(read_aecg(path).lead("I"), reference.lead("I") + 0.5, atol=1e-6)


def _drop_first_digits(text: str) -> str:
    start = text.index("<digits>") + len("<digits>")
    first_space = text.index(" ", start)
    return text[:start] + text[first_space + 1:]


def _remove_leads(text: str) -> str:
    start = text.index("<component><sequence><code code=\"MDC_ECG_LEAD_")
    end = text.index("</sequenceSet>")
    return text[:start] + text[end:]


XXE = ('<?xml version="1.0"?>\n<!DOCTYPE AnnotatedECG [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
       '<AnnotatedECG xmlns="urn:hl7-org:v3"><id root="&e;"/></AnnotatedECG>')
LAUGHS = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">'
                    for i in range(1, 10))
          + ']>\n<AnnotatedECG xmlns="urn:hl7-org:v3"><id root="&lol9;"/></AnnotatedECG>')

BROKEN_AECG = [
    ("xxe", lambda t: XXE, "document type declaration"),
    ("billion_laughs", lambda t: LAUGHS, "document type declaration"),
    ("harmless_dtd", lambda t: t.replace("?>", "?>\n<!DOCTYPE AnnotatedECG>", 1),
     "document type declaration"),
    ("truncated", lambda t: t[: len(t) // 2], "XML syntax error"),
    ("mismatched_lengths", _drop_first_digits, "same number of digits"),
    ("no_leads", _remove_leads, "0 leads"),
    ("duplicate_lead", lambda t: t.replace("MDC_ECG_LEAD_II", "MDC_ECG_LEAD_I"), "twice"),
    ("no_rhythm_series", lambda t: t.replace('code="RHYTHM"', 'code="REPRESENTATIVE_BEAT"'),
     "series code RHYTHM.*REPRESENTATIVE_BEAT"),
    ("no_increment", lambda t: t.replace("<increment", "<other"), "increment"),
    ("bad_scale_unit", lambda t: t.replace('<scale value="1" unit="uV"',
                                           '<scale value="1" unit="furlong"'), "in uV or mV"),
    ("no_scale", lambda t: t.replace('<scale value="1" unit="uV" />', ""),
     "amplitude units are unknown"),
    ("zero_scale", lambda t: t.replace('<scale value="1"', '<scale value="0"'), "scale 0"),
    ("text_digits", lambda t: t.replace("<digits>", "<digits>12 abc "), "not a number"),
    ("nan_digits", lambda t: t.replace("<digits>", "<digits>nan "), "NaN or infinity"),
    ("zero_increment", lambda t: t.replace('value="0.002"', 'value="0"'),
     "sampling interval"),
    ("other_namespace", lambda t: t.replace("urn:hl7-org:v3", "urn:example:x"),
     "root element <AnnotatedECG> in namespace"),
    ("muse_root", lambda t: "<RestingECG><MuseInfo/></RestingECG>",
     "found root element <RestingECG>"),
    ("empty", lambda t: "", r"empty file \(0 bytes\)"),
]


@pytest.mark.parametrize("case, mutate, message", BROKEN_AECG, ids=[c[0] for c in BROKEN_AECG])
def test_read_aecg_refuses_broken_input(tmp_path, case, mutate, message):
    text = _small_aecg(tmp_path)
    broken = mutate(text)
    assert broken != text
    path = tmp_path / f"{case}.xml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(EcgReadError, match=message) as info:
        read_aecg(path)
    assert info.value.format == "aecg"
    assert "root:" not in str(info.value)  # nothing of /etc/passwd leaks into the message


def test_read_aecg_xxe_refused_through_dispatcher(tmp_path):
    path = tmp_path / "xxe.xml"
    path.write_text(XXE, encoding="utf-8")
    assert sniff(XXE.encode(), path)  # claimed by content, then refused by the reader
    with pytest.raises(EcgReadError, match="never resolved"):
        read_ecg(path)


def test_read_aecg_ignores_other_readers_options(aecg_dir):
    rec = read_aecg(aecg_dir / "liryc-hl7aecg-example.xml", fs_hz=250.0)
    assert rec.fs_hz == 100.0


def test_read_aecg_picks_sequence_set_with_most_leads(tmp_path):
    rng = np.random.default_rng(4)
    one = write_aecg(rng.normal(0, 0.3, (1, 30)), 500.0, tmp_path / "one.xml", ["II"])
    three = write_aecg(rng.normal(0, 0.3, (3, 60)), 500.0, tmp_path / "three.xml",
                       ["I", "II", "V1"])

    def sequence_set(text: str) -> str:
        return text[text.index("<component><sequenceSet>"):
                    text.index("</sequenceSet></component>") + len("</sequenceSet></component>")]

    text = three.read_text(encoding="utf-8")
    extra = sequence_set(one.read_text(encoding="utf-8"))
    at = text.index("<component><sequenceSet>")
    both = tmp_path / "both.xml"
    both.write_text(text[:at] + extra + text[at:], encoding="utf-8")
    rec = read_aecg(both)
    assert rec.n_samples == 60
    assert rec.meta["aecg_sequence_sets"] == 2
    assert set(rec.present_leads()) >= {"I", "II", "V1"}
