"""The RAG part of :class:`~chatthy.store.postgres.PostgresStore`: each profile's
documents, their chunks and vectors, and BM25 over the chunks, with the tables and
contract of :mod:`chatthy.store._sqlite_rag`.

**Whole or absent.** A document is written in one transaction (its row, its chunks, the
word counts below, the profile's version): every reader sees all of it or none of it, so
PostgreSQL needs none of SQLite's slices under a staging name (those exist because SQLite
has one writer that a large document would hold). :meth:`PgRagMixin.rag_put_many` writes
its documents in one transaction, each in a savepoint of its own: one the database
refuses is rolled back alone and is that document's error; the others are stored. A
cancelled put rolls back whole. A document replaced or dropped is deleted in the same
transaction, chunks and all.

**Writers of one profile queue.** Each write starts by counting one change of the
profile (``rag_versions``, a row per profile), which locks that row until it commits:
writes of one profile's documents run one after another across every server, and see
each other's results; writes of different profiles do not wait for each other.

**BM25.** PostgreSQL has no BM25 (``ts_rank`` has no inverse document frequency: a word
every chunk holds would count as much as a rare one), so it is computed here from
statistics the writes keep:

* each chunk's words (:func:`terms_of`: ``\\w+`` runs, lower-cased, diacritics removed,
  as SQLite's ``unicode61 remove_diacritics 2`` tokenizer) as a ``tsvector`` whose
  positions count how often each occurs (``terms``; a GIN index finds the chunks holding
  a word), and its length in words (``words``);
* ``rag_terms``: for each profile and word, how many of its chunks hold it;
* ``rag_versions``: the profile's chunks and words in all (so the average length).

A query's words (at most :data:`FTS_WORDS`) are plain lexemes, never syntax: every
character a user types is text. Scoring is Okapi BM25 (:data:`K1`, :data:`B`, with the
idf ``ln(1 + (N - n + 0.5) / (n + 0.5))``, never negative) over the chunks that hold one
of the query's rarer words; as in SQLite, a word found in more than :data:`COMMON` chunks
only chooses the chunks when the query has no rarer word (then its newest :data:`COMMON`
chunks), so one query scores a few thousand chunks at most whatever it holds — but it
still adds to the score of the chunks it is in. Over 100,000 chunks of 120 words (one
profile, two cores busy with other work): 3-30 ms a query, up to about 60 ms for one of
only common words that are not in most chunks (the newest chunks holding the rarest are
looked for further back). A batch of documents adds its words to ``rag_terms`` once, at
its end: about 0.35 ms a chunk to store in all.

**Vectors** are ``bytea``, read whole by :meth:`PgRagMixin.rag_vectors` in one snapshot
and searched with numpy above the store, as with SQLite. pgvector is not used: it is not
installed where this was written; where ``pg_available_extensions`` lists ``vector`` a
later migration could index them in the database instead.

Every query names the profile: a document or chunk of another profile is "not found",
never seen.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from chatthy.errors import ChatthyError
from chatthy.store import rules
from chatthy.store._pg_support import PgBase, lexeme, translated
from chatthy.store._pg_workspace import storable
from chatthy.store._rag_checks import Prepared, no_document, prepared_all
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

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["COMMON", "FTS_WORDS", "K1", "B", "PgRagMixin", "query_terms", "terms_of"]

FTS_WORDS = 12
"""The most distinct words of a query BM25 looks for; the rest are ignored."""
COMMON = 3000
"""Chunks a word may be in and still choose the chunks scored when the query has rarer
words (see the module docs)."""
K1 = 1.2
"""BM25's saturation of a word's count in a chunk."""
B = 0.75
"""BM25's weight of a chunk's length against the average."""
WORD_MAX = 200
"""Characters of a word that count: longer ones are cut (a lexeme holds 2047 bytes)."""
_POSITIONS = 255
"""The most occurrences of a word a chunk's ``tsvector`` records (PostgreSQL keeps 256)."""
_WORD = re.compile(r"\w+")


def _fold(word: str) -> str:
    """A word lower-cased, without diacritics, at most :data:`WORD_MAX` characters."""
    if not word.isascii():
        decomposed = unicodedata.normalize("NFKD", word)
        word = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return word.lower()[:WORD_MAX]


def terms_of(text: str) -> list[str]:
    """The words of ``text`` as BM25 counts them, in order, repeats included."""
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)  # a letter and its accent: one word
    return [folded for word in _WORD.findall(text) if (folded := _fold(word))]


def query_terms(query: str) -> list[str]:
    """The distinct words of a query (at most :data:`FTS_WORDS`), as :func:`terms_of`."""
    return list(dict.fromkeys(terms_of(query)))[:FTS_WORDS]


def _tsvector(counts: Counter[str]) -> str:
    """A chunk's words as ``tsvector`` input: each word with one position per occurrence."""
    return " ".join(
        f"{lexeme(term)}:{','.join(map(str, range(1, min(n, _POSITIONS) + 1)))}"
        for term, n in counts.items()
    )


class _Indexed(NamedTuple):
    """A document checked, with what BM25 keeps of each chunk."""

    doc: Prepared
    words: list[int]
    """Each chunk's length in words."""
    terms: list[str]
    """Each chunk's words as ``tsvector`` input."""
    holding: Counter[str]
    """For each word, how many of the document's chunks hold it."""


def _indexed(doc: Prepared) -> _Indexed:
    """The document's BM25 rows; ArgumentError for text PostgreSQL cannot store."""
    storable("document name", doc.name)
    storable("document source", doc.source)
    storable("embedder", doc.embedder)
    words: list[int] = []
    terms: list[str] = []
    holding: Counter[str] = Counter()
    for ordinal, text, heading, *_ in doc.rows:
        storable(f"chunk {ordinal}", text)
        storable(f"heading of chunk {ordinal}", heading)
        counts = Counter(terms_of(text) + terms_of(heading))
        words.append(sum(counts.values()))
        terms.append(_tsvector(counts))
        holding.update(counts.keys())
    return _Indexed(doc, words, terms, holding)


def _indexed_all(documents: Sequence[RagDocumentIn]) -> list[_Indexed | ChatthyError]:
    out: list[_Indexed | ChatthyError] = []
    for doc in prepared_all(documents):
        try:
            out.append(doc if isinstance(doc, ChatthyError) else _indexed(doc))
        except ChatthyError as exc:
            out.append(exc)
    return out


async def _document(
    conn: AsyncConnection[Any], profile: str, name: str
) -> RagDocumentRecord | None:
    cur = await conn.execute(
        f"SELECT {DOCUMENT_COLUMNS} FROM rag_documents d WHERE d.profile = %s AND d.name = %s",
        (profile, name),
    )
    row = await cur.fetchone()
    return None if row is None else document_record(row)


async def _version(conn: AsyncConnection[Any], profile: str) -> int:
    """How many times the profile's documents changed (0: never)."""
    cur = await conn.execute("SELECT version FROM rag_versions WHERE profile = %s", (profile,))
    row = await cur.fetchone()
    return 0 if row is None else int(row[0])


async def _bump(conn: AsyncConnection[Any], profile: str, chunks: int = 0, words: int = 0) -> int:
    """Count one change of the profile's documents (and the chunks and words it adds);
    the version after it. Its row stays locked until the transaction ends: the profile's
    other writers wait here, before they have read anything."""
    cur = await conn.execute(
        "INSERT INTO rag_versions AS v (profile, version, chunks, words) VALUES (%s, 1, %s, %s)"
        " ON CONFLICT (profile) DO UPDATE SET version = v.version + 1,"
        " chunks = v.chunks + excluded.chunks, words = v.words + excluded.words"
        " RETURNING version",
        (profile, chunks, words),
    )
    row = await cur.fetchone()
    assert row is not None  # an upsert returns its row
    return int(row[0])


async def _delete(
    conn: AsyncConnection[Any], profile: str, document_id: int, *, counted: bool = True
) -> None:
    """Delete a document and its chunks, taking them out of the profile's counts (its
    words out of ``rag_terms`` unless not ``counted`` there yet: see :func:`_count`)."""
    if counted:
        await _uncount(conn, profile, document_id)
    await conn.execute(
        "UPDATE rag_versions v SET chunks = v.chunks - s.n, words = v.words - s.w"
        " FROM (SELECT count(*) AS n, COALESCE(sum(words), 0) AS w FROM rag_chunks"
        "  WHERE document_id = %s) s WHERE v.profile = %s",
        (document_id, profile),
    )
    await conn.execute("DELETE FROM rag_documents WHERE id = %s", (document_id,))


async def _uncount(conn: AsyncConnection[Any], profile: str, document_id: int) -> None:
    """Take a document's chunks out of ``rag_terms``."""
    cur = await conn.execute(
        "WITH gone AS (SELECT u.lexeme AS term, count(*) AS n"
        "  FROM rag_chunks c, unnest(c.terms) u WHERE c.document_id = %s GROUP BY u.lexeme)"
        " UPDATE rag_terms t SET chunks = t.chunks - gone.n FROM gone"
        " WHERE t.profile = %s AND t.term = gone.term RETURNING t.term, t.chunks",
        (document_id, profile),
    )
    emptied = [term for term, left in await cur.fetchall() if left <= 0]
    if emptied:
        await conn.execute(
            "DELETE FROM rag_terms WHERE profile = %s AND term = ANY(%s)", (profile, emptied)
        )


async def _count(conn: AsyncConnection[Any], profile: str, holding: Counter[str]) -> None:
    """Add ``holding`` (chunks per word) to the profile's ``rag_terms``: once for a whole
    batch of documents, at its end (one row per word, where one a document cost several
    times the time: most words of a batch are in most of its documents)."""
    terms = sorted(term for term, n in holding.items() if n > 0)
    if terms:
        await conn.execute(
            "INSERT INTO rag_terms AS t (profile, term, chunks)"
            " SELECT %s, term, n FROM unnest(%s::text[], %s::int[]) AS u(term, n)"
            " ON CONFLICT (profile, term) DO UPDATE SET chunks = t.chunks + excluded.chunks",
            (profile, terms, [holding[term] for term in terms]),
        )


async def _put(
    conn: AsyncConnection[Any],
    profile: str,
    item: _Indexed,
    now: float,
    uncounted: dict[int, Counter[str]],
) -> RagStored:
    """One document stored in this transaction, replacing one of the same name (whose
    creation time it keeps). Its words are not counted in ``rag_terms`` here but by the
    caller (:func:`_count`); ``uncounted`` holds, by id, the documents of the batch whose
    words are not counted there yet."""
    doc = item.doc
    version = await _bump(conn, profile, len(doc.rows), sum(item.words))
    old = await _document(conn, profile, doc.name)
    created = now
    if old is not None:
        await _delete(conn, profile, old.id, counted=old.id not in uncounted)
        created = old.created
    cur = await conn.execute(
        "INSERT INTO rag_documents AS d (profile, name, source, digest, bytes, chunks,"
        " embedder, dim, stored, created, updated)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        f" RETURNING {DOCUMENT_COLUMNS}",
        (
            profile,
            doc.name,
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
    row = await cur.fetchone()
    assert row is not None  # an insert returns its row
    record = document_record(row)
    ids: list[int] = []
    if doc.rows:
        ordinals, texts, headings, starts, ends, vectors = map(list, zip(*doc.rows, strict=True))
        cur = await conn.execute(
            'INSERT INTO rag_chunks (document_id, ordinal, text, heading, start, "end", vector,'
            " words, terms) SELECT %s, o, x, h, s, e, v, w, t::tsvector"
            " FROM unnest(%s::int[], %s::text[], %s::text[], %s::bigint[], %s::bigint[],"
            " %s::bytea[], %s::int[], %s::text[]) AS u(o, x, h, s, e, v, w, t)"
            " RETURNING id, ordinal",
            (record.id, ordinals, texts, headings, starts, ends, vectors, item.words, item.terms),
        )
        ids = [chunk for chunk, _ in sorted(await cur.fetchall(), key=lambda r: r[1])]
    replaced = None if old is None else old.id
    return RagStored(record, ids, replaced, version)


class PgRagMixin(PgBase):
    """RAG documents on the store's pool; :class:`PgBase` gives the transactions."""

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
        time), whole or, on any failure or cancellation, not at all. Raises
        ArgumentError before anything is written."""
        document = RagDocumentIn(name, text, source, chunks, vectors, embedder, dim)
        (outcome,) = await self.rag_put_many(profile, [document])
        if isinstance(outcome, ChatthyError):
            raise outcome
        return outcome

    async def rag_put_many(
        self, profile: str, documents: Sequence[RagDocumentIn]
    ) -> list[RagStored | ChatthyError]:
        """Store each document as :meth:`rag_put` does, in order (a later one of the same
        name replaces an earlier), all in one transaction, each in a savepoint; for each,
        what was stored or why it was not (ArgumentError, StoreError). Cancelled, none of
        them is stored."""
        checked = await asyncio.to_thread(_indexed_all, documents)
        outcomes: list[RagStored | ChatthyError | None] = [
            item if isinstance(item, ChatthyError) else None for item in checked
        ]
        if all(isinstance(item, ChatthyError) for item in checked):
            return [item for item in checked if isinstance(item, ChatthyError)]
        now = time.time()

        async def work(conn: AsyncConnection[Any]) -> None:
            uncounted: dict[int, Counter[str]] = {}
            holding: Counter[str] = Counter()  # what the batch adds to rag_terms
            for at, item in enumerate(checked):
                if isinstance(item, ChatthyError):
                    continue
                try:
                    async with translated(), conn.transaction():
                        stored = await _put(conn, profile, item, now, uncounted)
                except ChatthyError as exc:
                    outcomes[at] = exc
                    continue
                outcomes[at] = stored
                holding.update(item.holding)
                if stored.replaced in uncounted:  # replaced in this batch: never counted
                    holding.subtract(uncounted.pop(stored.replaced))
                uncounted[stored.document.id] = item.holding
            await _count(conn, profile, holding)

        try:
            await self._write(work)
        except ChatthyError as exc:  # the commit failed: none of them is stored
            return [o if isinstance(o, ChatthyError) else exc for o in outcomes]
        return [o for o in outcomes if o is not None]

    async def rag_drop(self, profile: str, name: str) -> RagDropped:
        """Delete a document and its chunks. Raises NotFoundError."""
        name = rules.key(name)

        async def work(conn: AsyncConnection[Any]) -> RagDropped:
            version = await _bump(conn, profile)
            old = await _document(conn, profile, name)
            if old is None:
                raise no_document(name)  # the count of changes is rolled back with it
            await _delete(conn, profile, old.id)
            return RagDropped(old, version)

        return await self._write(work, frees=True)

    # reads ------------------------------------------------------------------------------
    async def rag_unchanged(
        self, profile: str, documents: Sequence[tuple[str, str]], embedder: str
    ) -> dict[str, RagDocumentRecord]:
        """Of ``documents`` (name, digest), those stored with that digest by ``embedder``."""
        wanted = [(rules.key(name), digest) for name, digest in documents]
        if not wanted:
            return {}

        async def work(conn: AsyncConnection[Any]) -> dict[str, RagDocumentRecord]:
            cur = await conn.execute(
                f"SELECT {DOCUMENT_COLUMNS} FROM rag_documents d WHERE d.profile = %s"
                " AND d.name = ANY(%s) AND d.embedder = %s",
                (profile, sorted({name for name, _ in wanted}), embedder),
            )
            stored = {doc.name: doc for doc in map(document_record, await cur.fetchall())}
            found: dict[str, RagDocumentRecord] = {}
            for name, digest in wanted:
                doc = stored.get(name)
                if doc is not None and doc.digest == digest:
                    found[name] = doc
            return found

        return await self._read(work)

    async def rag_in_use(self) -> bool:
        """Whether any profile holds a document."""

        async def work(conn: AsyncConnection[Any]) -> bool:
            cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM rag_documents)")
            row = await cur.fetchone()
            return bool(row and row[0])

        return await self._read(work)

    async def rag_has(self, profile: str, name: str, digest: str, embedder: str) -> bool:
        """Whether document ``name`` is stored with this digest and embedder."""
        name = rules.key(name)

        async def work(conn: AsyncConnection[Any]) -> bool:
            cur = await conn.execute(
                "SELECT 1 FROM rag_documents WHERE profile = %s AND name = %s AND digest = %s"
                " AND embedder = %s",
                (profile, name, digest, embedder),
            )
            return await cur.fetchone() is not None

        return await self._read(work)

    async def rag_documents(self, profile: str) -> list[RagDocumentRecord]:
        """The profile's documents, by name."""

        async def work(conn: AsyncConnection[Any]) -> list[RagDocumentRecord]:
            cur = await conn.execute(
                f"SELECT {DOCUMENT_COLUMNS} FROM rag_documents d WHERE d.profile = %s"
                " ORDER BY d.name",
                (profile,),
            )
            return [document_record(row) for row in await cur.fetchall()]

        return await self._read(work)

    async def rag_document(self, profile: str, name: str) -> RagDocumentDetail:
        """One document and its chunks' outline. Raises NotFoundError."""
        name = rules.key(name)

        async def work(conn: AsyncConnection[Any]) -> RagDocumentDetail:
            doc = await _document(conn, profile, name)
            if doc is None:
                raise no_document(name)
            cur = await conn.execute(
                'SELECT ordinal, heading, start, "end" FROM rag_chunks WHERE document_id = %s'
                " ORDER BY ordinal",
                (doc.id,),
            )
            return RagDocumentDetail(doc, [RagChunkHead(*row) for row in await cur.fetchall()])

        return await self._read(work)

    async def rag_version(self, profile: str) -> int:
        """How many times the profile's documents changed."""

        return await self._read(lambda conn: _version(conn, profile))

    async def rag_bm25(self, profile: str, query: str, limit: int) -> list[tuple[int, float]]:
        """At most ``limit`` ``(chunk id, score)`` by BM25, best first (higher is better).
        The query is words, never syntax (see the module docs)."""
        words = query_terms(query) if isinstance(query, str) else []
        if not words or limit < 1:
            return []

        async def work(conn: AsyncConnection[Any]) -> list[tuple[int, float]]:
            cur = await conn.execute(
                "SELECT v.chunks, v.words, t.term, t.chunks FROM rag_versions v"
                " LEFT JOIN rag_terms t ON t.profile = v.profile AND t.term = ANY(%s)"
                " WHERE v.profile = %s",
                (words, profile),
            )
            rows = await cur.fetchall()
            held = {term: int(n) for _, _, term, n in rows if term is not None and n > 0}
            total = int(rows[0][0]) if rows else 0
            if not held or total < 1:
                return []
            average = max(int(rows[0][1]) / total, 1.0)
            scored = sorted(held)
            idf = [math.log(1 + (total - held[t] + 0.5) / (held[t] + 0.5)) for t in scored]
            rare = [t for t in scored if held[t] <= COMMON]
            chooser = rare or [min(scored, key=lambda t: (held[t], t))]
            newest = "" if rare else f" ORDER BY c.id DESC LIMIT {int(COMMON)}"
            cur = await conn.execute(
                "WITH q AS (SELECT * FROM unnest(%(terms)s::text[], %(idf)s::float8[])"
                "  AS q(term, idf)),"
                " chosen AS (SELECT c.id, c.words, c.terms FROM rag_chunks c"
                "  JOIN rag_documents d ON d.id = c.document_id"
                f"  WHERE c.terms @@ %(match)s::tsquery AND d.profile = %(profile)s{newest})"
                " SELECT chosen.id, sum(q.idf * h.tf * (%(k1)s::float8 + 1)"
                "  / (h.tf + %(k1)s::float8 * (1 - %(b)s::float8"
                "  + %(b)s::float8 * chosen.words / %(average)s::float8))) AS score"
                " FROM chosen CROSS JOIN LATERAL (SELECT u.lexeme, cardinality(u.positions) AS tf"
                "  FROM unnest(ts_filter(setweight(chosen.terms, 'A', %(terms)s::text[]),"
                "  '{a}')) u) h JOIN q ON q.term = h.lexeme"
                " GROUP BY chosen.id ORDER BY score DESC, chosen.id DESC LIMIT %(limit)s",
                {
                    "terms": scored,
                    "idf": idf,
                    "match": " | ".join(map(lexeme, chooser)),
                    "profile": profile,
                    "k1": K1,
                    "b": B,
                    "average": average,
                    "limit": limit,
                },
                prepare=False,  # planned for these words: a generic plan scans every match
            )
            return [(int(chunk), float(score)) for chunk, score in await cur.fetchall()]

        return await self._read(work)

    async def rag_vectors(self, profile: str, embedder: str, dim: int) -> RagVectors:
        """Every vector of the profile's documents by ``embedder`` in ``dim`` dimensions,
        with the version they are as of (one snapshot)."""

        async def work(conn: AsyncConnection[Any]) -> RagVectors:
            version = await _version(conn, profile)
            rows = await (
                await conn.cursor(binary=True).execute(
                    "SELECT c.id, c.document_id, c.vector FROM rag_documents d"
                    " JOIN rag_chunks c ON c.document_id = d.id"
                    " WHERE d.profile = %s AND d.embedder = %s AND d.dim = %s ORDER BY c.id",
                    (profile, embedder, dim),
                )
            ).fetchall()
            return RagVectors(
                version=version,
                dim=dim,
                chunk_ids=[int(r[0]) for r in rows],
                document_ids=[int(r[1]) for r in rows],
                data=b"".join(r[2] for r in rows),
            )

        return await self._read(work)

    async def rag_chunks(self, profile: str, ids: Sequence[int]) -> list[RagChunkRecord]:
        """The profile's chunks of ``ids``, in that order; others are left out."""
        wanted = [int(i) for i in ids]
        if not wanted:
            return []

        async def work(conn: AsyncConnection[Any]) -> list[RagChunkRecord]:
            cur = await conn.execute(
                'SELECT c.id, d.name, d.source, c.ordinal, c.text, c.heading, c.start, c."end"'
                " FROM rag_chunks c JOIN rag_documents d ON d.id = c.document_id"
                " WHERE c.id = ANY(%s::bigint[]) AND d.profile = %s",
                (wanted, profile),
            )
            found = {int(row[0]): RagChunkRecord(*row) for row in await cur.fetchall()}
            return [found[i] for i in wanted if i in found]

        return await self._read(work)
