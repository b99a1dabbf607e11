"""RPCs of the API layer: the tools models are offered, and the tool chains."""

from __future__ import annotations

from typing import Annotated

import msgspec

from chatthy.wire.api._base import Call, Result

__all__ = [
    "ChainInfo",
    "ChainRan",
    "ChainRun",
    "Chains",
    "McpServerInfo",
    "McpServers",
    "ToolInfo",
    "Tools",
]


class ToolInfo(Result):
    """A tool of the server's: its name, what it does, whether its calls are approved
    first (``changes``), whether ``[tools] enabled`` offers it, and where it comes from
    (``built-in``, a plugin, a chain, an MCP server)."""

    name: str
    description: str = ""
    changes: bool = False
    enabled: bool = True
    origin: str = ""


class Tools(Call[list[ToolInfo]]):
    """List the tools the server has; problems loading plugins or chains are in `problems`."""

    method = "tools"


class ChainInfo(Result):
    name: str
    description: str = ""
    steps: list[str] = msgspec.field(default_factory=list)
    """Each step in a word: ``template`` or the tool's name."""


class Chains(Call[list[ChainInfo]]):
    """List the tool chains (``chains/NAME.toml`` in the server's config dir)."""

    method = "chains"


class ChainRan(Result):
    name: str
    output: str


class ChainRun(Call[ChainRan]):
    """Run a tool chain on a text; the last step's output."""

    method = "chain"
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    input: str = ""


class McpServerInfo(Result):
    """One MCP server of ``[mcp_servers]``: its transport (``stdio``, ``http``, ``sse``),
    its state (``stopped``: not used yet, ``starting``, ``ready``, ``failed``,
    ``restarting``, ``disabled``), the last error in one line, and its tools as the model
    sees them (``SERVER__TOOL``), prompts and resources' URIs when it is ready."""

    name: str
    transport: str
    state: str
    error: str | None = None
    tools: list[str] = msgspec.field(default_factory=list)
    prompts: list[str] = msgspec.field(default_factory=list)
    resources: list[str] = msgspec.field(default_factory=list)


class McpServers(Call[list[McpServerInfo]]):
    """List the MCP servers of server.toml with their state and tools; `start` starts
    those not started yet (and waits for them, up to their startup timeout)."""

    method = "mcp_servers"
    start: bool = True
