"""RPCs about the server and the caller: status, providers, commands, account."""

from __future__ import annotations

import asyncio

import msgspec

from chatthy.errors import ArgumentError, AuthError, ChatthyError, NotFoundError
from chatthy.providers.base import Provider
from chatthy.server.handlers.common import as_wire
from chatthy.server.rpc import Context, registry
from chatthy.wire import api
from chatthy.wire.signing import fingerprint

__all__: list[str] = []


@registry.rpc()
async def status(ctx: Context, args: api.Status) -> api.ServerStatus:
    return ctx.transport.status(ctx.profile)


@registry.rpc()
async def hello(ctx: Context, args: api.Hello) -> api.HelloInfo:
    return await ctx.transport.hello(ctx.profile, ctx.key)


@registry.rpc()
async def rekey(ctx: Context, args: api.Rekey) -> api.Rekeyed:
    await ctx.transport.rekey(ctx.profile, args.key)
    return api.Rekeyed(profile=ctx.profile, fingerprint=fingerprint(args.key))


@registry.rpc()
async def commands(ctx: Context, args: api.Commands) -> list[api.CommandInfo]:
    return registry.describe()


@registry.rpc()
async def account(ctx: Context, args: api.Account) -> api.AccountInfo:
    return await _account(ctx)


@registry.rpc()
async def register(ctx: Context, args: api.Register) -> api.AccountInfo:
    return await _account(ctx)  # the authenticator registered the profile (or knew it)


async def _account(ctx: Context) -> api.AccountInfo:
    record = await ctx.engine.store.get_profile(ctx.profile)
    if record is None:
        raise NotFoundError(f"no profile '{ctx.profile}'")
    return api.AccountInfo(
        profile=record.name,
        created=record.created,
        public_key=record.public_key.hex(),
        chats=record.chats,
        messages=record.messages,
    )


async def _describe(provider: Provider, default: bool, ask: bool, vision: bool) -> api.ProviderInfo:
    capabilities = msgspec.structs.replace(provider.capabilities, vision=vision)
    info = api.ProviderInfo(
        name=provider.name,
        model=provider.model,
        context_length=provider.context_length,
        max_tokens=provider.max_tokens,
        default=default,
        capabilities=as_wire(capabilities, api.ProviderCapabilities),
    )
    if ask:
        try:
            info.models = await asyncio.wait_for(provider.models(), timeout=10)
        except TimeoutError:
            info.error = f"provider '{provider.name}': no model list within 10 s"
        except ChatthyError as exc:
            info.error = exc.message
    return info


@registry.rpc()
async def providers(ctx: Context, args: api.Providers) -> list[api.ProviderInfo]:
    engine = ctx.engine
    default = engine.default_provider()
    return list(
        await asyncio.gather(
            *(
                _describe(p, p.name == default, args.models, engine.takes_images(p.name))
                for p in engine.providers.values()
            )
        )
    )


@registry.rpc()
async def load(ctx: Context, args: api.Load) -> api.Loaded:
    if not ctx.transport.is_admin(ctx.profile):
        raise AuthError(
            "only the server's admins may load models (named in admins, with their key "
            "under [server.profiles] in server.toml)"
        )
    provider = ctx.engine.provider(args.provider)
    if not provider.capabilities.model_loading:
        raise ArgumentError(f"provider '{args.provider}' cannot load models")
    await provider.load_model(args.model)
    return api.Loaded(provider=provider.name, model=args.model)
