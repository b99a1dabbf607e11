"""The image RPC: the bytes of an image a message of the asking profile names."""

from __future__ import annotations

from chatthy.server.rpc import Context, registry
from chatthy.wire import api

__all__: list[str] = []


@registry.rpc()
async def image(ctx: Context, args: api.ImageGet) -> api.ImageData:
    record = await ctx.engine.store.image(ctx.profile, args.digest)
    return api.ImageData(
        digest=record.digest,
        media_type=record.media_type,
        width=record.width,
        height=record.height,
        data=record.data,
    )
