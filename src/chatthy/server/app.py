"""The server: one asyncio process, a ROUTER socket, many clients.

Every frame is checked (size, decoding, version, signature, clock, nonce, profile) before
a handler runs; every failure becomes a coded error reply, never a traceback, and never
stops the server. Each request runs as its own task so a slow one stalls nobody else.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, cast

import zmq
import zmq.asyncio

from chatthy.config import ServerConfig, effective_providers
from chatthy.context import TokenCache
from chatthy.errors import (
    ChatthyError,
    ConflictError,
    DecodeError,
    NotFoundError,
    TooLargeError,
)
from chatthy.providers.base import Message, Provider
from chatthy.providers.registry import build_provider
from chatthy.server import handlers  # noqa: F401 - registers the built-in RPCs
from chatthy.server.auth import Authenticator
from chatthy.server.prompts import ServerPrompts
from chatthy.server.rpc import Context, registry
from chatthy.server.streams import Hub, Stream
from chatthy.store.base import Store
from chatthy.store.sqlite import SQLiteStore
from chatthy.wire.curve import is_loopback, server_key_pair
from chatthy.wire.messages import Reply, decode_request, encode, error_reply

__all__ = ["Server"]

log = logging.getLogger("chatthy.server")

SHUTDOWN_GRACE = 0.5
"""Seconds between the last events of interrupted replies and closing the socket."""


class Server:
    """A running chatthy server; make it with :meth:`open`, end it with :meth:`aclose`."""

    def __init__(self, config: ServerConfig, store: Store, providers: dict[str, Provider]) -> None:
        self.config = config
        self.store = store
        self.providers = providers
        self.prompts = ServerPrompts.load(Path(config.config_dir), config.prompts)
        self.auth = Authenticator(
            store,
            window=config.server.clock_window,
            registration=config.server.registration,
            listed=config.server.profiles,
        )
        self.hub = Hub(self._send)
        self.token_counts = TokenCache()
        self.template_problems_logged: set[tuple[str, str]] = set()
        """Broken user templates already logged (name, why): they are read every call."""
        self.started = asyncio.get_running_loop().time()
        self._ctx = zmq.asyncio.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self._sock.setsockopt(zmq.SNDHWM, 100_000)
        self._sock.setsockopt(zmq.RCVHWM, 100_000)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, 2 * config.server.max_body + 4096)
        self._tasks: set[asyncio.Task[None]] = set()
        self.address = ""
        self.public_key = ""
        """The CURVE public key clients must pin; empty when not encrypted."""

    @classmethod
    async def open(cls, config: ServerConfig) -> Server:
        """Open the store (marking cut-off replies interrupted) and build the providers.

        Raises:
            StoreError: the database cannot be opened.
            ConfigError: a provider is misconfigured.
        """
        store = await SQLiteStore.open(Path(config.data_dir) / "chatthy.db")
        interrupted = await store.mark_interrupted()
        if interrupted:
            log.info("%d reply(ies) cut off by the last stop marked interrupted", interrupted)
        providers = {
            name: build_provider(name, cfg) for name, cfg in effective_providers(config).items()
        }
        return cls(config, store, providers)

    def bind(self, address: str | None = None) -> str:
        """Listen on ``address`` (port 0 picks a free port); return the bound address.
        Beyond loopback (or with ``encryption = "on"``) the socket is CURVE-encrypted.

        Raises:
            ConfigError: the server key cannot be made or read.
        """
        address = address or self.config.server.listen
        if self.config.server.encryption == "on" or not is_loopback(address):
            public, secret = server_key_pair(Path(self.config.data_dir))
            self._sock.curve_secretkey = secret
            self._sock.curve_publickey = public
            self._sock.curve_server = True
            self.public_key = public.decode()
        self._sock.bind(address)
        self.address = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        return self.address

    async def serve(self) -> None:
        """Answer requests until cancelled."""
        while True:
            frames = await self._sock.recv_multipart()
            task = asyncio.create_task(self._handle(frames))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Stop running replies (stored as interrupted), close sockets, store, providers."""
        for stream in self.hub.all_running():
            stream.stop("interrupted")
        running = [s.task for s in self.hub.all_running() if s.task is not None]
        pending = [t for t in running if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=5)
            # Clients drop what they have not read yet when the connection goes (their
            # sockets only queue on live connections): give them a moment to read the
            # "interrupted" ends before closing.
            await asyncio.sleep(SHUTDOWN_GRACE)
        for task in list(self._tasks):
            task.cancel()
        self._sock.close(linger=500)
        self._ctx.term()
        for provider in self.providers.values():
            await provider.aclose()
        await self.store.aclose()

    # --- frames ---------------------------------------------------------------
    def _send(self, conn: bytes, body: bytes) -> bool:
        """Send without ever blocking: a full pipe drops the frame (the client resyncs);
        an unknown peer returns False."""
        future = cast(
            "asyncio.Future[Any]", self._sock.send_multipart([conn, body], flags=zmq.DONTWAIT)
        )
        exc = future.exception() if future.done() else None
        if isinstance(exc, zmq.Again):
            return True
        return exc is None

    async def _handle(self, frames: list[bytes]) -> None:
        conn = frames[0]
        request_id = ""
        try:
            if len(frames) != 3:
                raise DecodeError("expected two frames: [body, signature]")
            body, signature = frames[1], frames[2]
            if len(body) > self.config.server.max_body:
                raise TooLargeError(
                    f"message of {len(body)} bytes is over the limit of "
                    f"{self.config.server.max_body}"
                )
            request = decode_request(body)
            request_id = request.id
            await self.auth.check(request, body, signature)
            ctx = Context(self, request.profile, conn, request.id)
            result = await registry.call(ctx, request.method, request.args)
            reply = Reply(id=request_id, result=result)
        except ChatthyError as exc:
            reply = error_reply(request_id, exc)
        except Exception as exc:
            log.exception("request %s failed", request_id)
            reply = error_reply(request_id, ChatthyError(f"internal error: {type(exc).__name__}"))
        self._send(conn, encode(reply))

    # --- what handlers use ----------------------------------------------------
    def provider(self, name: str) -> Provider:
        """Raises NotFoundError if no provider has that name."""
        try:
            return self.providers[name]
        except KeyError:
            raise NotFoundError(
                f"no provider '{name}' (available: {', '.join(self.providers)})"
            ) from None

    def default_provider(self) -> str:
        return self.config.server.default_provider or next(iter(self.providers))

    async def system_messages(self, profile: str, personality: str) -> list[Message]:
        """The system prompt of ``personality`` as messages (none if it is empty/gone)."""
        text = await self.prompts.text(self.store, profile, personality)
        return [{"role": "system", "content": text}] if text else []

    def reserve_stream(self, request_id: str, profile: str, chat: str) -> Stream:
        """Raises ConflictError if a reply is already running in ``chat``."""
        if self.hub.running(profile, chat) is not None:
            raise ConflictError(f"a reply is already running in chat '{chat}' (cancel it first)")
        return self.hub.start(request_id, profile, chat)

    def release_stream(self, stream: Stream) -> None:
        """Give back a reservation whose reply never started."""
        stream.finished_at = 0.0
        self.hub.drop(stream.profile, stream.chat)

    def status(self, profile: str) -> dict[str, Any]:
        """What a profile may know of the server: nothing of other profiles' activity."""
        mine = [s for s in self.hub.all_running() if s.profile == profile]
        return {
            "address": self.address,
            "uptime": round(asyncio.get_running_loop().time() - self.started, 1),
            "providers": list(self.providers),
            "encrypted": bool(self.public_key),
            "replies_running": len(mine),
        }
