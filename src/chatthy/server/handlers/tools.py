"""RPCs of the API layer: tools, chains."""

from __future__ import annotations

from pathlib import Path

from chatthy.agent.chains import load_chains
from chatthy.agent.tools import named
from chatthy.server.rpc import Context, registry
from chatthy.wire import api

__all__: list[str] = []


@registry.rpc()
async def tools(ctx: Context, args: api.Tools) -> list[api.ToolInfo]:
    enabled = ctx.engine.config.tools.enabled
    if ctx.engine.mcp is not None:  # the MCP servers running now (none start for a list)
        ctx.engine.tools.replace_origin("mcp:", ctx.engine.mcp.tools())
    return [
        api.ToolInfo(
            name=tool.name,
            description=tool.spec.description.split("\n\n")[0],
            changes=tool.changes,
            enabled=enabled is None or named(tool.name, enabled),
            origin=tool.origin,
        )
        for tool in ctx.engine.tools.tools()
    ]


@registry.rpc()
async def chains(ctx: Context, args: api.Chains) -> list[api.ChainInfo]:
    found, _ = load_chains(Path(ctx.engine.config.config_dir))
    return [
        api.ChainInfo(
            name=name,
            description=chain.description,
            steps=[step.tool or "template" for step in chain.steps],
        )
        for name, chain in sorted(found.items())
    ]


@registry.rpc()
async def chain(ctx: Context, args: api.ChainRun) -> api.ChainRan:
    output = await ctx.engine.run_chain(ctx.profile, args.name, args.input)
    return api.ChainRan(name=args.name, output=output)
