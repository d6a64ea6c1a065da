"""Nearest-neighbour search over L2-normalised embeddings: hnswlib, checked against exact search.

Similarity is the inner product of unit vectors, i.e. the cosine. hnswlib's ``"ip"`` space
returns ``1 - <a, b>`` as its distance; :meth:`VectorIndex.query` turns it back into the cosine.

Determinism: hnswlib draws each element's level from a generator seeded with ``random_seed``;
inserting the vectors in a fixed order from one thread (``num_threads=1``) then gives the same
graph and the same file on every build.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from desktop_app.errors import AssetError, EcgValueError

log = logging.getLogger(__name__)

#: Graph degree and build-time beam. M=16 is hnswlib's recommended default for 100-1000-d
#: embeddings; ef_construction=200 makes the graph good enough that a small query ef reaches
#: recall@10 >= 0.99 (measured by :func:`tune_ef` at build time).
DEFAULT_M = 16
DEFAULT_EF_CONSTRUCTION = 200
DEFAULT_SEED = 100
#: Query beams tried by :func:`tune_ef`, smallest first.
EF_CANDIDATES: tuple[int, ...] = (10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); a zero row stays zero."""
    v = np.asarray(vectors, dtype=np.float32)
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def exact_search(matrix: np.ndarray, labels: np.ndarray, queries: np.ndarray,
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k by inner product (the reference the index is measured against).

    Parameters
    ----------
    matrix : (n, d) unit vectors.
    labels : (n,) label of each row.
    queries : (m, d) unit vectors.
    k : neighbours per query (clamped to n).

    Returns
    -------
    (labels, similarities)
        (m, k) int64 labels and float32 cosines, most similar first.
    """
    q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    k = min(int(k), matrix.shape[0])
    if k <= 0:
        return np.zeros((q.shape[0], 0), np.int64), np.zeros((q.shape[0], 0), np.float32)
    sims = q @ matrix.T
    part = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    part_sims = np.take_along_axis(sims, part, axis=1)
    order = np.argsort(-part_sims, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1)
    return (np.asarray(labels, dtype=np.int64)[idx],
            np.take_along_axis(sims, idx, axis=1).astype(np.float32))


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the true top-k labels that were found (rows are queries)."""
    if truth.size == 0:
        return 1.0
    hits = [len(set(f.tolist()) & set(t.tolist())) / len(t) for f, t in zip(found, truth)]
    return float(np.mean(hits))


class VectorIndex:
    """An hnswlib inner-product index over unit vectors, labelled with case ids.

    Use :meth:`build` or :meth:`load`. Queries are safe from several threads: the query beam
    (``ef``) is set once, and hnswlib's search does not modify the graph.
    """

    def __init__(self, index, dim: int, ef: int) -> None:
        self._index = index
        self.dim = int(dim)
        self.ef = int(ef)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._index.get_current_count())

    @classmethod
    def build(cls, vectors: np.ndarray, labels: Sequence[int], *, m: int = DEFAULT_M,
              ef_construction: int = DEFAULT_EF_CONSTRUCTION, seed: int = DEFAULT_SEED,
              ef: int = 64) -> "VectorIndex":
        """Build an index deterministically (one thread, fixed seed, given order).

        Parameters
        ----------
        vectors : (n, d) embeddings; normalised here.
        labels : (n,) non-negative integer labels (``ecg_id``).
        m, ef_construction, seed : hnswlib build parameters.
        ef : query beam to start with (see :func:`tune_ef`).

        Returns
        -------
        VectorIndex

        Raises
        ------
        EcgValueError
            If the shapes disagree or there are no vectors.
        """
        import hnswlib

        v = normalise(vectors)
        lab = np.asarray(labels, dtype=np.int64)
        if v.ndim != 2 or v.shape[0] == 0 or lab.shape != (v.shape[0],):
            raise EcgValueError(f"index needs (n, d) vectors and n labels; got {v.shape}, "
                                f"{lab.shape}")
        index = hnswlib.Index(space="ip", dim=v.shape[1])
        index.init_index(max_elements=v.shape[0], M=m, ef_construction=ef_construction,
                         random_seed=seed)
        index.add_items(v, lab, num_threads=1)
        index.set_ef(ef)
        return cls(index, v.shape[1], ef)

    @classmethod
    def load(cls, path: str | Path, dim: int, ef: int) -> "VectorIndex":
        """Load a saved index.

        Parameters
        ----------
        path : ``index.hnsw``.
        dim : embedding dimension (from the store's meta).
        ef : query beam chosen at build time.

        Raises
        ------
        AssetError
            If the file is missing or not a valid index for ``dim``.
        """
        import hnswlib

        path = Path(path)
        if not path.is_file():
            raise AssetError(path, "the similarity index is missing")
        index = hnswlib.Index(space="ip", dim=int(dim))
        try:
            index.load_index(str(path))
        except (RuntimeError, ValueError, MemoryError) as exc:
            raise AssetError(path, f"not a readable similarity index ({exc})") from exc
        index.set_ef(int(ef))
        return cls(index, dim, ef)

    def save(self, path: str | Path) -> None:
        """Write the index file."""
        self._index.save_index(str(path))

    def set_ef(self, ef: int) -> None:
        """Change the query beam (not while other threads query)."""
        with self._lock:
            self._index.set_ef(int(ef))
            self.ef = int(ef)

    def query(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-k by cosine.

        Parameters
        ----------
        vectors : (d,) or (m, d) query embeddings (normalised here).
        k : neighbours per query (clamped to the index size).

        Returns
        -------
        (labels, similarities)
            (m, k) int64 labels and float32 cosines, most similar first.

        Raises
        ------
        EcgValueError
            If the dimension differs from the index's.
        """
        q = normalise(np.atleast_2d(vectors))
        if q.shape[1] != self.dim:
            raise EcgValueError(f"query has {q.shape[1]} dimensions; the index has {self.dim} "
                                f"(the library was built with another encoder)")
        k = min(int(k), len(self))
        if k <= 0:
            return np.zeros((q.shape[0], 0), np.int64), np.zeros((q.shape[0], 0), np.float32)
        labels, dist = self._index.knn_query(q, k=k, num_threads=1)
        return labels.astype(np.int64), (1.0 - dist).astype(np.float32)

    def vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored vector and its label, in label order (for exact checks)."""
        labels = np.sort(np.asarray(self._index.get_ids_list(), dtype=np.int64))
        return np.asarray(self._index.get_items(labels), dtype=np.float32), labels


def tune_ef(index: VectorIndex, queries: np.ndarray, *, k: int = 10, target: float = 0.99,
            candidates: Sequence[int] = EF_CANDIDATES) -> tuple[int, float]:
    """Smallest query beam whose recall@k against exact search reaches ``target``.

    Parameters
    ----------
    index : the built index (its ``ef`` is left at the chosen value).
    queries : (m, d) query vectors, ideally not in the index (held-out records).
    k : neighbours compared.
    target : wanted mean recall@k.
    candidates : beams to try, ascending.

    Returns
    -------
    (ef, recall)
        The chosen beam and its measured recall (the largest candidate if none reaches the
        target; the caller decides whether that is acceptable).
    """
    matrix, labels = index.vectors()
    truth, _ = exact_search(matrix, labels, normalise(queries), k)
    recall = 0.0
    ef = int(candidates[-1])
    for cand in candidates:
        index.set_ef(max(int(cand), k))
        found, _ = index.query(queries, k)
        recall = recall_at_k(found, truth)
        if recall >= target:
            ef = max(int(cand), k)
            break
    index.set_ef(ef)
    log.info("index ef=%d gives recall@%d=%.4f on %d queries", ef, k, recall, len(queries))
    return ef, recall
