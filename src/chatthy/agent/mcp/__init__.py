"""MCP (Model Context Protocol): the MCP servers whose tools, prompts and resources the
chat server and the router use (``[mcp_servers.NAME]`` in server.toml), reading the
``mcpServers`` JSON other clients keep into server.toml, and chatthy's own MCP server
over a profile's workspace (``chatthy mcp serve``). Built on the official ``mcp`` SDK."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chatthy.config import ServerConfig

if TYPE_CHECKING:
    from chatthy.agent.mcp.manager import McpManager

__all__ = ["manager_for"]


def manager_for(config: ServerConfig) -> McpManager | None:
    """The manager of ``[mcp_servers]`` (nothing started yet), or None without any: then
    nothing of MCP, its SDK included, is even imported."""
    if not config.mcp_servers:
        return None
    from chatthy.agent.mcp.manager import McpManager

    # the SDK logs a dropped connection as an error with its traceback, and its HTTP
    # client every request: the manager says what went wrong in one line of its own
    logging.getLogger("mcp").setLevel(logging.CRITICAL)
    logging.getLogger("httpx2").setLevel(logging.WARNING)
    return McpManager(config.mcp_servers)
