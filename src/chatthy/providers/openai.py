"""The ``openai`` scheme: any OpenAI-compatible chat endpoint, through the official SDK.

One ``AsyncOpenAI`` client per provider, made once: building one per request cost the
predecessor ~25 ms each time. The request goes through the client's generic ``post``
with the body already encoded by msgspec, and the reply is read from the raw streaming
response, its SSE payloads decoded with msgspec into the few fields we use: the SDK's
typed request transform and chunk objects cost several times more CPU. The SDK still
does the request, the auth headers and the bounded retries on 429/5xx before the first
byte.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from chatthy.config import ProviderConfig
from chatthy.conversation.model import (
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    split_steps,
)
from chatthy.errors import ProviderError, ProviderIncompleteError
from chatthy.providers._common import SDKErrors, SDKProvider, is_json
from chatthy.providers._sse import Merger, sse_batches
from chatthy.providers._tools import PendingCalls, tool_choice_name
from chatthy.providers.base import (
    Capabilities,
    Finish,
    Options,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    Usage,
)

__all__ = ["OpenAIProvider", "finish_reason", "to_openai", "tools_body"]

OFFICIAL_URL = "https://api.openai.com/v1"


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: Any = None
    """Text (a piece of the JSON); a few servers send the decoded object instead."""


class _ToolDelta(msgspec.Struct):
    """A piece of a tool call: id and name come first, the arguments in pieces after."""

    index: int | None = None
    id: str | None = None
    function: _Function | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[_ToolDelta] | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Chunk(msgspec.Struct):
    """The parts of a ``chat.completion.chunk`` we read; the rest is skipped unparsed."""

    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    error: Any = None


class _FullChoice(msgspec.Struct):
    message: _Delta | None = None
    finish_reason: str | None = None


class _Completion(msgspec.Struct):
    """The parts of a whole ``chat.completion`` we read."""

    choices: list[_FullChoice] | None = None
    usage: _Usage | None = None
    error: Any = None


_decode_chunks = msgspec.json.Decoder(list[_Chunk]).decode
_decode_completion = msgspec.json.Decoder(_Completion).decode
_encode_body = msgspec.json.Encoder().encode
_DONE = b"[DONE]"
_PATH = "/chat/completions"


class OpenAIProvider(SDKProvider):
    """Streams chat completions from an OpenAI-compatible server."""

    capabilities = Capabilities(tools=True, vision=True, reasoning=True)
    env_var = "OPENAI_API_KEY"
    official_host = "api.openai.com"

    def __init__(self, name: str, cfg: ProviderConfig) -> None:
        import httpx2
        import openai

        key = self._configure(name, cfg, OFFICIAL_URL)
        self.sdk_errors = SDKErrors(
            openai.APIStatusError, openai.APITimeoutError, openai.APIConnectionError
        )
        self.client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=key,
            max_retries=cfg.retries,
            timeout=httpx2.Timeout(cfg.timeout, connect=cfg.connect_timeout),
        )
        self._response_type = httpx2.Response
        self._options: Any = {"security": {"bearer_auth": True}}
        """The streaming request is the client's generic ``post`` of the encoded body: the
        body of ``chat.completions.create`` goes through a recursive per-request transform
        (~0.25 ms per typed message; ~0.2 ms even with everything in ``extra_body``) and
        ``json.dumps``, a large part of what a request costs the server, while ours is
        plain JSON already. ``security`` asks for the bearer auth header as ``create`` does."""

    async def stream(
        self, messages: list[Message], options: Options
    ) -> AsyncIterator[ProviderEvent]:
        model = options.model or self.model
        body = {
            "model": model,
            "stream": True,
            "messages": to_openai(messages),
            "stream_options": {"include_usage": True},
            "max_tokens": options.max_tokens or self.max_tokens,
            **self.cfg.params,
            **options.params,
            **tools_body(self.offered_tools(options), options.tool_choice),
        }
        started = False
        try:
            response = await self.client.post(
                _PATH,
                cast_to=self._response_type,
                content=_encode_body(body),
                options=self._options,
                stream=True,
                stream_cls=None,
            )
            started = True
            try:
                if is_json(response.headers.get("content-type", "")):
                    for event in self._completion(await response.aread()):
                        yield event
                    return
                state = _State()
                async for batch in sse_batches(response.aiter_bytes()):
                    for event in self._decode(batch, state):
                        yield event
                if not state.done:
                    raise ProviderIncompleteError(
                        f"{self.fail.prefix}: the stream ended before its end ([DONE])"
                    )
                for call in state.calls.take_all():
                    yield call
                if state.usage is not None:
                    yield state.usage
                yield Finish(finish_reason(state.finish))
            finally:
                await response.aclose()
        except ProviderError:
            raise
        except Exception as exc:
            raise self.fail.translate(exc, model, self.sdk_errors, started) from exc

    def _decode(self, batch: list[bytes], state: _State) -> list[ProviderEvent]:
        """The merged deltas of one batch of payloads; usage, the finish reason and the
        end mark go into ``state``."""
        payloads = [p for p in batch if p != _DONE]
        state.done = state.done or len(payloads) < len(batch)
        if not payloads:
            return []
        try:
            chunks = _decode_chunks(b"[" + b",".join(payloads) + b"]")
        except msgspec.DecodeError as exc:
            raise ProviderError(f"{self.fail.prefix}: malformed stream from upstream") from exc
        merger = Merger()
        for chunk in chunks:
            if chunk.error is not None:
                raise self.fail.stream_error(chunk.error)
            if chunk.usage is not None:
                state.usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            if not chunk.choices:
                continue
            choice = chunk.choices[0]
            if choice.finish_reason:
                state.finish = choice.finish_reason
            if (delta := choice.delta) is not None:
                if reasoning := delta.reasoning_content or delta.reasoning:
                    merger.add(ReasoningDelta, reasoning)
                if delta.content:
                    merger.add(TextDelta, delta.content)
                if delta.tool_calls:
                    _feed_calls(state.calls, delta.tool_calls)
        events = merger.take()
        if state.finish and state.calls:
            events.extend(state.calls.take_all())
        return events

    def _completion(self, body: bytes) -> list[ProviderEvent]:
        """The events of a whole ``chat.completion``: some servers and proxies answer a
        streaming request with one."""
        try:
            completion = _decode_completion(body)
        except msgspec.DecodeError as exc:
            raise ProviderError(f"{self.fail.prefix}: malformed answer from upstream") from exc
        if completion.error is not None:
            raise self.fail.stream_error(completion.error)
        events: list[ProviderEvent] = []
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice is not None else None
        if message is not None:
            if reasoning := message.reasoning_content or message.reasoning:
                events.append(ReasoningDelta(reasoning))
            if message.content:
                events.append(TextDelta(message.content))
            if message.tool_calls:
                calls = PendingCalls()
                _feed_calls(calls, message.tool_calls, whole=True)
                events.extend(calls.take_all())
        if completion.usage is not None:
            usage = completion.usage
            events.append(Usage(usage.prompt_tokens, usage.completion_tokens))
        events.append(Finish(finish_reason(choice.finish_reason if choice else None)))
        return events

    async def models(self) -> list[str]:
        try:
            return [model.id async for model in self.client.models.list()]
        except Exception as exc:
            raise self.fail.translate(exc, self.model, self.sdk_errors, False) from exc

    async def aclose(self) -> None:
        await self.client.close()


class _State:
    """What a stream has said so far beyond its deltas."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.finish = ""
        self.done = False
        self.calls = PendingCalls()
        """Tool calls still arriving; they go out once the finish reason (or the end)
        comes: some servers interleave the pieces of parallel calls, so a call is only
        known complete then, and whoever runs the calls waits for the finish anyway."""


def _feed_calls(calls: PendingCalls, deltas: list[_ToolDelta], *, whole: bool = False) -> None:
    """Add tool call pieces; without an ``index`` (a few servers leave it out) a whole
    answer's calls go by their place in the list, a stream's by their ids."""
    for position, delta in enumerate(deltas):
        function = delta.function or _Function()
        arguments = function.arguments
        if arguments is not None and not isinstance(arguments, str):
            arguments = msgspec.json.encode(arguments).decode()
        if delta.index is not None or whole:
            index = delta.index if delta.index is not None else position
            calls.feed(index, delta.id, function.name, arguments)
        else:
            calls.feed_unindexed(delta.id, function.name, arguments)


def tools_body(tools: list[ToolSpec], choice: str | None) -> dict[str, Any]:
    """The ``tools`` (and ``tool_choice``) request fields in OpenAI's function shape;
    nothing at all for no tools."""
    if not tools:
        return {}
    body: dict[str, Any] = {"tools": [_function(tool) for tool in tools]}
    if choice:
        name = tool_choice_name(choice)
        body["tool_choice"] = choice if name is None else _named(name)
    return body


def _function(tool: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {"name": tool.name, "parameters": tool.parameters}
    if tool.description:
        function["description"] = tool.description
    return {"type": "function", "function": function}


def _named(name: str) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name}}


def finish_reason(reason: str | None) -> str:
    """OpenAI's ``finish_reason`` as ours: ``stop``, ``length``, ``tool_calls``,
    ``content_filter``, else ``other``; none given (some servers omit it) is ``stop``."""
    if not reason or reason == "eos":
        return "stop"
    if reason == "function_call":
        return "tool_calls"
    return reason if reason in ("stop", "length", "tool_calls", "content_filter") else "other"


def to_openai(messages: list[Message]) -> list[dict[str, Any]]:
    """Typed messages in the Chat Completions shape: text alone as a string, images as
    ``image_url`` parts, tool calls on the assistant message, each tool result as a
    ``tool`` message of its own (a tool message takes no image: those the tools of a step
    returned follow their results in a user message, each after a line naming its
    call)."""
    out: list[dict[str, Any]] = []
    for message in split_steps(messages):
        parts = message.parts
        if len(parts) == 1 and type(parts[0]) is TextPart:
            out.append({"role": message.role, "content": parts[0].text})
            continue
        content: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        returned: list[dict[str, Any]] = []
        for part in parts:
            if isinstance(part, TextPart):
                content.append({"type": "text", "text": part.text})
            elif isinstance(part, ImagePart):
                content.append({"type": "image_url", "image_url": {"url": part.url}})
            elif isinstance(part, ToolCallPart):
                function = {"name": part.name, "arguments": part.arguments}
                calls.append({"id": part.id, "type": "function", "function": function})
            elif isinstance(part, ToolResultPart):
                out.append({"role": "tool", "tool_call_id": part.call_id, "content": part.content})
                if part.images:
                    said = f"The images tool call {part.call_id} returned:"
                    returned.append({"type": "text", "text": said})
                    returned.extend(
                        {"type": "image_url", "image_url": {"url": i.url}} for i in part.images
                    )
        if returned:
            out.append({"role": "user", "content": returned})
        if content or calls:
            entry: dict[str, Any] = {"role": message.role, "content": content or None}
            if calls:
                entry["tool_calls"] = calls
            out.append(entry)
    return out
