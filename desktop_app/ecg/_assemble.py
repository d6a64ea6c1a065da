"""Put the leads a reader found into an EcgRecord: standard order, derived limb leads, flags.

Readers only parse. They hand the leads they found (by any name) to :func:`assemble_record`,
which is the single place where lead names are normalised, missing limb leads are derived and
quality flags are computed, so every format behaves the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.ecg._leadnames import normalise_lead_name
from desktop_app.ecg._record import LEADS_12, Demographics, EcgRecord, LeadSource
from desktop_app.errors import EcgReadError


def assemble_record(
    leads: Mapping[str, np.ndarray],
    fs_hz: float,
    *,
    path: str | Path | None,
    format: str,
    demographics: Demographics | None = None,
    meta: dict[str, Any] | None = None,
    min_leads: int = 1,
    source: LeadSource = LeadSource.RECORDED,
) -> EcgRecord:
    """Build an :class:`EcgRecord` from named lead arrays in millivolts.

    Parameters
    ----------
    leads : lead label (any spelling :func:`normalise_lead_name` knows) -> 1-D samples in mV.
        Labels that are not one of the 12 standard leads (Frank leads, pacing channels) are
        kept out of the signal and listed in ``meta["ignored_channels"]``.
    fs_hz : sampling rate in Hz, shared by all leads.
    path, format : for error messages and the record's provenance.
    demographics, meta : passed through to the record.
    min_leads : fewer standard leads than this is an error.
    source : what the given leads are (recorded by a machine, or digitised from paper).

    Returns
    -------
    EcgRecord
        Leads the file lacks are derived where Einthoven's and Goldberger's equations allow
        (flagged ``derived``) and otherwise marked ``missing`` (NaN, never invented).

    Raises
    ------
    EcgReadError
        When leads have different lengths, a lead appears twice, or fewer than ``min_leads``
        standard leads are present.
    """
    from desktop_app.signal import derive_missing_leads, quality_flags

    found: dict[str, np.ndarray] = {}
    ignored: list[str] = []
    for label, samples in leads.items():
        name = normalise_lead_name(label)
        if name is None:
            ignored.append(label)
            continue
        if name in found:
            raise EcgReadError(
                path, format, "each lead once", f"lead {name} twice (as {label!r})",
                "check the export settings of the ECG machine",
            )
        arr = np.asarray(samples, dtype=np.float64).ravel()
        found[name] = arr
    if len(found) < min_leads:
        raise EcgReadError(
            path, format, f"at least {min_leads} of the 12 standard leads",
            f"{len(found)} ({', '.join(sorted(found)) or 'none'}; other channels: "
            f"{', '.join(ignored) or 'none'})",
            "open a 12-lead ECG recording",
        )
    lengths = {len(v) for v in found.values()}
    if len(lengths) != 1:
        raise EcgReadError(
            path, format, "all leads with the same number of samples",
            f"lengths {sorted(lengths)}", "the file may be truncated; export it again",
        )
    n = lengths.pop()
    if n < 2:
        raise EcgReadError(path, format, "a recording of at least 2 samples", f"{n} samples",
                           "the file holds no signal")
    full, sources = derive_missing_leads(found, n, source)
    signal = np.stack([full[name] for name in LEADS_12]).astype(np.float32)
    flags = tuple(
        () if src is LeadSource.MISSING else quality_flags(signal[i], fs_hz)
        for i, src in enumerate(sources)
    )
    meta = dict(meta or {})
    if ignored:
        meta["ignored_channels"] = ignored
    try:
        return EcgRecord(
            signal=signal,
            fs_hz=fs_hz,
            source_path=None if path is None else Path(path),
            source_format=format,
            lead_sources=tuple(sources),
            lead_flags=flags,
            demographics=demographics or Demographics(),
            meta=meta,
        )
    except ValueError as exc:
        raise EcgReadError(path, format, "a plausible ECG in millivolts", str(exc),
                           "check the file's units and gain") from exc
