"""RPCs that manage chats: list, create, switch, rename, fork, destroy, read, search, undo."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from chatthy.wire.api._base import Call, Id, Result

__all__ = [
    "PAGE_MAX",
    "SEARCH_MAX",
    "ChatInfo",
    "Chats",
    "Destroy",
    "Destroyed",
    "Fork",
    "MessageInfo",
    "Messages",
    "MessagesPage",
    "New",
    "Rename",
    "Running",
    "Search",
    "SearchHit",
    "Undo",
    "Undone",
    "Use",
]

PAGE_MAX = 1_000
"""The most messages one ``messages`` page holds: a client pages back for more, so that
no single answer (read, encoded and queued at once) costs the server more than this."""
SEARCH_MAX = 200
"""The most hits one ``search`` answers."""
PageLimit = Annotated[int, msgspec.Meta(ge=1, le=PAGE_MAX)]
SearchLimit = Annotated[int, msgspec.Meta(ge=1, le=SEARCH_MAX)]


class ChatInfo(Result):
    """A chat: its personality (prompt), provider and model, times, size, and whether a
    reply is running in it (filled by ``chats`` only)."""

    name: str
    personality: str
    provider: str
    model: str
    created: float
    updated: float
    messages: int = 0
    running: bool = False


class MessageInfo(Result):
    """One stored message. ``content`` is a string, or a list of parts in OpenAI shape
    (text, image_url, tool calls and results); ``status`` is complete, streaming,
    cancelled, interrupted, truncated or error (``error`` says why); ``tokens`` is its
    count as the server measured it, when it has one."""

    id: int
    role: str
    content: Any
    status: str = "complete"
    provider: str = ""
    model: str = ""
    usage: dict[str, int] | None = None
    error: str = ""
    created: float = 0.0
    updated: float = 0.0
    tokens: int | None = None


class Running(Result):
    """The reply running in a chat: its stream id (``attach`` or follow it)."""

    stream: str


class MessagesPage(Result):
    """A page of a chat's messages, oldest first, and the reply running in it, if any."""

    chat: ChatInfo
    messages: list[MessageInfo]
    running: Running | None = None


class SearchHit(Result):
    """One full-text match: the chat, the message and a snippet around the match."""

    chat: str
    message_id: int
    role: str
    snippet: str
    created: float


class Destroyed(Result):
    chat: str
    deleted: bool = True


class Undone(Result):
    """``removed``: how many messages went (the last question and its reply)."""

    chat: str
    removed: int


class Chats(Call[list[ChatInfo]]):
    """List your chats, most recent first; optionally only those of one personality."""

    method = "chats"
    personality: str | None = None


class New(Call[ChatInfo]):
    """Create an empty chat with a personality (prompt), provider and model."""

    method = "new"
    names_new_chat = True
    chat: str
    prompt: str | None = None
    provider: str | None = None
    model: str | None = None


class Use(New):
    """Switch a chat's personality, provider or model (creating the chat if needed)."""

    method = "use"
    names_new_chat = False


class Rename(Call[ChatInfo]):
    """Rename a chat."""

    method = "rename"
    chat: str
    new: str


class Fork(Call[ChatInfo]):
    """Copy a chat into a new one, whole or up to and including a given message."""

    method = "fork"
    chat: str
    new: str
    message_id: Id | None = None


class Destroy(Call[Destroyed]):
    """Delete a chat and all its messages."""

    method = "destroy"
    chat: str


class Undo(Call[Undone]):
    """Remove the last turn: your last message and the reply to it."""

    method = "undo"
    chat: str


class Messages(Call[MessagesPage]):
    """A chat's messages, newest page first (page back with `before`; with `after`, the
    oldest page above that id: `after=0` is the first page), and whether a reply is
    running in it."""

    method = "messages"
    chat: str
    before: Id | None = None
    limit: PageLimit = 200
    after: Id | None = None


class Search(Call[list[SearchHit]]):
    """Full-text search over all your chats."""

    method = "search"
    query: str
    limit: SearchLimit = 20
