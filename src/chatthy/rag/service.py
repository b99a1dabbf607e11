"""The document store as the chat server, the router and the tools use it: a document's
text in (cut into chunks, embedded, indexed — or skipped when stored unchanged), a
query's hits out, and the block of hits a turn's context gets.

One :class:`RagService` per server process. Its embedder (``[rag] embeddings``, else the
offline wordllama) is made on first use, so a server nobody asks for RAG never loads it.
Cutting and embedding run on worker threads and the index writes in slices, so a large
ingest leaves the event loop free for everyone else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple

from chatthy.config import ServerConfig, effective_providers
from chatthy.errors import ArgumentError, ChatthyError
from chatthy.providers.base import Provider
from chatthy.rag.chunk import Chunk, chunk_text, estimate_tokens, kind_of
from chatthy.rag.embed import Embedder, build_embedder
from chatthy.rag.index import Document, Hit, Mode, RagIndex
from chatthy.rag.rerank import rerank
from chatthy.rag.sources import fetch_document
from chatthy.store import rules
from chatthy.store.base import RagDocumentDetail, RagDocumentRecord, Store, text_digest
from chatthy.workspace.sources import Fetcher

__all__ = ["RagService", "Text", "context_block"]


CANDIDATES = 30
"""Fused candidates a RAG provider is shown to rescore."""


class Text(NamedTuple):
    """A document's text to store: its name, where it came from, and how to cut it
    (markdown, latex, code, text; None: from the name's extension)."""

    name: str
    text: str
    source: str = ""
    kind: str | None = None


class RagService:
    """The server's document store (see the module's docstring)."""

    def __init__(self, config: ServerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.index = RagIndex(store)
        self._embedder: Embedder | None = None

    @property
    def embedder(self) -> Embedder:
        """What makes the vectors, made on first use.

        Raises:
            ConfigError: ``[rag] embeddings`` names no usable provider, or the offline
                model's files are missing.
        """
        if self._embedder is None:
            self._embedder = build_embedder(self.config, effective_providers(self.config))
        return self._embedder

    async def warm(self) -> bool:
        """Make the embedder ready (the offline model read) if any profile holds
        documents; whether it did. A server calls it before it serves anyone: reading
        wordllama's tokenizer holds the GIL some 60 ms, a gap in every stream under way,
        which would otherwise come with the first ingest or search after a start.

        Raises:
            ConfigError: the embedder cannot be made (its files are missing).
        """
        if not await self.store.rag_in_use():
            return False
        await self.embedder.ready()
        return True

    async def add(
        self, profile: str, name: str, text: str, source: str = "", kind: str | None = None
    ) -> tuple[RagDocumentRecord, bool]:
        """Store ``text`` as the document ``name`` (replacing one of that name); the
        record and whether it was skipped (stored already with this very text).

        Raises:
            ArgumentError: no text, or more than ``[rag] max_document_bytes``.
            ProviderError: the embeddings provider failed.
            StoreError: the database failed (a full disk).
        """
        (outcome,) = await self.add_many(profile, [Text(name, text, source, kind)])
        if isinstance(outcome, ChatthyError):
            raise outcome
        return outcome

    async def add_many(
        self, profile: str, documents: Sequence[Text]
    ) -> list[tuple[RagDocumentRecord, bool] | ChatthyError]:
        """Store each document as :meth:`add` does, in order; for each, its record and
        whether it was skipped, or why it was not stored (ArgumentError, ProviderError,
        StoreError). One that fails is not stored; the others are.

        Many small documents (a folder of notes) cost much less together than one at a
        time: one read says which are stored unchanged, one worker thread cuts them all,
        the embedder takes all their chunks in its batches, and the store writes several
        to a transaction."""
        outcomes: list[tuple[RagDocumentRecord, bool] | ChatthyError | None] = [
            self._refusal(doc) for doc in documents
        ]
        embedder = self.embedder
        going = [(at, doc) for at, doc in enumerate(documents) if outcomes[at] is None]
        if going:
            digests = await asyncio.to_thread(lambda: [text_digest(doc.text) for _, doc in going])
            unchanged = await self.store.rag_unchanged(
                profile,
                [(doc.name, digest) for (_, doc), digest in zip(going, digests, strict=True)],
                embedder.name,
            )
            for at, doc in going:
                record = unchanged.get(rules.key(doc.name))
                if record is not None:
                    outcomes[at] = (record, True)
            going = [(at, doc) for at, doc in going if outcomes[at] is None]
        if going:
            settings = self.config.rag

            def cut() -> list[list[Chunk]]:
                return [
                    chunk_text(
                        doc.text,
                        doc.kind or kind_of(doc.name),
                        size=settings.chunk_tokens,
                        overlap=settings.overlap_tokens,
                    )
                    for _, doc in going
                ]

            chunks = await asyncio.to_thread(cut)
            try:
                vectors = await embedder.embed([c.text for each in chunks for c in each])
            except ChatthyError as exc:
                for at, _ in going:
                    outcomes[at] = exc
            else:
                ready: list[Document] = []
                row = 0
                for (_, doc), each in zip(going, chunks, strict=True):
                    rows = vectors[row : row + len(each)]
                    ready.append(Document(doc.name, doc.text, doc.source, each, rows))
                    row += len(each)
                stored = await self.index.add_many(profile, ready, embedder.name)
                for (at, _), one in zip(going, stored, strict=True):
                    outcomes[at] = one if isinstance(one, ChatthyError) else (one, False)
        return [outcome for outcome in outcomes if outcome is not None]

    def _refusal(self, doc: Text) -> ArgumentError | None:
        """Why ``doc`` is refused before any work (empty, too large), or None."""
        size = len(doc.text.encode("utf-8", "surrogatepass"))
        limit = self.config.rag.max_document_bytes
        if size > limit:
            return ArgumentError(
                f"document '{doc.name}' is {size:,} bytes, over [rag] max_document_bytes"
                f" ({limit:,})"
            )
        if not doc.text.strip():
            return ArgumentError(f"document '{doc.name}' has no text")
        return None

    async def has(self, profile: str, name: str, digest: str) -> bool:
        """Whether ``name`` is stored with text of this sha256, by this embedder."""
        return await self.store.rag_has(profile, name, digest, self.embedder.name)

    async def has_many(self, profile: str, documents: Sequence[tuple[str, str]]) -> list[bool]:
        """:meth:`has` of each (name, sha256), in one read."""
        found = await self.store.rag_unchanged(profile, documents, self.embedder.name)
        return [rules.key(name) in found for name, _ in documents]

    async def fetch(
        self, profile: str, target: str, name: str | None = None
    ) -> tuple[RagDocumentRecord, bool]:
        """Fetch a URL or ``arxiv:ID`` through the sources' guard, then :meth:`add` it.

        Raises:
            SourceError, NotFoundError: the fetch failed (nothing stored); and as
                :meth:`add`.
        """
        async with Fetcher(self.config.sources) as fetcher:
            document = await fetch_document(fetcher, target, self.config.sources)
        return await self.add(
            profile, name or document.name, document.text, document.source, document.kind
        )

    async def documents(self, profile: str) -> list[RagDocumentRecord]:
        return await self.store.rag_documents(profile)

    async def document(self, profile: str, name: str) -> RagDocumentDetail:
        return await self.store.rag_document(profile, name)

    async def drop(self, profile: str, name: str) -> RagDocumentRecord:
        return await self.index.drop(profile, name)

    async def search(
        self,
        profile: str,
        query: str,
        limit: int = 10,
        mode: Mode = "hybrid",
        provider: Provider | None = None,
    ) -> list[Hit]:
        """The chunks that best answer ``query``: BM25 and vectors fused (or ``mode``
        alone); with a RAG ``provider``, the fused candidates rescored by it and
        winnowed to what fits ``[rag] context_tokens``.

        Raises:
            ArgumentError: an empty query.
            ProviderError: the embeddings provider failed (a RAG provider that fails
                leaves the fused order instead).
        """
        if not query.strip():
            raise ArgumentError("an empty query finds nothing")
        vector = None if mode == "bm25" else (await self.embedder.embed([query]))[0]
        depth = max(limit, CANDIDATES) if provider is not None else limit
        hits = await self.index.search(profile, query, vector, self.embedder.name, depth, mode)
        if provider is not None and hits:
            hits = await rerank(provider, query, hits, self.config.rag.context_tokens)
        return hits[:limit]

    async def context(self, profile: str, query: str, provider: Provider | None = None) -> str:
        """The block a turn's context gets for ``query``: the ``[rag] top_k`` hits that
        fit ``[rag] context_tokens``, numbered and named by source so that the model can
        cite them; empty when nothing is found."""
        hits = await self.search(profile, query, self.config.rag.top_k, provider=provider)
        return context_block(query, hits, self.config.rag.context_tokens)


def context_block(query: str, hits: list[Hit], budget: int) -> str:
    """``hits`` as numbered passages under a line saying what they are, as many as fit
    ``budget`` tokens (the first always, cut to fit)."""
    if not hits:
        return ""
    lines = [
        f'Passages from the user\'s documents found for "{query}". Cite them by their '
        "number, [1], where you use them."
    ]
    used = estimate_tokens(lines[0])
    for number, hit in enumerate(hits, 1):
        where = hit.source or hit.document
        head = f"[{number}] {hit.document}" + (f" — {hit.heading}" if hit.heading else "")
        if where != hit.document:
            head += f" ({where})"
        passage = f"{head}\n{hit.text.strip()}"
        cost = estimate_tokens(passage)
        if used + cost > budget:
            if number > 1:
                break
            passage = passage[: max(0, (budget - used) * 4)]
        lines.append(passage)
        used += cost
    return "\n\n".join(lines)
