"""The ``photo`` entry of the format table: pictures of paper ECGs go to the digitiser."""

from __future__ import annotations

from pathlib import Path

from desktop_app.ecg._record import EcgRecord
from desktop_app.photo._digitise import DEFAULT_FS_HZ, digitise

# Magic bytes of the picture formats phones and scanners write. BMP's two-byte "BM" is checked
# apart (see _is_bmp): the photo reader is tried last, but it must not claim a text file that
# merely starts with "BM".
_MAGIC = (
    b"\x89PNG\r\n\x1a\n",  # PNG
    b"\xff\xd8\xff",       # JPEG
    b"II*\x00",            # TIFF, little-endian
    b"MM\x00*",            # TIFF, big-endian
)
# Sizes of the BMP info headers Windows and OS/2 define (BITMAPCOREHEADER ... BITMAPV5HEADER).
_BMP_INFO_SIZES = (12, 16, 40, 52, 56, 64, 108, 124)


def _is_bmp(head: bytes) -> bool:
    if len(head) < 18 or not head.startswith(b"BM"):
        return False
    return int.from_bytes(head[14:18], "little") in _BMP_INFO_SIZES


def sniff(head: bytes, path: Path) -> bool:
    """Whether the file starts like a PNG, JPEG, BMP or TIFF picture (never raises)."""
    try:
        if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
            return True
        return _is_bmp(head) or any(head.startswith(m) for m in _MAGIC)
    except (TypeError, AttributeError):
        return False


def read_photo(path: str | Path, *, fs_hz: float = DEFAULT_FS_HZ, **_ignored) -> EcgRecord:
    """Digitise a photo or scan of a printed 12-lead ECG.

    Parameters
    ----------
    path : picture file.
    fs_hz : output sampling rate in Hz.

    Returns
    -------
    EcgRecord
        Digitised leads (``source_format == "photo"``); see
        :func:`desktop_app.photo.digitise` for ``meta["photo"]``.

    Raises
    ------
    EcgReadError
        When the picture cannot be read as an ECG; the message says why and what to try.
    """
    return digitise(path, fs_hz=fs_hz)
