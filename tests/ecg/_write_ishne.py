"""Write ISHNE Holter files for tests, byte by byte as the ISHNE 1.0 spec lays them out.

Written per the spec (Badilini et al., Ann Noninvasive Electrocardiol 1998;3:263-6): no
maintained reference writer exists in Python. The one package that writes ISHNE,
``ishneholterlib``, had its last release in 2020 and writes in the machine's byte order; files
from this writer were checked once to load in it with a matching CRC and the same samples
(ishneholterlib 2020.5.29 on numpy 1.26, ``Holter(path).is_valid()``).

Layout: ``"ISHNE1.0"``, CRC-CCITT (0x1021, initial 0xFFFF) of bytes 10 to the end of the
variable block, the 512-byte fixed block, the variable block, then int16 samples interleaved
lead by lead, all little-endian. Every header field can be overridden so that broken files
keep a valid CRC, and :func:`refresh_crc` recomputes it after a test edits bytes.
"""

from __future__ import annotations

import binascii
import datetime as dt
import struct
from pathlib import Path

import numpy as np

# Lead specification codes of the spec's table 1, by name.
LEAD_CODE = {"Unknown": 0, "Generic bipolar": 1, "X bipolar": 2, "Y bipolar": 3,
             "Z bipolar": 4, "I": 5, "II": 6, "III": 7, "aVR": 8, "aVL": 9, "aVF": 10,
             "V1": 11, "V2": 12, "V3": 13, "V4": 14, "V5": 15, "V6": 16,
             "ES": 17, "AS": 18, "AI": 19}
_FIXED = struct.Struct("<iiiih40s40s20shh3h3h3h3hh12h12h12hh40sh80s80s88s")
assert _FIXED.size == 512


def _text(value: str, size: int) -> bytes:
    return value.encode("latin-1")[:size].ljust(size, b"\x00")


def _dmy(date: dt.date | None) -> tuple[int, int, int]:
    return (0, 0, 0) if date is None else (date.day, date.month, date.year)


def ishne_bytes(
    signal_mv: np.ndarray,
    fs_hz: int,
    leads: list[str] | list[int],
    *,
    resolution_nv: int | list[int] = 1000,
    quality: list[int] | None = None,
    first_name: str = "",
    last_name: str = "",
    patient_id: str = "",
    sex: int = 0,
    birth_date: dt.date | None = None,
    record_date: dt.date | None = dt.date(2024, 3, 1),
    start_time: dt.time = dt.time(8, 30, 0),
    pacemaker: int = 0,
    recorder_type: str = "digital",
    var_block: bytes = b"",
    magic: bytes = b"ISHNE1.0",
    fields: dict[str, int] | None = None,
) -> bytes:
    """An ISHNE file's bytes.

    Parameters
    ----------
    signal_mv : (n_leads, n_samples) in mV; rounded to ``resolution_nv`` steps, or int16 raw
        counts when its dtype is int16 (for lead-fault values).
    fs_hz : sampling rate in Hz.
    leads : lead names of :data:`LEAD_CODE` or raw lead codes, one per row.
    resolution_nv : amplitude resolution per lead (or for all), in nV per count.
    quality : lead quality codes (spec table 2), default 0 (unknown).
    fields : raw overrides of header fields after they are computed: ``n_samples``,
        ``n_leads``, ``var_offset``, ``ecg_offset``, ``var_size``.

    Returns
    -------
    bytes
        The whole file, with a correct header CRC.
    """
    n_leads, n = signal_mv.shape
    codes = [c if isinstance(c, int) else LEAD_CODE[c] for c in leads]
    res = [resolution_nv] * n_leads if isinstance(resolution_nv, int) else list(resolution_nv)
    if signal_mv.dtype == np.int16:
        counts = signal_mv
    else:
        # -32768 is kept for "lead fault"; real samples stay within +-32767.
        counts = np.clip(np.round(signal_mv * 1e6 / np.asarray(res, float)[:, None]),
                         -32767, 32767).astype("<i2")
    pad = 12 - n_leads if n_leads <= 12 else 0
    f = {"var_size": len(var_block), "n_samples": n, "var_offset": 522,
         "ecg_offset": 522 + len(var_block), "n_leads": n_leads}
    f.update(fields or {})
    fixed = _FIXED.pack(
        f["var_size"], f["n_samples"], f["var_offset"], f["ecg_offset"], 1,
        _text(first_name, 40), _text(last_name, 40), _text(patient_id, 20), sex, 0,
        *_dmy(birth_date), *_dmy(record_date), *_dmy(dt.date(2024, 3, 2)),
        start_time.hour, start_time.minute, start_time.second,
        f["n_leads"], *(codes[:12] + [-9] * pad), *((quality or [0] * n_leads)[:12] + [-9] * pad),
        *(res[:12] + [-9] * pad), pacemaker, _text(recorder_type, 40), fs_hz,
        _text("", 80), _text("", 80), _text("", 88))
    header = fixed + var_block
    crc = binascii.crc_hqx(header, 0xFFFF)
    # Samples interleaved: lead 1, lead 2, ... of sample 1, then of sample 2, ...
    return magic + struct.pack("<H", crc) + header + counts.T.astype("<i2").tobytes()


def refresh_crc(data: bytes) -> bytes:
    """``data`` with its header CRC recomputed (after a test changed header bytes)."""
    var_size = struct.unpack_from("<i", data, 10)[0]
    end = 522 + max(var_size, 0)
    return data[:8] + struct.pack("<H", binascii.crc_hqx(data[10:end], 0xFFFF)) + data[10:]


def write_ishne(path: Path, signal_mv: np.ndarray, fs_hz: int, leads, **kwargs) -> Path:
    """Write :func:`ishne_bytes` to ``path`` and return it."""
    path.write_bytes(ishne_bytes(signal_mv, fs_hz, leads, **kwargs))
    return path
