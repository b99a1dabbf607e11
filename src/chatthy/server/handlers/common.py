"""Helpers shared by the RPC handlers."""

from __future__ import annotations

from chatthy.errors import ConflictError, NotFoundError
from chatthy.server.rpc import Context
from chatthy.store.base import ChatRecord

__all__ = ["ensure_chat", "not_running"]


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


def not_running(ctx: Context, chat: str) -> None:
    """Raises ConflictError while a reply runs in ``chat`` (it must not change under it)."""
    if ctx.server.hub.running(ctx.profile, chat) is not None:
        raise ConflictError(f"a reply is running in chat '{chat}' (cancel it first)")
