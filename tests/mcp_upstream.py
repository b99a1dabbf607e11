"""An MCP server of the tests' own, made with the official SDK, run as a real process:

    python tests/mcp_upstream.py stdio
    python tests/mcp_upstream.py http PORT
    python tests/mcp_upstream.py sse PORT

Tools: ``echo(text)`` (read-only), ``add(a, b)``, ``fail()`` (an error result),
``crash()`` (the process dies mid-call), ``hang()`` (never answers), ``picture()`` (a
PNG's signature and zeros: a damaged image), ``photo(width, height)`` (a caption and a
real PNG of that size), ``doc()`` (an embedded text resource), ``grow()`` (adds the tool
``extra`` and says the tool list changed); the prompt ``review(topic)``; the resources ``note://hello``
(text) and ``note://blob`` (binary).

When ``MCP_UPSTREAM_STARTS`` names a file, each start appends a line to it, so that a
test can count how often the server was (re)started. ``MCP_UPSTREAM_STDERR`` is written
to stderr at start, and a start with ``MCP_UPSTREAM_EXIT`` set exits at once with that
code: a server that dies before it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    CallToolResult,
    EmbeddedResource,
    ImageContent,
    TextContent,
    TextResourceContents,
    ToolAnnotations,
)

PICTURE = b"\x89PNG\r\n\x1a\n" + bytes(12_587)
"""12,595 bytes: "12.3 KB" when shown."""

BLOB = bytes(range(256))


def build() -> MCPServer:
    """The server with its tools, prompt and resources."""
    server: MCPServer = MCPServer("upstream", log_level="WARNING")

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def echo(text: str) -> str:
        """Says the text back."""
        return text

    @server.tool()
    def add(a: int, b: int) -> int:
        """Adds two whole numbers."""
        return a + b

    @server.tool()
    def fail() -> str:
        """Always fails."""
        raise ToolError("the upstream tool failed on purpose")

    @server.tool()
    def crash() -> str:
        """Ends the server's process in the middle of the call."""
        sys.stdout.flush()
        os._exit(3)

    @server.tool()
    async def hang() -> str:
        """Never answers."""
        await asyncio.Event().wait()
        return "unreachable"

    @server.tool()
    def picture() -> CallToolResult:
        """An image."""
        import base64

        data = base64.b64encode(PICTURE).decode()
        return CallToolResult(content=[ImageContent(data=data, mime_type="image/png")])

    @server.tool(annotations=ToolAnnotations(read_only_hint=True))
    def photo(width: int = 64, height: int = 48) -> CallToolResult:
        """A photo of the sea."""
        import base64
        import io

        from PIL import Image

        out = io.BytesIO()
        Image.new("RGB", (width, height), "navy").save(out, "PNG")
        data = base64.b64encode(out.getvalue()).decode()
        return CallToolResult(
            content=[
                TextContent(text="the sea at dawn"),
                ImageContent(data=data, mime_type="image/png"),
            ]
        )

    @server.tool()
    def doc() -> CallToolResult:
        """A document embedded as a resource."""
        text = TextResourceContents(uri="note://doc", text="the document's text")
        return CallToolResult(content=[EmbeddedResource(resource=text)])

    @server.tool()
    async def grow(ctx: Context) -> str:
        """Adds the tool ``extra`` and tells the client the tool list changed."""

        def extra() -> str:
            """A tool that came later."""
            return "extra"

        server.add_tool(extra)
        await ctx.notify_tools_changed()
        with contextlib.suppress(Exception):  # a 2026 session takes no unasked notification
            await ctx.session.send_tool_list_changed()
        return "grown"

    @server.prompt()
    def review(topic: str) -> str:
        """Asks for a review of a topic."""
        return f"Please review {topic}."

    @server.resource("note://hello", mime_type="text/plain")
    def hello() -> str:
        """A short note."""
        return "hello from the upstream"

    @server.resource("note://blob", mime_type="application/octet-stream")
    def blob() -> bytes:
        """Some bytes."""
        return BLOB

    return server


def main(argv: list[str]) -> None:
    starts = os.environ.get("MCP_UPSTREAM_STARTS")
    if starts:
        with open(starts, "a") as out:
            out.write(f"{os.getpid()}\n")
    if said := os.environ.get("MCP_UPSTREAM_STDERR"):
        print(said, file=sys.stderr, flush=True)
    if code := os.environ.get("MCP_UPSTREAM_EXIT"):
        sys.exit(int(code))
    server = build()
    kind = argv[1] if len(argv) > 1 else "stdio"
    if kind == "stdio":
        server.run("stdio")
    elif kind == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(argv[2]))
    elif kind == "sse":
        server.run("sse", host="127.0.0.1", port=int(argv[2]))
    else:
        sys.exit(f"usage: {argv[0]} stdio | http PORT | sse PORT")


if __name__ == "__main__":
    main(sys.argv)
