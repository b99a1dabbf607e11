"""``chatthy router``: the tool loop over HTTP, as an OpenAI-compatible server.

``POST /v1/chat/completions`` (SSE when ``stream``, else one completion) and ``GET
/v1/models`` (each provider of server.toml as ``NAME``, its other listed models as
``NAME/MODEL``, each agent of ``agents/NAME.md`` as ``NAME``: its prompt first, its
tools, steps, provider and model), behind bearer keys (``[router] api_keys``), so that
any OpenAI client — a chatthy server among them (``scheme = "openai"``, ``base_url =
"http://HOST:PORT/v1"``) — gets the server's providers and tools.

Which tools run where:

- A request without ``tools`` is offered the server's tools (``[tools] enabled``); the
  router runs the calls (:func:`~chatthy.agent.loop.run_agent`) for the key's profile,
  and sends only the answer's text — the calls and their results too when asked
  (``"chatthy": {"show_tools": true}`` in the body, or ``[router] show_tools``). Tools
  that change something run only when ``[tools] auto_approve`` names them: nobody can be
  asked over HTTP, so the model is told the call was refused.
- A request with its own ``tools`` gets none of the server's: the model's calls go back
  to the client as ``tool_calls`` with ``finish_reason: "tool_calls"``, for it to run.

A provider that fails before the first byte is a 502 with its one-line reason; once the
stream has begun, an ``error`` event ends it. A client that goes away cancels the
upstream request (and a running tool) at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import ipaddress
import logging
import signal
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from chatthy.agent.listen import leave_signals_alone, tcp_socket
from chatthy.agent.loop import AgentEvent, Loop, run_agent
from chatthy.agent.mcp import manager_for
from chatthy.agent.registry import offered, server_tools, takes_tools, with_mcp
from chatthy.agent.router_shapes import (
    Answer,
    BadRequest,
    ChatRequest,
    anthropic_params,
    error_body,
    model_list,
    parse_request,
)
from chatthy.agent.tools import Tool, ToolContext, ToolRegistry
from chatthy.config import ProviderConfig, ServerConfig, effective_providers
from chatthy.conversation.events import ToolCall
from chatthy.conversation.images import limits_for, sendable_images, takes_images
from chatthy.conversation.model import Message
from chatthy.conversation.prompts import PromptSettings, ServerPrompts
from chatthy.errors import ChatthyError, ConfigError, NotFoundError, ProviderError
from chatthy.providers.base import Options, Provider
from chatthy.providers.registry import build_provider
from chatthy.rag.service import RagService
from chatthy.workspace.sources import Fetcher

if TYPE_CHECKING:
    from chatthy.agent.mcp.manager import McpManager

__all__ = ["Router", "parse_listen", "run_router"]

log = logging.getLogger("chatthy.router")

T = TypeVar("T")

_JSON = "application/json"
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_DENIED = (
    "this tool changes something and a router's HTTP client cannot be asked to approve "
    "it; [tools] auto_approve in server.toml lets it run"
)


class _Gone(Exception):
    """The client closed the connection before the answer was ready."""


class Router:
    """The HTTP app over the server's providers and tools; make it with :meth:`open`
    (or hand it providers and tools, as tests and the bench do) and serve :attr:`app`."""

    def __init__(
        self,
        config: ServerConfig,
        providers: dict[str, Provider],
        tools: ToolRegistry,
        services: dict[str, Any] | None = None,
        mcp: McpManager | None = None,
    ) -> None:
        self.config = config
        self.mcp = mcp
        """The MCP servers of ``[mcp_servers]``, started on first use."""
        self.providers = providers
        self.provider_configs = effective_providers(config)
        self.tools = tools
        self.prompts = (
            ServerPrompts.load(Path(config.config_dir), config.prompts)
            if config.config_dir
            else ServerPrompts({})
        )
        """The server's agents (``agents/NAME.md``), read again when the folder changes."""
        self.services: dict[str, Any] = {"config": config, **(services or {})}
        self.created = int(time.time())
        keys = config.router.api_keys
        profile = config.router.profile
        pairs = keys.items() if isinstance(keys, dict) else ((k, profile) for k in keys)
        self._keys = {_digest(key): profile for key, profile in pairs}
        """sha256 of each key → its profile: a dict look-up by digest reveals nothing of a
        key by its timing."""
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ],
            exception_handlers={HTTPException: _http_error},
        )

    @classmethod
    async def open(cls, config: ServerConfig) -> Router:
        """Build the providers and tools and open the store the tools use.

        Raises:
            ConfigError: a provider is misconfigured.
            StoreError: the database cannot be opened.
        """
        from chatthy.store.opening import open_store

        providers = {
            name: build_provider(name, cfg) for name, cfg in effective_providers(config).items()
        }
        store = await open_store(config)
        tools = server_tools(config, functools.partial(_provider_named, config, providers))
        services = {"store": store, "rag": RagService(config, store)}
        return cls(config, providers, tools, services, manager_for(config))

    def chain_provider(self, name: str | None) -> Provider:
        """The provider a chain's template step (or an agent) runs on: the one it
        names, else the server's default (``[server] default_provider``, else the first).

        Raises:
            NotFoundError: no provider of that name.
        """
        return _provider_named(self.config, self.providers, name)

    async def aclose(self) -> None:
        """Stop the MCP servers, close the providers and the store."""
        if self.mcp is not None:
            await self.mcp.aclose()
        for provider in self.providers.values():
            await provider.aclose()
        store = self.services.get("store")
        if store is not None:
            await store.aclose()

    # -- endpoints --------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        if self._profile(request) is None:
            return _bad_key()
        return Response(model_list(self.model_names(), self.created), media_type=_JSON)

    def model_names(self) -> list[str]:
        """``NAME`` for each provider's default model, ``NAME/MODEL`` for the others its
        ``models`` lists, then each agent's name (one a provider has taken is left out)."""
        names = []
        for name in self.providers:
            names.append(name)
            cfg = self.provider_configs.get(name) or ProviderConfig()
            names.extend(f"{name}/{m}" for m in cfg.models if m != cfg.model)
        names.extend(a for a in self.prompts.agents() if a not in self.providers)
        return names

    async def chat(self, request: Request) -> Response:
        profile = self._profile(request)
        if profile is None:
            return _bad_key()
        try:
            asked = parse_request(await request.body())
            provider, model, agent = self._target(asked.model)
            options, loop = await self._plan(asked, provider, profile, agent)
        except BadRequest as exc:
            return _error(400, exc.message, "invalid_request_error", None, exc.param)
        except LookupError as exc:
            message = str(exc.args[0])
            return _error(404, message, "invalid_request_error", "model_not_found", "model")
        options.model = model
        try:
            messages = await self._images(asked.messages, provider)
        except ChatthyError as exc:
            return _error(400, exc.message, "invalid_request_error", None, "messages")
        if agent is not None:
            system = self.prompts.defaults.get(asked.model, "")
            messages = [Message.of_text("system", system), *messages] if system else messages
        show = self.config.router.show_tools if asked.show_tools is None else asked.show_tools
        answer = Answer(asked.model, server_tools=bool(loop.tools), show_tools=show)
        events = cast(
            AsyncGenerator[AgentEvent, None], run_agent(provider, messages, options, loop)
        )
        try:
            if asked.stream:
                return await self._stream(request, events, answer, asked.include_usage)
            return await self._whole(request, events, answer)
        except ProviderError as exc:
            await events.aclose()
            return _error(502, exc.message, "upstream_error", exc.code)
        except _Gone:
            await events.aclose()
            return Response(status_code=499)

    # -- what a request runs ------------------------------------------------------------

    def _profile(self, request: Request) -> str | None:
        """The profile the bearer key acts for; without keys configured, the router's
        profile; None for a missing or wrong key."""
        if not self._keys:
            return self.config.router.profile
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return self._keys.get(_digest(token.strip()))

    def _target(self, name: str) -> tuple[Provider, str | None, PromptSettings | None]:
        """The provider and model a model id names (``NAME`` or ``NAME/MODEL``), or the
        agent (its provider and model, else the default's; its settings).

        Raises:
            LookupError: no such provider or agent, a model its ``models`` does not list,
                an agent naming a provider there is not.
        """
        provider = self.providers.get(name)
        if provider is not None:
            return provider, None, None
        agent = self.prompts.agents().get(name)
        if agent is not None:
            try:
                return self.chain_provider(agent.provider), agent.model, agent
            except NotFoundError as exc:
                raise LookupError(f"the agent '{name}': {exc.message}") from None
        head, _, model = name.partition("/")
        provider = self.providers.get(head)
        cfg = self.provider_configs.get(head)
        allowed = cfg is not None and (not cfg.models or model in cfg.models or model == cfg.model)
        if provider is not None and model and allowed:
            return provider, model, None
        known = ", ".join(self.model_names())
        raise LookupError(f"the model '{name}' does not exist here (the models: {known})")

    async def _plan(
        self, asked: ChatRequest, provider: Provider, profile: str, agent: PromptSettings | None
    ) -> tuple[Options, Loop]:
        """The provider's options and the loop's settings for a request (see the
        module's docstring for whose tools run).

        Raises:
            BadRequest: ``max_tokens`` above the provider's ceiling; tools for a provider
                that cannot take them.
        """
        cfg = self.provider_configs.get(provider.name) or ProviderConfig()
        ceiling = cfg.max_tokens_ceiling or provider.context_length
        if asked.max_tokens is not None and asked.max_tokens > ceiling:
            raise BadRequest(f"max_tokens {asked.max_tokens} is above {ceiling}", "max_tokens")
        params = asked.params
        if cfg.scheme == "anthropic":
            params = anthropic_params(params)
        elif not asked.tools:
            params = {k: v for k, v in params.items() if k != "parallel_tool_calls"}
        options = Options(max_tokens=asked.max_tokens, params=params)
        if asked.tools:
            if not takes_tools(provider, cfg):
                raise BadRequest(f"the model '{asked.model}' takes no tools", "tools")
            options.tools = asked.tools
            options.tool_choice = asked.tool_choice
            return options, Loop()
        return options, await self._loop(provider, cfg, profile, agent)

    async def _images(self, messages: list[Message], provider: Provider) -> list[Message]:
        """The request's images as the provider takes them: checked and fitted, one at a
        URL fetched through the sources' guard (``[sources]``), never passed on as an
        address. Raises ChatthyError (one line: what is wrong with which image)."""
        cfg = self.provider_configs.get(provider.name)

        async def fetch(url: str) -> bytes:
            async with Fetcher(self.config.sources) as fetcher:
                return (await fetcher.get(url)).body

        return await sendable_images(
            messages,
            provider=provider.name,
            takes_images=takes_images(provider, cfg),
            limits=limits_for(cfg),
            fetch=fetch,
        )

    async def _loop(
        self, provider: Provider, cfg: ProviderConfig, profile: str, agent: PromptSettings | None
    ) -> Loop:
        """The server's tools for a request (an agent's ``tools`` of them, if it lists
        them), or none when the provider cannot take them. The MCP servers it may use
        start here on their first use; one that cannot is logged and left out."""
        allowed = agent.tools if agent is not None else None
        if takes_tools(provider, cfg):
            for problem in await with_mcp(self.tools, self.mcp, self.config.tools, allowed):
                log.warning("%s", problem)
        tools = offered(self.tools, self.config.tools, provider, cfg, allowed)
        if not tools:
            return Loop()
        return Loop.configured(
            tools,
            self.config.tools,
            ToolContext(profile, "", self.services),
            _deny,
            agent.max_steps if agent is not None else None,
            limits_for(cfg) if takes_images(provider, cfg) else None,
        )

    # -- answering ----------------------------------------------------------------------

    async def _whole(
        self, request: Request, events: AsyncIterator[AgentEvent], answer: Answer
    ) -> Response:
        async def gather() -> None:
            async for event in events:
                answer.add(event)

        await _unless_gone(request, gather())
        return Response(answer.whole(), media_type=_JSON)

    async def _stream(
        self,
        request: Request,
        events: AsyncGenerator[AgentEvent, None],
        answer: Answer,
        include_usage: bool,
    ) -> Response:
        """Wait for the first event (so that a provider failing at once is a 502, not
        a stream with an error in it), then stream the rest."""
        first: AgentEvent | None = None
        with contextlib.suppress(StopAsyncIteration):
            first = await _unless_gone(request, anext(events))
        body = _sse(events, answer, first, include_usage)
        return StreamingResponse(body, media_type="text/event-stream", headers=_SSE_HEADERS)


async def _sse(
    events: AsyncGenerator[AgentEvent, None],
    answer: Answer,
    first: AgentEvent | None,
    usage: bool,
) -> AsyncIterator[bytes]:
    """The SSE body: the events as chunks, then the finish (or an error event)."""
    try:
        opening = answer.first()
        if first is not None:
            opening += answer.chunk(first)
            yield opening
            async for event in events:
                if out := answer.chunk(event):
                    yield out
        else:
            yield opening
        yield answer.last(usage)
    except ProviderError as exc:
        yield answer.failed(exc.message, exc.code)
    finally:
        await events.aclose()


async def _unless_gone(request: Request, work: Awaitable[T]) -> T:
    """``work``'s result; if the client disconnects first, ``work`` is cancelled (the
    upstream request with it) and :class:`_Gone` raised."""
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    finally:
        watch.cancel()
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        raise _Gone
    return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _provider_named(
    config: ServerConfig, providers: dict[str, Provider], name: str | None
) -> Provider:
    name = name or config.server.default_provider or next(iter(providers))
    provider = providers.get(name)
    if provider is None:
        raise NotFoundError(f"no provider '{name}' (the providers: {', '.join(providers)})")
    return provider


async def _deny(call: ToolCall, tool: Tool) -> str:
    return _DENIED


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _error(
    status: int, message: str, kind: str, code: str | None, param: str | None = None
) -> Response:
    return Response(error_body(message, kind, code, param), status, media_type=_JSON)


def _bad_key() -> Response:
    message = "a missing or wrong API key: send Authorization: Bearer KEY ([router] api_keys)"
    response = _error(401, message, "invalid_request_error", "invalid_api_key")
    response.headers["www-authenticate"] = "Bearer"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = request.url.path
    message = f"no route {request.method} {path} (POST /v1/chat/completions, GET /v1/models)"
    return _error(exc.status_code, message, "invalid_request_error", None)


# -- running it ---------------------------------------------------------------------------


def parse_listen(listen: str) -> tuple[str, int]:
    """HOST and PORT of ``HOST:PORT`` (``[::1]:8080`` for IPv6; ``http://`` allowed).

    Raises:
        ConfigError: not HOST:PORT with a port number.
    """
    text = listen.removeprefix("http://").rstrip("/")
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"router: cannot listen on '{listen}': give HOST:PORT (127.0.0.1:8080)")
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reached only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(config: ServerConfig, host: str) -> None:
    """Refuse to serve beyond loopback with no keys: anyone reaching the port could
    spend the providers' keys and run the tools.

    Raises:
        ConfigError: no ``[router] api_keys`` and ``host`` is not loopback.
    """
    if not config.router.api_keys and not is_loopback(host):
        raise ConfigError(
            f"router: refusing to listen on {host} without [router] api_keys in server.toml "
            "(anyone reaching it could use the providers and tools); set keys, or listen "
            "on 127.0.0.1"
        )


async def run_router(config: ServerConfig, listen: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM.

    Raises:
        ConfigError: a bad address, no keys beyond loopback, a misconfigured provider,
            or the port cannot be listened on.
    """

    import uvicorn

    host, port = parse_listen(listen or config.router.listen)
    check_exposure(config, host)
    sock = tcp_socket(host, port, "router")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    router = await Router.open(config)
    for problem in router.tools.problems:
        print(f"chatthy router: {problem}", file=sys.stderr)
    try:
        server = uvicorn.Server(
            uvicorn.Config(router.app, lifespan="off", log_level="warning", ws="none")
        )
        leave_signals_alone(server)  # ours ask it to stop, and the finally below runs
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, setattr, server, "should_exit", True)
        shown = f"[{host}]" if ":" in host else host
        names = ", ".join(router.model_names())
        print(
            f"chatthy router listening on http://{shown}:{sock.getsockname()[1]}/v1 "
            f"(models: {names})",
            file=sys.stderr,
            flush=True,
        )
        await server.serve(sockets=[sock])
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().remove_signal_handler(sig)
        sock.close()
        await router.aclose()
