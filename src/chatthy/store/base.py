"""What the server keeps, and the small interface every store implements.

Records are declared once here. Every method acts on one profile's data only: a chat,
message or prompt of another profile is "not found", never visible. Every write is one
transaction. SQLite (:mod:`chatthy.store.sqlite`) is the default; a PostgreSQL store can
implement the same protocol.

A backend does not implement the protocol from scratch: it subclasses
:class:`~chatthy.store.front.StoreFront`, which applies every rule of
:mod:`chatthy.store.rules` (names, statuses, messages) before the backend persists.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from chatthy.conversation.events import STATUSES, Status
from chatthy.errors import ChatthyError

__all__ = [
    "STATUSES",
    "ChatRecord",
    "ImageIn",
    "ImageRecord",
    "MessageRecord",
    "ProfileRecord",
    "PromptRecord",
    "RagChunkHead",
    "RagChunkIn",
    "RagChunkRecord",
    "RagDocumentDetail",
    "RagDocumentIn",
    "RagDocumentRecord",
    "RagDropped",
    "RagStored",
    "RagVectors",
    "SearchHit",
    "Status",
    "Store",
    "WorkspaceFileRecord",
    "text_digest",
]


class ProfileRecord(msgspec.Struct):
    """A registered profile: its name and the Ed25519 public key first seen for it."""

    name: str
    public_key: bytes
    created: float
    chats: int = 0
    messages: int = 0


class ChatRecord(msgspec.Struct):
    """A chat of one profile; remembers its personality, provider and model."""

    id: int
    name: str
    personality: str
    provider: str
    model: str
    created: float
    updated: float
    messages: int = 0


class MessageRecord(msgspec.Struct):
    """One message. ``content`` is a string or a list of parts (images, tool calls)."""

    id: int
    chat_id: int
    role: str
    content: Any
    status: Status = "complete"
    provider: str = ""
    model: str = ""
    usage: dict[str, int] | None = None
    error: str = ""
    created: float = 0.0
    updated: float = 0.0
    tokens: int | None = None
    """Its token count as the context counts it; None until counted."""


class PromptRecord(msgspec.Struct):
    """A saved system prompt (personality) of one profile."""

    name: str
    text: str
    updated: float


class WorkspaceFileRecord(msgspec.Struct):
    """A document in one profile's context workspace, sent to the model before the chat
    history unless ``benched``. ``name`` is a label (``docs/sub/colour.md``), never a path
    on the server; ``source`` says where the text came from (a client path, ``stdin``)."""

    name: str
    text: str
    source: str = ""
    benched: bool = False
    created: float = 0.0
    updated: float = 0.0


class SearchHit(msgspec.Struct):
    """One full-text match: the chat, the message and a snippet around the match."""

    chat: str
    message_id: int
    role: str
    snippet: str
    created: float


def text_digest(text: str) -> str:
    """The sha256 of a document's UTF-8 text, in hex: what :meth:`Store.rag_has` compares,
    so that an ingestion run again skips what is stored unchanged."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ImageIn(msgspec.Struct, frozen=True):
    """An image to keep with the message that names it (``chatthy-image:DIGEST``): its
    bytes' sha256 in hex, media type, size in pixels, and the bytes."""

    digest: str
    media_type: str
    width: int
    height: int
    data: bytes


class ImageRecord(msgspec.Struct, frozen=True):
    """An image the store keeps for a profile."""

    digest: str
    media_type: str
    width: int
    height: int
    size: int
    data: bytes


class RagChunkIn(msgspec.Struct, frozen=True):
    """A chunk of a document to store: its text, the heading of the section it is in,
    and where it lies in the document (character offsets, ``end`` exclusive)."""

    text: str
    heading: str = ""
    start: int = 0
    end: int = 0


class RagDocumentIn(msgspec.Struct, frozen=True):
    """A document to store (:meth:`Store.rag_put_many`): its name, text and source, its
    chunks with one vector each (``dim`` float32 as bytes), and what made the vectors."""

    name: str
    text: str
    source: str
    chunks: Sequence[RagChunkIn]
    vectors: Sequence[bytes]
    embedder: str
    dim: int


class RagDocumentRecord(msgspec.Struct):
    """A document of one profile's RAG store. The text itself is kept only as its chunks;
    ``digest`` (:func:`text_digest`) and ``bytes`` (UTF-8) are of the whole text;
    ``embedder`` made its vectors, ``dim`` floats each; ``stored`` is what it counts
    against the profile's quota (its chunks' text and vectors)."""

    id: int
    name: str
    source: str
    digest: str
    bytes: int
    chunks: int
    embedder: str
    dim: int
    stored: int
    created: float
    updated: float


class RagChunkHead(msgspec.Struct):
    """Where one chunk lies in its document, without its text (a document's outline)."""

    ordinal: int
    heading: str
    start: int
    end: int


class RagDocumentDetail(msgspec.Struct):
    """One document with the outline of its chunks, in order."""

    document: RagDocumentRecord
    chunks: list[RagChunkHead]


class RagChunkRecord(msgspec.Struct):
    """One stored chunk with the name and source of its document."""

    id: int
    document: str
    source: str
    ordinal: int
    text: str
    heading: str
    start: int
    end: int


class RagStored(msgspec.Struct):
    """What :meth:`Store.rag_put` did: the document, its chunks' ids in order, the id of
    the document of the same name it replaced (None: there was none), and the profile's
    version of documents after it."""

    document: RagDocumentRecord
    chunk_ids: list[int]
    replaced: int | None
    version: int


class RagDropped(msgspec.Struct):
    """What :meth:`Store.rag_drop` did: the document gone, and the version after it."""

    document: RagDocumentRecord
    version: int


class RagVectors(msgspec.Struct):
    """Every vector of one profile and embedder, read in one snapshot: ``data`` holds
    ``len(chunk_ids)`` rows of ``dim`` float32 (native order), row ``i`` that of chunk
    ``chunk_ids[i]`` of document ``document_ids[i]``; ``version`` is the profile's
    version of documents they are as of."""

    version: int
    dim: int
    chunk_ids: list[int]
    document_ids: list[int]
    data: bytes


class Store(Protocol):
    """Persistent state of a chatthy server.

    Every method may raise ``StoreError`` when the database fails (disk full, corrupt);
    a failed write changes nothing.
    """

    async def aclose(self) -> None:
        """Close the database; the store is not used afterwards."""

    # profiles ---------------------------------------------------------------
    async def get_profile(self, name: str) -> ProfileRecord | None:
        """The profile named ``name``, with its chat and message counts, or None."""

    async def register_profile(self, name: str, public_key: bytes) -> ProfileRecord:
        """Register a new profile. Raises ConflictError if it exists."""

    async def set_profile_key(self, name: str, public_key: bytes) -> None:
        """Give a profile a new key (its owner changed the passphrase). Raises
        NotFoundError if it does not exist."""

    # chats ------------------------------------------------------------------
    async def list_chats(self, profile: str, personality: str | None = None) -> list[ChatRecord]:
        """The profile's chats, most recently updated first, optionally of one personality."""

    async def get_chat(self, profile: str, name: str) -> ChatRecord:
        """Raises NotFoundError if the profile has no chat of that name."""

    async def create_chat(
        self, profile: str, name: str, personality: str, provider: str, model: str
    ) -> ChatRecord:
        """Raises ConflictError if the name is taken, ArgumentError if it is empty."""

    async def update_chat(
        self,
        profile: str,
        name: str,
        *,
        personality: str | None = None,
        provider: str | None = None,
        model: str | None = None,
    ) -> ChatRecord:
        """Change what the chat remembers. Raises NotFoundError."""

    async def rename_chat(self, profile: str, name: str, new_name: str) -> ChatRecord:
        """Raises NotFoundError, or ConflictError if ``new_name`` is taken."""

    async def delete_chat(self, profile: str, name: str) -> None:
        """Delete the chat and its messages. Raises NotFoundError."""

    async def fork_chat(
        self, profile: str, name: str, new_name: str, upto: int | None = None
    ) -> ChatRecord:
        """Copy the chat's messages up to and including message ``upto`` (all when None)
        into a new chat. Raises NotFoundError (chat or message), ConflictError."""

    async def import_chat(
        self, profile: str, name: str, personality: str, messages: list[dict[str, Any]]
    ) -> ChatRecord:
        """Create a chat holding ``messages`` (dicts with role, content and optionally
        status, provider, model, created) in one transaction. Raises ConflictError."""

    # messages ---------------------------------------------------------------
    async def messages(
        self,
        profile: str,
        chat: str,
        *,
        before: int | None = None,
        limit: int | None = None,
        after: int | None = None,
    ) -> list[MessageRecord]:
        """The chat's messages in order; with ``limit``, the newest ``limit`` of those whose
        id is below ``before`` — or, with ``after``, the oldest ``limit`` of those above
        it. Raises NotFoundError."""

    async def add_message(
        self,
        profile: str,
        chat: str,
        role: str,
        content: Any,
        *,
        status: Status = "complete",
        provider: str = "",
        model: str = "",
        usage: dict[str, int] | None = None,
        error: str = "",
    ) -> MessageRecord:
        """Append a message (and touch the chat's ``updated``). Raises NotFoundError."""

    async def add_messages(
        self, profile: str, chat: str, messages: list[dict[str, Any]]
    ) -> list[MessageRecord]:
        """Append ``messages`` (dicts with role and content, optionally status, provider,
        model, usage, error: the keywords of :meth:`add_message`; ``images``, a list of
        :class:`ImageIn` the content names, kept in the same write) in one transaction: a
        turn's question and the reply that starts ``streaming`` after it. All or none are
        added. Raises NotFoundError, ArgumentError."""

    async def update_message(
        self,
        profile: str,
        message_id: int,
        *,
        content: Any = None,
        status: Status | None = None,
        usage: dict[str, int] | None = None,
        error: str | None = None,
        tokens: int | None = None,
        images: Sequence[ImageIn] = (),
    ) -> None:
        """Change a message in place: a checkpoint of a growing reply, its completion, or
        an edit (``images``: those its new content names, kept in the same write; images
        no message names any more are deleted). ``None`` leaves a field alone. Raises
        NotFoundError."""

    async def delete_messages_from(self, profile: str, chat: str, message_id: int) -> int:
        """Delete message ``message_id`` and every later one of the chat; return how many.
        Images no message names any more go with them (and with :meth:`delete_chat`).
        Raises NotFoundError."""

    async def image(self, profile: str, digest: str) -> ImageRecord:
        """An image a message of the profile names. Raises NotFoundError."""

    async def message_tokens(
        self, profile: str, chat: str, newest: int | None = None
    ) -> list[tuple[int, str, int | None]]:
        """``(id, role, tokens)`` of the chat's messages in order (only the ``newest``
        ones when given), without content; ``tokens`` is None until counted. Raises
        NotFoundError."""

    async def tokens_before(self, profile: str, chat: str, message_id: int) -> tuple[int, int, int]:
        """Of the chat's messages before ``message_id``: how many, the sum of their
        counts, and how many are not counted yet. Raises NotFoundError."""

    async def set_message_tokens(self, profile: str, counts: Sequence[tuple[int, int]]) -> None:
        """Keep ``(id, tokens)`` counts of the profile's messages."""

    async def stored_bytes(self, profile: str) -> int:
        """Bytes the profile stores (UTF-8 of messages, workspace files, personalities;
        RAG documents' chunks and vectors), for the server's quota."""

    # reply leases -----------------------------------------------------------
    async def claim_reply(self, profile: str, chat: str, owner: str, ttl: float) -> None:
        """Take the chat's reply lease for ``ttl`` seconds. Raises NotFoundError, or
        ConflictError while another owner's lease has not run out."""

    async def release_reply(self, profile: str, chat: str, owner: str) -> None:
        """Give back ``owner``'s lease of the chat, if it holds one."""

    async def renew_replies(self, owner: str, ttl: float) -> int:
        """Extend every lease ``owner`` holds; returns how many."""

    async def reply_owners(self) -> list[str]:
        """Every owner holding a lease, run out or not."""

    async def interrupt_orphans(self, dead: Sequence[str] = ()) -> int:
        """Drop the ``dead`` owners' and run-out leases; mark every ``streaming`` message
        whose chat holds no lease ``interrupted``. Returns how many were marked."""

    async def search(self, profile: str, query: str, limit: int = 20) -> list[SearchHit]:
        """Full-text search over the profile's messages, best first. A query that is not
        valid search syntax is searched as plain words."""

    # prompts ----------------------------------------------------------------
    async def list_prompts(self, profile: str) -> list[PromptRecord]:
        """The profile's own prompts, by name."""

    async def get_prompt(self, profile: str, name: str) -> PromptRecord:
        """Raises NotFoundError."""

    async def set_prompt(self, profile: str, name: str, text: str) -> PromptRecord:
        """Create or replace. Raises ArgumentError if the name is empty."""

    async def rename_prompt(self, profile: str, name: str, new_name: str) -> PromptRecord:
        """Raises NotFoundError, or ConflictError if ``new_name`` is taken."""

    async def delete_prompt(self, profile: str, name: str) -> None:
        """Raises NotFoundError."""

    # workspace --------------------------------------------------------------
    async def list_workspace(self, profile: str) -> list[WorkspaceFileRecord]:
        """The profile's workspace files, benched ones included, by name."""

    async def get_workspace_file(self, profile: str, name: str) -> WorkspaceFileRecord:
        """Raises NotFoundError."""

    async def put_workspace_file(
        self, profile: str, name: str, text: str, source: str = ""
    ) -> WorkspaceFileRecord:
        """Create, or replace the text and source of, a workspace file (a replaced file
        keeps its benched flag and creation time). Raises ArgumentError if the name is not
        a workspace name (empty, too long, control characters, a ``..``, ``.`` or empty
        segment, a backslash, or a leading ``/``)."""

    async def rename_workspace_file(
        self, profile: str, name: str, new_name: str
    ) -> WorkspaceFileRecord:
        """Raises NotFoundError, ConflictError if ``new_name`` is taken, ArgumentError."""

    async def set_workspace_benched(
        self, profile: str, name: str, benched: bool
    ) -> WorkspaceFileRecord:
        """Bench (keep but do not send) or restore a file. Raises NotFoundError."""

    async def delete_workspace_file(self, profile: str, name: str) -> None:
        """Raises NotFoundError."""

    # rag --------------------------------------------------------------------------
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
        """Store a document as its chunks, each with its vector (``dim`` float32 as
        bytes), replacing one of the same name: all of it shows at once, or on any
        failure nothing of it does (and a replaced document stays). Raises
        ArgumentError (a name that is not a name, a vector of another length, as many
        vectors as chunks)."""

    async def rag_put_many(
        self, profile: str, documents: Sequence[RagDocumentIn]
    ) -> list[RagStored | ChatthyError]:
        """Store each document as :meth:`rag_put` does, in order, small ones several to
        a write (one transaction: one commit, one index segment, for them all); for each
        document what was stored or why it was not (ArgumentError, StoreError): one that
        fails is not stored, the others are."""

    async def rag_unchanged(
        self, profile: str, documents: Sequence[tuple[str, str]], embedder: str
    ) -> dict[str, RagDocumentRecord]:
        """Of ``documents`` (name, digest), those stored with that very digest by
        ``embedder``, by name, in one read: an ingestion skips them."""

    async def rag_in_use(self) -> bool:
        """Whether any profile holds a document (a server then loads its embedder at
        start, before it serves anyone)."""

    async def rag_has(self, profile: str, name: str, digest: str, embedder: str) -> bool:
        """Whether the profile holds document ``name`` with text of ``digest`` embedded
        by ``embedder``: an ingestion skips it."""

    async def rag_documents(self, profile: str) -> list[RagDocumentRecord]:
        """The profile's documents, by name."""

    async def rag_document(self, profile: str, name: str) -> RagDocumentDetail:
        """One document and its chunks' outline. Raises NotFoundError."""

    async def rag_drop(self, profile: str, name: str) -> RagDropped:
        """Delete a document with its chunks. Raises NotFoundError."""

    async def rag_version(self, profile: str) -> int:
        """How many times the profile's documents changed (0: never)."""

    async def rag_bm25(self, profile: str, query: str, limit: int) -> list[tuple[int, float]]:
        """``(chunk id, score)`` of at most ``limit`` chunks matching any word of
        ``query`` by BM25, best (highest score) first. Every character of the query is
        taken as text, never as search syntax; one without a word finds nothing."""

    async def rag_vectors(self, profile: str, embedder: str, dim: int) -> RagVectors:
        """Every vector of the profile's documents embedded by ``embedder`` in ``dim``
        dimensions."""

    async def rag_chunks(self, profile: str, ids: Sequence[int]) -> list[RagChunkRecord]:
        """The profile's chunks of ``ids``, in that order; an id that is not one of its
        chunks (gone, or another profile's) is left out."""
