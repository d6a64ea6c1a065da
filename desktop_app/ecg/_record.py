"""EcgRecord: the one in-memory ECG every reader returns and every other module consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from desktop_app.errors import EcgValueError

#: The 12 standard leads, in the order every array in the app uses.
LEADS_12: tuple[str, ...] = (
    "I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6",
)

# Plausibility bound on a recorded ECG. Real QRS amplitudes rarely exceed 5 mV; 30 mV means the
# file's units were misread (µV read as mV, or raw ADC counts without the gain).
MAX_PLAUSIBLE_MV = 30.0


class LeadSource(str, Enum):
    """Where a lead's samples came from."""

    RECORDED = "recorded"    # read from the file as the machine recorded it
    DERIVED = "derived"      # computed from other leads (Einthoven/Goldberger), not recorded
    DIGITISED = "digitised"  # traced from a picture of paper
    MISSING = "missing"      # not available: samples are NaN and must not be drawn as a trace


@dataclass(frozen=True)
class Demographics:
    """What the file says about the patient. Identifiers stay out of logs and shared files."""

    age_years: float | None = None
    sex: str | None = None  # "male", "female" or None
    patient_id: str | None = None
    name: str | None = None


@dataclass(frozen=True, eq=False)
class EcgRecord:
    """A 12-lead ECG in millivolts.

    Attributes
    ----------
    signal : float32 array, shape (12, n_samples), millivolts, rows in ``LEADS_12`` order.
        Rows of missing leads are all NaN; every other value is finite.
    fs_hz : sampling rate in Hz.
    source_path : the file it was read from (None when built in memory).
    source_format : reader that produced it (``"wfdb"``, ``"csv"``, ``"aecg"``, ``"dicom"``, ...).
    lead_sources : one :class:`LeadSource` per lead.
    lead_flags : per lead, a tuple of quality flags (``"flat"``, ``"noisy"``, ``"clipped"``, ...)
        found by :func:`desktop_app.signal.quality_flags` or the reader.
    demographics : age, sex and identifiers when the file has them.
    meta : format-specific facts: the machine's own statements and measurements, acquisition
        date, device, filters. Never mixed with the case library.
    """

    signal: np.ndarray
    fs_hz: float
    source_path: Path | None = None
    source_format: str = "memory"
    lead_sources: tuple[LeadSource, ...] = (LeadSource.RECORDED,) * 12
    lead_flags: tuple[tuple[str, ...], ...] = ((),) * 12
    demographics: Demographics = field(default_factory=Demographics)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        sig = np.asarray(self.signal)
        if sig.ndim != 2 or sig.shape[0] != 12:
            raise EcgValueError(f"signal must have shape (12, n_samples); got {sig.shape}")
        if sig.shape[1] < 2:
            raise EcgValueError(f"signal has {sig.shape[1]} samples; need at least 2")
        if not (np.isfinite(self.fs_hz) and 1.0 <= float(self.fs_hz) <= 100_000.0):
            raise EcgValueError(f"fs_hz must be within 1..100000 Hz; got {self.fs_hz}")
        if len(self.lead_sources) != 12 or len(self.lead_flags) != 12:
            raise EcgValueError("lead_sources and lead_flags need one entry per lead (12)")
        sig = sig.astype(np.float32, copy=False)
        sources = tuple(LeadSource(s) for s in self.lead_sources)
        for i, src in enumerate(sources):
            row = sig[i]
            if src is LeadSource.MISSING:
                if not np.all(np.isnan(row)):
                    raise EcgValueError(f"lead {LEADS_12[i]} is marked missing but has samples")
                continue
            if not np.all(np.isfinite(row)):
                raise EcgValueError(
                    f"lead {LEADS_12[i]} has non-finite samples; mark it missing or fill the gap"
                )
        present = sig[[s is not LeadSource.MISSING for s in sources]]
        if present.size and float(np.max(np.abs(present))) > MAX_PLAUSIBLE_MV:
            raise EcgValueError(
                f"signal peaks at {float(np.max(np.abs(present))):.1f} mV; an ECG stays within "
                f"±{MAX_PLAUSIBLE_MV:.0f} mV, so the units or gain were probably misread"
            )
        sig.setflags(write=False)
        object.__setattr__(self, "signal", sig)
        object.__setattr__(self, "fs_hz", float(self.fs_hz))
        object.__setattr__(self, "lead_sources", sources)
        object.__setattr__(self, "lead_flags", tuple(tuple(f) for f in self.lead_flags))
        if self.source_path is not None:
            object.__setattr__(self, "source_path", Path(self.source_path))

    @property
    def n_samples(self) -> int:
        return int(self.signal.shape[1])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.fs_hz

    @property
    def leads(self) -> tuple[str, ...]:
        return LEADS_12

    def lead(self, name: str) -> np.ndarray:
        """Samples of one lead (read-only view), by its standard name."""
        return self.signal[LEADS_12.index(name)]

    def present_leads(self) -> list[str]:
        return [n for n, s in zip(LEADS_12, self.lead_sources) if s is not LeadSource.MISSING]

    def replace(self, **changes: Any) -> "EcgRecord":
        """A copy with some fields changed (the record itself is immutable)."""
        from dataclasses import replace as _replace

        return _replace(self, **changes)
