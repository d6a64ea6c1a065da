"""Paper layout of a 12-lead ECG, in millimetres. Pure Python: no drawing here.

The same layout is drawn to a PNG (``_raster.py``), by the GUI with QPainter, into the PDF
summary and by the photo generator, so every view of an ECG sits on the same paper.

Clinical constants (AHA/ACCF/HRS recommendations for the standardisation of the ECG,
Kligfield et al. 2007): paper speed 25 mm/s, gain 10 mm/mV, 1 mm minor and 5 mm major grid,
calibration pulse 1 mV high and 0.2 s wide.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from desktop_app.ecg._record import LEADS_12

STANDARD_SPEED_MM_S = 25.0
STANDARD_GAIN_MM_MV = 10.0
MINOR_GRID_MM = 1.0
MAJOR_GRID_MM = 5.0
CAL_PULSE_MV = 1.0
CAL_PULSE_S = 0.2
PAGE_DURATION_S = 10.0
# Space at the left of each row for the calibration pulse (pulse + a little air either side).
_CAL_AREA_MM = 10.0
_MARGIN_MM = 5.0

LAYOUT_NAMES = ("3x4", "6x2", "12x1")

# Rows x columns of lead names; the standard orders printed by 12-lead electrocardiographs.
_GRIDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "3x4": (("I", "aVR", "V1", "V4"), ("II", "aVL", "V2", "V5"), ("III", "aVF", "V3", "V6")),
    "6x2": (("I", "V1"), ("II", "V2"), ("III", "V3"), ("aVR", "V4"), ("aVL", "V5"),
            ("aVF", "V6")),
    "12x1": tuple((name,) for name in LEADS_12),
}
# Baseline-to-baseline spacing per layout, in mm: enough for ±2 mV at 10 mm/mV in 3x4; the
# 12x1 page is tall and its large complexes may overlap neighbours, as on real printouts.
_ROW_SPACING_MM = {"3x4": 40.0, "6x2": 30.0, "12x1": 22.0}


@dataclass(frozen=True)
class LeadPanel:
    """One lead's strip on the page.

    Attributes
    ----------
    lead : standard lead name.
    x_mm : left edge of the strip (where ``t0_s`` is drawn).
    baseline_mm : y of 0 mV, measured down from the top of the page.
    width_mm : length of the strip; ``(t1_s - t0_s) * speed``.
    t0_s, t1_s : the time window of the recording this strip shows.
    row, col : position in the layout grid (the rhythm strip has ``col == -1``).
    """

    lead: str
    x_mm: float
    baseline_mm: float
    width_mm: float
    t0_s: float
    t1_s: float
    row: int
    col: int

    @property
    def label_xy_mm(self) -> tuple[float, float]:
        """Where the lead label is printed: just right of the strip start, above baseline."""
        return (self.x_mm + 1.5, self.baseline_mm - 9.0)


@dataclass(frozen=True)
class CalibrationPulse:
    """A 1 mV x 0.2 s rectangular pulse at the start of a row."""

    x_mm: float
    baseline_mm: float
    width_mm: float
    height_mm: float


@dataclass(frozen=True)
class PageLayout:
    """Where everything goes on the ECG paper. All lengths in mm; y grows down the page."""

    name: str
    width_mm: float
    height_mm: float
    grid_x0_mm: float
    grid_y0_mm: float
    grid_x1_mm: float
    grid_y1_mm: float
    speed_mm_s: float
    gain_mm_mv: float
    panels: tuple[LeadPanel, ...]
    pulses: tuple[CalibrationPulse, ...]
    #: short vertical marks where one column's lead changes to the next: (x, y_top, y_bottom)
    separators: tuple[tuple[float, float, float], ...]

    def panel_for(self, lead: str) -> LeadPanel:
        """The first (non-rhythm) panel showing ``lead``."""
        for p in self.panels:
            if p.lead == lead and p.col >= 0:
                return p
        for p in self.panels:
            if p.lead == lead:
                return p
        raise KeyError(lead)

    def footer_text(self) -> str:
        return f"{self.speed_mm_s:g} mm/s   {self.gain_mm_mv:g} mm/mV"


def compute_layout(
    name: str = "3x4",
    *,
    speed_mm_s: float = STANDARD_SPEED_MM_S,
    gain_mm_mv: float = STANDARD_GAIN_MM_MV,
    duration_s: float = PAGE_DURATION_S,
    rhythm_leads: tuple[str, ...] = ("II",),
) -> PageLayout:
    """Compute the page layout.

    Parameters
    ----------
    name : ``"3x4"`` (with rhythm strips), ``"6x2"`` or ``"12x1"``.
    speed_mm_s : paper speed in mm/s.
    gain_mm_mv : gain in mm/mV.
    duration_s : seconds of recording the page spans (the columns split it evenly).
    rhythm_leads : full-length strips under a 3x4 layout (ignored by the others).

    Returns
    -------
    PageLayout
    """
    if name not in _GRIDS:
        raise ValueError(f"layout {name!r}: expected one of {', '.join(LAYOUT_NAMES)}")
    if speed_mm_s <= 0 or gain_mm_mv <= 0 or duration_s <= 0:
        raise ValueError("speed, gain and duration must be positive")
    unknown = [lead for lead in rhythm_leads if lead not in LEADS_12]
    if unknown:
        raise ValueError(f"rhythm leads {unknown}: expected names from {LEADS_12}")
    grid = _GRIDS[name]
    n_cols = len(grid[0])
    rows = list(grid) + ([tuple()] * len(rhythm_leads) if name == "3x4" else [])
    # Spacing scales with gain so that taller complexes get more room.
    spacing = _ROW_SPACING_MM[name] * max(1.0, gain_mm_mv / STANDARD_GAIN_MM_MV)
    strip_mm = duration_s * speed_mm_s
    col_s = duration_s / n_cols
    col_mm = strip_mm / n_cols
    gx0 = _MARGIN_MM
    gy0 = _MARGIN_MM
    # The pulse is 0.2 s wide, so at 50 mm/s it needs a wider area than at 25 mm/s.
    cal_area_mm = max(_CAL_AREA_MM, CAL_PULSE_S * speed_mm_s + 5.0)
    trace_x0 = gx0 + cal_area_mm
    gx1 = _snap_up(trace_x0 + strip_mm + _MARGIN_MM, gx0)
    gy1 = _snap_up(gy0 + spacing * (len(rows) + 0.25), gy0)
    panels: list[LeadPanel] = []
    pulses: list[CalibrationPulse] = []
    separators: list[tuple[float, float, float]] = []
    for r, row in enumerate(rows):
        baseline = gy0 + spacing * (r + 0.75)
        pulses.append(CalibrationPulse(
            x_mm=gx0 + (cal_area_mm - CAL_PULSE_S * speed_mm_s) / 2,
            baseline_mm=baseline,
            width_mm=CAL_PULSE_S * speed_mm_s,
            height_mm=CAL_PULSE_MV * gain_mm_mv,
        ))
        if row:
            for c, lead in enumerate(row):
                panels.append(LeadPanel(lead, trace_x0 + c * col_mm, baseline, col_mm,
                                        c * col_s, (c + 1) * col_s, r, c))
                if c > 0:
                    separators.append((trace_x0 + c * col_mm, baseline - 3.0, baseline + 3.0))
        else:
            lead = rhythm_leads[r - len(grid)]
            panels.append(LeadPanel(lead, trace_x0, baseline, strip_mm, 0.0, duration_s, r, -1))
    return PageLayout(
        name=name,
        width_mm=gx1 + _MARGIN_MM,
        height_mm=gy1 + _MARGIN_MM + 6.0,  # room for the footer line
        grid_x0_mm=gx0, grid_y0_mm=gy0, grid_x1_mm=gx1, grid_y1_mm=gy1,
        speed_mm_s=speed_mm_s, gain_mm_mv=gain_mm_mv,
        panels=tuple(panels), pulses=tuple(pulses), separators=tuple(separators),
    )


def _snap_up(value: float, origin: float) -> float:
    """Round up so the grid ends on a major (5 mm) line."""
    return origin + float(np.ceil((value - origin) / MAJOR_GRID_MM) * MAJOR_GRID_MM)


def trace_mm(
    panel: LeadPanel, samples: np.ndarray, fs_hz: float, layout: PageLayout
) -> tuple[np.ndarray, np.ndarray]:
    """Page coordinates (mm) of one lead's samples inside its panel.

    Parameters
    ----------
    panel : the strip to draw into.
    samples : the whole lead in mV (the panel picks its time window).
    fs_hz : sampling rate in Hz.
    layout : for speed and gain.

    Returns
    -------
    x_mm, y_mm : float arrays of equal length (empty if the recording ends before the panel).
        NaN samples (missing data) stay NaN so a drawer can break the line there.
    """
    i0 = int(np.ceil(panel.t0_s * fs_hz - 1e-9))
    i1 = min(len(samples), int(np.floor(panel.t1_s * fs_hz + 1e-9)) + 1)
    if i1 <= i0:
        return np.empty(0), np.empty(0)
    t = np.arange(i0, i1) / fs_hz
    x = panel.x_mm + (t - panel.t0_s) * layout.speed_mm_s
    y = panel.baseline_mm - np.asarray(samples[i0:i1], dtype=np.float64) * layout.gain_mm_mv
    return x, y
