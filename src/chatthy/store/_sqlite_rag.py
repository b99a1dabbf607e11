"""The RAG part of :class:`~chatthy.store.sqlite.SQLiteStore`: each profile's documents,
their chunks and vectors, BM25 over the chunks (FTS5), kept apart so that neither module
grows past a readable size.

A document shows all at once or not at all. Its rows are written under a staging name no
user can give (:data:`~chatthy.store._sqlite_support.STAGING`), hidden from every read
here, and it takes its name in the last write, which also hides the document it
replaces; so a large document goes in slices of :data:`PUT_SLICE` chunks, each a write of
its own (the writer, and every reply's checkpoint behind it, waits one slice, not the
whole document), and a failure or a cancellation anywhere deletes what was staged and
leaves the old document as it was. A document dropped or replaced is hidden in one small
write and its chunks deleted after, in slices. Rows a killed server left staged are swept
by the profile's next :meth:`~RagMixin.rag_put`.

Many small documents (:meth:`~RagMixin.rag_put_many`) go several to a write, up to
:data:`PUT_SLICE` chunks: one transaction each, so one index segment for FTS5 and one
commit for them all, where one a document cost twice the time (a folder of short files).
A document is whole or absent all the same; one that fails is that document's error, the
others are stored.

Every query names the profile: a document or chunk of another profile is "not found",
never seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import sqlite3
import time
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from chatthy.errors import ChatthyError, StoreError
from chatthy.store import rules
from chatthy.store._rag_checks import Prepared, no_document, prepared_all
from chatthy.store._sqlite_support import STAGING
from chatthy.store._sqlite_threads import Work
from chatthy.store.base import (
    RagChunkHead,
    RagChunkIn,
    RagChunkRecord,
    RagDocumentDetail,
    RagDocumentIn,
    RagDocumentRecord,
    RagDropped,
    RagStored,
    RagVectors,
)
from chatthy.store.rows import DOCUMENT_COLUMNS, document_record

__all__ = ["COMMON", "FTS_WORDS", "PUT_SLICE", "RagMixin", "fts_query", "fts_words", "no_document"]

T = TypeVar("T")

PUT_SLICE = 250
"""The most chunks one write of a document adds: about 25 ms of the writer's time for
chunks of 120 words (some writes take 100-150 ms more: SQLite checkpoints its WAL, FTS5
merges its segments)."""
DROP_SLICE = 500
"""The most chunks one write of a dropped document deletes."""
FTS_WORDS = 12
"""The most distinct words of a query BM25 looks for; the rest are ignored."""
COMMON = 3000
"""Chunks a word may match and still be searched for when the query has rarer words
(see :func:`_bm25_plan`)."""
STALE = 3600.0
"""Seconds after which rows still staged are a killed server's, and swept."""
_VISIBLE = "substr(d.name, 1, 1) <> char(31)"
"""A document row (``d``) that is neither being stored nor being deleted."""
_WORD = re.compile(r"\w+")
_IDS_AT_ONCE = 500
"""Ids one query of :meth:`RagMixin.rag_chunks` asks for (SQLite's bound variables)."""


def fts_words(query: str) -> list[str]:
    """The distinct words of ``query`` (at most :data:`FTS_WORDS`), lower-cased."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(query)))[:FTS_WORDS]


def fts_query(words: Sequence[str]) -> str:
    """``words`` as an FTS5 query that matches any of them: each a quoted string, so
    that no character a user types (``"``, ``*``, ``-``, ``NEAR(``, ``AND``, ``col:``)
    is read as syntax."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


def _bm25_plan(conn: sqlite3.Connection, words: list[str]) -> tuple[str, int]:
    """What to match and the lowest chunk id to score, so that BM25 scores at most a few
    :data:`COMMON` rows whatever the query.

    ``bm25()`` costs about 1.3 µs for every row that matches, and a word such as "the"
    matches nearly every chunk: over 100,000 chunks one query took 130 ms. So a word
    found in more than :data:`COMMON` chunks is left out when the query has a rarer
    one (its weight in BM25, the inverse document frequency, is small anyway); a query
    of common words only is matched by its rarest word over its newest :data:`COMMON`
    chunks. Counting stops at ``COMMON + 1``, so asking costs little."""
    counts = [
        (
            conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM rag_fts WHERE rag_fts MATCH ? LIMIT ?)",
                (fts_query([w]), COMMON + 1),
            ).fetchone()[0],
            w,
        )
        for w in words
    ]
    kept = [w for n, w in counts if 0 < n <= COMMON]
    if kept:
        return fts_query(kept), 0
    found = [(n, w) for n, w in counts if n]
    if not found:
        return "", 0
    rarest = fts_query([min(found)[1]])
    row = conn.execute(
        "SELECT rowid FROM rag_fts WHERE rag_fts MATCH ? ORDER BY rowid DESC LIMIT 1 OFFSET ?",
        (rarest, COMMON - 1),
    ).fetchone()
    return rarest, 0 if row is None else int(row[0])


def _document(conn: sqlite3.Connection, profile: str, name: str) -> RagDocumentRecord | None:
    row = conn.execute(
        f"SELECT {DOCUMENT_COLUMNS} FROM rag_documents d"
        f" WHERE d.profile = ? AND d.name = ? AND {_VISIBLE}",
        (profile, name),
    ).fetchone()
    return None if row is None else document_record(row)


def _bump(conn: sqlite3.Connection, profile: str) -> int:
    """Count one change of the profile's documents; the version after it."""
    row = conn.execute(
        "INSERT INTO rag_versions (profile, version) VALUES (?, 1)"
        " ON CONFLICT (profile) DO UPDATE SET version = version + 1 RETURNING version",
        (profile,),
    ).fetchone()
    return int(row[0])


def _version(conn: sqlite3.Connection, profile: str) -> int:
    row = conn.execute("SELECT version FROM rag_versions WHERE profile = ?", (profile,)).fetchone()
    return 0 if row is None else int(row[0])


def _hide(conn: sqlite3.Connection, document_id: int, now: float) -> None:
    """Give a document a staging name: gone for every reader, its name free."""
    conn.execute(
        "UPDATE rag_documents SET name = ?, updated = ? WHERE id = ?",
        (f"{STAGING}{uuid.uuid4().hex}", now, document_id),
    )


def _insert_chunks(
    conn: sqlite3.Connection, document_id: int, rows: list[tuple[int, str, str, int, int, bytes]]
) -> None:
    conn.executemany(
        "INSERT INTO rag_chunks (document_id, ordinal, text, heading, start, end, vector)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(document_id, *row) for row in rows],
    )


def _chunk_ids(conn: sqlite3.Connection, document_id: int) -> list[int]:
    return [
        row[0]
        for row in conn.execute(
            "SELECT id FROM rag_chunks WHERE document_id = ? ORDER BY ordinal", (document_id,)
        )
    ]


def _sweep_stale(conn: sqlite3.Connection, profile: str, now: float) -> None:
    """Delete the profile's rows still staged after :data:`STALE` seconds: a killed
    server's. Names that start with char(31), as a range of the (profile, name) index: a
    put looks at the staged rows only, not at every document of the profile."""
    conn.execute(
        "DELETE FROM rag_documents WHERE profile = ? AND name >= char(31)"
        " AND name < char(32) AND updated < ?",
        (profile, now - STALE),
    )


def _insert_document(
    conn: sqlite3.Connection, profile: str, name: str, doc: Prepared, created: float, now: float
) -> int:
    """The document's row under ``name`` (its chunks are written apart); its id."""
    cur = conn.execute(
        "INSERT INTO rag_documents (profile, name, source, digest, bytes, chunks, embedder,"
        " dim, stored, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            profile,
            name,
            doc.source,
            doc.digest,
            doc.size,
            len(doc.rows),
            doc.embedder,
            doc.dim,
            doc.stored,
            created,
            now,
        ),
    )
    return int(cur.lastrowid or 0)


def _put_whole(conn: sqlite3.Connection, profile: str, doc: Prepared, now: float) -> RagStored:
    """A document stored in this write: the one it replaces hidden first (its chunks are
    deleted after), so that the name is free for it."""
    old = _document(conn, profile, doc.name)
    created = now
    if old is not None:
        _hide(conn, old.id, now)
        created = old.created
    document_id = _insert_document(conn, profile, doc.name, doc, created, now)
    _insert_chunks(conn, document_id, doc.rows)
    record = _document(conn, profile, doc.name)
    assert record is not None  # just written, in this transaction
    replaced = None if old is None else old.id
    return RagStored(record, _chunk_ids(conn, document_id), replaced, _bump(conn, profile))


class RagMixin:
    """RAG documents on the store's connections; the store provides the transactions."""

    async def _write(self, work: Work[T], *, frees: bool = False) -> T:
        raise NotImplementedError  # the store's

    async def _read(self, work: Work[T]) -> T:
        raise NotImplementedError  # the store's

    # writes -----------------------------------------------------------------------------
    async def rag_put(
        self,
        profile: str,
        name: str,
        text: str,
        source: str,
        chunks: Sequence[RagChunkIn],
        vectors: Sequence[bytes],
        embedder: str,
        dim: int,
    ) -> RagStored:
        """Store a document, replacing one of the same name (which keeps its creation
        time): it shows whole in the last write or, on any failure, not at all (nor when
        cancelled, unless the last write was already under way: then it is stored whole).
        Raises ArgumentError before anything is written."""
        document = RagDocumentIn(name, text, source, chunks, vectors, embedder, dim)
        (outcome,) = await self.rag_put_many(profile, [document])
        if isinstance(outcome, ChatthyError):
            raise outcome
        return outcome

    async def rag_put_many(
        self, profile: str, documents: Sequence[RagDocumentIn]
    ) -> list[RagStored | ChatthyError]:
        """Store each document as :meth:`rag_put` does, in order (a later one of the same
        name replaces an earlier), small ones several to a write; for each, what was
        stored or why it was not (ArgumentError, StoreError). Cancelled, the documents
        stored so far stay, whole, and the one under way is whole or absent."""
        checked = await asyncio.to_thread(prepared_all, documents)
        outcomes: dict[int, RagStored | ChatthyError] = {}
        group: list[tuple[int, Prepared]] = []
        held = 0
        for at, doc in enumerate(checked):
            if isinstance(doc, ChatthyError):
                outcomes[at] = doc
                continue
            if group and (len(doc.rows) > PUT_SLICE or held + len(doc.rows) > PUT_SLICE):
                outcomes.update(await self._put_group(profile, group))
                group, held = [], 0
            if len(doc.rows) > PUT_SLICE:
                try:
                    outcomes[at] = await self._put_in_slices(profile, doc)
                except ChatthyError as exc:
                    outcomes[at] = exc
                continue
            group.append((at, doc))
            held += len(doc.rows)
        if group:
            outcomes.update(await self._put_group(profile, group))
        return [outcomes[at] for at in range(len(checked))]

    async def _put_group(
        self, profile: str, group: list[tuple[int, Prepared]]
    ) -> dict[int, RagStored | ChatthyError]:
        """Documents of at most :data:`PUT_SLICE` chunks in all, in one write; if that
        write fails, each again in a write of its own, so that one the database refuses
        does not take the others with it."""
        now = time.time()

        def work(conn: sqlite3.Connection) -> list[RagStored]:
            _sweep_stale(conn, profile, now)
            return [_put_whole(conn, profile, doc, now) for _, doc in group]

        written = asyncio.ensure_future(self._write(work))
        try:
            stored = await asyncio.shield(written)  # cancelled or not, it goes on
        except ChatthyError as exc:
            if len(group) == 1:
                return {group[0][0]: exc}
            outcomes: dict[int, RagStored | ChatthyError] = {}
            for item in group:
                outcomes.update(await self._put_group(profile, [item]))
            return outcomes
        finally:
            await asyncio.shield(asyncio.ensure_future(self._sweep_replaced(written)))
        return {at: one for (at, _), one in zip(group, stored, strict=True)}

    async def _sweep_replaced(self, written: asyncio.Future[list[RagStored]]) -> None:
        """Delete the chunks of the documents a group's write replaced (if it failed, it
        replaced none); if this fails, a later put sweeps them."""
        with contextlib.suppress(Exception):
            for one in await written:
                if one.replaced is not None:
                    await self._sweep_document(one.replaced)

    async def _put_in_slices(self, profile: str, doc: Prepared) -> RagStored:
        """A document of more than :data:`PUT_SLICE` chunks: staged a slice a write, then
        shown in the last one (see the module's docstring)."""
        now = time.time()

        def begin(conn: sqlite3.Connection) -> int:
            _sweep_stale(conn, profile, now)
            return _insert_document(conn, profile, f"{STAGING}{uuid.uuid4().hex}", doc, now, now)

        outcome: dict[str, Any] = {}

        def publish(conn: sqlite3.Connection, document_id: int) -> None:
            old = _document(conn, profile, doc.name)
            created = now
            if old is not None:
                _hide(conn, old.id, now)
                created = old.created
            conn.execute(
                "UPDATE rag_documents SET name = ?, created = ?, updated = ? WHERE id = ?",
                (doc.name, created, now, document_id),
            )
            outcome.update(
                replaced=None if old is None else old.id,
                version=_bump(conn, profile),
                ids=_chunk_ids(conn, document_id),
                record=_document(conn, profile, doc.name),
            )

        begun = asyncio.ensure_future(self._write(begin))
        try:
            document_id = await asyncio.shield(begun)  # cancelled or not, it goes on
            for at in range(0, len(doc.rows), PUT_SLICE):
                part = doc.rows[at : at + PUT_SLICE]
                await self._write(
                    functools.partial(_insert_chunks, document_id=document_id, rows=part)
                )
            await self._write(functools.partial(publish, document_id=document_id))
            outcome["published"] = True  # committed: the tidying need not read whether
        finally:
            await asyncio.shield(asyncio.ensure_future(self._tidy_after_put(begun, outcome)))
        return RagStored(outcome["record"], outcome["ids"], outcome["replaced"], outcome["version"])

    async def _tidy_after_put(self, begun: asyncio.Future[int], outcome: dict[str, Any]) -> None:
        """Delete what a put leaves behind, once its first write is done (if that failed,
        it wrote nothing): the document it replaced, if it stored its own; what it
        staged, if it did not. A put cancelled while its last write ran may have stored
        its document whole: whether it did is read here, not assumed. If this fails too,
        a later put sweeps the rest."""

        def staged(conn: sqlite3.Connection, document_id: int) -> bool:
            row = conn.execute(
                "SELECT substr(name, 1, 1) = char(31) FROM rag_documents WHERE id = ?",
                (document_id,),
            ).fetchone()
            return row is not None and bool(row[0])

        with contextlib.suppress(Exception):
            document_id = await begun
            if not outcome.get("published") and await self._read(
                functools.partial(staged, document_id=document_id)
            ):
                await self._sweep_document(document_id)
            elif outcome.get("replaced") is not None:
                await self._sweep_document(outcome["replaced"])

    async def _sweep_document(self, document_id: int) -> None:
        """Delete a hidden document's chunks in slices, then the document."""

        def some_chunks(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM rag_chunks WHERE id IN"
                " (SELECT id FROM rag_chunks WHERE document_id = ? LIMIT ?)",
                (document_id, DROP_SLICE),
            ).rowcount

        while await self._write(some_chunks, frees=True):
            pass
        await self._write(
            lambda conn: conn.execute("DELETE FROM rag_documents WHERE id = ?", (document_id,)),
            frees=True,
        )

    async def rag_drop(self, profile: str, name: str) -> RagDropped:
        """Delete a document: gone for every reader in one small write, its chunks after.
        Raises NotFoundError."""
        name = rules.key(name)
        now = time.time()

        def hide(conn: sqlite3.Connection) -> RagDropped:
            old = _document(conn, profile, name)
            if old is None:
                raise no_document(name)
            _hide(conn, old.id, now)
            return RagDropped(old, _bump(conn, profile))

        dropped = await self._write(hide, frees=True)
        with contextlib.suppress(StoreError):  # gone already; a later put sweeps the rest
            await self._sweep_document(dropped.document.id)
        return dropped

    # reads ------------------------------------------------------------------------------
    async def rag_unchanged(
        self, profile: str, documents: Sequence[tuple[str, str]], embedder: str
    ) -> dict[str, RagDocumentRecord]:
        """Of ``documents`` (name, digest), those stored with that digest by ``embedder``."""
        wanted = [(rules.key(name), digest) for name, digest in documents]

        def work(conn: sqlite3.Connection) -> dict[str, RagDocumentRecord]:
            found: dict[str, RagDocumentRecord] = {}
            for name, digest in wanted:
                doc = _document(conn, profile, name)
                if doc is not None and doc.digest == digest and doc.embedder == embedder:
                    found[name] = doc
            return found

        return await self._read(work) if wanted else {}

    async def rag_in_use(self) -> bool:
        """Whether any profile holds a document."""
        return await self._read(
            lambda conn: conn.execute("SELECT 1 FROM rag_documents LIMIT 1").fetchone() is not None
        )

    async def rag_has(self, profile: str, name: str, digest: str, embedder: str) -> bool:
        """Whether document ``name`` is stored with this digest and embedder."""
        name = rules.key(name)

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT 1 FROM rag_documents WHERE profile = ? AND name = ? AND digest = ?"
                " AND embedder = ?",
                (profile, name, digest, embedder),
            ).fetchone()
            return row is not None

        return await self._read(work)

    async def rag_documents(self, profile: str) -> list[RagDocumentRecord]:
        """The profile's documents, by name."""
        return await self._read(
            lambda conn: [
                document_record(row)
                for row in conn.execute(
                    f"SELECT {DOCUMENT_COLUMNS} FROM rag_documents d"
                    f" WHERE d.profile = ? AND {_VISIBLE} ORDER BY d.name",
                    (profile,),
                )
            ]
        )

    async def rag_document(self, profile: str, name: str) -> RagDocumentDetail:
        """One document and its chunks' outline. Raises NotFoundError."""
        name = rules.key(name)

        def work(conn: sqlite3.Connection) -> RagDocumentDetail:
            doc = _document(conn, profile, name)
            if doc is None:
                raise no_document(name)
            heads = [
                RagChunkHead(*row)
                for row in conn.execute(
                    "SELECT ordinal, heading, start, end FROM rag_chunks WHERE document_id = ?"
                    " ORDER BY ordinal",
                    (doc.id,),
                )
            ]
            return RagDocumentDetail(doc, heads)

        return await self._read(work)

    async def rag_version(self, profile: str) -> int:
        """How many times the profile's documents changed."""
        return await self._read(lambda conn: _version(conn, profile))

    async def rag_bm25(self, profile: str, query: str, limit: int) -> list[tuple[int, float]]:
        """At most ``limit`` ``(chunk id, score)`` by BM25, best first (the score is
        ``-bm25()``: higher is better). The query is words, never syntax."""
        words = fts_words(query) if isinstance(query, str) else []
        if not words or limit < 1:
            return []

        def work(conn: sqlite3.Connection) -> list[tuple[int, float]]:
            match, lowest = _bm25_plan(conn, words)
            if not match:
                return []
            rows = conn.execute(
                "SELECT f.rowid, bm25(rag_fts) AS score FROM rag_fts f"
                " JOIN rag_chunks c ON c.id = f.rowid"
                " JOIN rag_documents d ON d.id = c.document_id"
                f" WHERE rag_fts MATCH ? AND f.rowid >= ? AND d.profile = ? AND {_VISIBLE}"
                " ORDER BY score LIMIT ?",
                (match, lowest, profile, limit),
            ).fetchall()
            return [(int(chunk), -float(score)) for chunk, score in rows]

        return await self._read(work)

    async def rag_vectors(self, profile: str, embedder: str, dim: int) -> RagVectors:
        """Every vector of the profile's documents by ``embedder`` in ``dim`` dimensions."""

        def work(conn: sqlite3.Connection) -> RagVectors:
            rows = conn.execute(
                "SELECT c.id, c.document_id, c.vector FROM rag_documents d"
                " JOIN rag_chunks c ON c.document_id = d.id"
                f" WHERE d.profile = ? AND d.embedder = ? AND d.dim = ? AND {_VISIBLE}"
                " ORDER BY c.id",
                (profile, embedder, dim),
            ).fetchall()
            return RagVectors(
                version=_version(conn, profile),
                dim=dim,
                chunk_ids=[row[0] for row in rows],
                document_ids=[row[1] for row in rows],
                data=b"".join(row[2] for row in rows),
            )

        return await self._read(work)

    async def rag_chunks(self, profile: str, ids: Sequence[int]) -> list[RagChunkRecord]:
        """The profile's chunks of ``ids``, in that order; others are left out."""
        wanted = [int(i) for i in ids]
        if not wanted:
            return []

        def work(conn: sqlite3.Connection) -> list[RagChunkRecord]:
            found: dict[int, RagChunkRecord] = {}
            for at in range(0, len(wanted), _IDS_AT_ONCE):
                part = wanted[at : at + _IDS_AT_ONCE]
                # CROSS JOIN: the chunks by id first, then each one's document. Left to
                # choose, SQLite went through every chunk of the profile's documents
                # once the ids were more than about a dozen (10-25 ms over 100,000).
                for row in conn.execute(
                    "SELECT c.id, d.name, d.source, c.ordinal, c.text, c.heading, c.start,"
                    " c.end FROM rag_chunks c CROSS JOIN rag_documents d"
                    " ON d.id = c.document_id"
                    f" WHERE c.id IN ({', '.join('?' * len(part))}) AND d.profile = ?"
                    f" AND {_VISIBLE}",
                    (*part, profile),
                ):
                    found[row[0]] = RagChunkRecord(*row)
            return [found[i] for i in wanted if i in found]

        return await self._read(work)
