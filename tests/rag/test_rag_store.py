"""The RAG part of the store, on SQLite and on PostgreSQL: documents, chunks and vectors
per profile, all or nothing, BM25 over hostile queries, the quota. The tests of SQLite's
slices and staged rows run on SQLite only (PostgreSQL writes a document in one
transaction); PostgreSQL's cancellation mid-put has its own."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest

from chatthy.errors import ArgumentError, NotFoundError, StoreError
from chatthy.store import _pg_rag, _sqlite_rag
from chatthy.store.base import RagChunkIn, RagDocumentIn, RagStored, text_digest
from chatthy.store.sqlite import SQLiteStore
from ragkit import BACKENDS, Database, RagStore, database

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
    store: RagStore, profile: str, name: str, text: str, embedder: str = "test"
) -> RagStored:
    chunks = split(text)
    vectors = unit_vectors(len(chunks), seed=len(text))
    return await store.rag_put(profile, name, text, "src", chunks, vectors, embedder, DIM)


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The test's database: SQLite, then PostgreSQL (a test pins one with an indirect
    parametrize)."""
    async with database(request.param, tmp_path) as made:
        yield made


@pytest.fixture
async def store(db: Database) -> AsyncIterator[RagStore]:
    opened = await db.open()
    await opened.register_profile(ALICE, b"a" * 32)
    await opened.register_profile(BOB, b"b" * 32)
    try:
        yield opened
    finally:
        await opened.aclose()


sqlite_only = pytest.mark.parametrize("db", ["sqlite"], indirect=True)
postgres_only = pytest.mark.parametrize("db", ["postgres"], indirect=True)


TEXT = "Tides follow the moon.\nSpring tides are the largest.\nNeap tides are the smallest."


async def test_put_list_show_and_vectors_read_back(store: RagStore) -> None:
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


async def test_a_profile_never_sees_another_profiles_documents(store: RagStore) -> None:
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


async def test_put_replaces_a_document_of_the_same_name(store: RagStore, db: Database) -> None:
    first = await put(store, ALICE, "tides", TEXT)
    second = await put(store, ALICE, "tides", "Tides are gone.\nOnly waves remain.")
    assert second.replaced == first.document.id
    assert second.version == first.version + 1
    assert second.document.created == first.document.created
    assert [(d.name, d.chunks) for d in await store.rag_documents(ALICE)] == [("tides", 2)]
    assert await store.rag_chunks(ALICE, first.chunk_ids) == []
    assert await store.rag_bm25(ALICE, "neap", 10) == []
    assert [c for c, _ in await store.rag_bm25(ALICE, "waves", 10)] == [second.chunk_ids[1]]
    assert db.count("rag_chunks") == 2  # the old chunks are deleted, not hidden


async def test_has_says_what_an_ingestion_may_skip(store: RagStore) -> None:
    await put(store, ALICE, "tides", TEXT)
    assert await store.rag_has(ALICE, "tides", text_digest(TEXT), "test")
    assert not await store.rag_has(ALICE, "tides", text_digest(TEXT + "!"), "test")
    assert not await store.rag_has(ALICE, "tides", text_digest(TEXT), "another-embedder")
    assert not await store.rag_has(ALICE, "moon", text_digest(TEXT), "test")


async def test_stored_bytes_count_documents_and_drop_frees_them(
    store: RagStore, db: Database
) -> None:
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
    assert db.count("rag_chunks") == db.count("rag_documents") == 0


@pytest.mark.parametrize("slice_", [1000, 4], ids=["one-write", "in-slices"])
async def test_a_failure_mid_put_stores_nothing(
    store: RagStore, db: Database, slice_: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_rag, "PUT_SLICE", slice_)
    old = await put(store, ALICE, "tides", TEXT)
    quota = await store.stored_bytes(ALICE)
    db.refuse_ordinal(9)
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
    assert db.count("rag_documents") == 1 and db.count("rag_chunks") == 3
    assert [c for c, _ in await store.rag_bm25(ALICE, "spring", 5)] == [old.chunk_ids[1]]


@sqlite_only
async def test_a_cancelled_put_in_slices_stores_nothing(
    store: RagStore, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_rag, "PUT_SLICE", 2)
    text = "\n".join(f"line {i}" for i in range(400))
    task = asyncio.ensure_future(put(store, ALICE, "long", text))
    while db.count("rag_chunks") < 10:  # some slices are in
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(200):  # the staged rows go in the background
        if db.count("rag_documents") == 0:
            break
        await asyncio.sleep(0.01)
    assert await store.rag_documents(ALICE) == []
    assert db.count("rag_documents") == db.count("rag_chunks") == 0


async def test_a_replacement_cancelled_at_any_moment_leaves_one_whole_document(
    store: RagStore, db: Database
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
    assert db.count("rag_documents") == 1


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
    store: RagStore, db: Database, chunks: list[RagChunkIn], vectors: list[bytes], message: str
) -> None:
    with pytest.raises(ArgumentError, match=message) as refused:
        await store.rag_put(ALICE, "doc", "text", "", chunks, vectors, "test", DIM)
    assert "\n" not in str(refused.value)
    with pytest.raises(ArgumentError, match="document name is empty"):
        await store.rag_put(ALICE, "  ", "a", "", split("a"), unit_vectors(1), "test", DIM)
    assert db.count("rag_documents") == 0


async def test_bm25_ranks_the_obvious_document_first(store: RagStore) -> None:
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
    store: RagStore, query: str, finds: bool
) -> None:
    await put(store, ALICE, "tides", TEXT + "\nx marks NEAR the spot")
    found = await store.rag_bm25(ALICE, query, 10)
    assert bool(found) is finds


async def test_a_word_every_chunk_holds_does_not_drown_a_rare_one(
    store: RagStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_rag, "COMMON", 5)
    monkeypatch.setattr(_pg_rag, "COMMON", 5)
    lines = [f"the line {i} of the story" for i in range(30)] + ["the lighthouse keeper"]
    stored = await put(store, ALICE, "story", "\n".join(lines))
    found = await store.rag_bm25(ALICE, "the lighthouse", 3)
    assert [c for c, _ in found] == [stored.chunk_ids[-1]]
    only_common = await store.rag_bm25(ALICE, "the of", 100)
    assert 0 < len(only_common) <= 5  # the newest few matches, not every chunk scored


async def test_documents_survive_a_reopen(store: RagStore, db: Database) -> None:
    stored = await put(store, ALICE, "tides", TEXT)
    again = await db.open()
    try:
        assert [d.id for d in await again.rag_documents(ALICE)] == [stored.document.id]
        assert [c for c, _ in await again.rag_bm25(ALICE, "neap", 5)] == [stored.chunk_ids[2]]
    finally:
        await again.aclose()


@sqlite_only
async def test_rows_a_killed_server_left_staged_are_swept_by_the_next_put(
    store: RagStore, db: Database
) -> None:
    """A document staged over an hour ago (its server killed mid-put) goes with the
    profile's next put, chunks and all; one staged a minute ago may still be under way
    and stays, as do other profiles' rows and stored documents."""
    await put(store, ALICE, "kept", TEXT)
    await put(store, BOB, "bobs", TEXT)
    ages = ((ALICE, "old", 7200), (ALICE, "new", 60), (BOB, "old", 7200))
    staged = [(await put(store, profile, name, TEXT)).document.id for profile, name, _ in ages]
    assert isinstance(store, SQLiteStore)
    with sqlite3.connect(store.path) as conn:  # as a put that never finished leaves them
        for (_, name, age), document_id in zip(ages, staged, strict=True):
            conn.execute(
                "UPDATE rag_documents SET name = char(31) || ?, updated = updated - ? WHERE id = ?",
                (name, age, document_id),
            )
    assert db.count("rag_documents") == 5 and db.count("rag_chunks") == 15
    await put(store, ALICE, "next", TEXT)
    with sqlite3.connect(store.path) as conn:
        left = {row[0] for row in conn.execute("SELECT id FROM rag_documents")}
    assert staged[0] not in left and {staged[1], staged[2]} <= left
    assert db.count("rag_chunks") == 15  # 3 swept with their document, 3 added
    assert [d.name for d in await store.rag_documents(ALICE)] == ["kept", "next"]
    assert [d.name for d in await store.rag_documents(BOB)] == ["bobs"]


def document(name: str, text: str, embedder: str = "test") -> RagDocumentIn:
    chunks = split(text)
    return RagDocumentIn(
        name, text, "src", chunks, unit_vectors(len(chunks), seed=len(text)), embedder, DIM
    )


async def test_many_small_documents_go_in_one_write_each_whole(
    store: RagStore, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = 0
    real = cast(Any, store)._write

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
    assert db.count("rag_chunks") == 41  # the replaced document's chunks swept
    ids = [c for o in stored for c in o.chunk_ids]
    chunks = await store.rag_chunks(ALICE, ids)
    assert [c.text for c in chunks] == [
        line for text in [*texts.values(), "new"] for line in text.split("\n")
    ]


async def test_one_bad_document_of_many_is_its_own_error_and_the_rest_are_stored(
    store: RagStore, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sqlite_rag, "PUT_SLICE", 6)
    db.refuse_ordinal(4)  # the database refuses any document of five lines or more
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
    assert db.count("rag_documents") == 2 and db.count("rag_chunks") == 4
    assert await store.rag_version(ALICE) == 2


async def test_unchanged_documents_are_found_in_one_read(store: RagStore) -> None:
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


async def test_accents_and_case_do_not_matter_to_bm25(store: RagStore) -> None:
    stored = await put(store, ALICE, "menu", "Le CAFÉ est noir.\nThe tea is green.")
    for query in ("café", "cafe", "CAFE", "cafe\u0301"):
        assert [c for c, _ in await store.rag_bm25(ALICE, query, 5)] == [stored.chunk_ids[0]]


@postgres_only
async def test_a_put_cancelled_mid_transaction_stores_nothing(
    store: RagStore, db: Database
) -> None:
    """The put is held at its last step (another transaction holds a word it counts);
    cancelled there, its document and chunks, already written, are rolled back, and the
    store goes on working."""
    import psycopg

    first = await put(store, ALICE, "first", TEXT)
    text = "\n".join(f"line {i} of the zebra" for i in range(300))
    with psycopg.connect(db.url) as other:  # type: ignore[attr-defined]
        other.execute(
            "INSERT INTO rag_terms (profile, term, chunks) VALUES (%s, 'zebra', 1)", (ALICE,)
        )
        task = asyncio.ensure_future(put(store, ALICE, "long", text))
        for _ in range(500):  # until its chunks are in and it waits for the word
            with psycopg.connect(db.url, autocommit=True) as watcher:  # type: ignore[attr-defined]
                row = watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND query LIKE 'INSERT INTO rag_terms%'"
                ).fetchone()
            if row and row[0]:
                break
            await asyncio.sleep(0.01)
        else:
            pytest.fail("the put never reached its last step")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        other.rollback()
    assert [d.name for d in await store.rag_documents(ALICE)] == ["first"]
    assert await store.rag_version(ALICE) == first.version
    assert db.count("rag_chunks") == 3
    assert await store.rag_bm25(ALICE, "zebra", 5) == []
    again = await put(store, ALICE, "long", text)
    assert len(await store.rag_bm25(ALICE, "zebra", 500)) == 300 == again.document.chunks


async def texts_by_score(store: RagStore, query: str) -> list[tuple[str, float]]:
    found = await store.rag_bm25(ALICE, query, 100)
    chunks = {c.id: c.text for c in await store.rag_chunks(ALICE, [c for c, _ in found])}
    return sorted((chunks[c], round(score, 9)) for c, score in found)


@postgres_only
async def test_two_servers_writing_at_once_rank_as_one_server_would(
    store: RagStore, db: Database
) -> None:
    """Two stores on one database put, replace and drop one profile's documents at once;
    BM25 then scores every chunk as a store that was given the final documents one by
    one does (the counts it keeps stayed true)."""
    other = await db.open()
    rng = np.random.default_rng(5)
    vocabulary = [f"word{i}" for i in range(40)]

    def text(n: int) -> str:
        return "\n".join(" ".join(rng.choice(vocabulary, 6)) for _ in range(n))

    final: dict[str, str] = {}

    async def server(each: RagStore, prefix: str) -> None:
        for i in range(12):
            name = f"{prefix}{i % 5}"  # names come back: replacements
            body = text(1 + i % 4)
            await put(each, ALICE, name, body)
            final[name] = body
            if i % 4 == 3:
                await each.rag_drop(ALICE, name)
                del final[name]

    try:
        await asyncio.gather(server(store, "a"), server(other, "b"), server(store, "c"))
    finally:
        await other.aclose()
    async with database("postgres", Path()) as fresh_db:
        fresh = await fresh_db.open()
        try:
            for name, body in sorted(final.items()):
                await put(fresh, ALICE, name, body)
            for query in ("word1", "word2 word30", "word7 word8 word9 nothing"):
                assert await texts_by_score(store, query) == await texts_by_score(fresh, query)
        finally:
            await fresh.aclose()


@postgres_only
async def test_a_nul_postgresql_cannot_store_is_refused_in_one_line(
    store: RagStore, db: Database
) -> None:
    outcomes = await store.rag_put_many(
        ALICE, [document("bad", "a\x00b"), document("good", "fine text")]
    )
    assert str(outcomes[0]) == "chunk 0 holds a NUL character, which the database cannot store"
    assert [d.name for d in await store.rag_documents(ALICE)] == ["good"]


async def test_a_batch_ranks_as_its_documents_stored_alone_would(
    store: RagStore, db: Database, tmp_path: Path
) -> None:
    """A batch that names a document twice and holds one the database refuses: BM25
    then scores every chunk as a store given only the documents that stayed does (what
    was replaced or refused counts for nothing)."""
    db.refuse_ordinal(4)  # any document of five lines or more
    await put(store, ALICE, "kept", "salt and pepper\nthe salt of the earth")
    batch = [
        document("twice", "salt water\nfresh water"),
        document("refused", "salt\nsalt\nwater\nsalt water\nwater again"),
        document("twice", "salt flats\nsalt lakes\ndry water"),
        document("other", "pepper mills\nthe earth turns"),
    ]
    outcomes = await store.rag_put_many(ALICE, batch)
    assert [type(o).__name__ for o in outcomes] == [
        "RagStored",
        "StoreError",
        "RagStored",
        "RagStored",
    ]
    async with database(db.name, tmp_path / "alone") as alone_db:
        alone = await alone_db.open()
        try:
            await put(alone, ALICE, "kept", "salt and pepper\nthe salt of the earth")
            for one in (batch[2], batch[3]):
                await alone.rag_put_many(ALICE, [one])
            for query in ("salt", "water", "salt earth pepper", "the"):
                assert await texts_by_score(store, query) == await texts_by_score(alone, query)
        finally:
            await alone.aclose()
