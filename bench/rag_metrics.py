"""Retrieval quality of the RAG benchmark: recall@k and nDCG@k of a search over the
labelled set (``bench/rag_labelled.py``), and BM25 over whole documents as a baseline.

A search returns document names best first. The store ranks chunks, so a document can
come back several times: only its first place counts (:func:`documents`), and k counts
documents, not chunks — a search asked for the top 10 chunks may name fewer than 10
documents, so ask it for more and let the metrics cut.

Relevance is binary (a document answers the question or it does not). nDCG discounts a
hit at place i (from 1) by log2(i + 1) and divides by the best DCG possible, all
relevant documents first (at most k of them), so a question with three answers is not
held to finding three in the first place.

    python bench/rag_metrics.py        # recall@10 and nDCG@10 of the BM25 baseline
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from rag_labelled import QUERIES, Query, corpus

__all__ = ["Scores", "bm25_search", "documents", "evaluate", "ndcg_at", "recall_at"]


@dataclass(frozen=True)
class Scores:
    """Means over the questions."""

    recall: float
    ndcg: float


def documents(hits: Iterable[str]) -> list[str]:
    """Document names in order of their first appearance: a search's chunk hits mapped
    to their documents, each document where its best chunk ranked."""
    return list(dict.fromkeys(hits))


def _top(ranked: Sequence[str], relevant: Collection[str], k: int) -> list[str]:
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    if not relevant:
        raise ValueError("a question needs at least one relevant document")
    return documents(ranked)[:k]


def recall_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """The share of the relevant documents among the first ``k`` ranked."""
    top = _top(ranked, relevant, k)
    wanted = set(relevant)
    return len(wanted.intersection(top)) / len(wanted)


def ndcg_at(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Normalised discounted cumulative gain of the first ``k`` ranked: 1.0 when the
    relevant documents are the first ones, less the lower they are, 0.0 when none is
    among the ``k``."""
    top = _top(ranked, relevant, k)
    wanted = set(relevant)
    gain = sum(1 / math.log2(place + 2) for place, name in enumerate(top) if name in wanted)
    best = sum(1 / math.log2(place + 2) for place in range(min(k, len(wanted))))
    return gain / best


def evaluate(search: Callable[[str], list[str]], queries: Sequence[Query], k: int = 10) -> Scores:
    """Mean recall@k and nDCG@k of ``search`` (a question → document names, best first;
    repeats allowed) over ``queries``."""
    if not queries:
        raise ValueError("no questions to evaluate")
    recall = ndcg = 0.0
    for query in queries:
        ranked = search(query.text)
        recall += recall_at(ranked, query.relevant, k)
        ndcg += ndcg_at(ranked, query.relevant, k)
    return Scores(recall=recall / len(queries), ndcg=ndcg / len(queries))


_WORD = re.compile(r"\w+")


def bm25_search(documents: Mapping[str, str], limit: int = 50) -> Callable[[str], list[str]]:
    """A search by BM25 over whole documents, from SQLite's FTS5 in memory (the
    ``unicode61`` tokenizer, as the store's message search): the baseline that says
    whether the labels are sound (far above chance) and the questions not copied from
    the texts (far from perfect). A question's words are ORed: FTS5 ANDs them by
    default, and few documents hold every word of a question asked in a user's words."""
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE docs USING fts5 (name UNINDEXED, text)")
    db.executemany("INSERT INTO docs (name, text) VALUES (?, ?)", documents.items())

    def search(text: str) -> list[str]:
        words = _WORD.findall(text.lower())
        if not words:
            return []
        match = " OR ".join(f'"{word}"' for word in dict.fromkeys(words))
        rows = db.execute(
            "SELECT name FROM docs WHERE docs MATCH ? ORDER BY bm25(docs) LIMIT ?",
            (match, limit),
        )
        return [name for (name,) in rows]

    return search


def main() -> None:
    texts = corpus()
    scores = evaluate(bm25_search(texts), QUERIES)
    print(f"{len(texts)} documents, {len(QUERIES)} questions")
    print(f"BM25 (whole documents)  recall@10 {scores.recall:.3f}  nDCG@10 {scores.ndcg:.3f}")


if __name__ == "__main__":
    main()
