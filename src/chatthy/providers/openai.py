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

__all__ = ["OpenAIProvider"]

OFFICIAL_URL = "https://api.openai.com/v1"


class _Delta(msgspec.Struct):
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Chunk(msgspec.Struct):
    """The parts of a ``chat.completion.chunk`` we read; the rest is skipped unparsed."""

    choices: list[_Choice] | None = None
    usage: _Usage | None = None
    error: Any = None


_decode_chunks = msgspec.json.Decoder(list[_Chunk]).decode
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
            "messages": messages,
            "stream_options": {"include_usage": True},
            "max_tokens": options.max_tokens or self.max_tokens,
            **self.cfg.params,
            **options.params,
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
                usage: Usage | None = None
                async for batch in sse_batches(response.aiter_bytes()):
                    events, usage = self._decode(batch, usage)
                    for event in events:
                        yield event
                if usage is not None:
                    yield usage
            finally:
                await response.aclose()
        except ProviderError:
            raise
        except Exception as exc:
            raise self.fail.translate(exc, model, self.sdk_errors, started) from exc

    def _decode(
        self, batch: list[bytes], usage: Usage | None
    ) -> tuple[list[ProviderEvent], Usage | None]:
        """The merged deltas of one batch of payloads, and the latest usage seen."""
        payloads = [p for p in batch if p != _DONE]
        if not payloads:
            return [], usage
        try:
            chunks = _decode_chunks(b"[" + b",".join(payloads) + b"]")
        except msgspec.DecodeError as exc:
            raise ProviderError(f"{self.fail.prefix}: malformed stream from upstream") from exc
        merger = Merger()
        for chunk in chunks:
            if chunk.error is not None:
                raise self.fail.stream_error(chunk.error)
            if chunk.usage is not None:
                usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
            if chunk.choices and (delta := chunk.choices[0].delta) is not None:
                if reasoning := delta.reasoning_content or delta.reasoning:
                    merger.add(ReasoningDelta, reasoning)
                if delta.content:
                    merger.add(TextDelta, delta.content)
        return merger.take(), usage

    async def models(self) -> list[str]:
        try:
            return [model.id async for model in self.client.models.list()]
        except Exception as exc:
            raise self.fail.translate(exc, self.model, self.sdk_errors, False) from exc

    async def aclose(self) -> None:
        await self.client.close()
