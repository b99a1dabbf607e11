"""Reciprocal rank fusion: several ranked lists made one, by rank alone.

BM25 scores and cosine similarities are on scales that do not compare (a BM25 score
grows with the query's length and the words' rarity; a cosine of 0.3 may be the best
there is), so hybrid search fuses the lists by where each item stands in them, not by
score: an item at rank ``r`` (1 for the first) of a list earns ``1 / (k + r)`` from it,
and its fused score is the sum over the lists that ranked it (Cormack, Clarke and
Büttcher, 2009). ``k`` damps the head of each list: with the usual 60, the first of one
list (1/61) is worth little more than the tenth (1/70), so an item near the top of both
lists beats one first in only one of them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

__all__ = ["RRF_K", "Fused", "rrf"]

RRF_K = 60
"""The damping constant of reciprocal rank fusion: the value of the paper, and of most
search engines that fuse this way."""

K = TypeVar("K", bound=Hashable)

Fused = tuple[K, float, dict[str, int]]
"""An item, its fused score, and its rank (1-based) in each list that ranked it."""


def rrf(lists: Mapping[str, Sequence[K]], k: int = RRF_K) -> list[Fused[K]]:
    """Fuse ``lists`` (each best first, named) into one, best first.

    Ties (two items with the same sum) go to the item ranked higher in its best list,
    then to the order of ``lists``, so the result never depends on a set's order."""
    if k < 0:
        raise ValueError("k must not be negative")
    scores: dict[K, float] = {}
    ranks: dict[K, dict[str, int]] = {}
    for name, items in lists.items():
        for rank, item in enumerate(dict.fromkeys(items), start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(item, {})[name] = rank
    order = {item: i for i, item in enumerate(scores)}
    best = sorted(scores, key=lambda item: (-scores[item], min(ranks[item].values()), order[item]))
    return [(item, scores[item], ranks[item]) for item in best]
