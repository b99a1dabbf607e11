"""One reply: build the context, stream from the provider, checkpoint, store.

The reply runs as its own task so that it goes on whoever disconnects. The user's
message is already stored; the reply is a ``streaming`` message checkpointed as it grows
and completed in one write, with ``<think>`` text and reasoning shown but never saved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from chatthy.context import Fitted, ThinkSplitter, fit, strip_think
from chatthy.context.workspace import WorkspaceFile, check_workspace_fits, workspace_message
from chatthy.errors import ChatthyError, ProviderError, StoreError
from chatthy.providers.base import (
    Message,
    Options,
    Provider,
    ReasoningDelta,
    TextDelta,
    Usage,
)
from chatthy.store.base import ChatRecord, MessageRecord, Status

if TYPE_CHECKING:
    from chatthy.server.app import Server
    from chatthy.server.streams import Stream

__all__ = ["Planned", "history_messages", "plan", "start_reply"]

log = logging.getLogger("chatthy.server")


def history_messages(records: list[MessageRecord]) -> list[Message]:
    """The stored messages as a provider sees them (failed, empty replies left out)."""
    out: list[Message] = []
    for rec in records:
        if rec.role == "assistant" and not rec.content:
            continue
        out.append({"role": rec.role, "content": rec.content})
    return out


class Planned(NamedTuple):
    """What a turn would send: the provider, the fitted messages, and how many of their
    tokens are the workspace's."""

    provider: Provider
    fitted: Fitted
    workspace_tokens: int


async def plan(
    server: Server,
    profile: str,
    chat: ChatRecord,
    records: list[MessageRecord],
    transient: Sequence[WorkspaceFile] = (),
) -> Planned:
    """The provider and what it would be sent for ``records``: the system prompt, the
    profile's workspace files that are not benched, the ``transient`` files a client
    attached to this turn, then as much history as fits. Callers that change the history
    check this first, so that a reply that cannot start changes nothing.

    Raises:
        NotFoundError: the chat's provider does not exist.
        ArgumentError: the newest turn alone does not fit the provider's context, or the
            workspace does not fit beside it (naming its files; none is dropped).
    """
    provider = server.provider(chat.provider)
    system = await server.system_messages(profile, chat.personality)
    stored = [f for f in await server.store.list_workspace(profile) if not f.benched]
    files: list[WorkspaceFile] = [*stored, *transient]
    history = history_messages(records)
    workspace_tokens = check_workspace_fits(
        system,
        files,
        history,
        provider.context_length - provider.max_tokens,
        counter=server.token_counts,
    )
    fitted = fit(
        [*system, *(workspace_message(f) for f in files)],
        history,
        provider.context_length,
        provider.max_tokens,
        counter=server.token_counts,
    )
    return Planned(provider, fitted, workspace_tokens)


async def start_reply(
    server: Server,
    stream: Stream,
    conn: bytes,
    chat: ChatRecord,
    params: dict[str, Any] | None = None,
    *,
    question: Any = None,
    transient: Sequence[WorkspaceFile] = (),
) -> dict[str, Any]:
    """Start the reply to the chat's stored history in the reserved ``stream``.

    ``question`` is the user's new message, if any: it is stored with the reply's row in
    one transaction, once the turn is known to fit, so a turn that cannot start leaves
    the chat as it was. ``transient`` files go into this reply's context only.

    Raises:
        NotFoundError: the chat's provider does not exist.
        ArgumentError: the newest message alone does not fit the provider's context.
    """
    profile = stream.profile
    records = await server.store.messages(profile, chat.name)
    new: list[dict[str, Any]] = []
    if question is not None:
        records.append(MessageRecord(0, chat.id, "user", question))
        new.append({"role": "user", "content": question})
    provider, fitted, workspace_tokens = await plan(server, profile, chat, records, transient)
    new.append(
        {
            "role": "assistant",
            "content": "",
            "status": "streaming",
            "provider": provider.name,
            "model": chat.model or provider.model,
        }
    )
    *asked, reply = await server.store.add_messages(profile, chat.name, new)
    server.hub.watch(conn, profile, chat.name)
    if fitted.dropped:
        stream.emit(
            "info",
            data={
                "dropped": fitted.dropped,
                "dropped_tokens": fitted.dropped_tokens,
                "tokens": fitted.tokens,
            },
        )
    options = Options(model=chat.model or None, params=params or {})
    stream.task = asyncio.create_task(
        _run(server, stream, provider, fitted.messages, options, reply.id),
        name=f"reply {profile}/{chat.name}",
    )
    started = {
        "chat": chat.name,
        "stream": stream.id,
        "message_id": reply.id,
        "tokens": fitted.tokens,
        "workspace_tokens": workspace_tokens,
        "dropped": fitted.dropped,
    }
    if asked:
        started["user_message_id"] = asked[0].id
    return started


class _Reply:
    """What a reply has produced so far."""

    def __init__(self) -> None:
        self.raw: list[str] = []
        self.splitter = ThinkSplitter()
        self.usage: dict[str, int] | None = None
        self.checkpoint_failed = False

    def text(self) -> str:
        """What is stored: the raw text less think blocks (also one whose opening tag the
        model never sent, which the live split could not know about)."""
        return strip_think("".join(self.raw))

    def add(self, stream: Stream, text: str) -> None:
        self.raw.append(text)
        self.route(stream, self.splitter.feed(text))

    def route(self, stream: Stream, pieces: Sequence[tuple[str, str]]) -> None:
        for kind, text in pieces:
            if text:
                stream.emit(kind, text)


async def _run(
    server: Server,
    stream: Stream,
    provider: Provider,
    messages: list[Message],
    options: Options,
    message_id: int,
) -> None:
    reply = _Reply()
    status: Status = "complete"
    error: ChatthyError | None = None
    try:
        if stream.stop_reason is not None:
            raise asyncio.CancelledError
        await _pump(server, stream, provider, messages, options, message_id, reply)
    except asyncio.CancelledError:
        status = "interrupted" if stream.stop_reason == "interrupted" else "cancelled"
    except ChatthyError as exc:
        status, error = "error", exc
    except Exception as exc:
        log.exception("reply in %s/%s failed", stream.profile, stream.chat)
        status = "error"
        error = ProviderError(f"provider '{provider.name}' failed: {type(exc).__name__}")
    await _finish(server, stream, message_id, reply, status, error)


async def _pump(
    server: Server,
    stream: Stream,
    provider: Provider,
    messages: list[Message],
    options: Options,
    message_id: int,
    reply: _Reply,
) -> None:
    """Relay the provider's events; checkpoint every ``interval``, the first one sooner by
    a random part, so that replies started together do not all write at the same moment
    (aligned checkpoints were most of the p99 latency of ten paced replies)."""
    interval = server.config.server.checkpoint_interval
    next_checkpoint = time.monotonic() + interval * random.uniform(0.5, 1.0)
    async for event in provider.stream(messages, options):
        if isinstance(event, TextDelta):
            reply.add(stream, event.text)
        elif isinstance(event, ReasoningDelta):
            stream.emit("reasoning", event.text)
        elif isinstance(event, Usage):
            reply.usage = {"input_tokens": event.input_tokens, "output_tokens": event.output_tokens}
            stream.emit("usage", data=reply.usage)
        if time.monotonic() >= next_checkpoint:
            await _checkpoint(server, stream, message_id, reply)
            next_checkpoint = time.monotonic() + interval
    reply.route(stream, reply.splitter.flush())


async def _checkpoint(server: Server, stream: Stream, message_id: int, reply: _Reply) -> None:
    """Save the reply so far; a failed checkpoint is logged, not fatal."""
    try:
        await server.store.update_message(stream.profile, message_id, content=reply.text())
    except ChatthyError as exc:
        if not reply.checkpoint_failed:
            log.warning("checkpoint of %s/%s failed: %s", stream.profile, stream.chat, exc)
        reply.checkpoint_failed = True


async def _finish(
    server: Server,
    stream: Stream,
    message_id: int,
    reply: _Reply,
    status: Status,
    error: ChatthyError | None,
) -> None:
    data: dict[str, Any] = {"status": status, "message_id": message_id}
    try:
        await server.store.update_message(
            stream.profile,
            message_id,
            content=reply.text(),
            status=status,
            usage=reply.usage,
            error=error.message if error else "",
        )
    except ChatthyError as exc:
        error = StoreError(f"could not save the reply: {exc.message}")
        data["status"] = "error"
        with contextlib.suppress(ChatthyError):
            await server.store.update_message(
                stream.profile, message_id, status="error", error=error.message
            )
    if error is not None:
        data["error"] = {"code": error.code, "message": error.message}
    stream.emit("end", data=data, last=True)
