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
from zmq.auth.asyncio import AsyncioAuthenticator

from chatthy.config import ServerConfig
from chatthy.conversation.engine import Engine
from chatthy.conversation.events import TurnEvent, Usage
from chatthy.conversation.turns import Turn
from chatthy.errors import ChatthyError, DecodeError, TooLargeError
from chatthy.server import handlers  # noqa: F401 - registers the built-in RPCs
from chatthy.server.auth import UNBOUND_METHODS, Authenticator, load_server_id
from chatthy.server.identity import KeyPort, open_key_port, transport_gate
from chatthy.server.limits import FREES, WRITES, Limits
from chatthy.server.news import Newsroom
from chatthy.server.rpc import Context, registry
from chatthy.server.uploads import Uploads
from chatthy.server.watchers import Watchers
from chatthy.wire.api import HelloInfo, ServerStatus
from chatthy.wire.curve import is_loopback, server_key_pair
from chatthy.wire.messages import Reply, Request, decode_request, encode, error_reply

__all__ = ["Server"]

log = logging.getLogger("chatthy.server")

SNDHWM = 1000
"""Messages queued to one peer at most: far above what a reading client lets pile up."""

SMALL_ANSWER = 65536
"""Answers up to this size go out untracked, and are never refused for a queue."""

SHUTDOWN_GRACE = 0.5
"""Seconds between the last events of interrupted replies and closing the socket."""


IN_FLIGHT = 2
"""Requests of one connection handled at once; the rest wait their turn. A connection
that asks for many large pages at once makes the server hold two of them, not all (a
reply's stream is not a request: it runs beside them)."""


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
            # "auto" is decided when the socket is bound (bind)
            registration=config.server.registration.replace("auto", "closed"),
            listed=config.server.profiles,
            invite=config.server.invite,
        )
        self.limits = Limits(config.limits, engine.store.stored_bytes)
        engine.before_turn = self._before_turn
        engine.broadcaster.listen(self._count_tokens)
        self.watchers = Watchers(self._send)
        engine.broadcaster.listen(self.watchers.on_event)
        engine.broadcaster.follow_only(self.watchers.watched)
        self.news = Newsroom(self._send)
        engine.broadcaster.listen_news(self.news.on_news)
        self.started = asyncio.get_running_loop().time()
        self._ctx = zmq.asyncio.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        # A peer that stops reading loses what is queued beyond this (it resends what it
        # misses); answers are also held to max_reply bytes, and a large answer is refused
        # while the peer has not read the ones before it (limits.queued): no peer holds
        # the server's memory.
        self._sock.setsockopt(zmq.SNDHWM, SNDHWM)
        self._sock.setsockopt(zmq.RCVHWM, 100_000)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.setsockopt(zmq.MAXMSGSIZE, 2 * config.server.max_body + 4096)
        self.uploads = Uploads(config.server.max_import, chunk=config.server.max_body // 2)
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: dict[bytes, tuple[asyncio.Semaphore, list[int]]] = {}
        """Per connection: its slots for requests handled at once, and how many of its
        requests hold or wait for one."""
        self.address = ""
        self.public_key = ""
        """The CURVE public key clients must pin; empty when not encrypted."""
        self._keyport: KeyPort | None = None
        self._zap: AsyncioAuthenticator | None = None

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
        listed = self.config.server.transport == "listed"
        if self.config.server.encryption == "on" or listed or not is_loopback(address):
            public, secret = server_key_pair(Path(self.config.data_dir))
            self._sock.curve_secretkey = secret
            self._sock.curve_publickey = public
            self._sock.curve_server = True
            self.public_key = public.decode()
            if listed:
                self._zap = transport_gate(self._ctx, self.config.server.profiles)
        self._sock.bind(address)
        self.address = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        if self.public_key:
            self._keyport = open_key_port(self._ctx, self.public_key.encode(), self.address)
        if self.config.server.registration == "auto":
            # open to anyone only where only this machine can reach the port
            self.auth.registration = "open" if is_loopback(self.address) else "closed"
        return self.address

    @property
    def offers_key_port(self) -> bool:
        """Whether clients can learn this server's CURVE key from its key port."""
        return self._keyport is not None

    async def serve(self) -> None:
        """Answer requests until cancelled."""
        if self._keyport is not None:
            task = asyncio.create_task(self._keyport.serve())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        while True:
            received = await self._sock.recv_multipart(copy=False)
            peer = _peer_address(received[-1])
            self._receive([frame.bytes for frame in received], peer)

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
        if self._keyport is not None:
            self._keyport.close()
        if self._zap is not None:
            self._zap.stop()
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

    def _receive(self, frames: list[bytes], peer: str = "") -> None:
        """Check a frame's shape, size and the connection's rate here, in the receive
        loop (a flood is refused without a task each); hand the rest to a task."""
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
            self.limits.connection(conn)  # before the signature costs anything
        except ChatthyError as exc:
            self._send(conn, encode(error_reply(request_id, exc)))
            return
        task = asyncio.create_task(self._handle(conn, request, body, signature, peer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(
        self, conn: bytes, request: Request, body: bytes, signature: bytes, peer: str
    ) -> None:
        """Handle a request when the connection has a slot free (:data:`IN_FLIGHT`)."""
        entry = self._in_flight.setdefault(conn, (asyncio.Semaphore(IN_FLIGHT), [0]))
        slots, users = entry
        users[0] += 1
        try:
            async with slots:
                await self._handle_now(conn, request, body, signature, peer)
        finally:
            users[0] -= 1
            if not users[0]:
                del self._in_flight[conn]

    async def _handle_now(
        self, conn: bytes, request: Request, body: bytes, signature: bytes, peer: str
    ) -> None:
        """Answer one request; the chat news it causes goes out after the answer."""
        with self.news.holding():
            self._answer(
                conn, request.id, await self._answer_of(conn, request, body, signature, peer)
            )

    async def _answer_of(
        self, conn: bytes, request: Request, body: bytes, signature: bytes, peer: str
    ) -> bytes:
        request_id = request.id
        try:
            await self.auth.check(
                request, body, signature, admit=lambda: self.limits.registration(peer)
            )
            if request.method not in UNBOUND_METHODS:  # signed as a registered profile
                self.news.join(conn, request.profile)
            self.limits.profile(request.profile)
            writes = request.method in WRITES
            if writes:
                await self.limits.stored.check(request.profile)
            ctx = Context(self.engine, self, request.profile, conn, request.id, request.key)
            result = await registry.call(ctx, request.method, request.args)
            if writes:
                self.limits.stored.wrote(request.profile, request.method, len(body))
            elif request.method in FREES:
                self.limits.stored.freed(request.profile)
            reply = Reply(id=request_id, result=result)
        except ChatthyError as exc:
            reply = error_reply(request_id, exc)
        except Exception as exc:
            log.exception("request %s failed", request_id)
            reply = error_reply(request_id, ChatthyError(f"internal error: {type(exc).__name__}"))
        return encode(reply)

    def _answer(self, conn: bytes, request_id: str, answer: bytes) -> None:
        """Send an answer, or a short refusal when it is over ``max_reply``, or when the
        connection has not read the large answers before it (limits.queued)."""
        limit = self.config.limits.max_reply
        try:
            if len(answer) > limit:
                raise TooLargeError(
                    f"the answer is {len(answer)} bytes, over the server's limit of {limit} "
                    "(max_reply): ask for less (a smaller limit, or a page)"
                )
            if len(answer) > SMALL_ANSWER:
                self.limits.queued.admit(conn, len(answer))
        except ChatthyError as exc:
            self._send(conn, encode(error_reply(request_id, exc)))
            return
        if len(answer) <= SMALL_ANSWER:
            self._send(conn, answer)
            return
        future = cast(
            "asyncio.Future[Any]",
            self._sock.send_multipart([conn, answer], flags=zmq.DONTWAIT, copy=False, track=True),
        )
        if future.done() and future.exception() is None:
            self.limits.queued.sent(conn, len(answer), future.result())

    # --- limits the engine asks for --------------------------------------------
    def _before_turn(self, profile: str, provider: str) -> None:
        cfg = self.engine.provider_config(provider)
        self.limits.tokens.check(profile, provider, cfg.tokens_per_day if cfg else 0)

    def _count_tokens(self, turn: Turn, seq: int, event: TurnEvent) -> None:
        if isinstance(event, Usage) and turn.started is not None:
            spent = event.input_tokens + event.output_tokens
            self.limits.tokens.spend(turn.profile, turn.started.provider, spent)

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
            max_body=self.config.server.max_body,
            max_import=self.config.server.max_import,
        )


def _peer_address(frame: zmq.Frame) -> str:
    """The peer's IP address as ZeroMQ saw it (empty where the transport has none)."""
    try:
        return str(frame.get("Peer-Address"))
    except (zmq.ZMQError, AttributeError, UnicodeDecodeError):
        return ""
