"""RPCs of the document store (RAG): add documents (their text from the client, or
fetched by the server from a URL or arXiv), list, show and drop them, and search them."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from chatthy.wire.api._base import Call, Result

__all__ = [
    "MANY",
    "RagAdd",
    "RagAddMany",
    "RagAdded",
    "RagDigest",
    "RagDocumentInfo",
    "RagDrop",
    "RagDropped",
    "RagFetch",
    "RagHas",
    "RagHasMany",
    "RagHave",
    "RagHit",
    "RagList",
    "RagOutcome",
    "RagSearch",
    "RagShow",
    "RagText",
]

SearchMode = Literal["hybrid", "bm25", "vector"]
DocumentName = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
Digest = Annotated[str, msgspec.Meta(min_length=64, max_length=64)]
MANY = 256
"""The most documents one ``rag_add_many`` or ``rag_has_many`` names."""


class RagDocumentInfo(Result):
    """A stored document: its name, where its text came from, its size in bytes, how
    many chunks it was cut into, what made their vectors, and its times."""

    name: str
    source: str = ""
    bytes: int = 0
    chunks: int = 0
    embedder: str = ""
    created: float = 0.0
    updated: float = 0.0
    headings: list[str] = msgspec.field(default_factory=list)
    """(``rag_show`` only) each chunk's section heading, in order."""


class RagAdded(Result):
    """What ``rag_add`` / ``rag_fetch`` did: the document as stored, or ``skipped``
    when one of that name with the very same text is there already."""

    document: RagDocumentInfo
    skipped: bool = False


class RagAdd(Call[RagAdded]):
    """Store a document (its text, from the client: a file, a PDF's text): cut into
    chunks, embedded and indexed, replacing one of the same name; unchanged text is
    skipped. `kind` (markdown, latex, code, text) says how to cut it; from the name's
    extension when omitted."""

    method = "rag_add"
    name: DocumentName
    text: str
    source: str = ""
    kind: str | None = None


class RagText(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One document of ``rag_add_many``: what ``rag_add`` takes."""

    name: DocumentName
    text: str
    source: str = ""
    kind: str | None = None


class RagOutcome(Result):
    """What ``rag_add_many`` did with one document: ``document`` as stored (``skipped``
    when it was stored already with the very same text), or why it was not (``error``,
    a line for the user, and its ``code``), nothing of it stored."""

    document: RagDocumentInfo | None = None
    skipped: bool = False
    error: str = ""
    code: str = ""


class RagAddMany(Call[list[RagOutcome]]):
    """Store several documents, as ``rag_add`` each, in order; an outcome for each, in
    the same order. Small documents cost much less together than one at a time (a
    folder of notes): send them in batches."""

    method = "rag_add_many"
    documents: Annotated[list[RagText], msgspec.Meta(min_length=1, max_length=MANY)]


class RagHave(Result):
    stored: bool


class RagHas(Call[RagHave]):
    """Whether a document of this name with text of this sha256 is stored (so that a
    client resuming an ingest sends only what changed)."""

    method = "rag_has"
    name: DocumentName
    digest: Digest


class RagDigest(msgspec.Struct, forbid_unknown_fields=True):
    """A document's name and the sha256 of its text (UTF-8), in hex."""

    name: DocumentName
    digest: Digest


class RagHasMany(Call[list[bool]]):
    """``rag_has`` for several documents at once: for each, in order, whether it is
    stored with text of that sha256."""

    method = "rag_has_many"
    documents: Annotated[list[RagDigest], msgspec.Meta(min_length=1, max_length=MANY)]


class RagFetch(Call[RagAdded]):
    """Have the server fetch a document and store it: a URL (a page's main text, a
    PDF's text, a text file) or ``arxiv:ID`` (the paper's LaTeX, consolidated into one
    file; its PDF's text when the source cannot be used)."""

    method = "rag_fetch"
    target: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    name: str | None = None


class RagList(Call[list[RagDocumentInfo]]):
    """Your stored documents, by name."""

    method = "rag_list"


class RagShow(Call[RagDocumentInfo]):
    """One document, with its chunks' headings."""

    method = "rag_show"
    name: str


class RagDropped(Result):
    name: str


class RagDrop(Call[RagDropped]):
    """Delete a document with its chunks."""

    method = "rag_drop"
    name: str


class RagHit(Result):
    """A chunk a search found: its document and source, its place in the document,
    its section heading and text, its score, and which searches ranked it (``bm25``,
    ``vector``, ``rerank``)."""

    document: str
    source: str = ""
    chunk: int = 0
    heading: str = ""
    text: str = ""
    score: float = 0.0
    ranked_by: list[str] = msgspec.field(default_factory=list)


class RagSearch(Call[list[RagHit]]):
    """Search your documents: BM25 and vectors fused by reciprocal rank (``mode``
    chooses one alone); ``provider`` (the RAG provider, a model) rescores the fused
    candidates and keeps those that fit the ``[rag] context_tokens`` budget."""

    method = "rag_search"
    query: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    mode: SearchMode = "hybrid"
    provider: str | None = None
