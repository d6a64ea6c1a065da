"""check_file_size: the size check every reader makes before it parses a file."""

from __future__ import annotations

import pytest

from desktop_app.ecg._files import check_file_size
from desktop_app.errors import EcgReadError


def _check(path, max_bytes=1 << 20):
    return check_file_size(path, format="test", what="a test file", max_bytes=max_bytes,
                           hint="copy it again", too_large_hint="open a smaller file")


def test_check_file_size_returns_the_size(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"x" * 1234)
    assert _check(path) == 1234


@pytest.mark.parametrize(
    ("content", "max_bytes", "match"),
    [(None, 1 << 20, r"expected a readable file, found an OS error \(No such file"),
     (b"", 1 << 20, r"expected a test file, found an empty file \(0 bytes\); copy it again"),
     (b"x" * (3 << 20), 1 << 20, r"a test file of at most 1 MB, found 3 MB; open a smaller"),
     (b"x" * 4000, 2048, r"a test file of at most 2 kB, found 3 kB"),
     (b"x" * 1500, 1024, r"at most 1 kB, found 1,500 bytes")],
    ids=["missing", "empty", "too-large-mb", "too-large-kb", "too-large-same-unit"],
)
def test_check_file_size_refuses(tmp_path, content, max_bytes, match):
    path = tmp_path / "a.bin"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(EcgReadError, match=match) as info:
        _check(path, max_bytes)
    assert info.value.format == "test"
    assert str(tmp_path) not in str(info.value), "the message must name the file, not its path"


def test_check_file_size_refuses_a_folder(tmp_path):
    with pytest.raises(EcgReadError, match="expected a file, found a folder; choose a file"):
        _check(tmp_path)
