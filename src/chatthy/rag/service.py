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
from typing import Literal

from chatthy.config import ServerConfig, effective_providers
from chatthy.errors import ArgumentError
from chatthy.providers.base import Provider
from chatthy.rag.chunk import chunk_text, estimate_tokens, kind_of
from chatthy.rag.embed import Embedder, build_embedder
from chatthy.rag.index import Hit, RagIndex
from chatthy.rag.rerank import rerank
from chatthy.rag.sources import fetch_document
from chatthy.store.base import RagDocumentDetail, RagDocumentRecord, Store
from chatthy.workspace.sources import Fetcher

__all__ = ["RagService", "context_block"]

Mode = Literal["hybrid", "bm25", "vector"]

CANDIDATES = 30
"""Fused candidates a RAG provider is shown to rescore."""


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

    async def add(
        self, profile: str, name: str, text: str, source: str = "", kind: str | None = None
    ) -> tuple[RagDocumentRecord, bool]:
        """Store ``text`` as the document ``name`` (replacing one of that name); the
        record and whether it was skipped (stored already with this very text).

        Raises:
            ArgumentError: no text, or more than ``[rag] max_document_bytes``.
            QuotaError: the profile's stored bytes would go over its quota.
            ProviderError: the embeddings provider failed.
        """
        size = len(text.encode("utf-8", "surrogatepass"))
        limit = self.config.rag.max_document_bytes
        if size > limit:
            raise ArgumentError(
                f"document '{name}' is {size:,} bytes, over [rag] max_document_bytes ({limit:,})"
            )
        if not text.strip():
            raise ArgumentError(f"document '{name}' has no text")
        embedder = self.embedder
        if await self.index.has(profile, name, text, embedder.name):
            return (await self.store.rag_document(profile, name)).document, True
        settings = self.config.rag
        chunks = await asyncio.to_thread(
            chunk_text,
            text,
            kind or kind_of(name),
            size=settings.chunk_tokens,
            overlap=settings.overlap_tokens,
        )
        vectors = await embedder.embed([chunk.text for chunk in chunks])
        record = await self.index.add(profile, name, text, source, chunks, vectors, embedder.name)
        return record, False

    async def has(self, profile: str, name: str, digest: str) -> bool:
        """Whether ``name`` is stored with text of this sha256, by this embedder."""
        return await self.store.rag_has(profile, name, digest, self.embedder.name)

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
