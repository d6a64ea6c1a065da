"""Retrieval metrics on L2-normalised embeddings (numpy only; exact cosine kNN)."""

from __future__ import annotations

import numpy as np


def knn(queries: np.ndarray, gallery: np.ndarray, k: int, *,
        exclude_self: bool = False, chunk: int = 1024) -> np.ndarray:
    """Indices of the k most cosine-similar gallery rows for each query, best first.

    Parameters
    ----------
    queries, gallery : float arrays (n, d) and (m, d), rows of unit length.
    k : neighbours per query (at most m, or m - 1 with ``exclude_self``).
    exclude_self : queries *are* the gallery; a row is not its own neighbour.
    """
    k = min(k, gallery.shape[0] - (1 if exclude_self else 0))
    out = np.zeros((queries.shape[0], k), dtype=np.int64)
    for start in range(0, queries.shape[0], chunk):
        sim = queries[start:start + chunk] @ gallery.T
        if exclude_self:
            rows = np.arange(sim.shape[0])
            sim[rows, rows + start] = -np.inf
        part = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        order = np.take_along_axis(sim, part, axis=1).argsort(axis=1)[:, ::-1]
        out[start:start + chunk] = np.take_along_axis(part, order, axis=1)
    return out


def precision_at_k(neighbours: np.ndarray, query_labels: np.ndarray,
                   gallery_labels: np.ndarray) -> float:
    """Mean fraction of neighbours sharing at least one label with their query.

    Queries without any label (PTB-XL records with no diagnostic superclass) are left out.

    Parameters
    ----------
    neighbours : (n, k) gallery indices, e.g. from :func:`knn`.
    query_labels, gallery_labels : binary (n, L) and (m, L) label matrices.
    """
    q = query_labels.astype(bool)
    g = gallery_labels.astype(bool)
    has = q.any(axis=1)
    if not has.any():
        return float("nan")
    shared = (g[neighbours] & q[:, None, :]).any(axis=2)  # (n, k)
    return float(shared[has].mean())


def topk_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean fraction of each row's k nearest rows (self excluded) that a and b share."""
    na, nb = knn(a, a, k, exclude_self=True), knn(b, b, k, exclude_self=True)
    kk = na.shape[1]
    return float(np.mean([len(set(r) & set(s)) / kk for r, s in zip(na, nb)]))
