"""What every backend's RAG part checks before it writes: a document's name, text,
source, chunks and vectors, each refusal one line (``ArgumentError``), and the rows it
becomes. Shared so that SQLite and PostgreSQL refuse the same input with the same words.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from chatthy.errors import ArgumentError, ChatthyError, NotFoundError
from chatthy.store import rules
from chatthy.store.base import RagChunkIn, RagDocumentIn, text_digest

__all__ = ["Prepared", "no_document", "prepared", "prepared_all", "utf8_size"]


def no_document(name: str) -> NotFoundError:
    """The one error for a document the profile does not have."""
    return NotFoundError(f"no document named {name!r}")


class Prepared(NamedTuple):
    """A document checked and turned into rows, before any write."""

    name: str
    text: str
    source: str
    embedder: str
    dim: int
    digest: str
    size: int
    stored: int
    rows: list[tuple[int, str, str, int, int, bytes]]
    """``(ordinal, text, heading, start, end, vector)`` of each chunk."""


def utf8_size(what: str, text: str) -> int:
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise ArgumentError(f"{what} is not valid text (a lone surrogate)") from None


def prepared(
    name: str,
    text: str,
    source: str,
    chunks: Sequence[RagChunkIn],
    vectors: Sequence[bytes],
    embedder: str,
    dim: int,
) -> Prepared:
    """Check a document for :meth:`RagMixin.rag_put`; every refusal is one line."""
    name = rules.valid_name("document", name)
    text = rules.valid_text("document text", text)
    source = rules.valid_text("document source", source)
    embedder = rules.valid_text("embedder", embedder).strip()
    if not embedder:
        raise ArgumentError("embedder name is empty")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
        raise ArgumentError(f"vector dimension must be a positive count, not {dim!r}")
    if len(chunks) != len(vectors):
        raise ArgumentError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    size = utf8_size("document text", text)
    width = 4 * dim
    stored = 0
    rows: list[tuple[int, str, str, int, int, bytes]] = []
    for ordinal, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True)):
        if not (
            isinstance(chunk, RagChunkIn)
            and isinstance(chunk.text, str)
            and isinstance(chunk.heading, str)
            and all(isinstance(n, int) and n >= 0 for n in (chunk.start, chunk.end))
        ):
            raise ArgumentError(f"chunk {ordinal} is not a chunk (text, heading, offsets)")
        if not isinstance(vector, bytes | bytearray | memoryview) or len(vector) != width:
            raise ArgumentError(
                f"vector {ordinal} is not {dim} float32 ({width} bytes) as the others"
            )
        stored += utf8_size(f"chunk {ordinal}", chunk.text)
        stored += utf8_size(f"heading of chunk {ordinal}", chunk.heading) + width
        rows.append((ordinal, chunk.text, chunk.heading, chunk.start, chunk.end, bytes(vector)))
    return Prepared(name, text, source, embedder, dim, text_digest(text), size, stored, rows)


def prepared_all(documents: Sequence[RagDocumentIn]) -> list[Prepared | ChatthyError]:
    """Each document checked and turned into rows, or why it cannot be stored."""
    out: list[Prepared | ChatthyError] = []
    for doc in documents:
        try:
            out.append(
                prepared(
                    doc.name, doc.text, doc.source, doc.chunks, doc.vectors, doc.embedder, doc.dim
                )
            )
        except ArgumentError as exc:
            out.append(exc)
    return out
