"""Signal processing on EcgRecords: lead derivation, quality flags, model preprocessing.

Free of Qt; shared by the app and by ``model_export`` (training uses the same preprocessing).
"""

from desktop_app.signal._derive import derive_missing_leads
from desktop_app.signal._quality import quality_flags

__all__ = ["derive_missing_leads", "quality_flags"]
