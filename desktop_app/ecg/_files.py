"""The check every reader makes before it opens a file: it exists, is a file, is not empty, and
is small enough to read.

Readers load a whole file (XML trees, SCP records, CSV text) or map it, so the size bound comes
first, before any byte is parsed; a shared helper keeps the wording of these refusals the same
for every format.
"""

from __future__ import annotations

import stat
from pathlib import Path

from desktop_app.errors import EcgReadError

_MIB = 1 << 20
_KIB = 1 << 10


def check_file_size(path: Path, *, format: str, what: str, max_bytes: int, hint: str,
                    too_large_hint: str = "open a single resting ECG") -> int:
    """Refuse a file that is missing, a folder, empty or larger than a reader allows.

    Parameters
    ----------
    path : the file.
    format : the reader's format name, for the error (``"edf"``, ``"csv"``, ...).
    what : what the file should be, e.g. ``"an EDF file"``; names what was expected in the
        messages on an empty or too large file.
    max_bytes : largest file accepted, in bytes.
    hint : what the user can do about an empty file (``"copy or export it again ..."``).
    too_large_hint : what the user can do about a file larger than ``max_bytes``.

    Returns
    -------
    int
        The file's size in bytes (at least 1, at most ``max_bytes``).

    Raises
    ------
    EcgReadError
        The file cannot be examined (missing, no permission), is a folder, is empty, or is
        larger than ``max_bytes``.
    """
    try:
        st = path.stat()
    except OSError as exc:
        # strerror, not str(exc): the full path may name the patient; the error names the file.
        raise EcgReadError(path, format, "a readable file",
                           f"an OS error ({exc.strerror or type(exc).__name__})",
                           "check the path and permissions") from exc
    if stat.S_ISDIR(st.st_mode):
        raise EcgReadError(path, format, "a file", "a folder", "choose a file inside it")
    size = int(st.st_size)
    if size == 0:
        raise EcgReadError(path, format, what, "an empty file (0 bytes)", hint)
    if size > max_bytes:
        shift, unit = (20, "MB") if max_bytes >= _MIB else (10, "kB")
        # Whole units only where they differ from the limit: "at most 1 MB, found 1 MB" for a
        # file of 1.5 MB would read as a contradiction.
        found = (f"{size >> shift} {unit}" if size >> shift > max_bytes >> shift
                 else f"{size:,} bytes")
        raise EcgReadError(path, format, f"{what} of at most {max_bytes >> shift} {unit}",
                           found, too_large_hint)
    return size
