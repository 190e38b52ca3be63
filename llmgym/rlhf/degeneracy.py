"""Text statistics that expose degenerate samples: repetition, distinct-n, near-identical share.

Both the gold labeler (one text at a time) and the over-optimisation guard (a batch of samples)
use these, so "degenerate" means the same thing in the score and in the stopping rule.

>>> round(distinct_n("the the the the".split(), 1), 2)
0.25
>>> longest_run("a b b b c".split())
3
>>> near_identical_share(["a joke about cats", "a joke about cats", "something else entirely"])
0.6666666666666666
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Sequence

_WORD_RE = re.compile(r"[A-Za-z']+")


def words(text: str) -> list[str]:
    """Lower-case words (letters and apostrophes); everything else separates them."""
    return [w.strip("'") for w in _WORD_RE.findall(text.lower()) if w.strip("'")]


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(tokens: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams (1.0 when there are none: nothing repeats)."""
    grams = ngrams(tokens, n)
    return len(set(grams)) / len(grams) if grams else 1.0


def longest_run(tokens: Sequence[str]) -> int:
    """The longest run of one token repeated back to back."""
    best = run = 0
    prev = None
    for tok in tokens:
        run = run + 1 if tok == prev else 1
        prev = tok
        best = max(best, run)
    return best


def top_share(tokens: Sequence[str]) -> float:
    """The share of the most frequent token (0.0 for no tokens)."""
    if not tokens:
        return 0.0
    return Counter(tokens).most_common(1)[0][1] / len(tokens)


def _shingles(text: str) -> set[tuple[str, ...]]:
    toks = words(text)
    return set(ngrams(toks, 2)) if len(toks) > 1 else {tuple(toks)}


def jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def near_identical_share(texts: Sequence[str], threshold: float = 0.8) -> float:
    """The share of texts whose word-bigram Jaccard similarity to another text is >= `threshold`.

    Mode collapse shows here first: a policy that found one text its reward model loves writes it
    for every prompt.
    """
    if len(texts) < 2:
        return 0.0
    sh = [_shingles(t) for t in texts]
    dup = [False] * len(texts)
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if jaccard(sh[i], sh[j]) >= threshold:
                dup[i] = dup[j] = True
    return sum(dup) / len(texts)


def batch_stats(texts: Sequence[str]) -> dict[str, float]:
    """Degeneracy of a batch of samples: means of per-text figures plus the near-identical share.

    Keys: `repetition` (mean share of the most frequent word), `distinct_1`, `distinct_2`
    (means over texts), `longest_run` (mean), `length` (mean words), `near_identical`.
    """
    if not texts:
        return {"repetition": 0.0, "distinct_1": 1.0, "distinct_2": 1.0, "longest_run": 0.0, "length": 0.0,
                "near_identical": 0.0}
    toks = [words(t) for t in texts]
    n = len(texts)
    return {
        "repetition": sum(top_share(t) for t in toks) / n,
        "distinct_1": sum(distinct_n(t, 1) for t in toks) / n,
        "distinct_2": sum(distinct_n(t, 2) for t in toks) / n,
        "longest_run": sum(longest_run(t) for t in toks) / n,
        "length": sum(len(t) for t in toks) / n,
        "near_identical": near_identical_share(texts),
    }
