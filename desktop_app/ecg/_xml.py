"""What the XML readers (HL7 aECG, GE MUSE, Philips SierraECG) share: root sniffing, safe parsing.

Sniffing reads only the file head, so it uses a few regular expressions rather than a parser
(a 4096-byte head is rarely well-formed XML). Parsing goes through defusedxml: an ECG file is
untrusted input, and entity declarations can read local files (external entities) or exhaust
memory (nested expansion). They are refused, never resolved.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from desktop_app.ecg._files import check_file_size
from desktop_app.errors import EcgReadError

# Skipped before the root element: XML declaration, processing instructions, comments and a
# DOCTYPE (with or without an internal subset).
_PROLOG_ITEM = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE(?:[^\[>]|\[.*?\])*>)", re.S)
_START_TAG = re.compile(rb"<(?:([A-Za-z_][\w.-]*):)?([A-Za-z_][\w.-]*)([^>]*)(>?)", re.S)
_XMLNS = re.compile(rb"""xmlns(?::([\w.-]+))?\s*=\s*["']([^"']*)["']""")

_FORBIDDEN = {
    "DTDForbidden": "a document type declaration (DTD)",
    "EntitiesForbidden": "entity declarations",
    "ExternalReferenceForbidden": "a reference to an external file or URL",
}


@dataclass(frozen=True)
class XmlRoot:
    """The root element's start tag as read from a file head.

    Attributes
    ----------
    name : local name (without prefix), e.g. ``"RestingECG"``.
    prefix : namespace prefix of the tag, or None.
    namespaces : ``xmlns`` declarations on the start tag, prefix -> URI (``""`` = default).
    complete : True when the tag's closing ``>`` lies within the head, so ``namespaces`` is
        all the tag declares.
    """

    name: str
    prefix: str | None = None
    namespaces: dict[str, str] = field(default_factory=dict)
    complete: bool = False

    @property
    def namespace(self) -> str | None:
        """URI bound to the tag's prefix on the tag itself; None when not declared there."""
        return self.namespaces.get(self.prefix or "")


def xml_root(head: bytes) -> XmlRoot | None:
    """Find the root element's start tag in the first bytes of an XML file.

    Parameters
    ----------
    head : the first bytes of the file (4096 from the dispatcher): UTF-8 with or without a
        BOM, or UTF-16 with a BOM.

    Returns
    -------
    XmlRoot or None
        None when no start tag follows the prolog (not XML, or a prolog longer than the head).
        Never raises: sniffers call it on arbitrary bytes.
    """
    try:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            # A head cut inside a UTF-16 code unit or surrogate pair must still sniff.
            head = head.decode("utf-16", errors="ignore").encode("utf-8")
        elif head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        pos = 0
        while m := _PROLOG_ITEM.match(head, pos):
            pos = m.end()
        while pos < len(head) and head[pos:pos + 1].isspace():
            pos += 1
        tag = _START_TAG.match(head, pos)
        if tag is None:
            return None
        prefix, name, attrs, closed = tag.groups()
        declared = {(p or b"").decode("ascii"): uri.decode("utf-8", errors="replace")
                    for p, uri in _XMLNS.findall(attrs)}
        return XmlRoot(name=name.decode("ascii"),
                       prefix=None if prefix is None else prefix.decode("ascii"),
                       namespaces=declared, complete=bool(closed))
    except Exception:  # a sniffer must never raise
        return None


def xml_root_tag(head: bytes) -> str | None:
    """Local name of the root element in a file head (see :func:`xml_root`); never raises."""
    root = xml_root(head)
    return None if root is None else root.name


def parse_xml(path: Path, *, format: str, what: str, max_bytes: int, hint: str,
              allow_doctype: bool) -> Element:
    """Parse an XML file with defusedxml after checking its size.

    Parameters
    ----------
    path : the file.
    format : the reader's format name, for the error (``"aecg"``, ``"muse"``, ...).
    what : what the file should be, e.g. ``"a GE MUSE XML file"``; used in the messages on an
        empty or too large file.
    max_bytes : largest file accepted, in bytes. ElementTree holds the whole document in
        memory, so larger files are refused unread.
    hint : what the user can do (``"export the ECG again from ..."``), appended to the messages
        on damaged or forbidden content.
    allow_doctype : True to accept a document type declaration (GE MUSE names its DTD); entity
        declarations and external references are refused either way. False refuses any DTD.

    Returns
    -------
    Element
        The document's root element.

    Raises
    ------
    EcgReadError
        The file cannot be read, is a folder, is empty or larger than ``max_bytes``, has a
        forbidden declaration (never resolved), or is not well-formed XML.
    """
    check_file_size(path, format=format, what=what, max_bytes=max_bytes, hint="copy or " + hint)
    try:
        return SafeET.parse(str(path), forbid_dtd=not allow_doctype, forbid_entities=True,
                            forbid_external=True).getroot()
    except defusedxml.DefusedXmlException as exc:
        name = type(exc).__name__
        raise EcgReadError(
            path, format,
            "XML without entity declarations" if allow_doctype
            else "plain XML without DTD or entity declarations",
            _FORBIDDEN.get(name, f"forbidden XML ({name})"),
            "declarations like these can read other files or exhaust memory and are never "
            "resolved; " + hint,
        ) from exc
    except ParseError as exc:
        raise EcgReadError(path, format, "well-formed XML", f"an XML syntax error ({exc})",
                           "the file may be truncated or damaged; copy or " + hint) from exc
    except OSError as exc:
        raise EcgReadError(path, format, "a readable file", f"an OS error ({exc})",
                           "check the path and permissions") from exc


def split_tag(tag: str) -> tuple[str, str]:
    """``"{uri}local"`` -> ``(uri, local)``; a tag without a namespace gives ``("", tag)``."""
    if tag.startswith("{"):
        ns, _, local = tag[1:].rpartition("}")
        return ns, local
    return "", tag


def qualifier(ns: str) -> Callable[[str], str]:
    """A function that puts every step of an ElementTree path (``"a/b"``) into namespace ``ns``."""
    if not ns:
        return lambda path: path
    return lambda path: "/".join(f"{{{ns}}}{step}" for step in path.split("/"))


def element_text(el: Element | None) -> str | None:
    """Stripped text of an element; None for a missing element or blank text."""
    if el is None or el.text is None:
        return None
    s = el.text.strip()
    return s or None


def element_number(el: Element | None) -> float | None:
    """Finite number in an element's text; None when missing, blank, not a number or infinite."""
    text = element_text(el)
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def measurement_values(block: Element | None, table: dict[str, tuple[str, str]],
                 q: Callable[[str], str] = str) -> dict[str, dict[str, Any]]:
    """Numeric machine measurements of one XML block.

    Parameters
    ----------
    block : the element holding one child per measurement, or None.
    table : child tag -> (name, unit), e.g. ``{"QTInterval": ("qt_interval", "ms")}``.
    q : maps a tag to the ElementTree path to find (namespace qualification).

    Returns
    -------
    dict
        name -> ``{"value": float, "unit": str}`` for each child holding a number; children
        with text such as "Failed" or "Indeterminate" (not measured by the cart) are left out.
    """
    out: dict[str, dict[str, Any]] = {}
    if block is None:
        return out
    for tag, (name, unit) in table.items():
        try:
            value = float(element_text(block.find(q(tag))) or "")
        except ValueError:
            continue
        out[name] = {"value": value, "unit": unit}
    return out
