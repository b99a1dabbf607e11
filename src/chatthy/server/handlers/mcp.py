"""RPCs of the MCP servers the chat server uses: their state and tools
(``mcp_servers``), and a resource of one added to the workspace (``ws_mcp``)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chatthy.errors import ArgumentError, NotFoundError, ToolError
from chatthy.server.handlers.workspace import store_file
from chatthy.server.rpc import Context, registry
from chatthy.wire import api

if TYPE_CHECKING:
    from chatthy.agent.mcp.manager import McpManager

__all__: list[str] = []

_UNSAFE = re.compile(r"[^A-Za-z0-9._/-]+")


def _manager(ctx: Context) -> McpManager:
    """The chat server's MCP servers.

    Raises:
        NotFoundError: server.toml names none.
    """
    if ctx.engine.mcp is None:
        raise NotFoundError("this server has no MCP servers ([mcp_servers.NAME] in server.toml)")
    return ctx.engine.mcp


@registry.rpc()
async def mcp_servers(ctx: Context, args: api.McpServers) -> list[api.McpServerInfo]:
    mcp = ctx.engine.mcp
    if mcp is None:
        return []
    if args.start:
        await mcp.start()
    return [
        api.McpServerInfo(
            name=info.name,
            transport=info.transport,
            state=info.state,
            error=info.error,
            tools=list(info.tools),
            prompts=list(info.prompts),
            resources=list(info.resources),
        )
        for info in mcp.infos()
    ]


def resource_name(server: str, uri: str) -> str:
    """The workspace name a resource gets: ``mcp-SERVER-`` and its URI without the
    scheme, what a name may not hold made ``-``."""
    _, _, rest = uri.partition("://")
    tail = _UNSAFE.sub("-", rest or uri).strip("-/.") or "resource"
    return f"mcp-{server}-{tail}"[:200]


@registry.rpc()
async def ws_mcp(ctx: Context, args: api.WsMcp) -> api.WorkspaceFile:
    mcp = _manager(ctx)
    try:
        text, _mime = await mcp.read_resource(args.server, args.uri)
    except ToolError as exc:
        raise ArgumentError(exc.message) from None
    name = args.name or resource_name(args.server, args.uri)
    return await store_file(ctx, name, text, f"mcp {args.server} {args.uri}")
