"""The client core every interface shares: connection, signing, stream reassembly.

One :class:`Client` is one DEALER connection. ``call`` signs a request and waits for its
reply; events of reply streams are put back in order per stream (:class:`ReplyStream`),
duplicates dropped, and a gap or a silence makes the client ask the server to resend from
the first missing event — so a stream's text is never shown out of order. Nothing heavy
is imported here: the client starts fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec
import zmq
import zmq.asyncio

from chatthy.client.transient import TransientWorkspace
from chatthy.errors import (
    ChatthyError,
    DecodeError,
    DeniedError,
    RegistrationError,
    ServerKeyChangedError,
    ServerUnavailableError,
    SignatureError,
    TooLargeError,
    WrongServerError,
    from_code,
)
from chatthy.wire import api
from chatthy.wire.curve import client_key_pair
from chatthy.wire.messages import (
    PROTOCOL_VERSION,
    Event,
    News,
    Reply,
    Request,
    decode_server_message,
    encode,
)
from chatthy.wire.signing import SigningKey

__all__ = ["TRANSIENT_METHODS", "Client", "ReplyStream", "decode_result", "error_of"]

R = TypeVar("R")

SMALL = 65536
"""A request body up to this size never needs the server's limit (no server's is lower)."""

ENVELOPE = 16384
"""Room left in a request for everything beside the piece of a file it carries."""

TRANSIENT_METHODS = frozenset({"chat", "regenerate", "edit", "template"})
"""The RPCs that start a reply, and so carry the attached (transient) files."""


class ReplyStream:
    """The events of one reply, delivered in order exactly once, whatever arrives."""

    def __init__(self, client: Client, stream_id: str, chat: str, from_seq: int = 0) -> None:
        self.client = client
        self.id = stream_id
        self.chat = chat
        self.next_seq = from_seq
        self.ordering_faults = 0
        self.resyncs = 0
        self.end: Event | None = None
        self.notices: list[str] = []
        """What the client has to say about the turn (an attached file gone, skipped)."""
        self._ahead: dict[int, Event] = {}
        self._ready: asyncio.Queue[Event] = asyncio.Queue()
        self._last_resync = 0.0

    def feed(self, event: Event) -> None:
        """Take one event as it came off the wire."""
        if event.seq < self.next_seq or event.seq in self._ahead:
            return
        if event.seq != self.next_seq:
            self.ordering_faults += 1
            self._ahead[event.seq] = event
            self._resync()
            return
        self._deliver(event)
        while self.next_seq in self._ahead:
            self._deliver(self._ahead.pop(self.next_seq))

    def fail(self, error: ChatthyError) -> None:
        """End the stream here: the rest of it cannot be had."""
        data = {"status": "error", "error": {"code": error.code, "message": error.message}}
        self._deliver(
            Event(self.id, self.chat, self.next_seq, "end", data=data, total=self.next_seq + 1)
        )

    def _deliver(self, event: Event) -> None:
        self.next_seq += 1
        if event.kind == "end":
            self.end = event
        self._ready.put_nowait(event)

    def _resync(self) -> None:
        now = time.monotonic()
        if now - self._last_resync < 0.25:
            return
        self._last_resync = now
        self.resyncs += 1
        self.client.request_resend(self)

    async def events(self, idle: float = 5.0) -> AsyncIterator[Event]:
        """Yield the events in order until the end event (included). After ``idle``
        seconds without one, ask the server to resend what is missing. Events already
        queued are taken at once; waits use ``asyncio.timeout`` (``wait_for`` costs a task
        per call, on every event)."""
        while True:
            if self._ready.empty():
                try:
                    async with asyncio.timeout(idle):
                        event = await self._ready.get()
                except TimeoutError:
                    self._last_resync = 0.0
                    self._resync()
                    continue
            else:
                event = self._ready.get_nowait()
            yield event
            if event.kind == "end":
                self.client.forget_stream(self.id)
                return


HEARTBEAT = 1.0
"""Seconds between ZeroMQ's own pings of the server (answered by its I/O thread, so a
busy server still answers them); one unanswered for ``HEARTBEAT_TIMEOUT`` drops the
connection, which :attr:`Client.on_drop` hears of."""

HEARTBEAT_TIMEOUT = 4.0


class Client:
    """A signed connection to a chatthy server. Use ``async with``.

    Given several ``addresses`` (servers on one database), it talks to one at a time and
    :meth:`move_to` another (a new socket; the same profile and keys); :meth:`reach`
    finds the first that answers. Who notices a server gone (the session) decides when.
    """

    def __init__(
        self,
        address: str,
        profile: str,
        key: SigningKey,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        server_key: bytes | None = None,
        invite: str = "",
        legacy_key: Callable[[], SigningKey] | None = None,
        addresses: Sequence[str] = (),
        key_of: Callable[[str], tuple[bytes | None, str | None]] | None = None,
    ) -> None:
        self.address = address
        """The address talked to now."""
        self.addresses = tuple(
            dict.fromkeys([*addresses] if address in addresses else [address, *addresses])
        )
        """Every address this client may talk to, in order (``address`` among them)."""
        self.key_of = key_of
        """Finds the CURVE key of an address moved to whose key is not known yet (trust on
        first use; blocking, run in a thread); None: ``server_key`` holds for all."""
        self._keys: dict[str, bytes | None] = {address: server_key}
        self.notices: list[str] = []
        """Lines for the user from moving: a server's key learned on first contact."""
        self.on_drop: Callable[[], None] | None = None
        """Called when the connection to the server drops (it stopped, the network cut
        it, its heartbeat went unanswered)."""
        self.invite = invite
        """The server's invite code: sent once (``register``) if the profile is new."""
        self.legacy_key = legacy_key
        """Makes the profile's key as it was derived before the cost was raised: tried
        when the server refuses ``key``, and the profile moved onto ``key`` if it works."""
        self.server_key = server_key
        self.profile = profile
        self.key = key
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.incoming: asyncio.Queue[ReplyStream] = asyncio.Queue()
        """Replies started elsewhere (another client) in the chat this one has open."""
        self.news: asyncio.Queue[News] = asyncio.Queue()
        """The server's news of this profile's chats (made, renamed, destroyed, changed),
        by any client, this one too; whoever shows chats drains it."""
        self.transient = TransientWorkspace()
        """Local files and folders sent with every reply this client starts."""
        self._ctx: zmq.asyncio.Context | None = None
        self._sock: zmq.asyncio.Socket | None = None
        self._reader: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._monitor: zmq.asyncio.Socket | None = None
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._streams: dict[str, ReplyStream] = {}
        self._finished: set[str] = set()
        self._held: dict[str, list[Event]] = {}
        """Events of unknown streams in chats being attached, held until the answer
        says which stream the attach resumes (see :meth:`attach`)."""
        self._resends: set[asyncio.Task[None]] = set()
        self._counter = 0
        self._prefix = os.urandom(4).hex()
        self._limits: api.ServerStatus | None = None
        self.server_id: str | None = None
        """The id of the server this client talks to (its ``hello``); every request
        names it, so none can be replayed on another server."""
        self.registered: bool | None = None
        """Whether the server knows this profile with this key (None: not asked yet)."""
        self.on_new_profile: Callable[[], Awaitable[None]] | None = None
        """Awaited when ``hello`` finds the profile new (its first request registers
        it): a front end asks the passphrase again here, raising to stop."""
        self._hello_lock = asyncio.Lock()

    async def __aenter__(self) -> Client:
        """Connect; given several addresses, to the first that answers (:meth:`reach`)."""
        self.connect()
        if len(self.addresses) > 1:
            try:
                await self.reach()
            except BaseException:
                await self.aclose()
                raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def connect(self) -> None:
        """Open the socket (the server may come up later: sends wait for it)."""
        self._ctx = zmq.asyncio.Context()
        self._open()

    def _open(self) -> None:
        """A socket to :attr:`address`, its reader, and a watch for its dropping."""
        assert self._ctx is not None
        sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.SNDTIMEO, int(self.connect_timeout * 1000))
        sock.setsockopt(zmq.RCVHWM, 100_000)
        sock.setsockopt(zmq.HEARTBEAT_IVL, int(HEARTBEAT * 1000))
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(HEARTBEAT_TIMEOUT * 1000))
        if self.server_key:
            public, secret = client_key_pair(self.key)  # a server may list it (ZAP)
            sock.curve_serverkey = self.server_key
            sock.curve_publickey = public
            sock.curve_secretkey = secret
        self._monitor = sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        sock.connect(self.address)
        self._sock = sock
        self._reader = asyncio.create_task(self._read())
        self._watcher = asyncio.create_task(self._watch(self._monitor))

    async def _watch(self, monitor: zmq.asyncio.Socket) -> None:
        """Tell :attr:`on_drop` each time the connection drops."""
        while True:
            await monitor.recv_multipart()
            if self.on_drop is not None:
                self.on_drop()

    async def _shut(self) -> None:
        """Stop reading and watching, close the socket, and fail the requests waiting
        for an answer on it (none will come)."""
        background = [t for t in (self._reader, self._watcher) if t is not None]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        self._reader = self._watcher = None
        if self._sock is not None:
            with contextlib.suppress(zmq.ZMQError):
                self._sock.disable_monitor()
            self._sock.close(linger=0)
            self._sock = None
        if self._monitor is not None:  # closed here: its task may never have run
            self._monitor.close(linger=0)
            self._monitor = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ServerUnavailableError("connection closed"))
                future.exception()  # whoever awaits it still gets it; nobody else logs it

    async def aclose(self) -> None:
        """Stop reading, end resend requests in flight, close the socket."""
        resends = list(self._resends)
        for task in resends:
            task.cancel()
        await asyncio.gather(*resends, return_exceptions=True)
        await self._shut()
        if self._ctx is not None:
            # destroy, not term: term waits for ever on any socket left open (a monitor's
            # pair, one a move made), and this runs on the loop
            self._ctx.destroy(linger=0)
            self._ctx = None

    def others(self) -> list[str]:
        """The other addresses, in the order to try them: those after the current one,
        then those before it."""
        here = self.addresses.index(self.address) if self.address in self.addresses else -1
        return [*self.addresses[here + 1 :], *self.addresses[: max(here, 0)]]

    async def move_to(self, address: str) -> None:
        """Talk to ``address`` from now on: a new socket to it (its key learned first if
        it is not known), the server asked who it is again; requests waiting on the old
        socket fail as unavailable. The streams followed stay: attaching to their chats
        on the new server resumes them.

        Raises:
            ServerKeyChangedError: the address offers another key than the one remembered.
            ChatthyError: its key cannot be learned (nothing is changed then).
        """
        if address not in self._keys:
            key = self.server_key
            if self.key_of is not None:
                key, first = await asyncio.to_thread(self.key_of, address)
                self.notices.extend([first] if first else [])
            self._keys[address] = key
        await self._shut()
        self.address, self.server_key = address, self._keys[address]
        self.server_id = None
        self._limits = None
        self._open()

    async def reach(self, timeout: float | None = None) -> None:
        """Make sure a server answers: the current address, else each other in turn
        (moving there), each given ``timeout`` seconds (``connect_timeout``) to answer
        ``hello``; a key that cannot be learned passes to the next address too.

        Raises:
            ServerUnavailableError: none answers (each address and why, in one line).
            ServerKeyChangedError: an address offers another key than the one remembered.
        """
        wait = self.connect_timeout if timeout is None else timeout
        failures: list[str] = []
        for address in [self.address, *self.others()]:
            try:
                if address != self.address:
                    await self.move_to(address)
            except ServerKeyChangedError:
                raise
            except ChatthyError as exc:  # its key cannot be learned now
                failures.append(exc.message)
                continue
            try:
                await asyncio.wait_for(self._ask_hello(), wait)
            except TimeoutError:
                failures.append(f"no answer from {address} within {wait:g} s")
            except ServerUnavailableError as exc:
                failures.append(exc.message)
            except ChatthyError:
                return  # it answers: a refusal is for the first request's hello to handle
            else:
                return
        if len(failures) == 1:
            raise ServerUnavailableError(failures[0])
        raise ServerUnavailableError("no server answers: " + "; ".join(failures))

    def _new_id(self) -> str:
        self._counter += 1
        return f"{self._prefix}-{self._counter}"

    async def hello(self) -> api.HelloInfo:
        """Ask the server's id and whether it knows this profile with this key (it
        registers nothing); every later request names that id. A new profile is handed
        to ``on_new_profile`` first.

        Raises:
            As :meth:`rpc`; and what ``on_new_profile`` raises.
        """
        async with self._hello_lock:
            return await self._hello()

    async def _ask_hello(self) -> api.HelloInfo:
        result = await self._call_once(self._new_id(), api.Hello.method, {})
        info: api.HelloInfo = decode_result(api.Hello, result)
        return info

    async def _hello(self) -> api.HelloInfo:
        try:
            info = await self._ask_hello()
        except (SignatureError, DeniedError) as refused:
            if self.legacy_key is None:
                raise
            info = await self._hello_legacy(refused)
        if not info.registered and self.on_new_profile is not None:
            await self.on_new_profile()
        self.server_id = info.server
        self.registered = info.registered
        return info

    async def _hello_legacy(self, refused: ChatthyError) -> api.HelloInfo:
        """The server refused the key: try the profile's key of the old cost, and when it
        is that one, move the profile onto the new key (``rekey``, signed with the old)."""
        assert self.legacy_key is not None
        new, self.key = self.key, await asyncio.to_thread(self.legacy_key)
        self.legacy_key = None
        try:
            info = await self._ask_hello()
        except (SignatureError, DeniedError):
            info = None
        if info is None or not info.registered:
            self.key = new
            raise refused
        self.server_id = info.server
        try:
            rekey = api.Rekey(key=new.public_key)
            await self._call_once(self._new_id(), rekey.method, msgspec.to_builtins(rekey))
        except ChatthyError:
            return info  # a listed key stays as server.toml has it: go on with the old one
        self.key = new
        return info

    async def _learn_server(self) -> None:
        """Ask ``hello`` unless another request already did."""
        async with self._hello_lock:
            if self.server_id is None:
                await self._hello()

    async def _send(self, request_id: str, method: str, args: dict[str, Any]) -> None:
        request = Request(
            v=PROTOCOL_VERSION,
            id=request_id,
            profile=self.profile,
            ts=time.time(),
            nonce=os.urandom(16),
            key=self.key.public_key,
            method=method,
            args=args,
            server=self.server_id or "",
        )
        body = encode(request)
        if len(body) > SMALL and method != "status":
            limit = (await self.limits()).max_body
            if limit and len(body) > limit:
                raise TooLargeError(
                    f"{method}: the request is {_size(len(body))}, over the server's limit "
                    f"of {_size(limit)} (its max_body)"
                )
        assert self._sock is not None, "connect() first"
        try:
            await self._sock.send_multipart([body, self.key.sign(body)])
        except zmq.Again:
            hint = (
                "is it running? is server_key its key? does it list your profile?"
                if self.server_key
                else "is it running?"
            )
            raise ServerUnavailableError(
                f"cannot reach the server at {self.address} ({hint})"
            ) from None

    async def limits(self) -> api.ServerStatus:
        """The server's status, asked once: its ``max_body`` and ``max_import`` (0 from
        a server too old to say)."""
        if self._limits is None:
            self._limits = await self.rpc(api.Status())
        return self._limits

    async def import_text(self, data: str, chat: str | None = None) -> api.Imported:
        """Create a chat from a file's text: in one request when it fits the server's
        limit, else in pieces (``import_begin``, ``import_append``…, ``import_finish``).

        Raises:
            TooLargeError: over the server's ``max_import``.
            ChatthyError: the server refused the file (not a chat, name taken …).
        """
        raw = data.encode("utf-8")
        limits = await self.limits()
        if not limits.max_body or len(raw) + ENVELOPE <= limits.max_body:
            return await self.rpc(api.Import(data=data, chat=chat))
        if limits.max_import and len(raw) > limits.max_import:
            raise TooLargeError(
                f"import: the file is {_size(len(raw))}, over the server's limit of "
                f"{_size(limits.max_import)} (its max_import)"
            )
        upload = await self.rpc(api.ImportBegin(size=len(raw), chat=chat))
        piece = max(1, min(upload.chunk, limits.max_body - ENVELOPE))
        for offset in range(0, len(raw), piece):
            chunk = raw[offset : offset + piece]
            await self.rpc(api.ImportAppend(upload=upload.upload, offset=offset, data=chunk))
        return await self.rpc(api.ImportFinish(upload=upload.upload))

    async def rpc(self, call: api.Call[R]) -> R:
        """Run the RPC ``call`` declares and return its result, decoded into the type
        the declaration names.

        Raises:
            ServerUnavailableError: no connection, or no answer within the timeout.
            DecodeError: the answer does not have the declared shape.
            ChatthyError: the error the server answered with (its own subclass).
        """
        result = await self._call(self._new_id(), call.method, msgspec.to_builtins(call))
        return decode_result(type(call), result)

    async def call(self, method: str, **args: Any) -> Any:
        """Run an RPC by name (arguments as given, ``None`` left out) and return its
        result: decoded into its declared type when :mod:`chatthy.wire.api` declares
        ``method``, as it came otherwise (an RPC a newer server or a plugin adds).

        Raises:
            As :meth:`rpc`.
        """
        request_id = self._new_id()
        result = await self._call(
            request_id, method, {k: v for k, v in args.items() if v is not None}
        )
        declared = api.call_class(method)
        return result if declared is None else decode_result(declared, result)

    async def _call(self, request_id: str, method: str, args: dict[str, Any]) -> Any:
        """Send a request bound to the server's id (asked first if not known yet); a
        server that says it is another one (replaced at this address) is asked again,
        and the request resent once. A new profile the server wants an invite code for
        sends it (``register``) and the request again."""
        if method == api.Hello.method:
            return await self._call_once(request_id, method, args)
        try:
            return await self._bound_call(request_id, method, args)
        except RegistrationError:
            if not self.invite or method == "register":
                raise
        await self._bound_call(self._new_id(), "register", {"invite": self.invite})
        return await self._bound_call(request_id, method, args)

    async def _bound_call(self, request_id: str, method: str, args: dict[str, Any]) -> Any:
        for attempt in (1, 2):
            if self.server_id is None:
                await self._learn_server()
            try:
                return await self._call_once(request_id, method, args)
            except WrongServerError:
                if attempt == 2:
                    raise
                self.server_id = None
        raise AssertionError("unreachable")

    async def _call_once(self, request_id: str, method: str, args: dict[str, Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._send(request_id, method, args)
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise ServerUnavailableError(
                f"no answer from {self.address} within {self.timeout:.0f} s"
            ) from None
        finally:
            self._pending.pop(request_id, None)

    async def start(self, method: str, chat: str, **args: Any) -> tuple[ReplyStream, api.Started]:
        """Run an RPC that starts a reply (chat, regenerate, edit, template) in ``chat``;
        return the reply's stream (registered before sending, so no event is missed) and
        the result. The attached files are read now and sent along (unless ``transient``
        is given); the stream's ``notices`` say which could not be."""
        notices: list[str] = []
        if method in TRANSIENT_METHODS and self.transient.paths and "transient" not in args:
            files, notices = await asyncio.to_thread(self.transient.payload)
            args["transient"] = files or None
        request_id = self._new_id()
        stream = ReplyStream(self, request_id, chat)
        stream.notices = notices
        self._streams[request_id] = stream
        try:
            clean = {k: v for k, v in args.items() if v is not None}
            result = await self._call(request_id, method, {"chat": chat, **clean})
            started: api.Started = decode_result(api.Chat, result)
        except BaseException:
            self._streams.pop(request_id, None)
            raise
        return stream, started

    def follow(self, stream_id: str, chat: str, from_seq: int = 0) -> ReplyStream:
        """The stream ``stream_id`` of ``chat`` (known from ``messages``' ``running``),
        registered so that its events, live or resent, are put in order."""
        stream = self._streams.get(stream_id)
        if stream is None:
            stream = self._streams[stream_id] = ReplyStream(self, stream_id, chat, from_seq)
        return stream

    async def attach(self, chat: str, from_seq: int = 0) -> ReplyStream | None:
        """Open ``chat``; return the stream of a reply running (or just finished) in it,
        whose events from ``from_seq`` on follow the answer."""
        # The resent events may be read before this coroutine sees the answer: events of
        # streams not known yet are held meanwhile, then given to the resumed stream
        # (from ``from_seq``) or, for any other stream, taken as they would have been.
        held = self._held.setdefault(chat, [])
        try:
            result = await self.rpc(api.Attach(chat=chat, from_seq=from_seq))
        finally:
            if self._held.get(chat) is held:
                del self._held[chat]
        stream_id = result.stream
        stream = None
        if stream_id is not None and stream_id not in self._finished:
            # always a fresh stream: one left from before (dropped when the chat was left
            # while it ran) has delivered events nobody will see again
            stream = self._streams[stream_id] = ReplyStream(self, stream_id, chat, from_seq)
        for event in held:
            self._on_event(event)
        return stream

    def request_resend(self, stream: ReplyStream) -> None:
        """Ask for a stream's events from the first missing one (in the background)."""
        task = asyncio.create_task(self._resend(stream))
        self._resends.add(task)
        task.add_done_callback(self._resends.discard)

    async def _resend(self, stream: ReplyStream) -> None:
        """A stream the server no longer has, or a server gone, ends the stream with an
        error instead of waiting for ever."""
        try:
            await self.rpc(api.Resend(stream=stream.id, from_seq=stream.next_seq))
        except ServerUnavailableError:
            if stream.end is None:
                stream.fail(
                    ServerUnavailableError(
                        f"lost the server at {self.address} during the reply "
                        "(it stopped, or the network dropped)"
                    )
                )
        except ChatthyError as exc:
            if stream.end is None:
                stream.fail(exc)

    def forget_stream(self, stream_id: str) -> None:
        """The stream ended: late duplicates of its events are ignored from now on."""
        self._streams.pop(stream_id, None)
        self._finished.add(stream_id)

    def drop_stream(self, stream_id: str) -> None:
        """Stop following a stream that may still run (its chat was left): attaching to
        its chat again resumes it from the start."""
        self._streams.pop(stream_id, None)

    async def _read(self) -> None:
        assert self._sock is not None
        while True:
            frames = await self._sock.recv_multipart()
            try:
                message = decode_server_message(frames[0])
            except DecodeError:
                continue
            if isinstance(message, Reply):
                self._on_reply(message)
            elif isinstance(message, Event):
                self._on_event(message)
            else:
                self.news.put_nowait(message)

    def _on_reply(self, reply: Reply) -> None:
        future = self._pending.get(reply.id)
        if future is None or future.done():
            return
        if reply.ok:
            future.set_result(reply.result)
        else:
            error = reply.error
            code, text = (error.code, error.message) if error else ("error", "unknown error")
            future.set_exception(from_code(code, text))

    def _on_event(self, event: Event) -> None:
        stream = self._streams.get(event.id)
        if stream is None:
            if event.id in self._finished:
                return
            held = self._held.get(event.chat)
            if held is not None:
                held.append(event)
                return
            stream = ReplyStream(self, event.id, event.chat)
            self._streams[event.id] = stream
            self.incoming.put_nowait(stream)
        stream.feed(event)


def _size(n: int) -> str:
    """Bytes as a person reads them: 6.2 MB, 512 KB, 900 bytes."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 10_000:
        return f"{n / 1000:.0f} KB"
    return f"{n} bytes"


def decode_result(call: type[api.Call[Any]], result: Any) -> Any:
    """An RPC's answer as the type its declaration names.

    Raises:
        DecodeError: it does not have that shape.
    """
    try:
        return msgspec.convert(result, api.result_type(call))
    except msgspec.ValidationError as exc:
        raise DecodeError(f"{call.method}: the server's answer does not fit: {exc}") from None


def error_of(end: Event) -> ChatthyError | None:
    """The error an end event reports, if any."""
    data = end.data or {}
    error = data.get("error")
    if not error:
        return None
    return from_code(error.get("code", "error"), error.get("message", "reply failed"))
