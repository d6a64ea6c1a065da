"""Signal processing on EcgRecords: lead derivation, quality flags, model preprocessing.

Free of Qt; shared by the app and by ``model_export`` (training uses the same preprocessing).
"""

from desktop_app.signal._derive import derive_missing_leads
from desktop_app.signal._preprocess import (
    MODEL_DURATION_S, MODEL_FS_HZ, MODEL_N_SAMPLES, bandpass, preprocess_for_model, resample,
)
from desktop_app.signal._quality import quality_flags
from desktop_app.signal._rate import heart_rate_bpm, r_peaks

__all__ = [
    "MODEL_DURATION_S", "MODEL_FS_HZ", "MODEL_N_SAMPLES", "bandpass", "derive_missing_leads",
    "heart_rate_bpm", "preprocess_for_model", "quality_flags", "r_peaks", "resample",
]
