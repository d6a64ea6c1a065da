"""Helpers shared by the XML readers: root sniffing from a file head, safe parsing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from desktop_app.ecg._xml import (element_number, measurement_values, parse_xml, qualifier,
                                  split_tag, xml_root, xml_root_tag)
from desktop_app.errors import EcgReadError

HEAD_BYTES = 4096  # what the dispatcher hands to sniffers
ROOT_BY_FOLDER = {"aecg": "AnnotatedECG", "muse": "RestingECG", "philips": "restingecgdata"}


def _samples(shared_data: Path) -> list[tuple[str, Path]]:
    found = [(folder, p) for folder in ROOT_BY_FOLDER
             for p in sorted((shared_data / "formats" / folder).iterdir())
             if p.suffix.lower() == ".xml"]
    assert {folder for folder, _ in found} == set(ROOT_BY_FOLDER), "an XML sample is missing"
    return found


def _parsed_root(path: Path) -> ET.Element:
    # The full parser is the reference for what the head-only sniffer should find.
    _, root = next(ET.iterparse(path, events=("start",)))
    return root


def test_xml_root_tag_matches_parser_on_real_samples(shared_data):
    for folder, path in _samples(shared_data):
        head = path.read_bytes()[:HEAD_BYTES]
        ns, local = split_tag(_parsed_root(path).tag)
        assert xml_root_tag(head) == local == ROOT_BY_FOLDER[folder], path.name
        root = xml_root(head)
        # Every sample binds its root's namespace (or none) on the root tag itself.
        assert (root.namespace or "") == ns, path.name


def test_xml_root_reads_utf16_head(shared_data):
    path = shared_data / "formats" / "muse" / "guangxi_teaching_sinus_rhythm.xml"
    text = path.read_text(encoding="utf-8")
    for encoding in ("utf-16-le", "utf-16-be"):
        bom = "\ufeff".encode(encoding)
        data = bom + text.encode(encoding)
        # An odd cut splits a code unit; the sniffer must still find the root.
        for cut in (HEAD_BYTES, HEAD_BYTES - 1):
            assert xml_root_tag(data[:cut]) == "RestingECG", (encoding, cut)


def test_xml_root_tag_skips_utf8_bom_and_doctype_with_internal_subset():
    head = (b'\xef\xbb\xbf<?xml version="1.0"?>\n<!-- a comment with <tags> -->\n'
            b'<!DOCTYPE restingecgdata [\n  <!ELEMENT restingecgdata ANY>\n'
            b'  <!ENTITY x "a > b">\n]>\n<?pi data?>\n<restingecgdata version="1.04">')
    assert xml_root_tag(head) == "restingecgdata"
    assert xml_root_tag(b'<!DOCTYPE RestingECG SYSTEM "restecg.dtd">\n<RestingECG>') == (
        "RestingECG")


@pytest.mark.parametrize(
    "head",
    [b"", b"   \n", b"%PDF-1.7\n%\xe2\xe3", b"0       12345", b"\x00\x01\x02\xff" * 64,
     b"<?xml version='1.0'?><!-- never closed", b"plain text <RestingECG>",
     np.random.default_rng(0).integers(0, 256, HEAD_BYTES, dtype=np.uint8).tobytes()],
    ids=["empty", "blank", "pdf", "edf", "binary", "open-comment", "text-first", "random"],
)
def test_xml_root_tag_returns_none_for_non_xml(head):
    assert xml_root(head) is None
    assert xml_root_tag(head) is None


def test_xml_root_reports_prefix_namespaces_and_cut_tag():
    head = b'<v3:AnnotatedECG xmlns:v3="urn:hl7-org:v3" xmlns="urn:x" id="1">'
    root = xml_root(head)
    assert (root.name, root.prefix, root.complete) == ("AnnotatedECG", "v3", True)
    assert root.namespaces == {"v3": "urn:hl7-org:v3", "": "urn:x"}
    assert root.namespace == "urn:hl7-org:v3"
    cut = xml_root(b'<v3:AnnotatedECG id="1" ')
    assert cut is not None and not cut.complete and cut.namespace is None


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "doc.xml"
    path.write_text(text, encoding="utf-8")
    return path


def _parse(path: Path, *, allow_doctype: bool, max_bytes: int = 1 << 20):
    return parse_xml(path, format="test", what="a test XML file", max_bytes=max_bytes,
                     hint="export it again", allow_doctype=allow_doctype)


def test_parse_xml_doctype_rule_is_per_reader(tmp_path):
    path = _write(tmp_path, '<!DOCTYPE RestingECG SYSTEM "restecg.dtd"><RestingECG/>')
    assert _parse(path, allow_doctype=True).tag == "RestingECG"
    with pytest.raises(EcgReadError, match=r"found a document type declaration \(DTD\)"):
        _parse(path, allow_doctype=False)


@pytest.mark.parametrize("allow_doctype", [True, False])
def test_parse_xml_refuses_entities_unresolved(tmp_path, allow_doctype):
    path = _write(tmp_path, '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>')
    with pytest.raises(EcgReadError, match="never resolved; export it again") as info:
        _parse(path, allow_doctype=allow_doctype)
    assert info.value.format == "test"
    assert "root:" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "max_bytes", "match"),
    [("", 1 << 20, r"expected a test XML file, found an empty file \(0 bytes\)"),
     ("<r>" + "x" * (2 << 20) + "</r>", 1 << 20, "of at most 1 MB, found 2 MB"),
     ("<r><a></r>", 1 << 20, "well-formed XML.*truncated or damaged; copy or export it again")],
    ids=["empty", "too-large", "malformed"],
)
def test_parse_xml_refuses_bad_files(tmp_path, text, max_bytes, match):
    path = _write(tmp_path, text)
    with pytest.raises(EcgReadError, match=match):
        _parse(path, allow_doctype=True, max_bytes=max_bytes)


def test_parse_xml_refuses_missing_file(tmp_path):
    with pytest.raises(EcgReadError, match="a readable file, found an OS error"):
        _parse(tmp_path / "absent.xml", allow_doctype=True)


def test_qualifier_and_split_tag_round_trip():
    q = qualifier("urn:hl7-org:v3")
    assert q("a/b") == "{urn:hl7-org:v3}a/{urn:hl7-org:v3}b"
    assert qualifier("")("a/b") == "a/b"
    assert split_tag(q("AnnotatedECG")) == ("urn:hl7-org:v3", "AnnotatedECG")
    assert split_tag("RestingECG") == ("", "RestingECG")


def test_element_number_and_measurement_values_skip_unmeasured():
    block = ET.fromstring("<m><hr> 72 </hr><qt>Failed</qt><qrs/><pr>inf</pr></m>")
    assert element_number(block.find("hr")) == 72.0
    assert [element_number(block.find(t)) for t in ("qt", "qrs", "pr", "none")] == [None] * 4
    table = {"hr": ("heart_rate", "bpm"), "qt": ("qt_interval", "ms"),
             "qrs": ("qrs_duration", "ms")}
    assert measurement_values(block, table) == {"heart_rate": {"value": 72.0, "unit": "bpm"}}
    assert measurement_values(None, table) == {}
