"""Compact, error-bounded storage of 12-lead traces (one BLOB per case).

Why this codec and not plain ``zlib(int16)``: the whole ``assets/`` folder must stay under
150 MB, and PTB-XL's 100 Hz traces carry broadband noise that general-purpose compressors code
poorly. Measured on real PTB-XL records: int16 at 5 µV + zlib costs about 9.3 kB per case
(182 MB for the 19,601 library cases). With the steps below, the whole library at 10 µV cost
98 MB with zlib (5.0 kB per case); lzma saves another 8-10 % and 15 µV another 13 %, which gives
about 4 kB per case (``benchmarks/results/library.md`` has the measured total).

Steps, all integer and exactly invertible after the quantisation:

1. Quantise to ``quantum_uv`` (default 15 µV: the largest error is 7.5 µV, 0.075 mm at the
   standard 10 mm/mV, about half a 200-dpi pixel and a third of a printed trace's width;
   invisible on paper and on screen. The 5 µV of AHA's acquisition recommendation (Kligfield
   et al., Circulation 2007) is for measuring, and the stored traces are only drawn).
2. Predict the four limb leads that machines compute rather than record (III, aVR, aVL, aVF)
   from I and II with Einthoven's and Goldberger's equations, in integers, and keep only the
   residual: it is zero for PTB-XL (its limb leads are derived to within 3 µV) and costs
   almost nothing, yet a file whose limb leads were recorded separately still round-trips.
3. First difference along time; the differences fit in int8 except a few (QRS upstrokes at a
   fine quantum, pacemaker spikes), which are escaped into an int32 list.
4. LZMA2 (raw, preset 9, 64 KiB dictionary: a case is smaller) over the byte stream: its
   range coder then sees the actual symbols. Decoding takes under a millisecond per case.
"""

from __future__ import annotations

import lzma
import struct

import numpy as np

from desktop_app.errors import EcgValueError

#: Default amplitude quantum of stored traces in µV (largest error: half of it).
DEFAULT_QUANTUM_UV = 15.0

_MAGIC = b"ECGT"
_VERSION = 1
# magic, version, n_leads, lead mask (bit i = lead i present), n_samples, quantum in µV
_HEADER = struct.Struct("<4sBBHIf")
_ESCAPE = -128
_FILTERS = [{"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 1 << 16}]
# A decoded case may not claim more than this many samples per lead (10 min at 1 kHz): bounds
# what a damaged or hostile BLOB (clinic imports) can make the decoder allocate.
MAX_SAMPLES = 600_000
_N_LEADS = 12
# Rows in LEADS_12 order: I=0, II=1, III=2, aVR=3, aVL=4, aVF=5.


def _predict_limb(q: np.ndarray) -> np.ndarray:
    """Integer prediction of III, aVR, aVL, aVF from I and II (floor halves on both sides)."""
    lead_i, lead_ii = q[0], q[1]
    return np.stack([
        lead_ii - lead_i,                 # III = II - I (Einthoven)
        -((lead_i + lead_ii) // 2),       # aVR = -(I + II) / 2 (Goldberger)
        lead_i - lead_ii // 2,            # aVL = I - II / 2
        lead_ii - lead_i // 2,            # aVF = II - I / 2
    ])


def encode_traces(signal_mv: np.ndarray, quantum_uv: float = DEFAULT_QUANTUM_UV) -> bytes:
    """Compress a 12-lead signal.

    Parameters
    ----------
    signal_mv : array, shape (12, n_samples), mV, ``LEADS_12`` order; a row of NaN is a missing
        lead (restored as NaN).
    quantum_uv : amplitude step in µV; the largest reconstruction error is ``quantum_uv / 2``.

    Returns
    -------
    bytes
        The encoded BLOB (self-describing: shape, lead mask and quantum are in its header).

    Raises
    ------
    EcgValueError
        If the shape is not (12, n) or a present lead holds non-finite samples.
    """
    sig = np.asarray(signal_mv, dtype=np.float64)
    if sig.ndim != 2 or sig.shape[0] != _N_LEADS or not 1 <= sig.shape[1] <= MAX_SAMPLES:
        raise EcgValueError(f"traces must have shape (12, 1..{MAX_SAMPLES}); got {sig.shape}")
    if not (np.isfinite(quantum_uv) and 0.1 <= quantum_uv <= 1000.0):
        raise EcgValueError(f"quantum_uv must be within 0.1..1000 µV; got {quantum_uv}")
    present = ~np.all(np.isnan(sig), axis=1)
    if not np.isfinite(sig[present]).all():
        raise EcgValueError("a present lead has non-finite samples; mark it missing (all NaN)")
    q = np.zeros(sig.shape, dtype=np.int64)
    q[present] = np.round(sig[present] * (1000.0 / quantum_uv)).astype(np.int64)
    resid = q.copy()
    resid[2:6] -= _predict_limb(q)
    first = resid[:, 0].astype(np.int32)
    diff = np.diff(resid, axis=1).ravel()
    escaped = (diff < -127) | (diff > 127)
    small = np.where(escaped, _ESCAPE, diff).astype(np.int8)
    esc_values = diff[escaped].astype(np.int32)
    payload = (first.tobytes() + struct.pack("<I", esc_values.size) + esc_values.tobytes()
               + small.tobytes())
    mask = int(np.sum(present.astype(np.int64) << np.arange(_N_LEADS)))
    header = _HEADER.pack(_MAGIC, _VERSION, _N_LEADS, mask, sig.shape[1], float(quantum_uv))
    return header + lzma.compress(payload, format=lzma.FORMAT_RAW, filters=_FILTERS)


def decode_traces(blob: bytes) -> np.ndarray:
    """Decompress a BLOB written by :func:`encode_traces`.

    Parameters
    ----------
    blob : the encoded traces.

    Returns
    -------
    np.ndarray
        float32, shape (12, n_samples), mV; missing leads are NaN.

    Raises
    ------
    EcgValueError
        If the BLOB is not a valid trace record (wrong magic, version, sizes or a damaged
        stream).
    """
    blob = bytes(blob)
    if len(blob) < _HEADER.size:
        raise EcgValueError("stored traces are truncated (no header)")
    magic, version, n_leads, mask, n_samples, quantum_uv = _HEADER.unpack_from(blob)
    if magic != _MAGIC or version != _VERSION or n_leads != _N_LEADS:
        raise EcgValueError(f"stored traces have an unknown format ({magic!r} v{version})")
    if not 1 <= n_samples <= MAX_SAMPLES or not 0.1 <= quantum_uv <= 1000.0:
        raise EcgValueError(f"stored traces claim {n_samples} samples at {quantum_uv} µV")
    n_diff = n_leads * (n_samples - 1)
    # The payload is at most first values + count + one escape per difference + the int8 stream.
    limit = 4 * n_leads + 4 + 5 * n_diff
    try:
        dec = lzma.LZMADecompressor(format=lzma.FORMAT_RAW, filters=_FILTERS)
        payload = dec.decompress(blob[_HEADER.size:], max_length=limit)
        if not dec.eof:
            raise EcgValueError("stored traces are damaged (stream incomplete or longer than "
                                "declared)")
    except lzma.LZMAError as exc:
        raise EcgValueError(f"stored traces are damaged ({exc})") from exc
    pos = 4 * n_leads
    if len(payload) < pos + 4:
        raise EcgValueError("stored traces are damaged (payload truncated)")
    first = np.frombuffer(payload, dtype=np.int32, count=n_leads).astype(np.int64)
    (n_esc,) = struct.unpack_from("<I", payload, pos)
    pos += 4
    if len(payload) != pos + 4 * n_esc + n_diff:
        raise EcgValueError("stored traces are damaged (payload size does not match header)")
    esc_values = np.frombuffer(payload, dtype=np.int32, count=n_esc, offset=pos)
    small = np.frombuffer(payload, dtype=np.int8, offset=pos + 4 * n_esc).astype(np.int64)
    escaped = small == _ESCAPE
    if int(escaped.sum()) != n_esc:
        raise EcgValueError("stored traces are damaged (escape count does not match)")
    small[escaped] = esc_values
    resid = np.empty((n_leads, n_samples), dtype=np.int64)
    resid[:, 0] = first
    resid[:, 1:] = small.reshape(n_leads, n_samples - 1)
    q = np.cumsum(resid, axis=1)
    q[2:6] += _predict_limb(q)
    out = (q * (quantum_uv / 1000.0)).astype(np.float32)
    present = (mask >> np.arange(n_leads)) & 1
    out[present == 0] = np.nan
    return out
