"""The RAG index: documents stored with their chunks and vectors, found again by BM25,
by vector, or by both fused.

:class:`RagIndex` sits on a :class:`~chatthy.store.base.Store`, which keeps everything
(documents, chunks, vectors, the BM25 index) per profile. What it adds is the vector
half of search: the vectors of one profile and embedder held in memory as one float32
matrix, scored against a query with one matrix-vector product (about 4 ms over 100,000
chunks of 256 dimensions) instead of read from the database on every query.

The matrix is read once, on the first search of its profile and embedder, and then
kept current: an :meth:`RagIndex.add` or :meth:`RagIndex.drop` through this index
changes it in place (rows appended; a dropped document's rows blanked, and the matrix
compacted once half of it is blank). Each change of a profile's documents counts one
more in the store's version of them (:meth:`~chatthy.store.base.Store.rag_version`);
a search compares it with the matrix's, so a change made elsewhere (another index,
another server on the same database) is seen: that matrix is read again, once.

Nothing heavy runs on the event loop: a matrix of more than :data:`INLINE_ROWS` rows is
scored, grown, compacted or read on a thread (numpy lets the GIL go in its products), so
no query holds the loop for more than about a millisecond of numpy.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Literal, NamedTuple, ParamSpec, Protocol, TypeVar, get_args

import msgspec
import numpy as np
import numpy.typing as npt

from chatthy.errors import ArgumentError, ChatthyError
from chatthy.rag.fuse import RRF_K, rrf
from chatthy.store.base import (
    RagChunkIn,
    RagChunkRecord,
    RagDocumentIn,
    RagDocumentRecord,
    Store,
)

__all__ = [
    "CANDIDATES",
    "INLINE_ROWS",
    "MODES",
    "ChunkLike",
    "Document",
    "Hit",
    "Mode",
    "RagIndex",
]

Mode = Literal["hybrid", "bm25", "vector"]
MODES: tuple[Mode, ...] = get_args(Mode)

CANDIDATES = 50
"""How many of each list hybrid search fuses (more when a search asks for more)."""
INLINE_ROWS = 20_000
"""The largest matrix scored on the event loop (about 1 ms); larger ones on a thread."""
WAIT_FOR_CHANGE = 0.5
"""Seconds a search waits for this index's change under way to reach its matrix before
reading the matrix again (a long document's put may be what it waits on, while the
change it has not seen was made elsewhere)."""
CACHED = 8
"""Matrices kept (profile, embedder and dimension each); the least recently searched
goes first."""

Vectors = npt.NDArray[np.float32]
P = ParamSpec("P")
R = TypeVar("R")


class ChunkLike(Protocol):
    """What :meth:`RagIndex.add` needs of a chunk (the chunker's chunks are such)."""

    @property
    def text(self) -> str: ...

    @property
    def heading(self) -> str: ...

    @property
    def start(self) -> int: ...

    @property
    def end(self) -> int: ...


class Hit(msgspec.Struct):
    """One chunk a search found. ``score`` is of the search's mode: the BM25 score
    (higher is better), the cosine similarity, or the fused score of hybrid search;
    ``ranks`` is where each list that found it ranked it (``{"bm25": 1, "vector": 4}``),
    1 for the first."""

    document: str
    source: str
    ordinal: int
    heading: str
    text: str
    score: float
    ranks: dict[str, int]
    chunk_id: int


class Document(NamedTuple):
    """A document for :meth:`RagIndex.add_many`: its name, text and source, its chunks,
    and their vectors (one row per chunk)."""

    name: str
    text: str
    source: str
    chunks: Sequence[ChunkLike]
    vectors: object


class _Change(NamedTuple):
    """One change of a profile's documents as a matrix takes it: the version after it,
    the document it removed (dropped or replaced), the embedder and dimension of the
    rows it added and those rows (document id, chunk ids, vectors)."""

    version: int
    removed: int | None = None
    into: tuple[str, int] | None = None
    added: tuple[int, list[int], Vectors] | None = None


_UNSET = ChatthyError("not stored")
"""A placeholder, replaced by every document's outcome before it is returned."""


def _unit_rows(vectors: object, rows: int | None) -> Vectors:
    """``vectors`` as a C-ordered float32 matrix of unit rows (a zero row stays zero).
    Raises ArgumentError for anything else, or another number of rows than ``rows``."""
    try:
        matrix = np.array(vectors, dtype=np.float32, ndmin=2, copy=True)
    except (TypeError, ValueError) as exc:
        raise ArgumentError(f"vectors must be numbers: {exc}") from None
    if matrix.ndim != 2 or matrix.shape[1] < 1:
        raise ArgumentError(f"vectors must be rows of numbers, not of shape {matrix.shape}")
    if rows is not None and matrix.shape[0] != rows:
        raise ArgumentError(f"{rows} chunks but {matrix.shape[0]} vectors")
    if not np.isfinite(matrix).all():
        raise ArgumentError("a vector holds a NaN or an infinity")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return np.ascontiguousarray(matrix)


def _prepared_many(
    documents: Sequence[Document], embedder: str
) -> list[tuple[Vectors, RagDocumentIn] | ChatthyError]:
    """Each document's vectors as unit rows and the document as the store takes it
    (each row as bytes), or why it cannot be stored; on a thread: 50,000 chunks take some
    50 ms."""
    out: list[tuple[Vectors, RagDocumentIn] | ChatthyError] = []
    for doc in documents:
        try:
            rows = _unit_rows(doc.vectors, len(doc.chunks))
        except ArgumentError as exc:
            out.append(ArgumentError(f"document {doc.name!r}: {exc.message}"))
            continue
        pieces = [RagChunkIn(c.text, c.heading, c.start, c.end) for c in doc.chunks]
        blobs = [row.tobytes() for row in rows]
        document = RagDocumentIn(
            doc.name, doc.text, doc.source, pieces, blobs, embedder, rows.shape[1]
        )
        out.append((rows, document))
    return out


class _Matrix:
    """The vectors of one profile and embedder, rows in a buffer that grows by doubling.

    Searches take a :meth:`view` and score it on any thread while the index changes the
    matrix: rows are appended beyond the view's end, and a view is never resized, so a
    search sees the matrix as it was, or with some rows of a dropped document blanked
    (those chunks are left out when read from the store anyway)."""

    def __init__(self, version: int, dim: int) -> None:
        self.version = version
        self.dim = dim
        self._lock = threading.Lock()
        self._rows: Vectors = np.zeros((0, dim), np.float32)
        self._chunks = np.zeros(0, np.int64)
        self._docs = np.zeros(0, np.int64)
        self._size = 0
        self._blank = 0

    @property
    def size(self) -> int:
        return self._size

    def view(self) -> tuple[Vectors, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        with self._lock:
            n = self._size
            return self._rows[:n], self._chunks[:n], self._docs[:n]

    def fill(
        self, chunks: npt.NDArray[np.int64], docs: npt.NDArray[np.int64], rows: Vectors
    ) -> None:
        """Start from these rows (a matrix just read), with room to grow."""
        capacity = max(1024, len(chunks) + len(chunks) // 4)
        self._rows = np.zeros((capacity, self.dim), np.float32)
        self._chunks = np.zeros(capacity, np.int64)
        self._docs = np.zeros(capacity, np.int64)
        n = len(chunks)
        self._rows[:n], self._chunks[:n], self._docs[:n] = rows, chunks, docs
        self._size = n

    def append(self, document_id: int, chunk_ids: Sequence[int], rows: Vectors) -> None:
        n, more = self._size, len(chunk_ids)
        if n + more > len(self._chunks):
            capacity = max(1024, 2 * (n + more))
            grown = np.zeros((capacity, self.dim), np.float32)
            grown[:n] = self._rows[:n]
            chunks, docs = np.zeros(capacity, np.int64), np.zeros(capacity, np.int64)
            chunks[:n], docs[:n] = self._chunks[:n], self._docs[:n]
            with self._lock:
                self._rows, self._chunks, self._docs = grown, chunks, docs
        self._rows[n : n + more] = rows
        self._chunks[n : n + more] = chunk_ids
        self._docs[n : n + more] = document_id
        with self._lock:
            self._size = n + more

    def remove(self, document_id: int) -> None:
        at = np.flatnonzero(self._docs[: self._size] == document_id)
        if not len(at):
            return
        self._docs[at] = -1
        self._rows[at] = 0.0
        self._blank += len(at)
        if self._blank * 2 > self._size:
            keep = self._docs[: self._size] >= 0
            with self._lock:
                self._rows = np.ascontiguousarray(self._rows[: self._size][keep])
                self._chunks = self._chunks[: self._size][keep].copy()
                self._docs = self._docs[: self._size][keep].copy()
                self._size, self._blank = len(self._chunks), 0

    def top(self, query: Vectors, k: int) -> list[tuple[int, float]]:
        """The ``k`` chunks nearest ``query`` (a unit vector), by cosine, best first."""
        rows, chunks, docs = self.view()
        if not len(rows):
            return []
        scores = rows @ query
        if self._blank:
            scores[docs < 0] = -np.inf
        k = min(k, len(scores))
        best = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(k)
        best = best[np.argsort(-scores[best], kind="stable")]
        return [(int(chunks[i]), float(scores[i])) for i in best if np.isfinite(scores[i])]


class RagIndex:
    """Documents in a store, searched by BM25, by vector or both; see the module docs.

    One index serves every profile: each search and change names its profile, and the
    store keeps the profiles apart."""

    def __init__(self, store: Store, *, rrf_k: int = RRF_K) -> None:
        self.store = store
        self.rrf_k = rrf_k
        self._matrices: OrderedDict[tuple[str, str, int], _Matrix] = OrderedDict()
        self._loading: dict[tuple[str, str, int], asyncio.Future[_Matrix]] = {}
        self._changing = asyncio.Lock()
        self._pending: dict[str, int] = {}
        self._settled = asyncio.Condition()

    # changes ----------------------------------------------------------------------------
    async def add(
        self,
        profile: str,
        name: str,
        text: str,
        source: str,
        chunks: Sequence[ChunkLike],
        vectors: object,
        embedder: str,
    ) -> RagDocumentRecord:
        """Store the document ``name`` (replacing one of that name) as its ``chunks``,
        each with its row of ``vectors`` (a matrix, one row per chunk, of the embedder's
        dimension; kept as unit vectors). All of it shows at once, or on any failure
        nothing does. Raises ArgumentError, StoreError."""
        (outcome,) = await self.add_many(
            profile, [Document(name, text, source, chunks, vectors)], embedder
        )
        if isinstance(outcome, ChatthyError):
            raise outcome
        return outcome

    async def add_many(
        self, profile: str, documents: Sequence[Document], embedder: str
    ) -> list[RagDocumentRecord | ChatthyError]:
        """Store each document as :meth:`add` does, in order, small ones several to a
        write of the store; for each, its record or why it was not stored (ArgumentError,
        StoreError). One that fails is not stored; the others are."""
        prepared = await asyncio.to_thread(_prepared_many, documents, embedder)
        outcomes: list[RagDocumentRecord | ChatthyError] = [
            item if isinstance(item, ChatthyError) else _UNSET for item in prepared
        ]
        going = [
            (at, item) for at, item in enumerate(prepared) if not isinstance(item, ChatthyError)
        ]
        if not going:
            return outcomes
        async with self._changes(profile):
            stored = await self.store.rag_put_many(profile, [item[1] for _, item in going])
            changes: list[_Change] = []
            for (at, (rows, document)), one in zip(going, stored, strict=True):
                if isinstance(one, ChatthyError):
                    outcomes[at] = one
                    continue
                outcomes[at] = one.document
                added = (one.document.id, one.chunk_ids, rows)
                changes.append(_Change(one.version, one.replaced, (embedder, document.dim), added))
            await self._follow(profile, changes)
        return outcomes

    async def drop(self, profile: str, name: str) -> RagDocumentRecord:
        """Delete the document ``name`` with its chunks. Raises NotFoundError."""
        async with self._changes(profile):
            dropped = await self.store.rag_drop(profile, name)
            await self._follow(profile, [_Change(dropped.version, dropped.document.id)])
        return dropped.document

    @contextlib.asynccontextmanager
    async def _changes(self, profile: str) -> AsyncIterator[None]:
        """Count a change of the profile's documents under way, from before the store
        makes it until its matrices have taken it: a search meanwhile waits for the
        change rather than read a whole matrix again (see :meth:`_matrix`)."""
        self._pending[profile] = self._pending.get(profile, 0) + 1
        try:
            yield
        finally:
            self._pending[profile] -= 1
            if not self._pending[profile]:
                del self._pending[profile]
            async with self._settled:
                self._settled.notify_all()

    async def _follow(self, profile: str, changes: Sequence[_Change]) -> None:
        """Bring the profile's matrices through ``changes`` (in the order made): a
        matrix takes each change that comes right after its version; one that missed a
        change (another came between, made elsewhere) is forgotten, to be read again by
        its next search."""
        async with self._changing:  # one change at a time: a matrix has no lock of its own
            for key, matrix in list(self._matrices.items()):
                if key[0] != profile:
                    continue
                version = matrix.version
                steps: list[tuple[int | None, tuple[int, list[int], Vectors] | None]] = []
                for change in changes:
                    if change.version <= version:  # the matrix was read after it
                        continue
                    if change.version != version + 1:
                        self._matrices.pop(key, None)
                        break
                    steps.append((change.removed, change.added if change.into == key[1:] else None))
                    version = change.version
                else:
                    if steps:
                        await self._run(matrix, _apply, matrix, steps)
                        matrix.version = version
        # (the searches waiting for it are woken as the change ends: see _changes)

    # search -----------------------------------------------------------------------------
    async def search(
        self,
        profile: str,
        query: str,
        query_vector: object,
        embedder: str,
        limit: int = 10,
        mode: Mode = "hybrid",
    ) -> list[Hit]:
        """The ``limit`` chunks of the profile's documents that best answer ``query``.

        ``bm25``: by the query's words (any of them; nothing in the query is syntax);
        ``vector``: by cosine between ``query_vector`` (made by ``embedder``) and the
        chunks that embedder embedded; ``hybrid``: the top :data:`CANDIDATES` of each
        fused by reciprocal rank (:mod:`chatthy.rag.fuse`, ``k`` = :attr:`rrf_k`).
        Raises ArgumentError for an unknown mode or a query vector that is not one."""
        if mode not in MODES:
            raise ArgumentError(f"search mode must be one of {', '.join(MODES)}, not {mode!r}")
        if limit < 1:
            return []
        depth = limit if mode != "hybrid" else max(CANDIDATES, limit)
        lists: dict[str, list[tuple[int, float]]] = {}
        if mode != "bm25":
            if query_vector is None:
                raise ArgumentError(f"{mode} search needs the query's vector")
            unit = _unit_rows(query_vector, 1)[0]

            async def nearest() -> list[tuple[int, float]]:
                version = await self.store.rag_version(profile)
                matrix = await self._matrix(profile, embedder, len(unit), version)
                return await self._run(matrix, matrix.top, unit, depth)

            if mode == "hybrid":  # BM25 in SQLite and the product in numpy, side by side
                lists["bm25"], lists["vector"] = await asyncio.gather(
                    self.store.rag_bm25(profile, query, depth), nearest()
                )
            else:
                lists["vector"] = await nearest()
        else:
            lists["bm25"] = await self.store.rag_bm25(profile, query, depth)
        if mode == "hybrid":
            fused = rrf({name: [c for c, _ in found] for name, found in lists.items()}, self.rrf_k)
            ranked = [(chunk, score, ranks) for chunk, score, ranks in fused]
        else:
            ((name, found),) = lists.items()
            ranked = [(chunk, score, {name: i}) for i, (chunk, score) in enumerate(found, 1)]
        chunks = await self.store.rag_chunks(profile, [c for c, _, _ in ranked[: limit * 2]])
        by_id = {c.id: c for c in chunks}
        hits = [_hit(by_id[c], score, ranks) for c, score, ranks in ranked if c in by_id]
        return hits[:limit]

    async def _matrix(self, profile: str, embedder: str, dim: int, version: int) -> _Matrix:
        """The matrix of the profile and embedder as of ``version``, read if it is not."""
        key = (profile, embedder, dim)
        matrix = self._matrices.get(key)
        if matrix is not None and matrix.version < version and profile in self._pending:
            held = matrix  # a change of this index's is under way: it will bring it here

            async def settled() -> None:
                async with self._settled:
                    await self._settled.wait_for(
                        lambda: (
                            held.version >= version
                            or profile not in self._pending
                            or self._matrices.get(key) is not held
                        )
                    )

            with contextlib.suppress(TimeoutError):  # a change made elsewhere: read it
                await asyncio.wait_for(settled(), WAIT_FOR_CHANGE)
            matrix = self._matrices.get(key)
        if matrix is not None and matrix.version >= version:
            self._matrices.move_to_end(key)
            return matrix
        loading = self._loading.get(key)
        if loading is None:  # one read for every search waiting on it
            loading = asyncio.ensure_future(self._load(profile, embedder, dim))
            self._loading[key] = loading
            loading.add_done_callback(lambda _: self._loading.pop(key, None))
        matrix = await asyncio.shield(loading)
        self._matrices[key] = matrix
        self._matrices.move_to_end(key)
        while len(self._matrices) > CACHED:
            self._matrices.popitem(last=False)
        return matrix

    async def _load(self, profile: str, embedder: str, dim: int) -> _Matrix:
        stored = await self.store.rag_vectors(profile, embedder, dim)

        def build() -> _Matrix:
            matrix = _Matrix(stored.version, dim)
            rows = np.frombuffer(stored.data, np.float32).reshape(-1, dim)
            matrix.fill(
                np.asarray(stored.chunk_ids, np.int64),
                np.asarray(stored.document_ids, np.int64),
                rows,
            )
            return matrix

        return await asyncio.to_thread(build)

    @staticmethod
    async def _run(matrix: _Matrix, fn: Callable[P, R], *args: P.args, **kw: P.kwargs) -> R:
        """``fn`` on the loop for a small matrix, on a thread for a large one."""
        if matrix.size > INLINE_ROWS:
            return await asyncio.to_thread(fn, *args, **kw)
        return fn(*args, **kw)


def _apply(
    matrix: _Matrix, steps: list[tuple[int | None, tuple[int, list[int], Vectors] | None]]
) -> None:
    """Each change in turn: the document it removed, the rows it added."""
    for removed, added in steps:
        if removed is not None:
            matrix.remove(removed)
        if added is not None:
            matrix.append(*added)


def _hit(chunk: RagChunkRecord, score: float, ranks: dict[str, int]) -> Hit:
    return Hit(
        chunk.document,
        chunk.source,
        chunk.ordinal,
        chunk.heading,
        chunk.text,
        score,
        ranks,
        chunk.id,
    )
