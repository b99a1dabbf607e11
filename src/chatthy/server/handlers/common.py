"""Helpers shared by the RPC handlers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Annotated, Any

import msgspec

from chatthy.context.workspace import WorkspaceFile
from chatthy.errors import ArgumentError, ChatthyError, ConflictError, NotFoundError
from chatthy.server.rpc import Context
from chatthy.server.streams import Stream
from chatthy.server.turns import start_reply
from chatthy.store.base import ChatRecord

__all__ = [
    "Id",
    "Limit",
    "NameArg",
    "NoArgs",
    "ask_in_chat",
    "check_params",
    "ensure_chat",
    "not_running",
    "reserving",
]

Id = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
"""A message id as clients may send it (bounded so no store ever overflows)."""

Limit = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class NoArgs(msgspec.Struct, forbid_unknown_fields=True):
    """The arguments of an RPC that takes none (any given is refused)."""


class NameArg(msgspec.Struct, forbid_unknown_fields=True):
    """The arguments of an RPC that takes just a ``name``."""

    name: str


RESERVED_PARAMS = frozenset({"model", "messages", "stream", "stream_options", "n", "system"})
"""Generation parameters a client may not set: the server decides these."""


async def ensure_chat(
    ctx: Context,
    name: str,
    *,
    prompt: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> ChatRecord:
    """The chat ``name``, created if missing; remembers any personality, provider or model
    given. Raises NotFoundError for an unknown provider or prompt."""
    server, store = ctx.server, ctx.server.store
    if provider is not None:
        server.provider(provider)
    if prompt is not None:
        await server.prompts.get(store, ctx.profile, prompt)
    try:
        chat = await store.get_chat(ctx.profile, name)
    except NotFoundError:
        return await store.create_chat(
            ctx.profile,
            name,
            prompt or server.config.server.default_prompt,
            provider or server.default_provider(),
            model or "",
        )
    if not chat.provider and provider is None:
        provider = server.default_provider()
    if (prompt, provider, model) != (None, None, None):
        chat = await store.update_chat(
            ctx.profile, name, personality=prompt, provider=provider, model=model
        )
    return chat


async def ask_in_chat(
    ctx: Context,
    chat: str,
    question: Any,
    *,
    params: dict[str, Any] | None,
    transient: Sequence[WorkspaceFile],
    prompt: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    """Start the turn that asks ``question`` in ``chat``, with ``transient`` files for
    this turn only; return what ``start_reply`` does. The chat is made if missing, and
    removed again when the turn does not start (it does not fit, say), so that a refusal
    leaves nothing behind; unless it has messages by then (another client used it)."""
    store = ctx.server.store
    with reserving(ctx, chat) as stream:
        try:
            await store.get_chat(ctx.profile, chat)
            made = False
        except NotFoundError:
            made = True
        record = await ensure_chat(ctx, chat, prompt=prompt, provider=provider, model=model)
        try:
            return await start_reply(
                ctx.server, stream, ctx.conn, record, params, question=question, transient=transient
            )
        except BaseException:
            if made:
                with contextlib.suppress(ChatthyError):
                    if not await store.messages(ctx.profile, chat, limit=1):
                        await store.delete_chat(ctx.profile, chat)
            raise


def not_running(ctx: Context, chat: str) -> None:
    """Raises ConflictError while a reply runs in ``chat`` (it must not change under it)."""
    if ctx.server.hub.running(ctx.profile, chat) is not None:
        raise ConflictError(f"a reply is running in chat '{chat}' (cancel it first)")


@contextlib.contextmanager
def reserving(ctx: Context, chat: str) -> Iterator[Stream]:
    """Reserve ``chat`` for a new reply before anything changes; give it back if the reply
    never starts. Raises ConflictError if a reply is running there."""
    stream = ctx.server.reserve_stream(ctx.request_id, ctx.profile, chat)
    try:
        yield stream
    except BaseException:
        if stream.task is None:
            ctx.server.release_stream(stream)
        raise


def check_params(params: dict[str, Any] | None) -> None:
    """Raises ArgumentError for parameters only the server may set."""
    reserved = sorted(RESERVED_PARAMS.intersection(params or {}))
    if reserved:
        raise ArgumentError(f"params may not set {', '.join(reserved)}")
