"""A local fake of the model APIs chatthy talks to: OpenAI, Anthropic and tabbyAPI.

A real HTTP/1.1 server (keep-alive, chunked SSE) on 127.0.0.1, port 0 by default, with
its own asyncio loop in a background thread, so sync tests, async tests and subprocesses
can all use it. Replies are scripted with :class:`Reply` (FIFO); every request is
recorded. A reply may end in tool calls, streamed as each API streams them (OpenAI's
``tool_calls`` deltas by index, Anthropic's ``tool_use`` blocks), their arguments in
pieces. ``python tests/upstream.py --port N`` serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import hashlib
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec

__all__ = ["Recorded", "Reply", "Upstream", "embedding_of"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_ANTHROPIC_STOPS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


@dataclass
class Reply:
    """One scripted answer to a chat request (OpenAI or Anthropic endpoint)."""

    chunks: list[str] = field(default_factory=lambda: ["Hello", ", ", "world", "!"])
    reasoning: list[str] = field(default_factory=list)
    usage: tuple[int, int] | None = (12, 4)
    status: int = 200
    error_message: str = "scripted error"
    delay: float = 0.0
    drop_after: int | None = None
    stall_after: int | None = None
    stall: float = 30.0
    stamp: bool = False
    retry_after_ms: int | None = 10
    """Sent as ``retry-after-ms`` with 429/5xx so that the SDKs' retries stay quick."""
    finish: str = "stop"
    """How the model ended: ``stop``, ``length`` or ``tool_calls`` (Anthropic: end_turn,
    max_tokens, tool_use); ``stop`` with tool calls scripted is sent as ``tool_calls``."""
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    """Calls the model makes after its text: (id, name, arguments as JSON text), the
    arguments streamed in several pieces. An empty id or name is left out of the stream,
    as a faulty server would."""
    end_mark: bool = True
    """Send ``[DONE]`` / ``message_stop``; False plays a stream cut off cleanly."""
    json_for_stream: bool = False
    """Answer a streaming request with one JSON completion, as some proxies do."""

    @property
    def finish_reason(self) -> str:
        """The finish reason sent (OpenAI's names)."""
        return "tool_calls" if self.tool_calls and self.finish == "stop" else self.finish


@dataclass
class Recorded:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    peer: int = 0
    """The client's port: requests with the same peer came over one kept-alive connection."""


class _Request(msgspec.Struct):
    method: str
    path: str
    headers: dict[str, str]
    body: Any


_encode = msgspec.json.encode
_Emit = tuple[str, str]  # (kind, text): kind is "reasoning" or "text"


class _Conn:
    """Writes one response; knows nothing of the APIs."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer

    def json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = _encode(body)
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"content-type: application/json\r\ncontent-length: {len(data)}\r\n{extra}\r\n"
        )
        self.writer.write(head.encode() + data)

    def start_sse(self) -> None:
        self.writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n"
        )

    def chunk(self, data: bytes) -> None:
        self.writer.write(b"%x\r\n%b\r\n" % (len(data), data))

    def end_sse(self) -> None:
        self.writer.write(b"0\r\n\r\n")


class Upstream:
    """The fake upstream server. Start it, point a provider at ``openai_url``/``base_url``."""

    def __init__(
        self,
        models: list[str] | None = None,
        admin_key: str | None = None,
        *,
        tabby_model_list: bool = True,
    ) -> None:
        self.models = list(models or ["test-model"])
        self.admin_key = admin_key
        self.tabby_model_list = tabby_model_list
        """False plays a server without tabbyAPI's ``/v1/model/list`` (it answers 404)."""
        self.loaded_model: str | None = None
        self.requests: list[Recorded] = []
        self.base_url = ""
        self.openai_url = ""
        self.port = 0
        self._replies: collections.deque[Reply] = collections.deque()
        self.embedding_dim = 8
        """The length of the vectors ``/v1/embeddings`` answers with (at most 64)."""
        self._embedding_failures: collections.deque[Reply] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- lifecycle -------------------------------------------------------------------

    def start(self, port: int = 0) -> Upstream:
        """Listen on 127.0.0.1:``port`` (0: any free port) and serve in a thread."""
        loop = asyncio.new_event_loop()
        loop.set_exception_handler(lambda _loop, _ctx: None)
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="upstream", daemon=True)
        self._thread.start()
        started = asyncio.run_coroutine_threadsafe(self._listen(port), loop)
        self._server = started.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.openai_url = self.base_url + "/v1"
        return self

    def serve_forever(self, port: int = 0) -> None:
        """Start, print the base URL (a parent process reads it), serve until interrupted."""
        self.start(port)
        print(self.base_url, flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Close the server and every open connection; join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Upstream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def push(self, reply: Reply, times: int = 1) -> None:
        """Queue ``reply`` for the next ``times`` chat requests (FIFO)."""
        self._replies.extend([reply] * times)

    def fail_embeddings(self, status: int, message: str, times: int = 1) -> None:
        """Answer the next ``times`` embedding requests with this error (chat replies
        are scripted apart, with :meth:`push`)."""
        self._embedding_failures.extend([Reply(status=status, error_message=message)] * times)

    async def _listen(self, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", port, backlog=512)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    # -- HTTP ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")[1]
        try:
            while (request := await _read_request(reader)) is not None:
                self.requests.append(
                    Recorded(request.method, request.path, request.headers, request.body, peer)
                )
                if not await self._route(request, _Conn(writer)):
                    break
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _route(self, request: _Request, conn: _Conn) -> bool:
        """Answer one request; False when the connection must be closed."""
        method, path = request.method, request.path.split("?", 1)[0]
        if method == "POST" and path == "/v1/chat/completions":
            return await self._openai_chat(request, conn)
        if method == "POST" and path == "/v1/messages":
            return await self._anthropic_chat(request, conn)
        if method == "POST" and path == "/v1/embeddings":
            self._embeddings(request, conn)
        elif method == "GET" and path == "/v1/models":
            conn.json(200, self._model_list(request))
        elif method == "GET" and path == "/v1/model/list" and self.tabby_model_list:
            conn.json(200, _openai_models(self.models, "tabbyAPI"))
        elif method == "GET" and path == "/v1/model":
            conn.json(200, {"id": self.loaded_model or self.models[0], "object": "model"})
        elif method == "POST" and path == "/v1/model/load":
            await self._tabby_load(request, conn)
        else:
            conn.json(404, {"error": {"message": f"no route {method} {path}"}})
        return True

    def _next_reply(self, body: Any) -> Reply:
        with contextlib.suppress(IndexError):
            return self._replies.popleft()
        return Reply(chunks=["upstream: ", *_words(_last_user_text(body))])

    def _model_list(self, request: _Request) -> Any:
        if "anthropic-version" not in request.headers:
            return _openai_models(self.models, "upstream")
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in self.models
        ]
        return {"data": data, "has_more": False, "first_id": None, "last_id": None}

    # -- OpenAI ----------------------------------------------------------------------

    async def _openai_chat(self, request: _Request, conn: _Conn) -> bool:
        body = request.body or {}
        reply = self._next_reply(body)
        model = body.get("model", "")
        if reply.status != 200:
            error = {"message": reply.error_message, "type": "scripted", "code": reply.status}
            conn.json(reply.status, {"error": error}, _retry_headers(reply))
            return True
        if not body.get("stream") or reply.json_for_stream:
            conn.json(200, _openai_completion(reply, model))
            return True
        conn.start_sse()
        head = b'data: {"id":"chatcmpl-up","object":"chat.completion.chunk","created":0,"model":'
        head += _encode(model) + b',"choices":[{"index":0,"delta":{"'
        async for kind, text in _emit(reply, conn):
            field_name = b"reasoning_content" if kind == "reasoning" else b"content"
            conn.chunk(head + field_name + b'":' + _encode(text) + b'},"finish_reason":null}]}\n\n')
        for index, call in enumerate(reply.tool_calls):
            for delta in _openai_tool_deltas(index, call):
                conn.chunk(head + b'tool_calls":' + _encode([delta])
                           + b'},"finish_reason":null}]}\n\n')  # fmt: skip
                await _pause(reply, conn)
        conn.chunk(head[: -len(b'"delta":{"')] + b'"delta":{},"finish_reason":'
                   + _encode(reply.finish_reason) + b"}]}\n\n")  # fmt: skip
        if reply.usage and (body.get("stream_options") or {}).get("include_usage"):
            usage = _openai_usage(reply.usage)
            conn.chunk(b'data: {"id":"chatcmpl-up","object":"chat.completion.chunk","created":0,'
                       b'"model":' + _encode(model) + b',"choices":[],"usage":'
                       + _encode(usage) + b"}\n\n")  # fmt: skip
        if reply.end_mark:
            conn.chunk(b"data: [DONE]\n\n")
        conn.end_sse()
        return True

    # -- Anthropic -------------------------------------------------------------------

    async def _anthropic_chat(self, request: _Request, conn: _Conn) -> bool:
        body = request.body or {}
        reply = self._next_reply(body)
        model = body.get("model", "")
        if reply.status != 200:
            kind = _ANTHROPIC_ERRORS.get(reply.status, "api_error")
            error = {"type": "error", "error": {"type": kind, "message": reply.error_message}}
            conn.json(reply.status, error, _retry_headers(reply))
            return True
        if not body.get("stream") or reply.json_for_stream:
            conn.json(200, _anthropic_message(reply, model))
            return True
        conn.start_sse()
        input_tokens, output_tokens = reply.usage or (0, 0)
        message = _anthropic_message(Reply(chunks=[], usage=(input_tokens, 1)), model)
        conn.chunk(_event("message_start", {"type": "message_start", "message": message}))
        state = _BlockState()
        async for kind, text in _emit(reply, conn):
            for payload in state.delta(kind, text):
                conn.chunk(payload)
        for payload in state.close():
            conn.chunk(payload)
        for call in reply.tool_calls:
            for payload in state.tool_use(call):
                conn.chunk(payload)
                await _pause(reply, conn)
        delta = {"stop_reason": _ANTHROPIC_STOPS[reply.finish_reason], "stop_sequence": None}
        end = {"type": "message_delta", "delta": delta, "usage": {"output_tokens": output_tokens}}
        conn.chunk(_event("message_delta", end))
        if reply.end_mark:
            conn.chunk(_event("message_stop", {"type": "message_stop"}))
        conn.end_sse()
        return True

    # -- tabbyAPI --------------------------------------------------------------------

    async def _tabby_load(self, request: _Request, conn: _Conn) -> None:
        if self.admin_key is not None and request.headers.get("x-admin-key") != self.admin_key:
            conn.json(401, {"detail": "Invalid admin key"})
            return
        name = (request.body or {}).get("name")
        if name not in self.models:
            conn.json(400, {"detail": "Could not find the model path for load."})
            return
        self.loaded_model = name
        conn.start_sse()
        for module in (1, 2):
            status = "processing" if module < 2 else "finished"
            step = {"model_type": "model", "module": module, "modules": 2, "status": status}
            conn.chunk(b"data: " + _encode(step) + b"\n\n")
        conn.end_sse()

    # -- embeddings ------------------------------------------------------------------

    def _embeddings(self, request: _Request, conn: _Conn) -> None:
        """OpenAI's ``/v1/embeddings``: a vector per input (:func:`embedding_of`), as
        floats or, when asked (the SDK asks by default), base64 of float32."""
        with contextlib.suppress(IndexError):
            failure = self._embedding_failures.popleft()
            error = {"message": failure.error_message, "type": "scripted", "code": None}
            conn.json(failure.status, {"error": error}, _retry_headers(failure))
            return
        body = request.body or {}
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
        data = []
        for index, text in enumerate(texts):
            vector: Any = embedding_of(str(text), self.embedding_dim)
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(len(str(t).split()) for t in texts)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        conn.json(200, {"object": "list", "data": data, "model": body.get("model", ""),
                        "usage": usage})  # fmt: skip


def embedding_of(text: str, dim: int = 8) -> list[float]:
    """The vector the fake answers for ``text``: fixed by the text, not of unit length
    (so that a client's normalising shows)."""
    digest = hashlib.blake2b(text.encode(), digest_size=dim).digest()
    return [(byte - 127.5) / 8 for byte in digest]


class _BlockState:
    """Anthropic content blocks: opens a block per kind change, numbers them."""

    def __init__(self) -> None:
        self.index = -1
        self.kind: str | None = None

    def delta(self, kind: str, text: str) -> Iterator[bytes]:
        if kind != self.kind:
            yield from self.close()
            self.index += 1
            self.kind = kind
            block = {"type": "thinking", "thinking": "", "signature": ""}
            if kind == "text":
                block = {"type": "text", "text": ""}
            start = {"type": "content_block_start", "index": self.index, "content_block": block}
            yield _event("content_block_start", start)
        inner = {"type": "text_delta", "text": text}
        if kind == "reasoning":
            inner = {"type": "thinking_delta", "thinking": text}
        payload = {"type": "content_block_delta", "index": self.index, "delta": inner}
        yield _event("content_block_delta", payload)

    def close(self) -> Iterator[bytes]:
        if self.kind is None:
            return
        if self.kind == "reasoning":
            signature = {"type": "signature_delta", "signature": "c2ln"}
            payload = {"type": "content_block_delta", "index": self.index, "delta": signature}
            yield _event("content_block_delta", payload)
        yield _event("content_block_stop", {"type": "content_block_stop", "index": self.index})
        self.kind = None

    def tool_use(self, call: tuple[str, str, str]) -> Iterator[bytes]:
        """One tool_use block: its start (id, name, empty input), the input in pieces
        (the first one empty, as the API sends it), its stop."""
        self.index += 1
        call_id, name, arguments = call
        block = _present({"type": "tool_use", "id": call_id, "name": name, "input": {}})
        start = {"type": "content_block_start", "index": self.index, "content_block": block}
        yield _event("content_block_start", start)
        for piece in ["", *_split(arguments)]:
            inner = {"type": "input_json_delta", "partial_json": piece}
            payload = {"type": "content_block_delta", "index": self.index, "delta": inner}
            yield _event("content_block_delta", payload)
        yield _event("content_block_stop", {"type": "content_block_stop", "index": self.index})


async def _emit(reply: Reply, conn: _Conn) -> Any:
    """The reply's pieces, paced as scripted; drops or stalls the connection on cue."""
    pieces = [("reasoning", r) for r in reply.reasoning] + [("text", c) for c in reply.chunks]
    for n, (kind, text) in enumerate(pieces):
        if reply.drop_after is not None and n >= reply.drop_after:
            await conn.writer.drain()
            raise ConnectionResetError("scripted drop")
        if reply.stall_after is not None and n == reply.stall_after:
            await conn.writer.drain()
            await asyncio.sleep(reply.stall)
        if n and reply.delay:
            await asyncio.sleep(reply.delay)
        yield kind, (f"<{time.time():.6f}>" if reply.stamp else text)
        await conn.writer.drain()
        if not reply.delay:
            await asyncio.sleep(0)
    if reply.drop_after is not None and reply.drop_after >= len(pieces):
        await conn.writer.drain()
        raise ConnectionResetError("scripted drop")


async def _pause(reply: Reply, conn: _Conn) -> None:
    """Between two pieces of a tool call: send what is written, wait as scripted."""
    await conn.writer.drain()
    await asyncio.sleep(reply.delay)


def _split(text: str, pieces: int = 3) -> list[str]:
    """``text`` cut in about ``pieces`` pieces, as a model's JSON arrives."""
    size = max(1, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` without the empty strings: a scripted call may lack its id or name."""
    return {k: v for k, v in fields.items() if v != ""}


def _openai_tool_deltas(index: int, call: tuple[str, str, str]) -> list[dict[str, Any]]:
    """A call as OpenAI streams it: id, type and name first, then the arguments in pieces."""
    call_id, name, arguments = call
    first = {"index": index, **_present({"id": call_id}), "type": "function"}
    first["function"] = {**_present({"name": name}), "arguments": ""}
    return [first] + [{"index": index, "function": {"arguments": p}} for p in _split(arguments)]


def _event(name: str, payload: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encode(payload) + b"\n\n"


def _retry_headers(reply: Reply) -> dict[str, str]:
    if reply.retry_after_ms is None or not (reply.status == 429 or reply.status >= 500):
        return {}
    return {"retry-after-ms": str(reply.retry_after_ms)}


def _openai_usage(usage: tuple[int, int]) -> dict[str, int]:
    return {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)}


def _openai_models(models: list[str], owner: str) -> Any:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": owner} for m in models]
    return {"object": "list", "data": data}


def _openai_completion(reply: Reply, model: str) -> Any:
    text = "".join(reply.chunks)
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if reply.reasoning:
        message["reasoning_content"] = "".join(reply.reasoning)
    if reply.tool_calls:
        message["tool_calls"] = [
            _present({"id": call_id, "type": "function"})
            | {"function": _present({"name": name}) | {"arguments": arguments}}
            for call_id, name, arguments in reply.tool_calls
        ]
    elif not text:
        message["content"] = ""
    choice = {"index": 0, "message": message, "finish_reason": reply.finish_reason}
    body: dict[str, Any] = {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [choice],
    }
    if reply.usage:
        body["usage"] = _openai_usage(reply.usage)
    return body


def _anthropic_message(reply: Reply, model: str) -> Any:
    content: list[dict[str, Any]] = []
    if reply.reasoning:
        content.append({"type": "thinking", "thinking": "".join(reply.reasoning), "signature": ""})
    if reply.chunks:
        content.append({"type": "text", "text": "".join(reply.chunks)})
    for call_id, name, arguments in reply.tool_calls:
        try:
            given = msgspec.json.decode(arguments or "{}")
        except msgspec.DecodeError:
            given = {}
        content.append(_present({"type": "tool_use", "id": call_id, "name": name}))
        content[-1]["input"] = given
    input_tokens, output_tokens = reply.usage or (0, 0)
    return {
        "id": "msg_up",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": _ANTHROPIC_STOPS[reply.finish_reason] if content else None,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def _last_user_text(body: Any) -> str:
    for message in reversed((body or {}).get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
    return ""


def _words(text: str) -> list[str]:
    words = text.split()
    return [w + " " for w in words[:-1]] + words[-1:]


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    """One HTTP/1.1 request, or None when the client closed the connection."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _version = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    raw = await _read_body(reader, headers)
    body = msgspec.json.decode(raw) if raw else None
    return _Request(method, path, headers, body)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return b"".join(parts)
    return await reader.readexactly(int(headers.get("content-length", "0")))


def main() -> None:
    """Serve until killed; print the base URL first (a subprocess can read it)."""
    parser = argparse.ArgumentParser(description="chatthy's fake model upstream")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", action="append", dest="models")
    parser.add_argument("--admin-key")
    args = parser.parse_args()
    Upstream(models=args.models, admin_key=args.admin_key).serve_forever(args.port)


if __name__ == "__main__":
    main()
