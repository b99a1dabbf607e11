"""RagIndex: vector, BM25 and hybrid search over a real store (SQLite, then
PostgreSQL), and the matrix of vectors kept current as documents come and go."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from chatthy.errors import ArgumentError, NotFoundError
from chatthy.rag import index as index_module
from chatthy.rag.fuse import rrf
from chatthy.rag.index import MODES, Document, RagIndex
from chatthy.store.base import RagChunkIn, RagVectors, text_digest
from ragkit import BACKENDS, RagStore, database

ALICE, BOB = "alice", "bob"
DIM = 16
EMBEDDER = "test-embedder"
Matrix = npt.NDArray[np.float32]


def unit(rows: npt.ArrayLike) -> Matrix:
    matrix = np.asarray(rows, np.float32).reshape(-1, DIM)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def random_units(n: int, seed: int) -> Matrix:
    return unit(np.random.default_rng(seed).standard_normal((n, DIM)))


def chunks_of(lines: list[str]) -> list[RagChunkIn]:
    chunks, at = [], 0
    for line in lines:
        chunks.append(RagChunkIn(line, "Section", at, at + len(line)))
        at += len(line) + 1
    return chunks


async def add(index: RagIndex, profile: str, name: str, lines: list[str], vectors: Matrix) -> None:
    """Add a document of one chunk per line, from ``/docs/NAME``."""
    text = "\n".join(lines)
    await index.add(profile, name, text, f"/docs/{name}", chunks_of(lines), vectors, EMBEDDER)


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RagStore]:
    async with database(request.param, tmp_path) as db:
        opened = await db.open()
        try:
            yield opened
        finally:
            await opened.aclose()


@pytest.fixture
def index(store: RagStore) -> RagIndex:
    return RagIndex(store)


class VectorReads:
    """Counts the matrices read from the store (the real read still runs)."""

    def __init__(self, store: RagStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = store.rag_vectors

        async def counted(*args: Any) -> RagVectors:
            self.count += 1
            return await real(*args)

        monkeypatch.setattr(store, "rag_vectors", counted)


def words(n: int, seed: int) -> list[str]:
    """``n`` lines of made-up words that share nothing with the other tests' words."""
    rng = np.random.default_rng(seed)
    return [" ".join(f"filler{w}" for w in rng.integers(0, 50, 6)) for _ in range(n)]


async def test_vector_search_finds_the_nearest_chunk(index: RagIndex) -> None:
    vectors = {name: random_units(20, seed) for seed, name in enumerate(("a", "b", "c"))}
    for name, matrix in vectors.items():
        await add(index, ALICE, name, words(20, ord(name)), matrix)
    target = vectors["b"][7]
    noise = np.random.default_rng(9).standard_normal(DIM).astype(np.float32) * 0.05
    hits = await index.search(ALICE, "", target + noise, EMBEDDER, limit=5, mode="vector")
    assert (hits[0].document, hits[0].ordinal) == ("b", 7)
    assert hits[0].source == "/docs/b" and hits[0].ranks == {"vector": 1}
    every = np.concatenate(list(vectors.values()))
    cosines = every @ unit(target + noise)[0]
    assert [h.score for h in hits] == pytest.approx(sorted(cosines, reverse=True)[:5], abs=1e-5)


async def test_bm25_mode_needs_no_vector(index: RagIndex) -> None:
    await add(index, ALICE, "cooking", ["Boil the pasta.", "Salt the water."], random_units(2, 1))
    await add(index, ALICE, "tides", ["Spring tides are large.", "Neap tides."], random_units(2, 2))
    hits = await index.search(ALICE, "spring tides", None, EMBEDDER, mode="bm25")
    assert [(h.document, h.ordinal, h.ranks) for h in hits[:1]] == [("tides", 0, {"bm25": 1})]
    assert hits[0].text == "Spring tides are large." and hits[0].heading == "Section"


async def test_hybrid_puts_first_what_both_lists_put_first(index: RagIndex) -> None:
    query_vector = random_units(1, 5)[0]
    others = random_units(30, 6)
    lines = [*words(29, 3), "the zeppelin hangar at dawn"]
    vectors = np.concatenate([others[:29], query_vector[None, :]])
    await add(index, ALICE, "mixed", lines, vectors)
    # a decoy: the word alone, far from the query's vector
    await add(index, ALICE, "decoy", ["zeppelin"], unit(-query_vector))
    hits = await index.search(ALICE, "zeppelin hangar", query_vector, EMBEDDER, limit=3)
    assert (hits[0].document, hits[0].ordinal) == ("mixed", 29)
    assert hits[0].ranks == {"bm25": 1, "vector": 1}
    assert hits[0].score == pytest.approx(2 / 61)
    # the decoy has the word but the farthest vector; it still beats chunks that only
    # the vector list ranked: 1/62 + 1/91 > 1/62
    assert (hits[1].document, hits[1].ranks) == ("decoy", {"bm25": 2, "vector": 31})
    assert all(h.ranks.keys() == {"vector"} for h in hits[2:])


def test_rrf_prefers_an_item_high_in_both_lists_to_one_first_in_one() -> None:
    fused = rrf({"bm25": ["a", "b", "x"], "vector": ["y", "b", "z"]})
    assert [item for item, _, _ in fused] == ["b", "a", "y", "x", "z"]
    assert fused[0][1] == pytest.approx(2 / 62) and fused[0][2] == {"bm25": 2, "vector": 2}
    assert [item for item, _, _ in rrf({"x": ["a", "b"]}, k=0)] == ["a", "b"]


async def test_the_matrix_follows_add_and_drop_without_being_read_again(
    index: RagIndex, store: RagStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = VectorReads(store, monkeypatch)
    await add(index, ALICE, "first", words(10, 1), random_units(10, 1))
    probe = random_units(1, 42)[0]
    before = await index.search(ALICE, "", probe, EMBEDDER, mode="vector")
    assert reads.count == 1 and all(h.document == "first" for h in before)

    await add(index, ALICE, "second", ["the probe itself"], probe[None, :])
    hits = await index.search(ALICE, "", probe, EMBEDDER, mode="vector")
    assert (hits[0].document, hits[0].score) == ("second", pytest.approx(1.0))

    await add(index, ALICE, "second", ["replaced, far away"], unit(-probe))
    hits = await index.search(ALICE, "", probe, EMBEDDER, mode="vector", limit=20)
    assert hits[-1].document == "second" and hits[0].document == "first"
    assert len(hits) == 11

    await index.drop(ALICE, "second")
    hits = await index.search(ALICE, "", probe, EMBEDDER, mode="vector", limit=20)
    assert {h.document for h in hits} == {"first"} and len(hits) == 10
    assert reads.count == 1


async def test_searches_while_documents_come_in_read_the_matrix_once(
    index: RagIndex, store: RagStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = VectorReads(store, monkeypatch)
    await add(index, ALICE, "first", words(5, 1), random_units(5, 1))
    probes = random_units(20, 11)
    await index.search(ALICE, "", probes[0], EMBEDDER, mode="vector")

    async def ingest() -> None:
        for i, probe in enumerate(probes):
            await add(index, ALICE, f"doc{i}", [f"line {i}"], probe[None, :])

    async def search() -> list[str]:
        found = []
        for probe in probes:
            hits = await index.search(ALICE, "", probe, EMBEDDER, mode="vector", limit=1)
            found.append(hits[0].document)
            await asyncio.sleep(0)
        return found

    await asyncio.gather(ingest(), search(), search())
    assert reads.count == 1
    for i, probe in enumerate(probes):
        hits = await index.search(ALICE, "", probe, EMBEDDER, mode="vector", limit=1)
        assert hits[0].document == f"doc{i}"
    assert reads.count == 1


async def test_a_change_made_elsewhere_is_seen_by_the_next_search(
    index: RagIndex, store: RagStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = VectorReads(store, monkeypatch)
    probe = random_units(1, 7)[0]
    await add(index, ALICE, "first", words(5, 1), random_units(5, 1))
    await index.search(ALICE, "", probe, EMBEDDER, mode="vector")
    other = RagIndex(store)  # another server on the same database
    await other.add(ALICE, "near", "near", "", chunks_of(["near"]), probe[None, :], EMBEDDER)
    hits = await index.search(ALICE, "", probe, EMBEDDER, mode="vector")
    assert hits[0].document == "near" and reads.count == 2
    await index.search(ALICE, "", probe, EMBEDDER, mode="vector")
    assert reads.count == 2


async def test_large_matrices_are_scored_and_compacted_off_the_loop(
    index: RagIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_module, "INLINE_ROWS", 0)
    vectors = {name: random_units(8, seed) for seed, name in enumerate("abcd")}
    for name, matrix in vectors.items():
        await add(index, ALICE, name, words(8, ord(name)), matrix)
    await index.search(ALICE, "", vectors["a"][0], EMBEDDER, mode="vector")
    for name in "abc":  # three quarters blank: compacted
        await index.drop(ALICE, name)
    for row in range(8):
        hits = await index.search(ALICE, "", vectors["d"][row], EMBEDDER, mode="vector")
        assert (hits[0].document, hits[0].ordinal) == ("d", row)
        assert {h.document for h in hits} == {"d"}


async def test_profiles_search_only_their_own_documents(index: RagIndex) -> None:
    probe = random_units(1, 3)[0]
    await add(index, ALICE, "secret", ["the alpine secret"], probe[None, :])
    await add(index, BOB, "bobs", ["something else"], unit(-probe))
    for mode in MODES:
        hits = await index.search(BOB, "alpine secret", probe, EMBEDDER, mode=mode)
        assert [h.document for h in hits] == ([] if mode == "bm25" else ["bobs"])
    assert [h.document for h in await index.search(ALICE, "alpine", probe, EMBEDDER)] == ["secret"]
    with pytest.raises(NotFoundError):
        await index.drop(BOB, "secret")


async def test_has_skips_what_is_stored_unchanged(index: RagIndex) -> None:
    lines = ["one line"]
    await add(index, ALICE, "doc", lines, random_units(1, 1))
    assert await index.store.rag_has(ALICE, "doc", text_digest("one line"), EMBEDDER)
    assert not await index.store.rag_has(ALICE, "doc", text_digest("one line, edited"), EMBEDDER)


async def test_bad_searches_are_refused_in_one_line(index: RagIndex) -> None:
    await add(index, ALICE, "doc", ["a line"], random_units(1, 1))
    probe = random_units(1, 2)[0]
    with pytest.raises(ArgumentError, match="search mode must be one of hybrid, bm25, vector"):
        await index.search(ALICE, "line", probe, EMBEDDER, mode="fuzzy")  # type: ignore[arg-type]
    with pytest.raises(ArgumentError, match="hybrid search needs the query's vector"):
        await index.search(ALICE, "line", None, EMBEDDER)
    with pytest.raises(ArgumentError, match="NaN"):
        await index.search(ALICE, "line", probe * np.nan, EMBEDDER)
    with pytest.raises(ArgumentError, match="2 chunks but 1 vectors"):
        await index.add(ALICE, "x", "a\nb", "", chunks_of(["a", "b"]), random_units(1, 1), EMBEDDER)
    assert await index.search(ALICE, "line", probe, EMBEDDER, limit=0) == []
    assert [d.name for d in await index.store.rag_documents(ALICE)] == ["doc"]


async def test_a_batch_of_documents_reaches_the_matrix_without_reading_it_again(
    index: RagIndex, store: RagStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = VectorReads(store, monkeypatch)
    await add(index, ALICE, "first", words(4, 1), random_units(4, 1))
    probe = random_units(1, 42)[0]
    await index.search(ALICE, "", probe, EMBEDDER, mode="vector")
    assert reads.count == 1
    lines = ["the probe itself"]
    batch = [
        Document("near", "\n".join(lines), "", chunks_of(lines), probe[None, :]),
        Document("broken", "a\nb", "", chunks_of(["a", "b"]), random_units(3, 2)),
        Document("first", "replaced", "", chunks_of(["replaced"]), unit(-probe)),
        Document("more", "x\ny", "", chunks_of(["x", "y"]), random_units(2, 3)),
    ]
    outcomes = await index.add_many(ALICE, batch, EMBEDDER)
    assert [getattr(o, "name", None) for o in outcomes] == ["near", None, "first", "more"]
    assert isinstance(outcomes[1], ArgumentError) and "2 chunks but 3 vectors" in str(outcomes[1])
    hits = await index.search(ALICE, "", probe, EMBEDDER, mode="vector", limit=20)
    assert (hits[0].document, hits[0].score) == ("near", pytest.approx(1.0))
    assert hits[-1].document == "first" and hits[-1].score == pytest.approx(-1.0)
    assert sorted(h.document for h in hits) == ["first", "more", "more", "near"]
    assert reads.count == 1  # the matrix took each change as it came
