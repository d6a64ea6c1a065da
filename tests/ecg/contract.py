"""The one contract every reader's output must pass, whatever the format.

Every reader test calls :func:`check_reader_contract` on each record it reads, so a property
that holds for one format holds for all. Modelled on ``_test_raw_reader`` in
``mne/io/tests/test_raw.py``, which every MNE format's tests call.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from desktop_app.ecg import LEADS_12, Demographics, EcgRecord, LeadSource

# Peak-to-peak of a lead of a real resting ECG: at least a visible QRS (0.05 mV is 0.5 mm at
# 10 mm/mV, the "flat" limit of signal.quality_flags) and at most 20 mV (beyond any QRS plus
# baseline wander; larger means units were misread). A few leads may be flat (electrode off),
# so the range is required of most leads, not all.
MIN_PTP_MV = 0.05
MAX_PTP_MV = 20.0
MOST = 0.5  # share of present leads whose peak-to-peak must lie in the range (strictly more)


def check_reader_contract(
    record: EcgRecord,
    *,
    fs_hz: float | None = None,
    n_leads_present: int = 12,
) -> EcgRecord:
    """Assert that a reader's output is a well-formed 12-lead record in millivolts.

    Parameters
    ----------
    record : what the reader returned.
    fs_hz : the sampling rate the file states, in Hz; None skips that comparison.
    n_leads_present : how many of the 12 leads must be present (recorded or derived); the rest
        must be marked missing and be all NaN.

    Returns
    -------
    EcgRecord
        ``record``, so a test can go on using it.

    Raises
    ------
    AssertionError
        On the first broken property, with the reason.
    """
    assert isinstance(record, EcgRecord), f"reader returned {type(record).__name__}"
    sig = record.signal
    assert isinstance(sig, np.ndarray)
    assert sig.dtype == np.float32, f"signal dtype {sig.dtype}, expected float32"
    assert sig.ndim == 2 and sig.shape[0] == len(LEADS_12), f"signal shape {sig.shape}"
    assert sig.shape[1] >= 2, f"only {sig.shape[1]} samples"
    assert not sig.flags.writeable, "the record's signal must be read-only"
    assert record.leads == LEADS_12

    assert np.isfinite(record.fs_hz) and record.fs_hz > 0, f"fs_hz {record.fs_hz}"
    if fs_hz is not None:
        assert abs(record.fs_hz - fs_hz) <= 1e-6 * fs_hz, f"fs_hz {record.fs_hz} != {fs_hz}"
    assert record.duration_s == sig.shape[1] / record.fs_hz

    assert len(record.lead_sources) == 12 and len(record.lead_flags) == 12
    assert all(isinstance(s, LeadSource) for s in record.lead_sources)
    present = np.array([s is not LeadSource.MISSING for s in record.lead_sources])
    assert int(present.sum()) == n_leads_present, (
        f"{int(present.sum())} leads present ({record.present_leads()}), "
        f"expected {n_leads_present}"
    )
    assert np.all(np.isnan(sig[~present])), "a missing lead has samples"
    assert all(record.lead_flags[i] == () for i in np.flatnonzero(~present)), (
        "a missing lead carries quality flags"
    )
    assert np.all(np.isfinite(sig[present])), "a present lead has non-finite samples"

    if n_leads_present:
        ptp = np.ptp(sig[present].astype(np.float64), axis=1)
        in_range = (ptp >= MIN_PTP_MV) & (ptp <= MAX_PTP_MV)
        assert in_range.mean() > MOST, (
            f"implausible mV range: peak-to-peak per lead {np.round(ptp, 3).tolist()} mV, "
            f"expected {MIN_PTP_MV}-{MAX_PTP_MV} mV on most leads"
        )
        assert float(np.max(np.abs(sig[present]))) <= 30.0

    assert isinstance(record.source_format, str) and record.source_format not in ("", "memory")
    assert isinstance(record.source_path, Path), "source_path not set"
    assert record.source_path.is_file(), f"source_path {record.source_path} is not a file"
    assert isinstance(record.demographics, Demographics)
    assert isinstance(record.meta, dict)
    return record
