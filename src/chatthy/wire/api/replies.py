"""RPCs that make or follow replies: chat, regenerate, edit, cancel, attach, resend."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from chatthy.wire.api._base import Call, Id, Result

__all__ = [
    "Approve",
    "Approved",
    "Attach",
    "Attached",
    "Cancel",
    "Cancelled",
    "Chat",
    "Edit",
    "Regenerate",
    "Resend",
    "Resent",
    "Started",
    "TransientFile",
]


Approval = Literal["ask", "yes", "no"]


class TransientFile(msgspec.Struct, forbid_unknown_fields=True):
    """A file attached to one turn (never stored): its name (``notes.txt``,
    ``docs/a.md``), text, and where the client read it."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
    text: str
    source: str = ""


class Started(Result):
    """A reply that started: its ``stream`` (whose events follow), the stored reply's
    ``message_id`` and the question's ``user_message_id`` (none for a regenerate), the
    context's ``tokens`` (of which ``workspace_tokens`` are workspace files) and how many
    old messages were ``dropped`` to fit."""

    chat: str
    stream: str
    message_id: int
    tokens: int
    workspace_tokens: int = 0
    dropped: int = 0
    user_message_id: int | None = None


class Cancelled(Result):
    chat: str
    stream: str
    cancelled: bool = True


class Attached(Result):
    """The chat's latest reply (``stream`` none if it has had none since the server
    started), whether it still runs and how many events it has so far."""

    chat: str
    stream: str | None = None
    running: bool = False
    events: int = 0


class Resent(Result):
    stream: str
    running: bool
    events: int


class Chat(Call[Started]):
    """Send a message and stream the reply (the chat is created if it does not exist)."""

    method = "chat"
    chat: str
    text: str = ""
    content: list[Any] | None = None
    """Message parts (text, images) in OpenAI shape, instead of ``text``."""
    provider: str | None = None
    prompt: str | None = None
    model: str | None = None
    params: dict[str, Any] | None = None
    transient: list[TransientFile] | None = None
    """Files attached for this turn only: ``{name, text, source}``, never stored."""
    approve: Approval = "no"
    """Calls of tools that change something: ``ask`` this client's user (the server
    sends an ``approve`` event and waits for the ``approve`` RPC), ``yes`` run them,
    ``no`` refuse them (the model is told): what a client that cannot ask sends."""
    rag: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | None = None
    """A query for your documents: the passages found (``[rag] top_k``, within
    ``[rag] context_tokens``) go into this turn's context, numbered to be cited."""
    rag_provider: str | None = None
    """The RAG provider: a provider whose model rescores and winnows what ``rag``
    finds (the fused order stands without one)."""


class Regenerate(Call[Started]):
    """Replace the last reply with a new one."""

    method = "regenerate"
    chat: str
    params: dict[str, Any] | None = None
    transient: list[TransientFile] | None = None
    approve: Approval = "no"


class Edit(Call[Started]):
    """Replace one of your messages and regenerate the reply from there."""

    method = "edit"
    chat: str
    text: str
    message_id: Id | None = None
    """The user message to replace; your last one when omitted."""
    params: dict[str, Any] | None = None
    transient: list[TransientFile] | None = None
    approve: Approval = "no"


class Approved(Result):
    """The answer was taken (``pending`` False: no call of that id waits, it ran out or
    was answered already)."""

    chat: str
    call_id: str
    pending: bool = True


class Approve(Call[Approved]):
    """Answer a tool call waiting for approval: ``yes``, ``no``, or ``always`` (this
    tool's calls in this chat run without asking until the server restarts)."""

    method = "approve"
    chat: str
    call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    answer: Literal["yes", "no", "always"] = "yes"


class Cancel(Call[Cancelled]):
    """Stop the reply running in a chat; what was generated is kept, marked cancelled."""

    method = "cancel"
    chat: str


class Attach(Call[Attached]):
    """Open a chat (existing or not yet): see its replies live, and get a running (or
    just finished) reply's events from `from_seq` on, right after this answer."""

    method = "attach"
    chat: str
    from_seq: Id = 0
    """Resend the reply's events from this sequence number on."""


class Resend(Call[Resent]):
    """Send a reply's events again from `from_seq` on (a client that lost some asks)."""

    method = "resend"
    stream: str
    from_seq: Id = 0
