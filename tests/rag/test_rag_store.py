"""The RAG part of the SQLite store: documents, chunks and vectors per profile, all or
nothing, BM25 over hostile queries, the quota."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chatthy.errors import ArgumentError, NotFoundError, StoreError
from chatthy.store import _sqlite_rag
from chatthy.store.base import RagChunkIn, RagDocumentIn, RagStored, text_digest
from chatthy.store.sqlite import SQLiteStore

ALICE, BOB = "alice", "bob"
DIM = 8


def unit_vectors(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((n, DIM)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return [row.tobytes() for row in rows]


def split(text: str, heading: str = "Intro") -> list[RagChunkIn]:
    """One chunk per line, with its offsets in ``text``."""
    chunks, at = [], 0
    for line in text.split("\n"):
        chunks.append(RagChunkIn(line, heading, at, at + len(line)))
        at += len(line) + 1
    return chunks


async def put(
    store: SQLiteStore, profile: str, name: str, text: str, embedder: str = "test"
) -> RagStored:
    chunks = split(text)
    vectors = unit_vectors(len(chunks), seed=len(text))
    return await store.rag_put(profile, name, text, "src", chunks, vectors, embedder, DIM)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(tmp_path / "data" / "chatthy.db")
    await opened.register_profile(ALICE, b"a" * 32)
    await opened.register_profile(BOB, b"b" * 32)
    try:
        yield opened
    finally:
        await opened.aclose()


def raw_count(store: SQLiteStore, table: str) -> int:
    """Rows of ``table`` in the file, hidden ones included (another connection)."""
    with sqlite3.connect(store.path) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


TEXT = "Tides follow the moon.\nSpring tides are the largest.\nNeap tides are the smallest."


async def test_put_list_show_and_vectors_read_back(store: SQLiteStore) -> None:
    stored = await put(store, ALICE, " notes/tides.md ", TEXT)
    doc = stored.document
    assert (doc.name, doc.source, doc.chunks, doc.embedder, doc.dim) == (
        "notes/tides.md",
        "src",
        3,
        "test",
        DIM,
    )
    assert doc.digest == text_digest(TEXT) and doc.bytes == len(TEXT.encode())
    assert [d.name for d in await store.rag_documents(ALICE)] == ["notes/tides.md"]
    detail = await store.rag_document(ALICE, "notes/tides.md")
    assert [(h.ordinal, h.heading, h.start, h.end) for h in detail.chunks] == [
        (0, "Intro", 0, 22),
        (1, "Intro", 23, 52),
        (2, "Intro", 53, 81),
    ]
    assert TEXT[23:52] == "Spring tides are the largest."
    vectors = await store.rag_vectors(ALICE, "test", DIM)
    assert vectors.chunk_ids == stored.chunk_ids
    assert vectors.data == b"".join(unit_vectors(3, seed=len(TEXT)))
    assert vectors.version == stored.version == 1
    assert (await store.rag_vectors(ALICE, "other", DIM)).chunk_ids == []
    chunks = await store.rag_chunks(ALICE, stored.chunk_ids[::-1])
    assert [c.ordinal for c in chunks] == [2, 1, 0]
    assert chunks[0].text == "Neap tides are the smallest."
    assert {c.document for c in chunks} == {"notes/tides.md"}


async def test_a_profile_never_sees_another_profiles_documents(store: SQLiteStore) -> None:
    alices = await put(store, ALICE, "tides", TEXT)
    await put(store, BOB, "tides", "Bob writes about volcanoes.")
    assert [d.chunks for d in await store.rag_documents(BOB)] == [1]
    assert await store.rag_bm25(BOB, "moon tides", 10) == []
    assert len(await store.rag_bm25(BOB, "volcanoes", 10)) == 1
    assert await store.rag_chunks(BOB, alices.chunk_ids) == []
    assert len((await store.rag_vectors(BOB, "test", DIM)).chunk_ids) == 1
    assert not await store.rag_has(BOB, "tides", text_digest(TEXT), "test")
    await store.rag_drop(BOB, "tides")
    assert [d.name for d in await store.rag_documents(ALICE)] == ["tides"]
    with pytest.raises(NotFoundError, match="no document named 'tides'"):
        await store.rag_document(BOB, "tides")
    with pytest.raises(NotFoundError):
        await store.rag_drop(BOB, "tides")


async def test_put_replaces_a_document_of_the_same_name(store: SQLiteStore) -> None:
    first = await put(store, ALICE, "tides", TEXT)
    second = await put(store, ALICE, "tides", "Tides are gone.\nOnly waves remain.")
    assert second.replaced == first.document.id
    assert second.version == first.version + 1
    assert second.document.created == first.document.created
    assert [(d.name, d.chunks) for d in await store.rag_documents(ALICE)] == [("tides", 2)]
    assert await store.rag_chunks(ALICE, first.chunk_ids) == []
    assert await store.rag_bm25(ALICE, "neap", 10) == []
    assert [c for c, _ in await store.rag_bm25(ALICE, "waves", 10)] == [second.chunk_ids[1]]
    assert raw_count(store, "rag_chunks") == 2  # the old chunks are deleted, not hidden


async def test_has_says_what_an_ingestion_may_skip(store: SQLiteStore) -> None:
    await put(store, ALICE, "tides", TEXT)
    assert await store.rag_has(ALICE, "tides", text_digest(TEXT), "test")
    assert not await store.rag_has(ALICE, "tides", text_digest(TEXT + "!"), "test")
    assert not await store.rag_has(ALICE, "tides", text_digest(TEXT), "another-embedder")
    assert not await store.rag_has(ALICE, "moon", text_digest(TEXT), "test")


async def test_stored_bytes_count_documents_and_drop_frees_them(store: SQLiteStore) -> None:
    await store.put_workspace_file(ALICE, "w.md", "workspace")
    before = await store.stored_bytes(ALICE)
    stored = await put(store, ALICE, "tides", TEXT)
    grown = await store.stored_bytes(ALICE) - before
    assert grown == stored.document.stored >= len(TEXT.encode()) - 2 + 3 * 4 * DIM
    assert await store.stored_bytes(BOB) == 0
    dropped = await store.rag_drop(ALICE, "tides")
    assert dropped.document.id == stored.document.id and dropped.version == stored.version + 1
    assert await store.stored_bytes(ALICE) == before
    assert await store.rag_documents(ALICE) == []
    assert raw_count(store, "rag_chunks") == raw_count(store, "rag_documents") == 0


def fail_at_ordinal(store: SQLiteStore, ordinal: int) -> None:
    """Make the database itself refuse the chunk ``ordinal`` of any document."""
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON rag_chunks"
            f" WHEN new.ordinal = {ordinal} BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )


@pytest.mark.parametrize("slice_", [1000, 4], ids=["one-write", "in-slices"])
async def test_a_failure_mid_put_stores_nothing(
    store: SQLiteStore, slice_: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_rag, "PUT_SLICE", slice_)
    old = await put(store, ALICE, "tides", TEXT)
    quota = await store.stored_bytes(ALICE)
    fail_at_ordinal(store, 9)
    text = "\n".join(f"line {i} about the moon" for i in range(12))
    with pytest.raises(StoreError, match="refused"):
        await put(store, ALICE, "tides", text)
    with pytest.raises(StoreError, match="refused"):
        await put(store, ALICE, "fresh", text)
    assert [(d.name, d.id) for d in await store.rag_documents(ALICE)] == [
        ("tides", old.document.id)
    ]
    assert await store.rag_version(ALICE) == old.version
    assert await store.stored_bytes(ALICE) == quota
    assert raw_count(store, "rag_documents") == 1 and raw_count(store, "rag_chunks") == 3
    assert [c for c, _ in await store.rag_bm25(ALICE, "spring", 5)] == [old.chunk_ids[1]]


async def test_a_cancelled_put_in_slices_stores_nothing(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_rag, "PUT_SLICE", 2)
    text = "\n".join(f"line {i}" for i in range(400))
    task = asyncio.ensure_future(put(store, ALICE, "long", text))
    while raw_count(store, "rag_chunks") < 10:  # some slices are in
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):  # the staged rows go in the background
        if raw_count(store, "rag_documents") == 0:
            break
        await asyncio.sleep(0.01)
    assert await store.rag_documents(ALICE) == []
    assert raw_count(store, "rag_documents") == raw_count(store, "rag_chunks") == 0


async def test_a_replacement_cancelled_at_any_moment_leaves_one_whole_document(
    store: SQLiteStore,
) -> None:
    await put(store, ALICE, "tides", TEXT)
    texts = {TEXT}
    for i in range(40):
        text = f"Tides, take {i}.\nThe moon again."
        task = asyncio.ensure_future(put(store, ALICE, "tides", text))
        await asyncio.sleep(0.0005 * (i % 8))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        texts.add(text)
        await asyncio.sleep(0.01)  # what a cancelled put leaves goes in the background
        (doc,) = await store.rag_documents(ALICE)
        detail = await store.rag_document(ALICE, "tides")
        assert len(detail.chunks) == doc.chunks
        assert doc.digest in {text_digest(t) for t in texts}
    await asyncio.sleep(0.05)
    assert raw_count(store, "rag_documents") == 1


@pytest.mark.parametrize(
    ("chunks", "vectors", "message"),
    [
        (split("a\nb"), unit_vectors(1), "2 chunks but 1 vectors"),
        (split("a"), [b"\0" * 4], "vector 0 is not 8 float32"),
        ([RagChunkIn("\ud800")], unit_vectors(1), "chunk 0 is not valid text"),
        ([RagChunkIn(3)], unit_vectors(1), "chunk 0 is not a chunk"),  # type: ignore[arg-type]
    ],
)
async def test_bad_input_is_refused_in_one_line_and_stores_nothing(
    store: SQLiteStore, chunks: list[RagChunkIn], vectors: list[bytes], message: str
) -> None:
    with pytest.raises(ArgumentError, match=message) as refused:
        await store.rag_put(ALICE, "doc", "text", "", chunks, vectors, "test", DIM)
    assert "\n" not in str(refused.value)
    with pytest.raises(ArgumentError, match="document name is empty"):
        await store.rag_put(ALICE, "  ", "a", "", split("a"), unit_vectors(1), "test", DIM)
    assert raw_count(store, "rag_documents") == 0


async def test_bm25_ranks_the_obvious_document_first(store: SQLiteStore) -> None:
    await put(store, ALICE, "cooking", "Boil the pasta.\nSalt the water well.")
    tides = await put(store, ALICE, "tides", TEXT)
    await put(store, ALICE, "moons", "Jupiter has many moons.\nThe moon of Earth is large.")
    found = await store.rag_bm25(ALICE, "which tides are the largest", 10)
    assert found[0][0] == tides.chunk_ids[1]
    assert [s for _, s in found] == sorted((s for _, s in found), reverse=True)


@pytest.mark.parametrize(
    ("query", "finds"),
    [
        ('"', False),
        ("*", False),
        ("(", False),
        ("^", False),
        ("", False),
        ("   ", False),
        ("a OR", False),
        ("NEAR(", True),
        ("-x", True),
        ("AND moon", True),
        ("text:moon", True),
        ('"moon', True),
        ("moon*", True),
        ("heading : tides", True),
    ],
)
async def test_hostile_queries_are_searched_as_words(
    store: SQLiteStore, query: str, finds: bool
) -> None:
    await put(store, ALICE, "tides", TEXT + "\nx marks NEAR the spot")
    found = await store.rag_bm25(ALICE, query, 10)
    assert bool(found) is finds


async def test_a_word_every_chunk_holds_does_not_drown_a_rare_one(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_rag, "COMMON", 5)
    lines = [f"the line {i} of the story" for i in range(30)] + ["the lighthouse keeper"]
    stored = await put(store, ALICE, "story", "\n".join(lines))
    found = await store.rag_bm25(ALICE, "the lighthouse", 3)
    assert [c for c, _ in found] == [stored.chunk_ids[-1]]
    only_common = await store.rag_bm25(ALICE, "the of", 100)
    assert 0 < len(only_common) <= 5  # the newest few matches, not every chunk scored


async def test_documents_survive_a_reopen(store: SQLiteStore) -> None:
    stored = await put(store, ALICE, "tides", TEXT)
    again = await SQLiteStore.open(store.path)
    try:
        assert [d.id for d in await again.rag_documents(ALICE)] == [stored.document.id]
        assert [c for c, _ in await again.rag_bm25(ALICE, "neap", 5)] == [stored.chunk_ids[2]]
    finally:
        await again.aclose()


async def test_rows_a_killed_server_left_staged_are_swept_by_the_next_put(
    store: SQLiteStore,
) -> None:
    """A document staged over an hour ago (its server killed mid-put) goes with the
    profile's next put, chunks and all; one staged a minute ago may still be under way
    and stays, as do other profiles' rows and stored documents."""
    await put(store, ALICE, "kept", TEXT)
    await put(store, BOB, "bobs", TEXT)
    ages = ((ALICE, "old", 7200), (ALICE, "new", 60), (BOB, "old", 7200))
    staged = [(await put(store, profile, name, TEXT)).document.id for profile, name, _ in ages]
    with sqlite3.connect(store.path) as conn:  # as a put that never finished leaves them
        for (_, name, age), document_id in zip(ages, staged, strict=True):
            conn.execute(
                "UPDATE rag_documents SET name = char(31) || ?, updated = updated - ? WHERE id = ?",
                (name, age, document_id),
            )
    assert raw_count(store, "rag_documents") == 5 and raw_count(store, "rag_chunks") == 15
    await put(store, ALICE, "next", TEXT)
    with sqlite3.connect(store.path) as conn:
        left = {row[0] for row in conn.execute("SELECT id FROM rag_documents")}
    assert staged[0] not in left and {staged[1], staged[2]} <= left
    assert raw_count(store, "rag_chunks") == 15  # 3 swept with their document, 3 added
    assert [d.name for d in await store.rag_documents(ALICE)] == ["kept", "next"]
    assert [d.name for d in await store.rag_documents(BOB)] == ["bobs"]


def document(name: str, text: str, embedder: str = "test") -> RagDocumentIn:
    chunks = split(text)
    return RagDocumentIn(
        name, text, "src", chunks, unit_vectors(len(chunks), seed=len(text)), embedder, DIM
    )


async def test_many_small_documents_go_in_one_write_each_whole(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = 0
    real = store._write

    async def counted(work: Any, **kwargs: Any) -> Any:
        nonlocal writes
        writes += not kwargs.get("frees")  # not the replaced document's sweeping
        return await real(work, **kwargs)

    monkeypatch.setattr(store, "_write", counted)
    old = await put(store, ALICE, "tides", TEXT)
    writes = 0
    texts = {f"note{n}": f"note {n} on the tides\nline two of {n}" for n in range(20)}
    outcomes = await store.rag_put_many(
        ALICE, [document(name, text) for name, text in texts.items()] + [document("tides", "new")]
    )
    assert writes == 1  # 41 chunks: one transaction, one commit
    assert all(isinstance(o, RagStored) for o in outcomes)
    stored = [o for o in outcomes if isinstance(o, RagStored)]
    # one change each, in order, as if put one after another
    assert [o.version for o in stored] == list(range(old.version + 1, old.version + 22))
    assert stored[-1].replaced == old.document.id
    assert stored[-1].document.created == old.document.created  # a replacement keeps it
    listed = {d.name: d for d in await store.rag_documents(ALICE)}
    assert set(listed) == {*texts, "tides"} and listed["tides"].chunks == 1
    assert listed["note3"] == stored[3].document  # the record returned is the one stored
    assert raw_count(store, "rag_chunks") == 41  # the replaced document's chunks swept
    ids = [c for o in stored for c in o.chunk_ids]
    chunks = await store.rag_chunks(ALICE, ids)
    assert [c.text for c in chunks] == [
        line for text in [*texts.values(), "new"] for line in text.split("\n")
    ]


async def test_one_bad_document_of_many_is_its_own_error_and_the_rest_are_stored(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_rag, "PUT_SLICE", 6)
    fail_at_ordinal(store, 4)  # the database refuses any document of five lines or more
    long = "\n".join(f"line {i}" for i in range(9))  # alone, in slices: refused at its 5th
    bad_vectors = RagDocumentIn("odd", "a\nb", "src", split("a\nb"), [b"x" * 4], "test", DIM)
    batch = [
        document("one", "first\nsecond"),
        document("five", "a\nb\nc\nd\ne"),  # in the write with "one": that write fails
        bad_vectors,
        document("long", long),
        document("two", "third\nfourth"),
        document("", "no name"),
    ]
    outcomes = await store.rag_put_many(ALICE, batch)
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds == [
        "RagStored",
        "StoreError",
        "ArgumentError",
        "StoreError",
        "RagStored",
        "ArgumentError",
    ]
    assert str(outcomes[2]) == "2 chunks but 1 vectors"
    assert [d.name for d in await store.rag_documents(ALICE)] == ["one", "two"]
    assert raw_count(store, "rag_documents") == 2 and raw_count(store, "rag_chunks") == 4
    assert await store.rag_version(ALICE) == 2


async def test_unchanged_documents_are_found_in_one_read(store: SQLiteStore) -> None:
    await put(store, ALICE, "tides", TEXT)
    await put(store, ALICE, "moon", "The moon.")
    await put(store, BOB, "sun", "The sun.")
    found = await store.rag_unchanged(
        ALICE,
        [
            (" tides ", text_digest(TEXT)),
            ("moon", text_digest("The moon, changed.")),
            ("sun", text_digest("The sun.")),  # bob's
            ("nothing", text_digest("")),
        ],
        "test",
    )
    assert list(found) == ["tides"] and found["tides"].digest == text_digest(TEXT)
    assert await store.rag_unchanged(ALICE, [("tides", text_digest(TEXT))], "other") == {}
