"""One MCP server's life: started on first use, listed, called, restarted when it dies.

The SDK's context managers (the stdio or HTTP transport, the ``Client`` over it) must be
entered and left by one task, so each server has one long-lived **owner** task that
holds them for as long as the connection lasts; calls from any other task use the
session it holds. The owner notices the end of a connection three ways: the transport's
stream ends (a stdio process that exited), the transport raises out of its context (an
HTTP server gone mid-request), or a caller is told the connection closed.

A server that was ready and stops is started again after a pause that doubles with each
failure in a row (``Backoff``: 1, 2, 4 … 60 s); after ``tries`` failures in a row, or
when its first start fails, it stays ``failed`` and is tried again only when something
next uses it, once its pause is over. A call that comes back resets the count.

``${VAR}`` in the server's config is filled from the environment given when it starts,
so that a variable set later (or never) is noticed then, naming the server. A stdio
server's stderr is read into a short memory (never our terminal): its last line is quoted
when the process dies. Nothing here imports ``mcp`` before a server starts: the SDK is
slow to import and most servers never run an MCP server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import re
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from chatthy.config import McpServerConfig
from chatthy.errors import ToolError

if TYPE_CHECKING:
    from mcp import Client
    from mcp.types import CallToolResult, Prompt, Resource, Tool

__all__ = ["Backoff", "McpConnection", "expand"]

log = logging.getLogger("chatthy.agent")

T = TypeVar("T")

VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
"""``${NAME}`` in a server's config."""

WAIT_FOR_RESTART = 5.0
"""Seconds a use waits for a restart that is due; one due later is refused at once."""

STOP_WAIT = 10.0
"""Seconds the owner task has to close its connection before it is cancelled."""

STDERR_LINES = 20
"""Lines of a stdio server's stderr kept to quote."""


class StartError(Exception):
    """The server cannot be started as configured (a variable not set, no such command)."""


def expand(config: McpServerConfig, environ: Mapping[str, str]) -> McpServerConfig:
    """``config`` with every ``${VAR}`` (command, args, env values, cwd, url, header
    values) filled from ``environ``.

    Raises:
        StartError: a variable is not set there.
    """

    def fill(text: str) -> str:
        def value(found: re.Match[str]) -> str:
            name = found.group(1)
            if name not in environ:
                raise StartError(f"${{{name}}} is not set")
            return environ[name]

        return VARIABLE.sub(value, text)

    return msgspec.structs.replace(
        config,
        command=None if config.command is None else fill(config.command),
        args=[fill(arg) for arg in config.args],
        env={key: fill(value) for key, value in config.env.items()},
        cwd=None if config.cwd is None else fill(config.cwd),
        url=None if config.url is None else fill(config.url),
        headers={key: fill(value) for key, value in config.headers.items()},
    )


@dataclass(frozen=True)
class Backoff:
    """How long to wait before the next try after ``failures`` failures in a row:
    ``first`` seconds, doubling up to ``most``; after ``tries`` of them a server stays
    failed until its next use."""

    first: float = 1.0
    most: float = 60.0
    tries: int = 5

    def delay(self, failures: int) -> float:
        return min(self.first * 2 ** max(failures - 1, 0), self.most)


def one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe(exc: BaseException) -> str:
    """What went wrong, in one line: the first real error inside exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    name = type(exc).__name__
    text = str(exc)
    if "ConnectError" in name or "ConnectTimeout" in name:
        return one_line(f"cannot connect: {text or name}")
    if "RemoteProtocolError" in name:
        return one_line(f"the server dropped the connection: {text or name}")
    if isinstance(exc, TimeoutError):
        return "it did not answer in time"
    return one_line(text or name)


class _Stderr:
    """A stdio server's stderr: a pipe read into its last lines, so that nothing it says
    reaches our terminal and its last words can be quoted when it dies."""

    def __init__(self) -> None:
        read, write = os.pipe()
        self.file = os.fdopen(write, "w")
        """What the process is given as its stderr."""
        self.lines: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        self._reader = asyncio.get_running_loop().create_task(self._read(read))

    def spawned(self) -> None:
        """The process has its copy of the pipe (or never started): close ours, so that
        the reader sees the end when the process is gone."""
        self.file.close()

    async def _read(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        pipe = os.fdopen(fd, "rb", 0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        rest = b""
        try:
            while chunk := await reader.read(65536):
                *whole, rest = (rest + chunk).split(b"\n")
                rest = rest[-4096:]
                for line in whole:
                    if text := line.decode(errors="replace").rstrip():
                        self.lines.append(text[:500])
            if text := rest.decode(errors="replace").rstrip():
                self.lines.append(text[:500])
        finally:
            transport.close()

    def last(self) -> str | None:
        return self.lines[-1] if self.lines else None

    async def finished(self, wait: float) -> None:
        """Give the reader ``wait`` seconds to reach the end (the process has exited)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._reader), wait)

    async def aclose(self) -> None:
        if not self.file.closed:
            self.file.close()
        self._reader.cancel()
        await asyncio.wait({self._reader})
        if not self._reader.cancelled() and (failed := self._reader.exception()) is not None:
            log.debug("reading an MCP server's stderr failed: %s", failed)


class _Watched:
    """A transport's read stream that tells its connection when it ends (the process
    exited, the stream was closed) — the SDK's session just stops reading."""

    def __init__(self, inner: Any, ended: Callable[[], None]) -> None:
        self._inner = inner
        self._ended = ended

    @property
    def last_context(self) -> Any:
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except Exception:
            self._ended()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> _Watched:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            self._ended()
            raise
        except Exception:
            self._ended()
            raise

    async def __aenter__(self) -> _Watched:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        result: bool | None = await self._inner.__aexit__(kind, value, traceback)
        return result


class _WatchedTransport:
    """The SDK transport ``inner`` (an async context manager of the stream pair), its
    read stream watched."""

    def __init__(self, inner: Any, ended: Callable[[], None]) -> None:
        self._inner = inner
        self._ended = ended

    async def __aenter__(self) -> tuple[Any, Any]:
        read, write = await self._inner.__aenter__()
        return _Watched(read, self._ended), write

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        result: bool | None = await self._inner.__aexit__(kind, value, traceback)
        return result


class McpConnection:
    """One configured MCP server: its state, what it offers, and the way to use it.

    ``state``: ``disabled`` (``enabled = false``), ``stopped`` (not started yet),
    ``starting``, ``ready``, ``restarting`` (it stopped; the next try is due at
    ``next_try``), ``failed`` (``error`` says why; tried again on the next use after
    ``next_try``)."""

    def __init__(
        self,
        name: str,
        config: McpServerConfig,
        *,
        environ: Mapping[str, str],
        backoff: Backoff,
    ) -> None:
        self.name = name
        self.config = config
        self.kind = config.kind
        self._environ = environ
        self._backoff = backoff
        self.state = "stopped" if config.enabled else "disabled"
        self.error: str | None = None
        self.tools: list[Tool] = []
        self.prompts: list[Prompt] = []
        self.resources: list[Resource] = []
        self.next_try = 0.0
        """Loop time before which a failed or restarting server is not tried again."""
        self.failures = 0
        """Failures in a row (starts that failed, connections that died)."""
        self._client: Client | None = None
        self._owner: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()
        """Set, and replaced, at each change of state (what waiters wait for)."""
        self._wake = asyncio.Event()
        self._stopping = False
        self._closed = False
        """Closed for good (:meth:`aclose`): no use starts it again."""
        self._lost: str | None = None
        self._relist = False
        self._stderr: _Stderr | None = None

    # -- state ----------------------------------------------------------------------

    def _set(self, state: str) -> None:
        self.state = state
        self._settled.set()
        self._settled = asyncio.Event()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _lose(self, reason: str) -> None:
        """The connection ended (seen by the transport or by a caller)."""
        if self._lost is None and not self._stopping:
            self._lost = reason
        self._wake.set()

    def _forget(self) -> None:
        self._client = None

    def _ended(self) -> None:
        self._lose(self._stopped_reason())

    def _stopped_reason(self) -> str:
        said = self._stderr.last() if self._stderr is not None else None
        if self.kind == "stdio":
            return f"the process ended: {said}" if said else "the process ended"
        return "the connection closed"

    # -- starting -------------------------------------------------------------------

    def _launch(self) -> None:
        """Start the owner task (the state is ``starting`` from now)."""
        self._stopping = False
        self._set("starting")
        self._owner = asyncio.get_running_loop().create_task(
            self._own(), name=f"mcp server {self.name}"
        )

    async def start(self) -> str | None:
        """Start the server if it is not running and may be tried now; wait until it is
        ready or has failed. Returns the line saying why it failed, if this call tried to
        start it and it did; None otherwise."""
        if self.state == "disabled" or self._closed:
            return None
        tried = False
        if self.state == "stopped" or (self.state == "failed" and self._now() >= self.next_try):
            self._launch()
            tried = True
        await self._settle()
        if tried and self.state == "failed":
            return f"MCP server '{self.name}' {self.error}"
        return None

    async def _settle(self) -> None:
        """Wait while the server is starting, or restarting with its try due soon."""
        while self.state in ("starting", "restarting"):
            if self.state == "restarting" and self.next_try - self._now() > WAIT_FOR_RESTART:
                return
            await self._settled.wait()

    async def _usable(self) -> Client:
        """The session to use, starting the server first if it is not running.

        Raises:
            ToolError: disabled, or it cannot be started now (saying why and when next).
        """
        if self.state == "disabled":
            raise ToolError(f"MCP server '{self.name}' is disabled")
        if self._closed:
            raise ToolError(f"MCP server '{self.name}' was stopped with its chatthy server")
        if self.state == "ready" and self._client is not None:
            return self._client
        await self.start()
        if self.state == "ready" and self._client is not None:
            return self._client
        wait = max(self.next_try - self._now(), 0.0)
        later = f" (next try in {wait:.0f} s)" if wait >= 1 else ""
        raise ToolError(f"MCP server '{self.name}' is not running: {self.error}{later}")

    async def _own(self) -> None:
        """The owner task: connect, serve, and restart after a pause while the failures
        in a row allow; then leave the state ``failed`` (or ``stopped`` when told to)."""
        restarting = False
        try:
            while True:
                ready, reason = await self._connection()
                if self._stopping:
                    break
                self.failures += 1
                self.next_try = self._now() + self._backoff.delay(self.failures)
                if not ready and not restarting:
                    self.error = f"failed to start: {reason}"
                    log.warning("MCP server '%s' failed to start: %s", self.name, reason)
                    self._set("failed")
                    break
                self.error = f"stopped: {reason}" if ready else f"failed to start: {reason}"
                if self.failures >= self._backoff.tries:
                    log.warning(
                        "MCP server '%s' %s; %d failures in a row, not restarted until used",
                        self.name,
                        self.error,
                        self.failures,
                    )
                    self._set("failed")
                    break
                log.warning(
                    "MCP server '%s' %s; restarting in %.3g s",
                    self.name,
                    self.error,
                    self._backoff.delay(self.failures),
                )
                self._set("restarting")
                restarting = True
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.next_try - self._now())
                if self._stopping:
                    break
        finally:
            if self._stopping or self.state not in ("failed",):
                self._set("stopped" if self._stopping else "failed")

    async def _connection(self) -> tuple[bool, str]:
        """One connection, from start to end: whether it became ready, and why it ended
        (empty when we stopped it)."""
        self._lost = None
        self._relist = False
        self._wake.clear()
        ready = False
        try:
            config = expand(self.config, self._environ)
            client = self._client_for(config)
            async with (
                asyncio.timeout(self.config.startup_timeout) as deadline,
                contextlib.AsyncExitStack() as stack,
            ):
                try:
                    await stack.enter_async_context(client)
                finally:
                    if self._stderr is not None:
                        self._stderr.spawned()
                stack.callback(self._forget)
                await self._list(client)
                deadline.reschedule(None)
                self._client = client
                ready = True
                self.error = None
                self._set("ready")
                watcher = self._watch_changes(client)
                if watcher is not None:
                    stack.push_async_callback(_cancelled, watcher)
                await self._serve(client)
        except StartError as exc:
            return False, str(exc)
        except TimeoutError:
            if ready:
                return True, self._lost or "it did not answer in time"
            return False, f"it did not answer within {self.config.startup_timeout:g} s"
        except Exception as exc:
            if self._stopping:
                return ready, ""
            if self._stderr is not None:
                await self._stderr.finished(0.5)
            said = self._stderr.last() if self._stderr is not None else None
            if self.kind != "stdio":
                reason = describe(exc)
            elif not ready:
                reason = f"the command ended before it answered: {said}" if said else describe(exc)
            else:
                reason = self._lost or describe(exc)
            return ready, reason
        finally:
            if self._stderr is not None:
                await self._stderr.aclose()
                self._stderr = None
        if self._stopping:
            return ready, ""
        return ready, self._lost or "the connection closed"

    def _client_for(self, config: McpServerConfig) -> Client:
        """The SDK client for ``config`` (not entered yet).

        Raises:
            StartError: its command cannot be found, its folder does not exist.
        """
        from mcp import Client, StdioServerParameters
        from mcp.types import Implementation

        if self.kind == "stdio":
            assert config.command is not None
            if config.cwd is not None and not os.path.isdir(config.cwd):
                raise StartError(f"folder '{config.cwd}' does not exist")
            path = config.env.get("PATH", self._environ.get("PATH", os.defpath))
            if shutil.which(config.command, path=path) is None:
                raise StartError(f"command '{config.command}' not found")
            from mcp.client.stdio import stdio_client

            self._stderr = _Stderr()
            params = StdioServerParameters(
                command=config.command,
                args=config.args,
                env=config.env or None,
                cwd=config.cwd,
            )
            inner: Any = stdio_client(params, errlog=self._stderr.file)
        elif self.kind == "sse":
            from mcp.client.sse import sse_client

            assert config.url is not None
            inner = sse_client(config.url, headers=dict(config.headers) or None)
        else:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            assert config.url is not None
            http = create_mcp_http_client(headers=dict(config.headers) or None)
            inner = streamable_http_client(config.url, http_client=http)
            inner = _WithClient(inner, http)
        from chatthy import __version__

        return Client(
            _WatchedTransport(inner, self._ended),
            cache=None,
            message_handler=self._on_message,
            client_info=Implementation(name="chatthy", version=__version__),
        )

    async def _list(self, client: Client) -> None:
        """Read the tools, prompts and resources the server offers (what it lacks the
        capability for is left empty)."""
        capabilities = client.server_capabilities
        self.tools = await _all(client.list_tools, "tools") if capabilities.tools else []
        self.prompts = await _all(client.list_prompts, "prompts") if capabilities.prompts else []
        self.resources = (
            await _all(client.list_resources, "resources") if capabilities.resources else []
        )

    async def _serve(self, client: Client) -> None:
        """Hold the connection until it ends or we stop it; list the tools again when
        the server says they changed."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping or self._lost is not None:
                return
            if self._relist:
                self._relist = False
                try:
                    await self._list(client)
                except Exception as exc:
                    self._lose(f"listing its tools again failed: {describe(exc)}")
                    return
                self._set("ready")

    def _watch_changes(self, client: Client) -> asyncio.Task[None] | None:
        """On a 2026 connection, a task that listens for changed lists (older ones send
        the notification unasked: :meth:`_on_message`)."""
        capabilities = client.server_capabilities
        tools = capabilities.tools
        if tools is None or not tools.list_changed:
            return None
        from mcp.types.version import MODERN_PROTOCOL_VERSIONS

        if client.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            return None

        async def listen() -> None:
            try:
                async with client.listen(tools_list_changed=True) as changes:
                    async for _ in changes:
                        self._relist = True
                        self._wake.set()
            except Exception as exc:  # the list stays as it was read
                log.info("MCP server '%s': not told of changed tools: %s", self.name, exc)

        return asyncio.get_running_loop().create_task(listen())

    async def _on_message(self, message: Any) -> None:
        """The SDK's handler of what the server sends unasked: a changed tool list (an
        older protocol's notification) makes the owner list the tools again."""
        from mcp.types import ServerNotification, ToolListChangedNotification

        if isinstance(message, ServerNotification):
            message = getattr(message, "root", message)
        if isinstance(message, ToolListChangedNotification):
            self._relist = True
            self._wake.set()

    # -- using it -------------------------------------------------------------------

    async def use(self, action: Callable[[Client], Awaitable[T]]) -> T:
        """``action`` on the session, starting the server first if needed.

        Raises:
            ToolError: the server cannot be started, or stopped during the action.
            mcp.MCPError: the server answered with an error.
        """
        from mcp import MCPError
        from mcp.types import CONNECTION_CLOSED, INVALID_REQUEST

        for attempt in (1, 2):
            client = await self._usable()
            try:
                result = await action(client)
            except MCPError as exc:
                if exc.code == INVALID_REQUEST and "Session terminated" in str(exc):
                    # An HTTP server that restarted forgot our session: the request never
                    # ran, so one fresh connection and one more try are safe.
                    self._lose("the server forgot the session")
                    await self._await_end()
                    if attempt == 1:
                        continue
                if exc.code == CONNECTION_CLOSED:
                    self._lose(self._stopped_reason())
                    await self._await_end()
                    raise ToolError(
                        f"MCP server '{self.name}' stopped during the call: "
                        f"{self.error.removeprefix('stopped: ') if self.error else 'closed'}"
                    ) from None
                raise
            self.failures = 0
            return result
        raise AssertionError("unreachable")

    async def _await_end(self) -> None:
        """Wait (a little) until the owner has seen the connection end and said why."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_WAIT):
                while self.state in ("ready", "starting"):
                    await self._settled.wait()

    async def call_tool(self, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        return await self.use(lambda client: client.call_tool(tool, arguments))

    async def aclose(self) -> None:
        """Stop the server (its process ended, its HTTP session closed) for good: no
        later use starts it again. One still starting is cancelled at once."""
        self._closed = True
        owner = self._owner
        if owner is None or owner.done():
            if self.state != "disabled":
                self._set("stopped")
            return
        self._stopping = True
        self._wake.set()
        if self.state == "starting":
            owner.cancel()  # the SDK ends a process it spawned even when cancelled
        try:
            await asyncio.wait_for(asyncio.shield(owner), STOP_WAIT)
        except TimeoutError:
            owner.cancel()
            await asyncio.wait({owner})
        except (asyncio.CancelledError, Exception):
            if not owner.done():
                raise  # we are cancelled ourselves, not the owner
        self._owner = None


class _WithClient:
    """The streamable HTTP transport together with the HTTP client it runs on (the SDK
    leaves a client it is given open; this one is ours to close)."""

    def __init__(self, inner: Any, http: Any) -> None:
        self._inner = inner
        self._http = http

    async def __aenter__(self) -> Any:
        await self._http.__aenter__()
        try:
            return await self._inner.__aenter__()
        except BaseException:
            await self._http.__aexit__(None, None, None)
            raise

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        try:
            result: bool | None = await self._inner.__aexit__(kind, value, traceback)
        finally:
            await self._http.__aexit__(None, None, None)
        return result


async def _all(fetch: Callable[..., Awaitable[Any]], field: str) -> list[Any]:
    """Every page of a list (tools, prompts, resources), at most 100 pages."""
    found: list[Any] = []
    cursor: str | None = None
    for _ in range(100):
        page = await fetch(cursor=cursor)
        found.extend(getattr(page, field))
        cursor = page.next_cursor
        if cursor is None:
            break
    return found


async def _cancelled(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` and wait until it has ended."""
    task.cancel()
    await asyncio.wait({task})
