"""Just enough PDF reading to check what Qt's PDF writer put on the pages.

Qt writes text as glyph ids of embedded font subsets (``<0012> Tj``) in Flate-compressed
content streams, with a ToUnicode CMap per font. This maps the glyphs back to characters,
per page, so a test can look for a sentence (spaces aside: Qt moves between words with Td).
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from pathlib import Path

_OBJ = re.compile(rb"(\d+) 0 obj(.*?)endobj", re.S)


def _objects(data: bytes) -> dict[int, bytes]:
    return {int(m.group(1)): m.group(2) for m in _OBJ.finditer(data)}


def _stream(obj: bytes) -> bytes:
    m = re.search(rb"stream\r?\n(.*?)\r?\nendstream", obj, re.S)
    if not m:
        return b""
    raw = m.group(1)
    return zlib.decompress(raw) if b"/FlateDecode" in obj[: m.start()] else raw


def _cmap(text: bytes) -> dict[int, str]:
    out: dict[int, str] = {}
    for block in re.findall(rb"beginbfrange(.*?)endbfrange", text, re.S):
        for lo, hi, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*(\[.*?\]|<[0-9A-Fa-f]+>)",
                                      block, re.S):
            lo_i, hi_i = int(lo, 16), int(hi, 16)
            if dst.startswith(b"["):
                for i, code in enumerate(re.findall(rb"<([0-9A-Fa-f]+)>", dst)):
                    out[lo_i + i] = bytes.fromhex(code.decode()).decode("utf-16-be")
            else:
                base = int(dst[1:-1], 16)
                for i in range(hi_i - lo_i + 1):
                    out[lo_i + i] = chr(base + i)
    for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
        for src, dst in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
            out[int(src, 16)] = bytes.fromhex(dst.decode()).decode("utf-16-be")
    return out


def pdf_pages_text(path: str | Path) -> list[str]:
    """The text of each page, in drawing order, without spaces between positioned glyphs."""
    data = Path(path).read_bytes()
    objs = _objects(data)
    pages = []
    for num, obj in objs.items():
        if not re.search(rb"/Type\s*/Page\b", obj):
            continue
        res = objs.get(int(re.search(rb"/Resources (\d+) 0 R", obj).group(1)), b"")
        fonts = {}
        for name, ref in re.findall(rb"/(F\d+) (\d+) 0 R", res):
            font = objs.get(int(ref), b"")
            tu = re.search(rb"/ToUnicode (\d+) 0 R", font)
            fonts[name] = _cmap(_stream(objs[int(tu.group(1))])) if tu else {}
        content_refs = re.search(rb"/Contents (\d+) 0 R", obj)
        content = _stream(objs[int(content_refs.group(1))]) if content_refs else b""
        text, cmap = [], {}
        for tok in re.finditer(rb"/(F\d+) [\d.]+ Tf|<([0-9A-Fa-f]+)> Tj", content):
            if tok.group(1):
                cmap = fonts.get(tok.group(1), {})
            else:
                hexs = tok.group(2).decode()
                for i in range(0, len(hexs), 4):
                    text.append(cmap.get(int(hexs[i:i + 4], 16), "?"))
        # NFKC folds the ligatures the font shaper uses ("fi" drawn as one glyph) into letters.
        pages.append(unicodedata.normalize("NFKC", "".join(text)))
    return pages


def squeeze(text: str) -> str:
    """``text`` without whitespace, for comparing with :func:`pdf_pages_text`."""
    return re.sub(r"\s+", "", text)
