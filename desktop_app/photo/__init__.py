"""Photos and scans of paper ECGs -> EcgRecord (classical digitisation; numpy/scipy/Pillow)."""

from desktop_app.photo._digitise import (
    DEFAULT_FS_HZ, GAINS_MM_MV, LAYOUT_CHOICES, MIN_CONFIDENCE, SPEEDS_MM_S, Digitised, digitise,
    digitise_array, draw_overlay, parse_layout,
)
from desktop_app.photo._export import (
    DigitisedFiles, fill_unseen, known_mask, record_name, write_digitised,
)
from desktop_app.photo._reader import read_photo, sniff
from desktop_app.photo._steps import (
    GridFit, LayoutFit, Trace, extract_traces, find_grid, find_layout, find_page, ink_mask,
    load_picture,
)

__all__ = [
    "DEFAULT_FS_HZ", "GAINS_MM_MV", "LAYOUT_CHOICES", "MIN_CONFIDENCE", "SPEEDS_MM_S",
    "Digitised", "DigitisedFiles", "GridFit", "LayoutFit", "Trace", "fill_unseen", "known_mask",
    "record_name", "write_digitised", "digitise", "digitise_array", "draw_overlay", "extract_traces",
    "find_grid", "find_layout", "find_page", "ink_mask", "load_picture", "parse_layout",
    "read_photo", "sniff",
]
