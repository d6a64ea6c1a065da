"""The case library: bundled PTB-XL reference cases and the clinic's own cases. Qt-free.

* :class:`CaseStore` reads the shipped ``cases.sqlite`` (facts and traces of every case).
* :class:`VectorIndex` searches the shipped ``index.hnsw`` (hnswlib, cosine on unit vectors).
* :func:`consensus` votes over the statements of the most similar cases (a decision aid).
* :class:`ClinicStore` is the clinic's own writable, crash-safe store in the user data folder.
* :func:`encode_traces` / :func:`decode_traces` keep 12-lead traces compact and error-bounded.
"""

from desktop_app.library._clinic import (
    CLINIC_DB_NAME, ClinicCase, ClinicStore, ImportReport, content_hash,
)
from desktop_app.library._consensus import DISCLAIMER, Consensus, ConsensusItem, consensus
from desktop_app.library._index import VectorIndex, exact_search, normalise, recall_at_k, tune_ef
from desktop_app.library._store import (
    HEART_AXIS_WORDS, STORE_SCHEMA_VERSION, CaseStore, LibraryCase, Statement, write_store,
)
from desktop_app.library._traces import DEFAULT_QUANTUM_UV, decode_traces, encode_traces

__all__ = [
    "CLINIC_DB_NAME", "DEFAULT_QUANTUM_UV", "DISCLAIMER", "HEART_AXIS_WORDS",
    "STORE_SCHEMA_VERSION", "CaseStore", "ClinicCase", "ClinicStore", "Consensus",
    "ConsensusItem", "ImportReport", "LibraryCase", "Statement", "VectorIndex", "consensus",
    "content_hash", "decode_traces", "encode_traces", "exact_search", "normalise",
    "recall_at_k", "tune_ef", "write_store",
]
