"""The image RPC: the bytes of an image a message of the asking profile names."""

from __future__ import annotations

from chatthy.server.handlers.common import as_wire
from chatthy.server.rpc import Context, registry
from chatthy.wire import api

__all__: list[str] = []


@registry.rpc()
async def image(ctx: Context, args: api.ImageGet) -> api.ImageData:
    return as_wire(await ctx.engine.store.image(ctx.profile, args.digest), api.ImageData)
