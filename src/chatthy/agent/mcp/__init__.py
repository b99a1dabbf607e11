"""MCP (Model Context Protocol): the MCP servers whose tools, prompts and resources the
chat server and the router use (``[mcp_servers.NAME]`` in server.toml), reading the
``mcpServers`` JSON other clients keep into server.toml, and chatthy's own MCP server
over a profile's workspace (``chatthy mcp serve``). Built on the official ``mcp`` SDK."""
