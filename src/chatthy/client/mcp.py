"""What the clients show of the chat server's MCP servers."""

from __future__ import annotations

from chatthy.wire import api


def format_servers(servers: list[api.McpServerInfo]) -> str:
    """One line per server: name, transport, state and the last error; then its tools."""
    if not servers:
        return "no MCP servers ([mcp_servers.NAME] in server.toml; chatthy mcp import FILE)"
    lines = []
    for server in servers:
        line = f"{server.name:<16} {server.transport:<5} {server.state}"
        if server.error:
            line += f": {server.error}"
        lines.append(line)
        lines.extend(f"  {tool}" for tool in server.tools)
    return "\n".join(lines)
