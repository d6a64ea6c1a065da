"""What the most similar cases have in common: a similarity-weighted vote over statements.

Deliberately descriptive. Each line says how many of the k similar confirmed cases carry a
statement ("3 of 10 similar cases carry this statement") and what share of the total
similarity they hold; it never names a diagnosis for the query.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desktop_app.library._store import Statement

#: Shown with every result, in the GUI and in the CLI's JSON.
DISCLAIMER = "Decision aid: similar confirmed cases, not a diagnosis."


@dataclass(frozen=True)
class ConsensusItem:
    """One statement and how the similar cases vote on it.

    Attributes
    ----------
    code : statement code (``""`` for a clinic's free-text statement).
    description : English description.
    count : number of the k cases that carry it.
    k : number of cases voted over.
    weighted_share : share of the summed similarity held by the cases that carry it, 0-1.
    mean_likelihood : mean recorded likelihood (percent) among those cases that have one, or
        None.
    """

    code: str
    description: str
    count: int
    k: int
    weighted_share: float
    mean_likelihood: float | None

    @property
    def text(self) -> str:
        noun = "case carries" if self.count == 1 and self.k == 1 else "cases carry"
        return f"{self.count} of {self.k} similar {noun} this statement"


@dataclass(frozen=True)
class Consensus:
    """The vote over the top-k similar cases, largest weighted share first."""

    items: tuple[ConsensusItem, ...]
    k: int
    disclaimer: str = DISCLAIMER


def consensus(neighbours: Iterable[tuple[float, Sequence[Statement]]]) -> Consensus:
    """Similarity-weighted vote over the statements of the nearest cases.

    Each case's weight is its cosine similarity clipped at 0 (a dissimilar case gets no say);
    if every weight is 0 the cases count equally. A statement's weighted share is the summed
    weight of the cases that carry it over the summed weight of all k cases. A case that lists
    a statement twice counts once.

    Parameters
    ----------
    neighbours : (similarity, statements) of each of the k nearest cases.

    Returns
    -------
    Consensus
        Items sorted by weighted share, then count, then code.
    """
    cases = [(max(float(sim), 0.0), list(stmts)) for sim, stmts in neighbours]
    k = len(cases)
    if k == 0:
        return Consensus((), 0)
    total = sum(w for w, _ in cases)
    weights = [w / total if total > 0 else 1.0 / k for w, _ in cases]
    votes: dict[str, dict] = {}
    for weight, (_, stmts) in zip(weights, cases):
        seen: set[str] = set()
        for st in stmts:
            key = st.key
            if not key or key in seen:
                continue
            seen.add(key)
            vote = votes.setdefault(key, {"code": st.code, "description": st.description,
                                          "count": 0, "share": 0.0, "liks": []})
            vote["count"] += 1
            vote["share"] += weight
            if st.likelihood is not None:
                vote["liks"].append(st.likelihood)
    items = [
        ConsensusItem(code=v["code"], description=v["description"], count=v["count"], k=k,
                      weighted_share=min(1.0, v["share"]),
                      mean_likelihood=(sum(v["liks"]) / len(v["liks"])) if v["liks"] else None)
        for v in votes.values()
    ]
    items.sort(key=lambda it: (-it.weighted_share, -it.count, it.code, it.description))
    return Consensus(tuple(items), k)
