"""Every MCP server of one chatthy server (``[mcp_servers.NAME]``), as tools, prompts and
resources the rest of chatthy can use.

:class:`McpManager` starts nothing when made: :meth:`McpManager.start` starts the enabled
servers (all, or those named) together, each given its ``startup_timeout``, and says in
one line each which failed; a tool call starts its server itself when it is not running
yet. One server that fails, hangs or crashes costs only its own tools: the manager never
raises for a server's fault.

A server's tools become chatthy :class:`~chatthy.agent.tools.Tool` objects named
``SERVER__TOOL`` (what the providers accept: other characters become ``_``, at most 64),
with the server's description and input schema. A tool the server marks
``readOnlyHint`` runs without the user's approval; any other may change something, so
each call is approved first. What a call gives is turned into what the model reads: text
as it is, other blocks (images, audio, resources) as a line saying what they were, and
images of the types chatthy takes passed on as images too (the loop checks and fits them).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chatthy.agent.mcp.connection import Backoff, McpConnection
from chatthy.agent.tools import Tool, ToolContext, ToolOutcome
from chatthy.config import McpServerConfig
from chatthy.conversation.images import MAX_TOOL_IMAGES
from chatthy.conversation.model import ImagePart, ToolSpec
from chatthy.errors import ToolError
from chatthy.media.images import IMAGE_TYPES

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult

__all__ = [
    "McpManager",
    "McpPrompt",
    "McpServerState",
    "render_block",
    "result_outcome",
    "tool_name",
]

MAX_IMAGE_BASE64 = 64 * 2**20
"""Characters of base64 an MCP image may have to be passed on as an image (48 MB; a
larger one stays its line): a screenshot is a few MB, and every image is fitted to the
model's limits before it is sent."""

SEPARATOR = "__"
"""Between a server's name and its tool's or prompt's: ``files__read_file``."""

_OUTSIDE = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, name: str) -> str:
    """``SERVER__NAME`` as the providers accept a tool's name: characters other than
    letters, digits, ``_`` and ``-`` become ``_``, and it is cut to 64."""
    return _OUTSIDE.sub("_", f"{server}{SEPARATOR}{name}")[:64]


@dataclass(frozen=True)
class McpServerState:
    """What ``chatthy mcp list`` and the ``mcp_servers`` call show of one server."""

    name: str
    transport: str
    """``stdio``, ``http`` or ``sse``."""
    state: str
    """``stopped``, ``starting``, ``ready``, ``restarting``, ``failed`` or ``disabled``."""
    error: str | None = None
    """Why it failed or stopped, in one line."""
    tools: list[str] = field(default_factory=list)
    """Its tools as chatthy names them (``SERVER__TOOL``)."""
    prompts: list[str] = field(default_factory=list)
    """Its prompts (``SERVER__PROMPT``)."""
    resources: list[str] = field(default_factory=list)
    """The URIs of its resources."""


@dataclass(frozen=True)
class McpPrompt:
    """A prompt a server offers: ``SERVER__PROMPT``, what it is for, and its arguments as
    (name, description, required)."""

    name: str
    description: str
    arguments: list[tuple[str, str, bool]] = field(default_factory=list)


class McpManager:
    """The MCP servers of one chatthy server. ``environ`` (``os.environ`` when None)
    fills ``${VAR}`` in a server's config when it starts; ``backoff`` paces restarts."""

    def __init__(
        self,
        servers: dict[str, McpServerConfig],
        *,
        environ: Mapping[str, str] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        pace = backoff or Backoff()
        self._servers = {
            name: McpConnection(name, config, environ=env, backoff=pace)
            for name, config in servers.items()
        }

    async def start(self, names: Iterable[str] | None = None) -> list[str]:
        """Start the enabled servers (those of ``names``, or all) that are not running,
        together, and wait until each is ready or has failed (its ``startup_timeout`` at
        most). Returns one line for each that this call tried and failed to start; one
        that failed before is tried again once its pause after the failure is over."""
        chosen = self._servers.keys() if names is None else set(names) & self._servers.keys()
        outcomes = await asyncio.gather(*(self._servers[name].start() for name in sorted(chosen)))
        return [line for line in outcomes if line is not None]

    def tools(self) -> list[Tool]:
        """The tools of the servers that are ready (or restarting: a call waits for a
        restart that is due soon)."""
        made: list[Tool] = []
        for connection in self._servers.values():
            if connection.state not in ("ready", "restarting"):
                continue
            seen: set[str] = set()
            for tool in connection.tools:
                name = tool_name(connection.name, tool.name)
                if name in seen:
                    continue  # two names that differ only in characters the APIs refuse
                seen.add(name)
                made.append(self._tool(connection, tool, name))
        return made

    def _tool(self, connection: McpConnection, tool: Any, name: str) -> Tool:
        remote = tool.name
        hints = tool.annotations
        read_only = bool(hints is not None and hints.read_only_hint)

        async def run(context: ToolContext, arguments: dict[str, Any]) -> ToolOutcome:
            result = await self._use(connection, lambda client: client.call_tool(remote, arguments))
            return result_outcome(result)

        return Tool(
            ToolSpec(name, tool.description or "", dict(tool.input_schema)),
            run,
            changes=not read_only,
            timeout=connection.config.timeout,
            origin=f"mcp:{connection.name}",
            thread=False,
        )

    def infos(self) -> list[McpServerState]:
        """Each server's state and what it offers, by name."""
        return [
            McpServerState(
                name=connection.name,
                transport=connection.kind,
                state=connection.state,
                error=connection.error,
                tools=[tool_name(connection.name, tool.name) for tool in connection.tools],
                prompts=[tool_name(connection.name, prompt.name) for prompt in connection.prompts],
                resources=[str(resource.uri) for resource in connection.resources],
            )
            for connection in sorted(self._servers.values(), key=lambda c: c.name)
        ]

    async def prompts(self, *, start: bool = True) -> list[McpPrompt]:
        """The prompts of every server that is running (the enabled ones are started
        first, unless ``start`` is False)."""
        if start:
            await self.start()
        found: list[McpPrompt] = []
        for connection in self._servers.values():
            if connection.state != "ready":
                continue
            for prompt in connection.prompts:
                arguments = [
                    (arg.name, arg.description or "", bool(arg.required))
                    for arg in prompt.arguments or []
                ]
                found.append(
                    McpPrompt(
                        tool_name(connection.name, prompt.name), prompt.description or "", arguments
                    )
                )
        return found

    async def get_prompt(self, name: str, arguments: dict[str, str]) -> str:
        """The prompt ``SERVER__PROMPT`` filled with ``arguments``, its messages as one
        text.

        Raises:
            ToolError: no such server or prompt, the server is not running, or the
                arguments are not the prompt's.
        """
        connection = self._server_of(name)
        await connection.start()
        prompt = next(
            (p for p in connection.prompts if tool_name(connection.name, p.name) == name), None
        )
        if prompt is None:
            if connection.state != "ready":
                await self._use(connection, _noop)  # says why it is not running
            raise ToolError(f"MCP server '{connection.name}' has no prompt '{name}'")
        wanted = {arg.name for arg in prompt.arguments or []}
        missing = [
            arg.name for arg in prompt.arguments or [] if arg.required and arg.name not in arguments
        ]
        unknown = sorted(set(arguments) - wanted)
        if missing or unknown:
            said = []
            if missing:
                said.append("it needs " + ", ".join(missing))
            if unknown:
                said.append("it takes no " + ", ".join(unknown))
            raise ToolError(f"prompt '{name}': {'; '.join(said)}")
        result = await self._use(
            connection, lambda client: client.get_prompt(prompt.name, dict(arguments))
        )
        return "\n\n".join(render_block(message.content) for message in result.messages)

    async def read_resource(self, server: str, uri: str) -> tuple[str, str]:
        """The text and MIME type of the resource ``uri`` of ``server``.

        Raises:
            ToolError: no such server, it is not running, no such resource, or the
                resource is not text.
        """
        connection = self._servers.get(server)
        if connection is None:
            raise ToolError(f"no MCP server '{server}'")
        result = await self._use(connection, lambda client: client.read_resource(uri))
        texts: list[str] = []
        mime = ""
        for content in result.contents:
            kind = content.mime_type or ""
            mime = mime or kind
            if hasattr(content, "blob"):
                size = _decoded_size(content.blob)
                raise ToolError(f"resource {uri} is not text ({kind or 'binary'}, {_size(size)})")
            texts.append(content.text)
        if not mime:
            listed = next((r for r in connection.resources if str(r.uri) == uri), None)
            mime = (listed.mime_type if listed is not None else None) or "text/plain"
        return "\n".join(texts), mime

    async def aclose(self) -> None:
        """Stop every server: their processes ended, their sessions closed."""
        await asyncio.gather(*(c.aclose() for c in self._servers.values()))

    # -- inside ---------------------------------------------------------------------

    def _server_of(self, name: str) -> McpConnection:
        """The server a ``SERVER__NAME`` belongs to (the longest server name that fits).

        Raises:
            ToolError: none does.
        """
        fitting = [c for c in self._servers.values() if name.startswith(tool_name(c.name, ""))]
        if not fitting:
            raise ToolError(f"no MCP server has a prompt '{name}'")
        return max(fitting, key=lambda c: len(c.name))

    async def _use(self, connection: McpConnection, action: Any) -> Any:
        """``action(client)`` on ``connection``; an error the server answers with becomes
        a :class:`ToolError` naming the server."""
        from mcp import MCPError

        try:
            return await connection.use(action)
        except MCPError as exc:
            raise ToolError(f"MCP server '{connection.name}': {exc}") from None


async def _noop(client: Client) -> None:
    return None


def _decoded_size(data: str) -> int:
    """Bytes of a base64 text once decoded."""
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data) * 3 // 4


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    if count < 1024 * 1024:
        return f"{count / 1024:.1f} KB"
    return f"{count / (1024 * 1024):.1f} MB"


def render_block(block: Any) -> str:
    """One MCP content block as text the model reads. Images and audio are a line
    saying what they were (a tool's images of a type chatthy takes are passed on as
    images instead: :func:`result_outcome`)."""
    kind = getattr(block, "type", "")
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        return f"[{kind} {block.mime_type}, {_size(_decoded_size(block.data))}]"
    if kind == "resource":
        resource = block.resource
        if hasattr(resource, "text"):
            return f"{resource.uri}\n{resource.text}"
        mime = resource.mime_type or "application/octet-stream"
        return f"[resource {resource.uri} {mime}, {_decoded_size(resource.blob)} bytes]"
    if kind == "resource_link":
        return f"[resource link {block.uri}]"
    return f"[{kind or 'unknown'} content]"


def result_outcome(result: CallToolResult) -> ToolOutcome:
    """A tool's result as the model gets it: its text (a line for each block that is not
    text), and its images (``data:`` URL parts, not checked yet) where it has image
    blocks of a type chatthy takes.

    Raises:
        ToolError: the server says the call failed (``isError``), with its text.
    """
    from mcp.types import ImageContent  # (loaded: the call was made with it)

    lines: list[str] = []
    images: list[ImagePart] = []
    for block in result.content:
        lines.append(render_block(block))  # an image's line too: the model reads both
        if (
            isinstance(block, ImageContent)
            and block.mime_type in IMAGE_TYPES
            and len(images) < MAX_TOOL_IMAGES
            and len(block.data) <= MAX_IMAGE_BASE64
        ):
            url = f"data:{block.mime_type};base64,{block.data}"
            images.append(ImagePart(block.mime_type, url, f"image {len(images) + 1}"))
    text = "\n".join(lines)
    if not result.content and result.structured_content is not None:
        text = json.dumps(result.structured_content, ensure_ascii=False)
    if result.is_error:
        raise ToolError(text or "the tool failed")
    return ToolOutcome(text, images=tuple(images))
