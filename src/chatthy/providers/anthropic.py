"""The ``anthropic`` scheme: Claude through the official SDK's Messages API.

Chatthy keeps messages in OpenAI shape; this module converts them at the edge: system
messages become the ``system`` parameter, consecutive messages of one role are merged
(the API wants strict alternation) and OpenAI image parts become Anthropic image blocks.
As with the openai scheme, the SSE stream is read raw and decoded with msgspec.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

import msgspec

from chatthy.config import ProviderConfig
from chatthy.errors import ProviderError
from chatthy.providers._common import SDKErrors, SDKProvider
from chatthy.providers._sse import Merger, sse_batches
from chatthy.providers.base import (
    Capabilities,
    Message,
    Options,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    Usage,
)

__all__ = ["AnthropicProvider", "to_anthropic"]

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


class _Message(msgspec.Struct):
    usage: _Usage | None = None


class _Event(msgspec.Struct):
    """The parts of a Messages stream event we read; the rest is skipped unparsed."""

    type: str = ""
    delta: _Delta | None = None
    message: _Message | None = None
    usage: _Usage | None = None
    error: Any = None


_decode_events = msgspec.json.Decoder(list[_Event]).decode


class _Tokens:
    """Token counts as they come in: message_start has the input, message_delta the output."""

    def __init__(self) -> None:
        self.input = 0
        self.output = 0
        self.seen = False

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
        started = False
        try:
            async with self.client.messages.with_streaming_response.create(
                model=model,
                messages=cast(Any, turns),
                max_tokens=options.max_tokens or self.max_tokens,
                stream=True,
                extra_body={**extra, **params} or None,
            ) as response:
                started = True
                tokens = _Tokens()
                async for batch in sse_batches(response.iter_bytes()):
                    for event in self._decode(batch, tokens):
                        yield event
                if tokens.seen:
                    yield Usage(tokens.input, tokens.output)
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
        for event in events:
            if event.type == "content_block_delta" and event.delta is not None:
                if event.delta.type == "text_delta" and event.delta.text:
                    merger.add(TextDelta, event.delta.text)
                elif event.delta.type == "thinking_delta" and event.delta.thinking:
                    merger.add(ReasoningDelta, event.delta.thinking)
            elif event.type == "message_start" and event.message and event.message.usage:
                tokens.update(event.message.usage)
            elif event.type == "message_delta" and event.usage is not None:
                tokens.update(event.usage)
            elif event.type == "error":
                raise self.fail.stream_error(event.error)
        return merger.take()

    async def models(self) -> list[str]:
        try:
            return [model.id async for model in self.client.models.list()]
        except Exception as exc:
            raise self.fail.translate(exc, self.model, self.sdk_errors, False) from exc

    async def aclose(self) -> None:
        await self.client.close()


def to_anthropic(messages: list[Message]) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI-shaped messages as Anthropic's ``(system, messages)``.

    System texts are joined by blank lines; consecutive same-role messages become one
    message with their blocks in order; empty text blocks (refused by the API) vanish.
    """
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        blocks = _blocks(message.get("content"))
        if role == "system":
            system.extend(b["text"] for b in blocks if b["type"] == "text")
            continue
        role = "assistant" if role == "assistant" else "user"
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return "\n\n".join(system), turns


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content or []:
        block = _block(part) if isinstance(part, dict) else None
        if block is not None:
            blocks.append(block)
    return blocks


def _block(part: dict[str, Any]) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        return {"type": "text", "text": part["text"]} if part.get("text") else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url", "") if isinstance(image, dict) else str(image or "")
        return _image(url)
    if kind == "image":
        return part
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
