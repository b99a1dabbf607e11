"""``chatthy mcp serve``: chatthy as an MCP server over one profile's context workspace.

Any MCP client (Claude Desktop, an IDE, another agent) can then read what the user keeps
in chatthy's workspace: the tools ``workspace_list`` and ``workspace_read`` — the very
built-in tools a chat's model calls, run on the same store with the same checks — and
each file as a resource ``chatthy://workspace/NAME``. Nothing here changes the workspace:
both tools are marked read-only, and no changing tool is offered.

The store is the data dir's SQLite database, opened as ``chatthy router`` opens it; the
chat server may have it open at the same time (WAL), so the files a client reads are the
ones the user sees in chatthy at that moment.

Two transports. Over **stdio** (the default) stdout carries the protocol and nothing
else: the SDK points fd 1 at stderr while it serves, and logs go to stderr. Over
**streamable HTTP** (``--http HOST:PORT``, endpoint ``/mcp``) every request must carry
``Authorization: Bearer TOKEN``; anything else is answered 401 with an empty body. A
random token is made (and printed once on stderr) when none is given, but only on a
loopback address: beyond it the token must be chosen on purpose (``--token`` or
``$CHATTHY_MCP_TOKEN``), so that a workspace is never exposed by a forgotten flag.

SIGINT and SIGTERM end it cleanly: the transport stops, the store is closed, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import logging
import os
import secrets
import signal
import sys
import urllib.parse
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import msgspec
from mcp import types
from mcp.server import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from chatthy import __version__
from chatthy.agent.builtin import builtin_tools
from chatthy.agent.listen import leave_signals_alone, tcp_socket
from chatthy.agent.tools import Tool, ToolContext
from chatthy.config import ServerConfig
from chatthy.errors import ChatthyError, ConfigError
from chatthy.rag.service import RagService
from chatthy.store.base import Store

__all__ = [
    "OFFERED",
    "RESOURCE_PREFIX",
    "TOKEN_ENV",
    "BearerGate",
    "WorkspaceServer",
    "choose_profile",
    "parse_address",
    "resource_uri",
    "run_mcp_server",
    "serve_command",
]

log = logging.getLogger("chatthy.mcp")

OFFERED = ("workspace_list", "workspace_read", "rag_search")
"""The built-in tools an MCP client is given: those that only read (the workspace, and
``rag_search`` over the profile's documents); a tool that changes the
workspace does not belong here, since no chatthy user approves an MCP client's calls."""

RESOURCE_PREFIX = "chatthy://workspace/"
"""A workspace file's resource URI is this followed by its name (percent-encoded but
its ``/``s)."""

TOKEN_ENV = "CHATTHY_MCP_TOKEN"
"""The environment variable an HTTP token may come from (not seen in ``ps``, unlike
``--token``)."""

_LINE_LIMIT = 64 * 1024 * 1024
"""Bytes one JSON-RPC line from a stdio client may take (asyncio's default, 64 KiB,
would refuse a large but legitimate message)."""

_Scope = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
_Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_App = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


# -- the server -------------------------------------------------------------------------


class WorkspaceServer:
    """One profile's workspace as MCP tools and resources, over an open store.

    Every handler answers a client's mistake (an unknown tool or file, arguments that do
    not fit) with one clear line — a tool result marked ``isError``, or an MCP error for
    a resource — and never lets it end the connection or the process.
    """

    def __init__(self, config: ServerConfig, store: Store, profile: str) -> None:
        self.profile = profile
        self.store = store
        self.tools: dict[str, Tool] = {t.name: t for t in builtin_tools() if t.name in OFFERED}
        services = {"store": store, "config": config, "rag": RagService(config, store)}
        self._context = ToolContext(profile, services=services)
        self._limit = config.tools.max_result
        for tool in self.tools.values():
            tool.timeout = min(tool.timeout, config.tools.timeout)

    def server(self) -> Server[Any]:
        """The SDK's low-level server answering with this workspace (one per transport:
        the HTTP one keeps its session manager on it)."""
        return Server(
            "chatthy",
            version=__version__,
            title=f"chatthy workspace of {self.profile}",
            instructions=(
                f"The files profile '{self.profile}' keeps in chatthy's context workspace. "
                "workspace_list names them; workspace_read gives one's text."
            ),
            get_tool_input_schema=self._schema,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            on_list_resources=self._list_resources,
            on_read_resource=self._read_resource,
        )

    def _schema(self, name: str) -> dict[str, Any] | None:
        tool = self.tools.get(name)
        return None if tool is None else tool.spec.parameters

    async def _list_tools(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=tool.name,
                    description=tool.spec.description,
                    input_schema=tool.spec.parameters,
                    annotations=types.ToolAnnotations(
                        read_only_hint=True, destructive_hint=False, open_world_hint=False
                    ),
                )
                for tool in self.tools.values()
            ]
        )

    async def _call_tool(
        self, ctx: Any, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        tool = self.tools.get(params.name)
        if tool is None:
            offered = ", ".join(self.tools)
            return _result(f"no tool '{params.name}' here (the tools: {offered})", error=True)
        arguments = msgspec.json.encode(params.arguments or {}).decode()
        outcome = await tool.call(self._context, arguments, self._limit)
        if outcome.is_error:
            log.info("%s for an MCP client: %s", tool.name, outcome.content)
        return _result(outcome.content, error=outcome.is_error)

    async def _list_resources(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        files = await self.store.list_workspace(self.profile)
        return types.ListResourcesResult(
            resources=[
                types.Resource(
                    uri=resource_uri(f.name),
                    name=f.name,
                    mime_type="text/plain",
                    size=len(f.text.encode("utf-8")),
                    description="benched (kept, not sent with chats)" if f.benched else None,
                )
                for f in files
            ]
        )

    async def _read_resource(
        self, ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        if not uri.startswith(RESOURCE_PREFIX):
            raise MCPError(
                types.INVALID_PARAMS,
                f"no resource {uri}: this server's resources are {RESOURCE_PREFIX}NAME",
                {"uri": uri},
            )
        name = urllib.parse.unquote(uri.removeprefix(RESOURCE_PREFIX))
        # the same read, with the same name checks and "no such file" words, as the tool's
        outcome = await self.tools["workspace_read"].call(
            self._context, msgspec.json.encode({"name": name}).decode(), self._limit
        )
        if outcome.is_error:
            raise MCPError(types.INVALID_PARAMS, outcome.content, {"uri": uri})
        return types.ReadResourceResult(
            contents=[
                types.TextResourceContents(uri=uri, mime_type="text/plain", text=outcome.content)
            ]
        )


def resource_uri(name: str) -> str:
    """The resource URI of workspace file ``name``."""
    return RESOURCE_PREFIX + urllib.parse.quote(name, safe="/")


def _result(text: str, *, error: bool) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=error)


# -- HTTP -------------------------------------------------------------------------------


class BearerGate:
    """ASGI middleware: an HTTP request passes only with ``Authorization: Bearer TOKEN``;
    any other gets a bare 401 (nothing saying why, nothing of the server behind it). The
    token is compared in constant time, so its bytes cannot be guessed one by one."""

    def __init__(self, app: _App, token: str) -> None:
        self.app = app
        self._expected = b"bearer " + token.encode("utf-8")

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [(b"www-authenticate", b"Bearer"), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    def _allowed(self, scope: _Scope) -> bool:
        given = [v for k, v in scope.get("headers", ()) if k.lower() == b"authorization"]
        if len(given) != 1:
            return False
        scheme, _, token = bytes(given[0]).partition(b" ")
        return hmac.compare_digest(scheme.lower() + b" " + token.strip(), self._expected)


def parse_address(text: str) -> tuple[str, int]:
    """HOST and PORT of ``--http HOST:PORT`` (``[::1]:8808`` for IPv6; port 0: any free).

    Raises:
        ConfigError: not HOST:PORT.
    """
    host, sep, port = text.removeprefix("http://").rstrip("/").rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"mcp serve: cannot listen on '{text}': give HOST:PORT (127.0.0.1:8808)")
    return host, int(port)


def _is_loopback(host: str) -> bool:
    from chatthy.agent.router import is_loopback

    return is_loopback(host)


def _token(given: str | None, host: str) -> tuple[str, bool]:
    """The bearer token, and whether it was made here (to be printed).

    Raises:
        ConfigError: an empty ``--token``, or none given for an address beyond loopback.
    """
    if given is not None:
        if not given.strip():
            raise ConfigError("mcp serve: --token is empty; give a token, or leave it out")
        return given.strip(), False
    if env := os.environ.get(TOKEN_ENV, "").strip():
        return env, False
    if not _is_loopback(host):
        raise ConfigError(
            f"mcp serve: refusing to serve {host} with a made-up token; choose one "
            f"(--token or ${TOKEN_ENV}) to serve beyond this machine"
        )
    return secrets.token_urlsafe(32), True


async def _serve_http(
    server: Server[Any], host: str, port: int, token: str, stop: asyncio.Event
) -> None:
    """Serve streamable HTTP at ``/mcp`` until ``stop`` is set."""
    import uvicorn

    sock = tcp_socket(host, port, "mcp serve")
    app = BearerGate(server.streamable_http_app(host=host), token)
    web = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="warning", ws="none"))
    leave_signals_alone(web)  # ours set should_exit instead
    shown = f"[{host}]" if ":" in host else host
    print(
        f"chatthy mcp serve: listening on http://{shown}:{sock.getsockname()[1]}/mcp",
        file=sys.stderr,
        flush=True,
    )

    async def watch() -> None:
        await stop.wait()
        web.should_exit = True

    watcher = asyncio.create_task(watch())
    try:
        await web.serve(sockets=[sock])
    finally:
        watcher.cancel()
        sock.close()


# -- stdio ------------------------------------------------------------------------------


@dataclass
class _Lines:
    """stdin's lines, read by the event loop. The SDK's own reader blocks a worker
    thread in ``readline``, which no cancellation reaches: a signal could not end the
    server while the client was quiet."""

    reader: asyncio.StreamReader

    def __aiter__(self) -> _Lines:
        return self

    async def __anext__(self) -> str:
        line = await self.reader.readline()
        if not line:
            raise StopAsyncIteration
        return line.decode("utf-8", "replace")


async def _serve_stdio(server: Server[Any], stop: asyncio.Event) -> None:
    """Serve over stdin/stdout until the client closes stdin or ``stop`` is set."""
    loop = asyncio.get_running_loop()
    lines: _Lines | None = None
    pipe = os.fdopen(os.dup(0), "rb", buffering=0)
    try:
        reader = asyncio.StreamReader(limit=_LINE_LIMIT)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        lines = _Lines(reader)
    except (ValueError, OSError):  # a regular file: only the SDK's reader can read it
        pipe.close()
        transport = None
    serving = asyncio.create_task(_run_stdio(server, lines))
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait((serving, stopped), return_when=asyncio.FIRST_COMPLETED)
        if not serving.done():
            serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    finally:
        stopped.cancel()
        if transport is not None:
            transport.close()
            with contextlib.suppress(OSError):
                os.set_blocking(0, True)  # the descriptor is shared: leave it as found


async def _run_stdio(server: Server[Any], lines: _Lines | None) -> None:
    stdin = cast(Any, lines)  # iterated only: async for line in stdin
    async with stdio_server(stdin=stdin) as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


# -- the command ------------------------------------------------------------------------


def choose_profile(given: str | None) -> str:
    """The profile served, chosen as the clients choose theirs: ``--profile``, else
    ``$CHATTHY_PROFILE``, else client.toml's ``profile``, else the login name.

    Raises:
        ConfigError: client.toml cannot be read.
    """
    from chatthy.config import chosen_profile, load_client_config

    return given or chosen_profile(None, load_client_config())


async def run_mcp_server(
    config: ServerConfig, profile: str, http: str | None = None, token: str | None = None
) -> None:
    """Serve ``profile``'s workspace over stdio, or over streamable HTTP at ``http``
    (``HOST:PORT``), until the client leaves (stdio), SIGINT or SIGTERM; the store is
    closed whatever ends it.

    Raises:
        ConfigError: a bad address or token, no database, a profile it does not hold,
            a port that cannot be listened on.
        StoreError: the database cannot be opened.
    """
    from chatthy.store.opening import open_store

    address = parse_address(http) if http is not None else None
    secret, made = _token(token, address[0]) if address is not None else ("", False)
    path = Path(config.data_dir) / "chatthy.db"
    if not config.store.url and not path.exists():
        raise ConfigError(
            f"mcp serve: no database at {path}: run `chatthy serve` first, or set "
            "CHATTHY_DATA_DIR / data_dir to the chat server's"
        )
    store = await open_store(config)
    try:
        if await store.get_profile(profile) is None:
            raise ConfigError(
                f"mcp serve: the database at {path} has no profile '{profile}' "
                "(give the one you chat as: --profile NAME)"
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        try:
            server = WorkspaceServer(config, store, profile).server()
            if address is None:
                await _serve_stdio(server, stop)
            else:
                if made:
                    print(
                        f"chatthy mcp serve: clients must send 'Authorization: Bearer {secret}' "
                        f"(set --token or ${TOKEN_ENV} to choose it)",
                        file=sys.stderr,
                        flush=True,
                    )
                await _serve_http(server, *address, secret, stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    finally:
        await store.aclose()


def serve_command(args: argparse.Namespace) -> int:
    """``chatthy mcp serve [--config F] [--profile P] [--http HOST:PORT] [--token T]``:
    0 once stopped, 1 (said in one line on stderr) when it cannot start."""
    from chatthy.config import load_server_config, secret_warning

    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(asctime)s %(name)s %(message)s"
    )
    try:
        config = load_server_config(args.config)
        toml = args.config or Path(config.config_dir) / "server.toml"
        if warning := secret_warning(toml, "provider API keys"):
            print(f"chatthy: {warning}", file=sys.stderr)
        profile = choose_profile(args.profile)
        asyncio.run(run_mcp_server(config, profile, args.http, args.token))
    except ChatthyError as exc:
        print(f"chatthy: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"chatthy: mcp serve: {exc}", file=sys.stderr)
        return 1
    return 0
