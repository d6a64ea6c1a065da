"""ECG paper: layout maths in millimetres and drawing to images. Free of Qt."""

from desktop_app.render._layout import (
    LAYOUT_NAMES, MAJOR_GRID_MM, MINOR_GRID_MM, STANDARD_GAIN_MM_MV, STANDARD_SPEED_MM_S,
    CalibrationPulse, LeadPanel, PageLayout, compute_layout, trace_mm,
)
from desktop_app.render._raster import lead_notes, render_image, render_png, render_thumbnail

__all__ = [
    "LAYOUT_NAMES", "MAJOR_GRID_MM", "MINOR_GRID_MM", "STANDARD_GAIN_MM_MV",
    "STANDARD_SPEED_MM_S", "CalibrationPulse", "LeadPanel", "PageLayout", "compute_layout",
    "lead_notes", "render_image", "render_png", "render_thumbnail", "trace_mm",
]
