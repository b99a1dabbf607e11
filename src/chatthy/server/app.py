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

from chatthy.config import ServerConfig
from chatthy.conversation.engine import Engine
from chatthy.conversation.turns import Turn
from chatthy.errors import ChatthyError, DecodeError, TooLargeError
from chatthy.server import handlers  # noqa: F401 - registers the built-in RPCs
from chatthy.server.auth import Authenticator, load_server_id
from chatthy.server.rpc import Context, registry
from chatthy.server.watchers import Watchers
from chatthy.wire.api import HelloInfo, ServerStatus
from chatthy.wire.curve import is_loopback, server_key_pair
from chatthy.wire.messages import Reply, decode_request, encode, error_reply

__all__ = ["Server"]

log = logging.getLogger("chatthy.server")

SHUTDOWN_GRACE = 0.5
"""Seconds between the last events of interrupted replies and closing the socket."""


class Server:
    """A running chatthy server; make it with :meth:`open`, end it with :meth:`aclose`."""

    def __init__(self, engine: Engine) -> None:
        config = engine.config
        self.engine = engine
        self.config = config
        self.store = engine.store
        self.auth = Authenticator(
            engine.store,
            server_id=load_server_id(Path(config.data_dir)),
            window=config.server.clock_window,
            registration=config.server.registration,
            listed=config.server.profiles,
        )
        self.watchers = Watchers(self._send)
        engine.broadcaster.listen(self.watchers.on_event)
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
        """Open the engine (store, providers; replies cut off by a stop are marked
        interrupted) and make the socket.

        Raises:
            StoreError: the database cannot be opened.
            ConfigError: a provider is misconfigured.
        """
        return cls(await Engine.open(config))

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
        """Stop running replies (stored as interrupted), close the socket and the engine."""
        had_replies = bool(self.engine.turns.all_running())
        for task in list(self._tasks):
            task.cancel()
        await self.engine.aclose()
        if had_replies:
            # Clients drop what they have not read yet when the connection goes (their
            # sockets only queue on live connections): give them a moment to read the
            # "interrupted" ends before closing.
            await asyncio.sleep(SHUTDOWN_GRACE)
        self._sock.close(linger=500)
        self._ctx.term()

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
            ctx = Context(self.engine, self, request.profile, conn, request.id, request.key)
            result = await registry.call(ctx, request.method, request.args)
            reply = Reply(id=request_id, result=result)
        except ChatthyError as exc:
            reply = error_reply(request_id, exc)
        except Exception as exc:
            log.exception("request %s failed", request_id)
            reply = error_reply(request_id, ChatthyError(f"internal error: {type(exc).__name__}"))
        self._send(conn, encode(reply))

    # --- what handlers use of the transport ------------------------------------
    def watch(self, conn: bytes, profile: str, chat: str) -> None:
        """``conn`` sees ``chat``'s replies live from now on."""
        self.watchers.watch(conn, profile, chat)

    def resend_soon(self, conn: bytes, turn: Turn, from_seq: int) -> None:
        """Send ``conn`` the turn's kept events from ``from_seq`` on, right after the
        answer to the request being handled."""
        asyncio.get_running_loop().call_soon(self.watchers.resend, conn, turn, from_seq)

    def renamed(self, profile: str, old: str, new: str) -> None:
        self.watchers.rename(profile, old, new)

    async def hello(self, profile: str, key: bytes) -> HelloInfo:
        registered = await self.auth.probe(profile, key)
        return HelloInfo(server=self.auth.server_id, profile=profile, registered=registered)

    async def rekey(self, profile: str, key: bytes) -> None:
        await self.auth.replace_key(profile, key)

    def is_admin(self, profile: str) -> bool:
        return profile in self.config.server.admins and self.auth.is_listed(profile)

    def status(self, profile: str) -> ServerStatus:
        """What a profile may know of the server: nothing of other profiles' activity."""
        mine = [t for t in self.engine.turns.all_running() if t.profile == profile]
        return ServerStatus(
            profile=profile,
            address=self.address,
            uptime=round(asyncio.get_running_loop().time() - self.started, 1),
            providers=list(self.engine.providers),
            encrypted=bool(self.public_key),
            replies_running=len(mine),
        )
