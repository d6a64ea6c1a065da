"""``CaseFinder``: the one facade the window and the command line call (STYLE.md §4).

It reads an ECG, embeds it with the shipped image encoder, searches the bundled library and the
clinic's own cases together, and returns frozen dataclasses of plain values. Synchronous and
safe to call from worker threads: models, index and stores are opened once, lazily, under a
lock; SQLite connections are per thread. It never prints; it logs through ``logging``.

Every result carries :data:`DISCLAIMER`: the app shows similar confirmed cases, it does not
diagnose.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from desktop_app import assets as _assets
from desktop_app.ecg import EcgRecord, LeadSource, read_ecg
from desktop_app.errors import AssetError, EcgValueError
from desktop_app.library import (
    CLINIC_DB_NAME, DISCLAIMER, CaseStore, ClinicCase, ClinicStore, Consensus, ImportReport,
    Statement, VectorIndex, consensus,
)
from desktop_app.settings import Settings, data_dir
from desktop_app.signal import preprocess_for_model
from desktop_app.signal._preprocess import MIN_DURATION_S

log = logging.getLogger(__name__)

SOURCE_LIBRARY = "library"
SOURCE_CLINIC = "clinic"


class SignalEmbedder(Protocol):
    """What the finder needs from an image encoder (``desktop_app.encoding.ImageEncoder``)."""

    dim: int

    def embed_signals(self, signals_mv: np.ndarray) -> np.ndarray: ...


class TextEmbedder(Protocol):
    """What the finder needs from a text encoder (``desktop_app.encoding.TextEncoder``)."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class QueryInfo:
    """The ECG that was searched for (no patient identifiers).

    Attributes
    ----------
    path : the file it was read from, or None.
    source_format : the reader that read it.
    fs_hz : its sampling rate in Hz.
    duration_s : its length in seconds (the encoder sees the first 10 s).
    leads_present : leads recorded, derived or digitised (not missing).
    age, sex : as the file states them.
    """

    path: str | None
    source_format: str
    fs_hz: float
    duration_s: float
    leads_present: tuple[str, ...]
    age: float | None
    sex: str | None


@dataclass(frozen=True)
class Hit:
    """One similar confirmed case.

    Attributes
    ----------
    rank : 1 for the most similar.
    source : ``"library"`` (bundled PTB-XL case) or ``"clinic"`` (the clinic's own case).
    case_key : unique across stores: ``"ptbxl:<ecg_id>"`` or ``"clinic:<uid>"``.
    ecg_id : PTB-XL ``ecg_id`` (library hits), else None.
    clinic_case_id : local id in the clinic's store (clinic hits), else None.
    similarity : cosine similarity of the embeddings, -1..1.
    age, sex : of the case's patient, where known.
    statements : statements with likelihoods and English descriptions.
    statements_en : the statements as one English sentence list.
    report_original : the cardiologist's original report text (library), or None.
    report_en : English report text (library), or None.
    report_language : language of the original report.
    diagnosis : the clinic's confirmed diagnosis (clinic hits), else None.
    heart_axis, infarction_stadium : PTB-XL facts where given.
    text_source : where the library case's English text came from.
    """

    rank: int
    source: str
    case_key: str
    ecg_id: int | None
    clinic_case_id: int | None
    similarity: float
    age: float | None
    sex: str | None
    statements: tuple[Statement, ...]
    statements_en: str
    report_original: str | None = None
    report_en: str | None = None
    report_language: str | None = None
    diagnosis: str | None = None
    heart_axis: str | None = None
    infarction_stadium: tuple[str, ...] = ()
    text_source: str | None = None


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Similar cases for one query, with their consensus and the disclaimer.

    Attributes
    ----------
    query : the ECG searched for (None for a text search).
    query_text : the words searched for (None for an ECG search).
    hits : most similar first.
    consensus : similarity-weighted vote over the hits' statements.
    k : number of hits asked for.
    encoder_version : encoder that made the embeddings compared.
    embedding : the query's embedding (float32, read-only).
    elapsed_ms : time spent, from reading/embedding to the last store lookup.
    disclaimer : :data:`DISCLAIMER`.
    """

    query: QueryInfo | None
    query_text: str | None
    hits: tuple[Hit, ...]
    consensus: Consensus
    k: int
    encoder_version: str
    embedding: np.ndarray = field(repr=False)
    elapsed_ms: float = 0.0
    disclaimer: str = DISCLAIMER


def query_info(record: EcgRecord) -> QueryInfo:
    """The identifier-free facts about a query record."""
    return QueryInfo(
        path=None if record.source_path is None else str(record.source_path),
        source_format=record.source_format, fs_hz=float(record.fs_hz),
        duration_s=round(float(record.duration_s), 6),
        leads_present=tuple(record.present_leads()), age=record.demographics.age_years,
        sex=record.demographics.sex)


class CaseFinder:
    """Find confirmed cases similar to an ECG, in the bundled library and the clinic's cases.

    Parameters
    ----------
    settings : user settings (``top_k``); defaults if None.
    assets_root : the shipped assets folder; :func:`desktop_app.assets.default_assets_root`
        if None. Verified (sizes and SHA-256 against ``manifest.json``) before first use.
    clinic_path : the clinic's store file; ``settings.data_dir() / clinic_cases.sqlite`` if
        None.
    image_encoder : an object with ``dim`` and ``embed_signals``, used instead of the shipped
        model (tests and benchmarks of the mechanics; its ``version`` must match the
        library's).
    text_encoder : an object with ``embed_texts``, used instead of the shipped text model.
    include_clinic : search the clinic's cases too.

    Notes
    -----
    Nothing is loaded in the constructor; the first call that needs a model or the library
    loads it (under a lock) and raises :class:`~desktop_app.errors.AssetError` if it is
    missing or damaged.
    """

    def __init__(self, settings: Settings | None = None, assets_root: str | Path | None = None,
                 *, clinic_path: str | Path | None = None,
                 image_encoder: SignalEmbedder | None = None,
                 text_encoder: TextEmbedder | None = None, include_clinic: bool = True) -> None:
        self.settings = settings or Settings()
        self.assets_root = Path(assets_root) if assets_root else _assets.default_assets_root()
        self.clinic_path = Path(clinic_path) if clinic_path else data_dir() / CLINIC_DB_NAME
        self.include_clinic = include_clinic
        self._image_encoder = image_encoder
        self._text_encoder = text_encoder
        self._injected_image = image_encoder is not None
        self._lock = threading.RLock()
        self._manifest: dict[str, Any] | None = None
        self._store: CaseStore | None = None
        self._index: VectorIndex | None = None
        self._clinic: ClinicStore | None = None
        self._clinic_checked_version: str | None = None
        self._clinic_checked_revision: int | None = None

    # -- lazy loading ---------------------------------------------------------------------
    def _verified(self) -> dict[str, Any]:
        with self._lock:
            if self._manifest is None:
                required = (_assets.LIBRARY_INDEX, _assets.LIBRARY_STORE)
                if not self._injected_image:
                    required += (_assets.IMAGE_ENCODER,)
                t0 = time.perf_counter()
                self._manifest = _assets.verify_assets(self.assets_root, required=required)
                log.info("assets verified in %.0f ms", (time.perf_counter() - t0) * 1000)
            return self._manifest

    def _library(self) -> tuple[CaseStore, VectorIndex]:
        with self._lock:
            if self._store is None or self._index is None:
                self._verified()
                store = CaseStore(self.assets_root / _assets.LIBRARY_STORE)
                meta = store.meta
                index = VectorIndex.load(self.assets_root / _assets.LIBRARY_INDEX,
                                         int(meta["embedding_dim"]), int(meta["index_ef"]))
                if len(index) != len(store):
                    raise AssetError(self.assets_root / _assets.LIBRARY_INDEX,
                                     f"it holds {len(index)} cases, the case store "
                                     f"{len(store)}")
                self._store, self._index = store, index
            return self._store, self._index

    @property
    def encoder_version(self) -> str:
        """Version of the encoder the library was built with (and queries must use)."""
        store, _ = self._library()
        return store.meta["encoder_version"]

    def _encoder(self) -> SignalEmbedder:
        with self._lock:
            store, index = self._library()
            if self._image_encoder is None:
                from desktop_app.encoding import ImageEncoder

                path = self.assets_root / _assets.IMAGE_ENCODER
                shipped_sha = self._verified()["files"][_assets.IMAGE_ENCODER]["sha256"]
                if shipped_sha != store.meta.get("encoder_sha256"):
                    raise AssetError(self.assets_root / _assets.LIBRARY_STORE,
                                     "the case library was built with another image encoder "
                                     "than the one shipped")
                self._image_encoder = ImageEncoder(path)
            else:
                version = getattr(self._image_encoder, "version", None)
                if self._injected_image and version != store.meta["encoder_version"]:
                    raise AssetError(self.assets_root / _assets.LIBRARY_STORE,
                                     f"the library was built with encoder "
                                     f"{store.meta['encoder_version']!r}, not {version!r}")
            if int(self._image_encoder.dim) != index.dim:
                raise AssetError(self.assets_root / _assets.LIBRARY_INDEX,
                                 f"index dimension {index.dim} differs from the encoder's "
                                 f"{self._image_encoder.dim}")
            return self._image_encoder

    def _text(self) -> TextEmbedder:
        with self._lock:
            if self._text_encoder is None:
                manifest = self._verified()
                for name in (_assets.TEXT_ENCODER, _assets.TEXT_TOKENIZER):
                    if name not in manifest["files"]:
                        raise AssetError(self.assets_root / name,
                                         "search by words needs it and it is not shipped")
                from desktop_app.encoding import TextEncoder

                self._text_encoder = TextEncoder(self.assets_root / _assets.TEXT_ENCODER,
                                                 self.assets_root / _assets.TEXT_TOKENIZER)
            return self._text_encoder

    def clinic(self) -> ClinicStore:
        """The clinic's own case store (opened, or created, on first use)."""
        with self._lock:
            if self._clinic is None:
                self._clinic = ClinicStore(self.clinic_path)
            return self._clinic

    # -- the ECG path ---------------------------------------------------------------------
    def load(self, path: str | Path, fs_hz: float | None = None) -> EcgRecord:
        """Read an ECG file (any supported format).

        Parameters
        ----------
        path : the file (for WFDB, the ``.hea`` header).
        fs_hz : sampling rate in Hz for formats that do not state it (CSV).

        Returns
        -------
        EcgRecord

        Raises
        ------
        EcgReadError
            If the file cannot be read as an ECG.
        """
        kwargs = {} if fs_hz is None else {"fs_hz": fs_hz}
        return read_ecg(Path(path), **kwargs)

    def embed(self, record: EcgRecord) -> np.ndarray:
        """The encoder's embedding of one record.

        Parameters
        ----------
        record : an ECG of at least 5 s.

        Returns
        -------
        np.ndarray
            float32, shape (dim,), unit length.

        Raises
        ------
        EcgValueError
            If the record is shorter than 5 s.
        AssetError
            If the encoder or library is missing or damaged.
        """
        if record.duration_s < MIN_DURATION_S:
            raise EcgValueError(
                f"the recording lasts {record.duration_s:.1f} s; finding similar cases needs at "
                f"least {MIN_DURATION_S:g} s of a 12-lead ECG")
        encoder = self._encoder()
        if record.meta.get("photo"):
            # A printed page shows most leads for 2.5 or 5 s; the encoder saw whole 10-s
            # recordings, so each lead's printed stretch is continued (for the search only).
            from desktop_app.photo import fill_unseen

            record = fill_unseen(record)
        vec = np.asarray(encoder.embed_signals(preprocess_for_model(record)[None]),
                         dtype=np.float32)[0]
        return vec / max(float(np.linalg.norm(vec)), 1e-12)

    def search(self, vector: np.ndarray, k: int | None = None) -> tuple[Hit, ...]:
        """The k most similar cases of the library and the clinic, merged by similarity.

        Parameters
        ----------
        vector : (dim,) query embedding from :meth:`embed` or a text embedding.
        k : number of hits; ``settings.top_k`` if None.

        Returns
        -------
        tuple of Hit
            Most similar first; each marked with the store it comes from.
        """
        k = int(k or self.settings.top_k)
        if k < 1:
            raise EcgValueError(f"k must be at least 1; got {k}")
        store, index = self._library()
        labels, sims = index.query(np.asarray(vector, dtype=np.float32), k)
        found: list[tuple[float, str, int]] = [
            (float(s), SOURCE_LIBRARY, int(lab)) for lab, s in zip(labels[0], sims[0])]
        if self.include_clinic:
            clinic = self.clinic()
            self._refresh_clinic_embeddings(clinic)
            found += [(s, SOURCE_CLINIC, cid)
                      for cid, s in clinic.search(vector, k, self.encoder_version)]
        # Ties: library before clinic, then by id, so results are reproducible.
        found.sort(key=lambda t: (-t[0], t[1] != SOURCE_LIBRARY, t[2]))
        found = found[:k]
        lib = store.get_cases([i for _, src, i in found if src == SOURCE_LIBRARY])
        cli = (self.clinic().get_many([i for _, src, i in found if src == SOURCE_CLINIC])
               if self.include_clinic else {})
        hits = []
        for sim, src, ident in found:
            if src == SOURCE_LIBRARY and ident in lib:
                hits.append(_library_hit(len(hits) + 1, lib[ident], sim))
            elif src == SOURCE_CLINIC and ident in cli:
                hits.append(_clinic_hit(len(hits) + 1, cli[ident], sim))
        return tuple(hits)

    def find_similar(self, path_or_record: str | Path | EcgRecord,
                     k: int | None = None) -> SearchResult:
        """Read (if a path), embed and search: the whole query in one call.

        Parameters
        ----------
        path_or_record : an ECG file or an :class:`EcgRecord`.
        k : number of hits; ``settings.top_k`` if None.

        Returns
        -------
        SearchResult

        Raises
        ------
        EcgReadError
            If the file cannot be read.
        EcgValueError
            If the recording is shorter than 5 s.
        AssetError
            If the models or the library are missing or damaged.
        """
        t0 = time.perf_counter()
        record = (path_or_record if isinstance(path_or_record, EcgRecord)
                  else self.load(path_or_record))
        vector = self.embed(record)
        hits = self.search(vector, k)
        return self._result(query_info(record), None, hits, vector, k, t0)

    def search_text(self, words: str, k: int | None = None) -> SearchResult:
        """Cases whose ECGs lie near a description in the shared text/ECG embedding space.

        Parameters
        ----------
        words : a description in English (e.g. "atrial fibrillation with rapid response").
        k : number of hits; ``settings.top_k`` if None.

        Returns
        -------
        SearchResult
            ``query`` is None and ``query_text`` holds the words.

        Raises
        ------
        EcgValueError
            If ``words`` is empty.
        AssetError
            If the text model is not shipped or damaged.
        """
        if not words or not words.strip():
            raise EcgValueError("search by words needs some words")
        t0 = time.perf_counter()
        vec = np.asarray(self._text().embed_texts([words.strip()]), dtype=np.float32)[0]
        vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        _, index = self._library()
        if vec.size != index.dim:
            raise AssetError(self.assets_root / _assets.TEXT_ENCODER,
                             f"its embeddings have {vec.size} dimensions, the library {index.dim}")
        return self._result(None, words.strip(), self.search(vec, k), vec, k, t0)

    def _result(self, query, text, hits, vector, k, t0) -> SearchResult:
        vector = np.array(vector, dtype=np.float32)
        vector.setflags(write=False)
        return SearchResult(
            query=query, query_text=text, hits=hits,
            consensus=consensus((h.similarity, h.statements) for h in hits),
            k=int(k or self.settings.top_k), encoder_version=self.encoder_version,
            embedding=vector, elapsed_ms=round((time.perf_counter() - t0) * 1000, 3))

    def case_traces(self, hit: Hit) -> tuple[np.ndarray, float]:
        """A hit's 12 leads for drawing: float32 (12, n) mV (NaN = missing) and rate in Hz."""
        if hit.source == SOURCE_LIBRARY and hit.ecg_id is not None:
            store, _ = self._library()
            return store.traces(hit.ecg_id)
        if hit.source == SOURCE_CLINIC and hit.clinic_case_id is not None:
            return self.clinic().traces(hit.clinic_case_id)
        raise EcgValueError(f"hit {hit.case_key} names no stored case")

    # -- the clinic's cases ---------------------------------------------------------------
    def add_clinic_case(self, record: EcgRecord, diagnosis: str, *,
                        statements: Sequence[Statement | dict] = (), note: str = "",
                        keep_identifiers: bool = False) -> ClinicCase:
        """Add a confirmed ECG with its diagnosis to the clinic's cases.

        Parameters
        ----------
        record : the ECG (at least 5 s).
        diagnosis : the confirmed diagnosis in words.
        statements : structured statements, if any.
        note : free text.
        keep_identifiers : also store the patient's name and id from the file (never
            exported unless asked for).

        Returns
        -------
        ClinicCase

        Raises
        ------
        EcgValueError
            If the diagnosis is empty, the record too short, or the ECG already stored.
        """
        vector = self.embed(record)
        demo = record.demographics
        return self.clinic().add(
            record.signal, record.fs_hz, diagnosis=diagnosis, statements=statements,
            embedding=vector, encoder_version=self.encoder_version, note=note,
            age=demo.age_years, sex=demo.sex,
            patient_id=demo.patient_id if keep_identifiers else None,
            patient_name=demo.name if keep_identifiers else None,
            source_format=record.source_format)

    def edit_clinic_case(self, case_id: int, **changes: Any) -> ClinicCase:
        """Change a clinic case's diagnosis, statements, note, age or sex."""
        return self.clinic().edit(case_id, **changes)

    def remove_clinic_case(self, case_id: int) -> None:
        """Delete a clinic case."""
        self.clinic().remove(case_id)

    def clinic_cases(self) -> list[ClinicCase]:
        """Every clinic case, oldest first."""
        return self.clinic().list_cases()

    def export_clinic_cases(self, path: str | Path, *, include_identifiers: bool = False) -> int:
        """Write all clinic cases to one file to share; returns how many."""
        return self.clinic().export(path, include_identifiers=include_identifiers)

    def import_clinic_cases(self, path: str | Path) -> ImportReport:
        """Add the cases of a shared file (all or nothing; duplicates skipped)."""
        report = self.clinic().import_file(path)
        self._clinic_checked_version = None
        return report

    def _refresh_clinic_embeddings(self, clinic: ClinicStore) -> None:
        # Cases embedded by another encoder version (imported, or from before an update) are
        # re-embedded from their stored traces, one transaction each, before they are searched.
        version = self.encoder_version
        if (self._clinic_checked_version == version
                and clinic.revision() == self._clinic_checked_revision):
            return
        stale = clinic.stale_cases(version)
        for case_id in stale:
            signal, fs_hz = clinic.traces(case_id)
            missing = np.all(np.isnan(signal), axis=1)
            rec = EcgRecord(signal, fs_hz, lead_sources=tuple(
                LeadSource.MISSING if m else LeadSource.RECORDED for m in missing))
            try:
                clinic.set_embedding(case_id, self.embed(rec), version)
            except EcgValueError as exc:
                log.warning("clinic case %d cannot be embedded: %s", case_id, exc)
        if stale:
            log.info("re-embedded %d clinic cases for encoder %s", len(stale), version)
        self._clinic_checked_version = version
        self._clinic_checked_revision = clinic.revision()


def _library_hit(rank: int, case, similarity: float) -> Hit:
    return Hit(rank=rank, source=SOURCE_LIBRARY, case_key=f"ptbxl:{case.ecg_id}",
               ecg_id=case.ecg_id, clinic_case_id=None, similarity=float(similarity),
               age=case.age, sex=case.sex, statements=case.statements,
               statements_en=case.statements_en, report_original=case.report,
               report_en=case.report_en, report_language=case.report_language,
               heart_axis=case.heart_axis, infarction_stadium=case.infarction_stadium,
               text_source=case.text_source)


def _clinic_hit(rank: int, case: ClinicCase, similarity: float) -> Hit:
    # A case confirmed only in words votes with its diagnosis as its one statement.
    statements = case.statements or (Statement("", case.diagnosis, None, "clinic"),)
    words = "; ".join(s.description for s in statements if s.description)
    return Hit(rank=rank, source=SOURCE_CLINIC, case_key=f"clinic:{case.uid}", ecg_id=None,
               clinic_case_id=case.case_id, similarity=float(similarity), age=case.age,
               sex=case.sex, statements=statements, statements_en=words,
               diagnosis=case.diagnosis)


__all__ = ["DISCLAIMER", "CaseFinder", "Hit", "QueryInfo", "SearchResult", "query_info"]
