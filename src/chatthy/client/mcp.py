"""What the clients show of the chat server's MCP servers (``chatthy mcp list``)."""

from __future__ import annotations

from chatthy.wire import api

__all__ = ["format_servers"]

NONE = "no MCP servers ([mcp_servers.NAME] in server.toml; chatthy mcp import FILE adds them)"
"""What ``chatthy mcp list`` says when the server has none."""

_KINDS = ("tools", "prompts", "resources")


def format_servers(servers: list[api.McpServerInfo]) -> str:
    """One block per server, a blank line between them: its name, transport and state
    in columns (as ``chatthy tools`` aligns its names), the last error on a line of its
    own, then its tools (as the model is offered them: ``SERVER__TOOL``, the names
    ``[tools] enabled`` and ``auto_approve`` take), prompts and resources, one a line.
    A ready server that offers nothing says so, so that an empty block is not taken
    for one that failed to list them."""
    if not servers:
        return NONE
    width = max(16, *(len(server.name) for server in servers))
    blocks = []
    for server in servers:
        lines = [f"{server.name:<{width}} {server.transport:<5} {server.state}"]
        if server.error:
            lines.append(f"  error      {' '.join(server.error.split())}")
        for kind in _KINDS:
            items: list[str] = getattr(server, kind)
            lines += [f"  {kind if at == 0 else '':<10} {item}" for at, item in enumerate(items)]
        if server.state == "ready" and not (server.tools or server.prompts or server.resources):
            lines.append("  no tools, prompts or resources")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
