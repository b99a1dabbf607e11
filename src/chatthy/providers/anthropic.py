"""The ``anthropic`` scheme: Claude through the official SDK's Messages API.

Typed messages are converted at this edge: system messages become the ``system``
parameter, consecutive messages of one role are merged (the API wants strict
alternation), images become image blocks, tool calls ``tool_use`` blocks and tool results
``tool_result`` blocks of a user message; tools offered go as ``{name, description,
input_schema}``, and a streamed ``tool_use`` block (its input in ``input_json_delta``
pieces) comes back as one ``ToolCall`` when the block ends. As with the openai scheme,
the SSE stream is read raw and decoded with msgspec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import msgspec

from chatthy.config import ProviderConfig
from chatthy.conversation.model import (
    ImagePart,
    Message,
    Part,
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

__all__ = ["AnthropicProvider", "to_anthropic", "tools_body"]

OFFICIAL_URL = "https://api.anthropic.com"


class _Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class _Delta(msgspec.Struct):
    type: str = ""
    text: str = ""
    thinking: str = ""
    partial_json: str = ""
    stop_reason: str | None = None


class _Block(msgspec.Struct):
    """A content block: as ``content_block_start`` opens it, or whole in an answer."""

    type: str = ""
    text: str = ""
    thinking: str = ""
    id: str | None = None
    name: str | None = None
    input: Any = None


class _Message(msgspec.Struct):
    usage: _Usage | None = None


class _Event(msgspec.Struct):
    """The parts of a Messages stream event we read; the rest is skipped unparsed."""

    type: str = ""
    index: int = 0
    delta: _Delta | None = None
    content_block: _Block | None = None
    message: _Message | None = None
    usage: _Usage | None = None
    error: Any = None


class _Whole(msgspec.Struct):
    """The parts of a whole Messages answer we read."""

    type: str = ""
    content: list[_Block] | None = None
    stop_reason: str | None = None
    usage: _Usage | None = None
    error: Any = None


_decode_events = msgspec.json.Decoder(list[_Event]).decode
_decode_message = msgspec.json.Decoder(_Whole).decode


class _Tokens:
    """Token counts as they come in: message_start has the input, message_delta the output;
    and, beside them, the stream's stop and its tool_use blocks still open."""

    def __init__(self) -> None:
        self.input = 0
        self.output = 0
        self.seen = False
        self.stop_reason = ""
        self.stopped = False
        self.calls = PendingCalls()

    def update(self, usage: _Usage) -> None:
        self.seen = True
        fresh = usage.input_tokens
        cached = (usage.cache_creation_input_tokens or 0) + (usage.cache_read_input_tokens or 0)
        if fresh is not None or cached:
            self.input = max(self.input, (fresh or 0) + cached)
        if usage.output_tokens is not None:
            self.output = usage.output_tokens


class AnthropicProvider(SDKProvider):
    """Streams replies from Anthropic's Messages API (or a server that speaks it)."""

    capabilities = Capabilities(tools=True, vision=True, reasoning=True)
    env_var = "ANTHROPIC_API_KEY"
    official_host = "api.anthropic.com"

    def __init__(self, name: str, cfg: ProviderConfig) -> None:
        import anthropic
        import httpx2

        key = self._configure(name, cfg, OFFICIAL_URL)
        self.sdk_errors = SDKErrors(
            anthropic.APIStatusError, anthropic.APITimeoutError, anthropic.APIConnectionError
        )
        self.client = anthropic.AsyncAnthropic(
            base_url=self.base_url,
            api_key=key,
            max_retries=cfg.retries,
            timeout=httpx2.Timeout(cfg.timeout, connect=cfg.connect_timeout),
        )

    async def stream(
        self, messages: list[Message], options: Options
    ) -> AsyncIterator[ProviderEvent]:
        model = options.model or self.model
        system, turns = to_anthropic(messages)
        params = {**self.cfg.params, **options.params}
        extra: dict[str, Any] = {"system": system} if system else {}
        tools = tools_body(self.offered_tools(options), options.tool_choice)
        started = False
        try:
            async with self.client.messages.with_streaming_response.create(
                model=model,
                messages=cast(Any, turns),
                max_tokens=options.max_tokens or self.max_tokens,
                stream=True,
                extra_body={**extra, **params, **tools} or None,
            ) as response:
                started = True
                if is_json(response.headers.get("content-type", "")):
                    for event in self._message(await response.read()):
                        yield event
                    return
                tokens = _Tokens()
                async for batch in sse_batches(response.iter_bytes()):
                    for event in self._decode(batch, tokens):
                        yield event
                if not tokens.stopped:
                    raise ProviderIncompleteError(
                        f"{self.fail.prefix}: the stream ended before its end (message_stop)"
                    )
                for call in tokens.calls.take_all():
                    yield call
                if tokens.seen:
                    yield Usage(tokens.input, tokens.output)
                yield Finish(stop_reason(tokens.stop_reason))
        except ProviderError:
            raise
        except Exception as exc:
            raise self.fail.translate(exc, model, self.sdk_errors, started) from exc

    def _decode(self, batch: list[bytes], tokens: _Tokens) -> list[ProviderEvent]:
        """The merged deltas of one batch of payloads; usage goes into ``tokens``."""
        try:
            events = _decode_events(b"[" + b",".join(batch) + b"]")
        except msgspec.DecodeError as exc:
            raise ProviderError(f"{self.fail.prefix}: malformed stream from upstream") from exc
        merger = Merger()
        out: list[ProviderEvent] = []
        for event in events:
            if event.type == "content_block_delta" and event.delta is not None:
                if event.delta.type == "text_delta" and event.delta.text:
                    merger.add(TextDelta, event.delta.text)
                elif event.delta.type == "thinking_delta" and event.delta.thinking:
                    merger.add(ReasoningDelta, event.delta.thinking)
                elif event.delta.type == "input_json_delta":
                    tokens.calls.feed(event.index, None, None, event.delta.partial_json)
            elif event.type == "content_block_start" and event.content_block is not None:
                _open_block(tokens.calls, event.index, event.content_block)
            elif event.type == "content_block_stop":
                if (call := tokens.calls.take(event.index)) is not None:
                    out.extend(merger.take())
                    out.append(call)
            elif event.type == "message_start" and event.message and event.message.usage:
                tokens.update(event.message.usage)
            elif event.type == "message_delta":
                if event.usage is not None:
                    tokens.update(event.usage)
                if event.delta is not None and event.delta.stop_reason:
                    tokens.stop_reason = event.delta.stop_reason
            elif event.type == "message_stop":
                tokens.stopped = True
            elif event.type == "error":
                raise self.fail.stream_error(event.error)
        out.extend(merger.take())
        return out

    def _message(self, body: bytes) -> list[ProviderEvent]:
        """The events of a whole Messages answer: some proxies answer a streaming
        request with one."""
        try:
            message = _decode_message(body)
        except msgspec.DecodeError as exc:
            raise ProviderError(f"{self.fail.prefix}: malformed answer from upstream") from exc
        if message.type == "error":
            raise self.fail.stream_error(message.error)
        events: list[ProviderEvent] = []
        calls = PendingCalls()
        for index, block in enumerate(message.content or []):
            if block.type == "thinking" and block.thinking:
                events.append(ReasoningDelta(block.thinking))
            elif block.type == "text" and block.text:
                events.append(TextDelta(block.text))
            elif block.type == "tool_use":
                _open_block(calls, index, block)
                if (call := calls.take(index)) is not None:
                    events.append(call)
        if message.usage is not None:
            tokens = _Tokens()
            tokens.update(message.usage)
            events.append(Usage(tokens.input, tokens.output))
        events.append(Finish(stop_reason(message.stop_reason or "")))
        return events

    async def models(self) -> list[str]:
        try:
            return [model.id async for model in self.client.models.list()]
        except Exception as exc:
            raise self.fail.translate(exc, self.model, self.sdk_errors, False) from exc

    async def aclose(self) -> None:
        await self.client.close()


def _open_block(calls: PendingCalls, index: int, block: _Block) -> None:
    """Start a tool_use block's call. Its ``input`` is ``{}`` when the input streams after
    it; whole (in an answer, or from a proxy that sends no deltas) it is taken as is."""
    if block.type != "tool_use":
        return
    whole = msgspec.json.encode(block.input).decode() if block.input else None
    calls.feed(index, block.id, block.name, whole)


def tools_body(tools: list[ToolSpec], choice: str | None) -> dict[str, Any]:
    """The ``tools`` (and ``tool_choice``) request fields in Anthropic's shape; nothing
    at all for no tools."""
    if not tools:
        return {}
    body: dict[str, Any] = {"tools": [_tool(tool) for tool in tools]}
    if choice:
        name = tool_choice_name(choice)
        modes = {"auto": "auto", "required": "any", "none": "none"}
        body["tool_choice"] = {"type": "tool", "name": name} if name else {"type": modes[choice]}
    return body


def _tool(tool: ToolSpec) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool.name, "input_schema": tool.parameters}
    if tool.description:
        spec["description"] = tool.description
    return spec


def stop_reason(reason: str) -> str:
    """Anthropic's ``stop_reason`` as our finish reason."""
    return {
        "max_tokens": "length",
        "tool_use": "tool_calls",
        "refusal": "content_filter",
        "model_context_window_exceeded": "length",
    }.get(reason, "stop")


def to_anthropic(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """Typed messages as Anthropic's ``(system, messages)``.

    System texts are joined by blank lines; consecutive same-role messages become one
    message with their blocks in order (tool results travel in a user message); empty
    text blocks (refused by the API) vanish.
    """
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in split_steps(messages):
        if message.role == "system":
            system.extend(p.text for p in message.parts if isinstance(p, TextPart) and p.text)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = [b for b in map(_block, message.parts) if b is not None]
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(system), turns


def _block(part: Part) -> dict[str, Any] | None:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text} if part.text else None
    if isinstance(part, ImagePart):
        return _image(part.url)
    if isinstance(part, ToolCallPart):
        try:
            arguments = msgspec.json.decode(part.arguments or "{}")
        except msgspec.DecodeError:
            arguments = {}
        return {"type": "tool_use", "id": part.id, "name": part.name, "input": arguments}
    if isinstance(part, ToolResultPart):
        content: Any = part.content
        if part.images:  # text and image blocks (an empty text block is refused)
            images = [b for b in (_image(i.url) for i in part.images) if b is not None]
            content = [{"type": "text", "text": part.content}] if part.content else []
            content.extend(images)
        return {
            "type": "tool_result",
            "tool_use_id": part.call_id,
            "content": content,
            "is_error": part.is_error,
        }
    return None


def _image(url: str) -> dict[str, Any] | None:
    """An image block from a ``data:`` URL (inline base64) or a plain https URL."""
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";", 1)[0] or "image/png"
        source = {"type": "base64", "media_type": media_type, "data": data}
        return {"type": "image", "source": source}
    if url:
        return {"type": "image", "source": {"type": "url", "url": url}}
    return None
