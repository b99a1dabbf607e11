"""The OpenAI Chat Completions shapes at the router's edge: a request body in, typed
messages and options out; the loop's events out again as ``chat.completion.chunk`` SSE
lines or one ``chat.completion``, exactly as the official ``openai`` SDK reads them.

Bad input is a :class:`BadRequest` naming the field (``messages[2].content[1]``), which
the router answers 400 with; nothing half-read goes on to a model. Chunks are written as
bytes from a prefix made once per reply: a 200-chunk reply encodes 200 small JSON
strings, not 200 dicts.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from typing import Any

import msgspec

from chatthy.conversation.content import parts_of
from chatthy.conversation.events import (
    Finish,
    Notice,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolResult,
    Usage,
)
from chatthy.conversation.model import (
    Message,
    Part,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
)
from chatthy.errors import ArgumentError

__all__ = [
    "ANTHROPIC_PARAMS",
    "OPENAI_PARAMS",
    "Answer",
    "BadRequest",
    "ChatRequest",
    "error_body",
    "parse_request",
]

OPENAI_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "response_format",
        "user",
        "reasoning_effort",
        "parallel_tool_calls",
        "top_k",
        "min_p",
        "repetition_penalty",
    }
)
"""Generation parameters passed on to an OpenAI-compatible provider; ``model``,
``messages``, ``stream`` and the like are the router's to set."""

ANTHROPIC_PARAMS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k"}
"""The OpenAI parameters the Messages API has too (``stop`` becomes ``stop_sequences``);
the rest are left out, as OpenAI-compatible proxies do, rather than refused upstream."""

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_CHOICES = ("auto", "none", "required")
_FINISH = frozenset({"stop", "length", "tool_calls", "content_filter"})


class BadRequest(Exception):
    """A request body the router cannot take: ``message`` says why, ``param`` where."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class ChatRequest(msgspec.Struct):
    """What one ``/v1/chat/completions`` body asks, checked."""

    model: str
    messages: list[Message]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    tools: list[ToolSpec] = msgspec.field(default_factory=list)
    tool_choice: str | None = None
    show_tools: bool | None = None
    """``"chatthy": {"show_tools": …}`` in the body; None: the router's setting."""


def error_body(message: str, kind: str, code: str | None, param: str | None = None) -> bytes:
    """An OpenAI-shaped error: the SDK raises its error class with ``message``."""
    return _encode({"error": {"message": message, "type": kind, "param": param, "code": code}})


def parse_request(raw: bytes) -> ChatRequest:
    """The checked request of a body.

    Raises:
        BadRequest: not a JSON object, a field of a wrong type, a message or part the
            router cannot pass on.
    """
    try:
        body = _decode(raw)
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("model is required (GET /v1/models lists them)", "model")
    if body.get("n") not in (None, 1):
        raise BadRequest("n: only one choice per request is served", "n")
    options = body.get("stream_options") or {}
    extra = body.get("chatthy") or {}
    if not isinstance(options, dict) or not isinstance(extra, dict):
        raise BadRequest("stream_options and chatthy must be objects")
    show = extra.get("show_tools")
    tools = _tools(body.get("tools"))
    return ChatRequest(
        model=model,
        messages=messages_of(body.get("messages")),
        stream=_flag(body, "stream"),
        include_usage=bool(options.get("include_usage")),
        max_tokens=_max_tokens(body),
        params={k: v for k, v in body.items() if k in OPENAI_PARAMS and v is not None},
        tools=tools,
        tool_choice=_tool_choice(body.get("tool_choice")) if tools else None,
        show_tools=None if show is None else bool(show),
    )


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise BadRequest(f"{name} must be true or false", name)
    return bool(value)


def _max_tokens(body: dict[str, Any]) -> int | None:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BadRequest(f"{name} must be a positive integer", name)
        return value
    return None


def _tools(raw: Any) -> list[ToolSpec]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise BadRequest("tools must be a list", "tools")
    specs = []
    for n, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name or tool.get("type", "function") != "function":
            raise BadRequest(f"tools[{n}] is not a function with a name", f"tools[{n}]")
        assert isinstance(function, dict)
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(parameters, dict):
            raise BadRequest(f"tools[{n}].function.parameters must be an object", "tools")
        specs.append(ToolSpec(name, str(function.get("description") or ""), parameters))
    return specs


def _tool_choice(raw: Any) -> str | None:
    if raw is None or raw in _CHOICES:
        return raw
    function = raw.get("function") if isinstance(raw, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if isinstance(name, str) and name:
        return name
    raise BadRequest(
        'tool_choice is "auto", "none", "required" or {"type": "function", "function": '
        '{"name": …}}',
        "tool_choice",
    )


def messages_of(raw: Any) -> list[Message]:
    """OpenAI messages as typed ones: ``system``/``developer`` → system, user text and
    images, assistant text with its ``tool_calls``, and each run of ``tool`` messages
    as one tool message holding every result (both APIs take them so).

    Raises:
        BadRequest: naming the message (and part) that cannot be passed on.
    """
    if not isinstance(raw, list) or not raw:
        raise BadRequest("messages must be a non-empty list", "messages")
    out: list[Message] = []
    for n, message in enumerate(raw):
        if not isinstance(message, dict):
            raise BadRequest(f"messages[{n}] is not an object", "messages")
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            out.append(Message("system", (TextPart(_text(n, content)),)))
        elif role == "user":
            out.append(Message("user", _user(n, content)))
        elif role == "assistant":
            if said := _assistant(n, content, message.get("tool_calls")):
                out.append(Message("assistant", said))
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise BadRequest(f"messages[{n}] (tool) has no tool_call_id", "messages")
            result = ToolResultPart(call_id, _text(n, content))
            if out and out[-1].role == "tool":
                out[-1] = Message("tool", (*out[-1].parts, result))
            else:
                out.append(Message("tool", (result,)))
        else:
            raise BadRequest(
                f"messages[{n}] has role {role!r} (system, developer, user, assistant, tool)",
                "messages",
            )
    return out


def _text(n: int, content: Any) -> str:
    """Content that must be text: a string or a list of text parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for k, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            text = part.get("text", part.get("refusal")) if isinstance(part, dict) else None
            if kind not in ("text", "refusal") or not isinstance(text, str):
                raise BadRequest(f"messages[{n}].content[{k}] must be a text part", "messages")
            texts.append(text)
        return "".join(texts)
    raise BadRequest(f"messages[{n}].content must be text or a list of parts", "messages")


def _user(n: int, content: Any) -> tuple[Part, ...]:
    if isinstance(content, list):
        for k, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("text", "image_url"):
                raise BadRequest(
                    f"messages[{n}].content[{k}]: part type {kind!r} is not served "
                    "(text, image_url)",
                    "messages",
                )
        try:
            return parts_of(content)
        except ArgumentError as exc:
            raise BadRequest(f"messages[{n}]: {exc.message}", "messages") from None
    return (TextPart(_text(n, content)),)


def _assistant(n: int, content: Any, calls: Any) -> tuple[Part, ...]:
    text = _text(n, content)
    parts: list[Part] = [TextPart(text)] if text else []
    for k, call in enumerate(calls or ()):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not _strings(call, "id") or not function.get("name"):
            where = f"messages[{n}].tool_calls[{k}]"
            raise BadRequest(f"{where} needs an id and a function name", "messages")
        arguments = function.get("arguments") or "{}"
        if not isinstance(arguments, str):
            arguments = _encode(arguments).decode()
        parts.append(ToolCallPart(call["id"], str(function["name"]), arguments))
    return tuple(parts)


def _strings(fields: dict[str, Any], *keys: str) -> bool:
    return all(isinstance(fields.get(key), str) and fields[key] for key in keys)


def new_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


class Answer:
    """One reply on its way out: turns the loop's events into SSE chunks
    (:meth:`chunk`) or gathers them into one completion (:meth:`add`, :meth:`whole`).

    ``server_tools``: the router runs the calls (they and their results are shown only
    with ``show_tools``, in a ``chatthy`` field the SDK keeps as an extra); otherwise
    the calls are the client's own and go out as ``tool_calls``. The text of every step
    is the answer's, a blank line between steps."""

    def __init__(self, model: str, *, server_tools: bool, show_tools: bool) -> None:
        self.id = new_id()
        self.created = int(time.time())
        self.model = model
        self.server_tools = server_tools
        self.show_tools = show_tools
        self.calls = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.usage_seen = False
        self.finish = "stop"
        self.stepped = False
        """A tool step ended after text was sent: the next text starts a paragraph."""
        self.said = False
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.extras: list[dict[str, Any]] = []
        head = b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":' % (
            self.id.encode(),
            self.created,
        )
        self._head = head + _encode(model)
        self._prefix = self._head + b',"choices":[{"index":0,"delta":'

    # -- streaming --------------------------------------------------------------------

    def first(self) -> bytes:
        """The chunk that opens every stream (the role, as OpenAI sends it)."""
        return self._delta(b'{"role":"assistant","content":""}')

    def chunk(self, event: Any) -> bytes:
        """The SSE bytes of one event (empty for what is not sent)."""
        kind = type(event)
        if kind is TextDelta:
            return self._delta(b'{"content":' + _encode(self._paragraph(event.text)) + b"}")
        if kind is ReasoningDelta:
            return self._delta(b'{"reasoning_content":' + _encode(event.text) + b"}")
        if kind is ToolCall:
            if self.server_tools:
                shown = self._shown_call(event)
                return self._extra(shown) if shown else b""
            return self._delta(b'{"tool_calls":' + _encode([self._call(event)]) + b"}")
        extra = self._other(event)
        return self._extra(extra) if extra else b""

    def last(self, include_usage: bool) -> bytes:
        """The finish chunk, the usage chunk when asked, and ``[DONE]``."""
        end = self._prefix + b'{},"finish_reason":"' + self.finish.encode() + b'"}]}\n\n'
        if include_usage:
            end += self._head + b',"choices":[],"usage":' + _encode(self._usage()) + b"}\n\n"
        return end + b"data: [DONE]\n\n"

    def failed(self, message: str, code: str) -> bytes:
        """The error event that ends a stream cut by the provider (no ``[DONE]``)."""
        return b"data: " + error_body(message, "upstream_error", code) + b"\n\n"

    def _delta(self, delta: bytes) -> bytes:
        return self._prefix + delta + b',"finish_reason":null}]}\n\n'

    def _extra(self, extra: dict[str, Any]) -> bytes:
        return self._delta(b'{"chatthy":' + _encode(extra) + b"}")

    def _paragraph(self, text: str) -> str:
        if self.stepped:
            self.stepped = False
            text = "\n\n" + text
        self.said = True
        return text

    def _call(self, call: ToolCall) -> dict[str, Any]:
        index = self.calls
        self.calls += 1
        self.finish = "tool_calls"
        function = {"name": call.name, "arguments": call.arguments}
        return {"index": index, "id": call.id, "type": "function", "function": function}

    def _shown_call(self, call: ToolCall) -> dict[str, Any] | None:
        if not self.show_tools:
            return None
        return {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}

    def _other(self, event: Any) -> dict[str, Any] | None:
        """Results, usage, notices and the finish: state, and what ``chatthy`` shows."""
        kind = type(event)
        if kind is Usage:
            self.usage_seen = True
            self.input_tokens += event.input_tokens
            self.output_tokens += event.output_tokens
        elif kind is Finish:
            reason = event.reason if event.reason in _FINISH else "stop"
            self.finish = "tool_calls" if self.calls else reason
        elif kind is ToolResult:
            self.stepped = self.said
            if self.show_tools:
                return {
                    "type": "tool_result",
                    "call_id": event.call_id,
                    "name": event.name,
                    "content": event.content,
                    "is_error": event.is_error,
                    "seconds": event.seconds,
                }
        elif kind is Notice:
            return {"type": "notice", "kind": event.kind, "message": event.message}
        return None

    def _usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    # -- one completion ---------------------------------------------------------------

    def add(self, event: Any) -> None:
        """Gather one event into the completion :meth:`whole` makes."""
        kind = type(event)
        if kind is TextDelta:
            self.text.append(self._paragraph(event.text))
        elif kind is ReasoningDelta:
            self.reasoning.append(event.text)
        elif kind is ToolCall:
            if not self.server_tools:
                call = self._call(event)
                del call["index"]
                self.tool_calls.append(call)
            elif shown := self._shown_call(event):
                self.extras.append(shown)
        elif extra := self._other(event):
            self.extras.append(extra)

    def whole(self) -> bytes:
        """The ``chat.completion`` body."""
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        elif message["content"] is None:
            message["content"] = ""
        if self.reasoning:
            message["reasoning_content"] = "".join(self.reasoning)
        if self.extras:
            message["chatthy"] = self.extras
        choice = {"index": 0, "message": message, "finish_reason": self.finish, "logprobs": None}
        return _encode(
            {
                "id": self.id,
                "object": "chat.completion",
                "created": self.created,
                "model": self.model,
                "choices": [choice],
                "usage": self._usage(),
            }
        )


def anthropic_params(params: dict[str, Any]) -> dict[str, Any]:
    """The request's parameters the Messages API takes, under its names."""
    out = {ANTHROPIC_PARAMS[k]: v for k, v in params.items() if k in ANTHROPIC_PARAMS}
    stop = params.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    return out


def model_list(names: Sequence[str], created: int) -> bytes:
    """The ``/v1/models`` body."""
    data = [{"id": n, "object": "model", "created": created, "owned_by": "chatthy"} for n in names]
    return _encode({"object": "list", "data": data})
