"""RPCs about the server and the caller: status, providers, commands, account."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

from chatthy.errors import ArgumentError, AuthError, ChatthyError, NotFoundError
from chatthy.providers.base import Provider
from chatthy.server.handlers.common import NoArgs
from chatthy.server.rpc import Context, registry

__all__: list[str] = []


@registry.rpc()
async def status(ctx: Context, args: NoArgs) -> dict[str, Any]:
    """The server's address, uptime, providers and how busy it is."""
    return {**ctx.transport.status(ctx.profile), "profile": ctx.profile}


@registry.rpc()
async def commands(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    """Every command the server answers: name, help and arguments."""
    return registry.describe()


@registry.rpc()
async def account(ctx: Context, args: NoArgs) -> dict[str, Any]:
    """Your profile: when it was registered, its key, how many chats and messages."""
    record = await ctx.engine.store.get_profile(ctx.profile)
    if record is None:
        raise NotFoundError(f"no profile '{ctx.profile}'")
    return {
        "profile": record.name,
        "created": record.created,
        "public_key": record.public_key.hex(),
        "chats": record.chats,
        "messages": record.messages,
    }


class ProvidersArgs(msgspec.Struct, forbid_unknown_fields=True):
    models: bool = True
    """Ask each provider for its model list (``/v1/models`` where it has one)."""


async def _describe(provider: Provider, default: bool, ask: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "name": provider.name,
        "model": provider.model,
        "context_length": provider.context_length,
        "max_tokens": provider.max_tokens,
        "default": default,
        "capabilities": msgspec.structs.asdict(provider.capabilities),
    }
    if ask:
        try:
            info["models"] = await asyncio.wait_for(provider.models(), timeout=10)
        except TimeoutError:
            info["error"] = f"provider '{provider.name}': no model list within 10 s"
        except ChatthyError as exc:
            info["error"] = exc.message
    return info


@registry.rpc()
async def providers(ctx: Context, args: ProvidersArgs) -> list[dict[str, Any]]:
    """The providers this server offers, with their models."""
    engine = ctx.engine
    default = engine.default_provider()
    return list(
        await asyncio.gather(
            *(_describe(p, p.name == default, args.models) for p in engine.providers.values())
        )
    )


class LoadArgs(msgspec.Struct, forbid_unknown_fields=True):
    provider: str
    model: str


@registry.rpc()
async def load(ctx: Context, args: LoadArgs) -> dict[str, Any]:
    """Load a model on a provider that switches models itself (tabbyAPI's admin API)."""
    if ctx.profile not in ctx.engine.config.server.admins:
        raise AuthError("only the server's admins (admins in server.toml) may load models")
    provider = ctx.engine.provider(args.provider)
    if not provider.capabilities.model_loading:
        raise ArgumentError(f"provider '{args.provider}' cannot load models")
    await provider.load_model(args.model)
    return {"provider": provider.name, "model": args.model, "loaded": True}
