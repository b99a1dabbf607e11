"""The RAG benchmark's yardstick: recall@k and nDCG@k against hand-computed figures, and
the labelled set itself (``bench/rag_labelled.py``) — sound labels, questions in a user's
words rather than the documents', BM25 over it far from chance and far from perfect."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from rag_labelled import LEFT_OUT, QUERIES, Query, corpus  # noqa: E402
from rag_metrics import Scores, bm25_search, documents, evaluate, ndcg_at, recall_at  # noqa: E402

# discounts of places 2 and 3: 1 / log2(3), 1 / log2(4)
D2 = 1 / math.log2(3)
D3 = 0.5


# -- the metrics ------------------------------------------------------------------------


def test_recall_counts_the_relevant_documents_in_the_first_k() -> None:
    ranked = ["a", "b", "c", "d"]
    assert recall_at(ranked, {"b", "e"}, 1) == 0.0
    assert recall_at(ranked, {"b", "e"}, 2) == 0.5
    assert recall_at(ranked, {"a", "d"}, 4) == 1.0
    assert recall_at(ranked, {"a", "d"}, 10) == 1.0
    assert recall_at([], {"a"}, 10) == 0.0


def test_ndcg_discounts_by_place_and_normalises_by_the_best_order() -> None:
    assert ndcg_at(["a", "b"], {"a"}, 10) == 1.0
    assert ndcg_at(["x", "a"], {"a"}, 10) == pytest.approx(D2)
    # two relevant, at places 1 and 3: (1 + 1/2) / (1 + 1/log2 3)
    assert ndcg_at(["a", "x", "b"], {"a", "b"}, 10) == pytest.approx(1.5 / (1 + D2))
    assert ndcg_at(["x", "y", "a"], {"a"}, 2) == 0.0
    assert ndcg_at(["x", "y", "a"], {"a"}, 3) == pytest.approx(D3)


def test_ndcg_ideal_is_over_at_most_k_documents() -> None:
    """Three answers and k = 2: two hits in the two places is perfect, not two thirds."""
    assert ndcg_at(["a", "b", "x"], {"a", "b", "c"}, 2) == 1.0
    assert ndcg_at(["a", "x", "b"], {"a", "b", "c"}, 2) == pytest.approx(1 / (1 + D2))


def test_a_document_counts_once_where_its_best_chunk_ranked() -> None:
    """Chunk hits name their document again and again; k counts documents, so three
    chunks of ``a`` do not push ``b`` out of the first two."""
    hits = ["a", "a", "a", "b", "a", "c"]
    assert documents(hits) == ["a", "b", "c"]
    assert recall_at(hits, {"b"}, 2) == 1.0
    assert ndcg_at(hits, {"b"}, 2) == pytest.approx(D2)
    # a repeated relevant document is not two hits
    assert ndcg_at(["b", "b"], {"b", "c"}, 10) == pytest.approx(1 / (1 + D2))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="k must be at least 1"):
        recall_at(["a"], {"a"}, 0)
    with pytest.raises(ValueError, match="at least one relevant"):
        ndcg_at(["a"], set(), 10)
    with pytest.raises(ValueError, match="no questions"):
        evaluate(lambda text: [], [])


def test_evaluate_means_over_the_questions() -> None:
    rankings = {"first": ["a", "x"], "second": ["x", "b", "x", "b"]}
    queries = [Query("first", ("a",)), Query("second", ("b", "c"))]
    scores = evaluate(lambda text: rankings[text], queries)
    assert scores.recall == pytest.approx((1.0 + 0.5) / 2)
    assert scores.ndcg == pytest.approx((1.0 + D2 / (1 + D2)) / 2)
    # k cuts: at k = 1 the second question finds nothing
    assert evaluate(lambda text: rankings[text], queries, k=1) == Scores(recall=0.5, ndcg=0.5)


# -- the labelled set -------------------------------------------------------------------


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return corpus()


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def test_the_corpus_is_pythons_help_without_the_topics_that_repeat_others(
    texts: dict[str, str],
) -> None:
    assert len(texts) >= 100
    assert {"try", "formatstrings", "module:json", "module:re"} <= texts.keys()
    assert not LEFT_OUT & texts.keys()
    assert [name for name, text in texts.items() if len(_words(text)) < 20] == []
    assert list(texts) == sorted(texts) and corpus() == texts


def test_every_question_is_labelled_with_one_to_three_documents_of_the_corpus(
    texts: dict[str, str],
) -> None:
    assert len(QUERIES) >= 60
    assert len({q.text for q in QUERIES}) == len(QUERIES)
    for query in QUERIES:
        assert 1 <= len(query.relevant) <= 3, query
        assert len(set(query.relevant)) == len(query.relevant), query
        assert set(query.relevant) <= texts.keys(), query


def test_no_question_copies_five_words_in_a_row_from_its_answers(
    texts: dict[str, str],
) -> None:
    def runs(words: list[str]) -> set[tuple[str, ...]]:
        return {tuple(words[i : i + 5]) for i in range(len(words) - 4)}

    copied = [
        (query.text, name)
        for query in QUERIES
        for name in query.relevant
        if runs(_words(query.text)) & runs(_words(texts[name]))
    ]
    assert copied == []


def test_bm25_alone_finds_most_answers_but_not_all(texts: dict[str, str]) -> None:
    """Far above chance (10 of ~120 documents at random: under 0.1) says the labels
    match the texts; well short of 1.0 says the questions are not the texts' own words,
    so the meaning-ish ones leave work for the vectors."""
    scores = evaluate(bm25_search(texts), QUERIES)
    assert 0.5 < scores.recall < 0.95
    assert 0.3 < scores.ndcg < scores.recall


def test_bm25_finds_a_named_function_first(texts: dict[str, str]) -> None:
    search = bm25_search(texts)
    assert search("heappushpop versus heapreplace")[0] == "module:heapq"
    assert search("crc32 and adler32 checksums")[0] == "module:zlib"
    assert search("") == []
