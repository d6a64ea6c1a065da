"""Report-generation metrics of the paper (BLEU-4, METEOR, ROUGE-L), in plain Python.

Qiu et al. score the top-1 retrieved report against the query's true report with these three.
The usual implementations pull in large dependencies (``nltk`` with WordNet data downloaded at
run time, ``rouge-score``), so the standard definitions are written out here and tested on
hand-checked pairs:

* BLEU-4: corpus-level (Papineni et al. 2002), clipped 1-4-gram precisions, geometric mean,
  brevity penalty over the corpus; no smoothing (as ``nltk.corpus_bleu`` by default).
* METEOR: Banerjee & Lavie (2005) with the exact-match module only (no stemming or WordNet
  synonyms, so it is a lower bound of the full METEOR): unigram F-mean with recall weighted 9:1,
  fragmentation penalty ``0.5 * (chunks / matches) ** 3``; mean over sentences.
* ROUGE-L: F-measure of the longest common subsequence (Lin 2004, beta = 1); mean over sentences.

Tokens are lower-cased words and numbers (punctuation dropped).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def tokens(text: str) -> list[str]:
    """Lower-cased word and number tokens of ``text``."""
    return _TOKEN.findall(text.lower())


def _ngrams(toks: Sequence[str], n: int) -> Counter:
    return Counter(tuple(toks[i:i + n]) for i in range(len(toks) - n + 1))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU-``max_n`` of hypotheses against one reference each, in [0, 1]."""
    matched = [0] * max_n
    total = [0] * max_n
    hyp_len = ref_len = 0
    for hyp, ref in zip(hypotheses, references, strict=True):
        h, r = tokens(hyp), tokens(ref)
        hyp_len += len(h)
        ref_len += len(r)
        for n in range(1, max_n + 1):
            hn, rn = _ngrams(h, n), _ngrams(r, n)
            matched[n - 1] += sum(min(c, rn[g]) for g, c in hn.items())
            total[n - 1] += max(len(h) - n + 1, 0)
    if hyp_len == 0 or any(m == 0 for m in matched):
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matched, total)) / max_n
    bp = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return bp * math.exp(log_p)


def _align(h: Sequence[str], r: Sequence[str]) -> list[tuple[int, int]]:
    """Exact unigram alignment: each hypothesis word to the nearest unused equal reference word,
    left to right (a simple stand-in for METEOR's fewest-crossings search)."""
    used: set[int] = set()
    pairs = []
    for i, word in enumerate(h):
        candidates = [j for j, w in enumerate(r) if w == word and j not in used]
        if candidates:
            j = min(candidates, key=lambda j: abs(j - i))
            used.add(j)
            pairs.append((i, j))
    return pairs


def meteor(hypothesis: str, reference: str, alpha: float = 0.9, beta: float = 3.0,
           gamma: float = 0.5) -> float:
    """METEOR (exact matches only) of one hypothesis against one reference, in [0, 1]."""
    h, r = tokens(hypothesis), tokens(reference)
    pairs = _align(h, r)
    m = len(pairs)
    if m == 0:
        return 0.0
    precision, recall = m / len(h), m / len(r)
    f_mean = precision * recall / (alpha * precision + (1 - alpha) * recall)
    chunks = 1
    for (i0, j0), (i1, j1) in zip(pairs, pairs[1:]):
        if not (i1 == i0 + 1 and j1 == j0 + 1):
            chunks += 1
    penalty = gamma * (chunks / m) ** beta
    return f_mean * (1 - penalty)


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F-measure (beta = 1) of one hypothesis against one reference, in [0, 1]."""
    h, r = tokens(hypothesis), tokens(reference)
    if not h or not r:
        return 0.0
    lcs = _lcs(h, r)
    if lcs == 0:
        return 0.0
    p, rec = lcs / len(h), lcs / len(r)
    return 2 * p * rec / (p + rec)


def report_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """``{"bleu4", "meteor", "rouge_l"}`` of retrieved reports against the true ones."""
    n = len(references)
    return {"bleu4": corpus_bleu(hypotheses, references),
            "meteor": sum(map(meteor, hypotheses, references)) / n if n else float("nan"),
            "rouge_l": sum(map(rouge_l, hypotheses, references)) / n if n else float("nan")}
