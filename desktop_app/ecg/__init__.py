"""ECG records and their readers.

``read_ecg(path)`` is the one entry point: it recognises the format by content first (magic
bytes, XML root element, header syntax) and by suffix second, then calls that format's reader.
Each reader lives in its own private module and returns an :class:`EcgRecord`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from desktop_app.ecg._assemble import assemble_record
from desktop_app.ecg._leadnames import normalise_lead_name
from desktop_app.ecg._record import LEADS_12, Demographics, EcgRecord, LeadSource
from desktop_app.errors import EcgReadError

__all__ = [
    "LEADS_12", "Demographics", "EcgRecord", "LeadSource", "FORMATS", "assemble_record",
    "normalise_lead_name", "read_ecg", "sniff_format",
]

# Files larger than this are not ECGs a clinic exports (a 24-h 12-lead Holter at 1 kHz in
# 16 bit is ~2 GB and is not what this app is for); refuse before reading them into memory.
MAX_FILE_BYTES = 512 * 1024 * 1024
_HEAD_BYTES = 4096


@dataclass(frozen=True)
class FormatSpec:
    """One readable format: its name, suffixes, and where its reader and sniffer live."""

    name: str
    description: str
    suffixes: tuple[str, ...]
    module: str  # module with ``read_<name>(path, **kw)`` and ``sniff(head: bytes, path) -> bool``

    def load(self):
        return importlib.import_module(self.module)

    def reader(self):
        return getattr(self.load(), f"read_{self.name}")


#: Every format the app reads, in the order sniffers are tried.
FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec("dicom", "DICOM 12-lead / general ECG waveform", (".dcm", ".dicom"),
               "desktop_app.ecg._dicom"),
    FormatSpec("scp", "SCP-ECG (EN 1064)", (".scp",), "desktop_app.ecg._scp"),
    FormatSpec("ishne", "ISHNE Holter", (".ecg", ".ishne"), "desktop_app.ecg._ishne"),
    FormatSpec("edf", "EDF / EDF+ / BDF", (".edf", ".bdf"), "desktop_app.ecg._edf"),
    FormatSpec("aecg", "HL7 annotated ECG (aECG) XML", (".xml",), "desktop_app.ecg._aecg"),
    FormatSpec("muse", "GE MUSE XML", (".xml",), "desktop_app.ecg._muse"),
    FormatSpec("philips", "Philips SierraECG XML", (".xml",), "desktop_app.ecg._philips"),
    FormatSpec("wfdb", "WFDB / PhysioNet (.hea + .dat or .mat)", (".hea", ".dat", ".mat"),
               "desktop_app.ecg._wfdb"),
    FormatSpec("csv", "CSV, one column per lead", (".csv", ".txt", ".tsv"),
               "desktop_app.ecg._csv"),
    # Last: a picture is digitised only when no signal format claims the file.
    FormatSpec("photo", "Photo or scan of a printed ECG",
               (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"),
               "desktop_app.photo._reader"),
)


def _available_formats() -> list[FormatSpec]:
    out = []
    for spec in FORMATS:
        try:
            spec.load()
        except ModuleNotFoundError as exc:
            if exc.name == spec.module:  # reader not written yet; anything else is a real error
                continue
            raise
        out.append(spec)
    return out


def supported_formats_text() -> str:
    return "; ".join(f"{s.description} ({', '.join(s.suffixes)})" for s in _available_formats())


def sniff_format(path: str | Path) -> str | None:
    """Name of the format a file's content looks like, or None when no reader claims it."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(_HEAD_BYTES)
    for spec in _available_formats():
        if spec.load().sniff(head, path):
            return spec.name
    return None


def read_ecg(path: str | Path, *, format: str | None = None, **kwargs) -> EcgRecord:
    """Read an ECG file of any supported format.

    Parameters
    ----------
    path : the file. For WFDB, the ``.hea`` header or its signal file.
    format : force a format by name (see ``FORMATS``) instead of detecting it.
    **kwargs : passed to the reader (for example ``fs_hz`` for a CSV without a rate line).

    Returns
    -------
    EcgRecord

    Raises
    ------
    EcgReadError
        The file is missing, empty, too large, of an unknown format, or damaged. The message
        names what was expected, what was found, and what to do.
    """
    path = Path(path)
    if not path.exists():
        raise EcgReadError(path, "unknown", "an existing file", "no such file",
                           "check the path")
    if path.is_dir():
        raise EcgReadError(path, "unknown", "a file", "a folder", "choose a file inside it")
    size = path.stat().st_size
    if size == 0:
        raise EcgReadError(path, "unknown", "an ECG file", "an empty file (0 bytes)",
                           "export the ECG again from the machine")
    if size > MAX_FILE_BYTES:
        raise EcgReadError(path, "unknown", f"at most {MAX_FILE_BYTES >> 20} MB",
                           f"{size >> 20} MB", "open a single resting ECG, not a long recording")
    specs = {s.name: s for s in _available_formats()}
    if format is not None:
        if format not in specs:
            raise EcgReadError(path, format, f"one of {', '.join(specs)}", f"format {format!r}",
                               "choose a supported format")
        return specs[format].reader()(path, **kwargs)
    name = sniff_format(path)
    if name is None:
        # Content did not match; a suffix match still gets one try so its reader can say
        # precisely what is wrong with the file.
        by_suffix = [s for s in specs.values() if path.suffix.lower() in s.suffixes]
        if len(by_suffix) == 1:
            return by_suffix[0].reader()(path, **kwargs)
        errors = []
        for spec in by_suffix:
            try:
                return spec.reader()(path, **kwargs)
            except EcgReadError as exc:
                errors.append(f"{spec.name}: {exc}")
        found = "content of no known format"
        if errors:
            found += " (" + " | ".join(errors) + ")"
        raise EcgReadError(path, "unknown", "an ECG file in a supported format", found,
                           f"supported formats: {supported_formats_text()}")
    return specs[name].reader()(path, **kwargs)
