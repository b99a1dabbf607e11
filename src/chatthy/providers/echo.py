"""The ``echo`` scheme: an offline provider that repeats the user, for fresh installs.

It needs no key, no network and no SDK, so a new server works end to end before any
model is configured, and tests get replies they can predict. The reply is
``echo: <last user text>``, streamed word by word ``delay`` seconds apart (param
``delay``, default 0.01) so that streaming is visible.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from chatthy.config import ProviderConfig
from chatthy.conversation.model import ImagePart, Message, TextPart
from chatthy.providers.base import (
    Capabilities,
    Finish,
    Options,
    Provider,
    ProviderEvent,
    TextDelta,
    Usage,
)

__all__ = ["EchoProvider", "echo_reply", "estimate_tokens"]

DEFAULT_DELAY = 0.01
_PIECES = re.compile(r"\S+\s*")
_TOKENS = re.compile(r"\w+|[^\w\s]")


def estimate_tokens(text: str) -> int:
    """A rough token count: words and punctuation marks, long words counted per 4 chars."""
    return sum(max(1, len(piece) // 4) for piece in _TOKENS.findall(text))


def _text_of(message: Message) -> str:
    parts = []
    for part in message.parts:
        if isinstance(part, TextPart):
            parts.append(part.text)
        elif isinstance(part, ImagePart):
            parts.append("[image]")
    return " ".join(parts)


def echo_reply(messages: list[Message]) -> str:
    """The whole reply echo gives to ``messages``."""
    for message in reversed(messages):
        if message.role == "user":
            return "echo: " + _text_of(message)
    return "echo: (nothing to echo)"


class EchoProvider(Provider):
    """Streams back ``echo: <last user text>``; deterministic and offline."""

    capabilities = Capabilities(vision=True)
    """It takes images (echoed as ``[image]``), so clients can test sending them offline;
    it never calls tools nor reasons."""

    def __init__(self, name: str, cfg: ProviderConfig) -> None:
        self.name = name
        self.model = cfg.model or "echo"
        self.context_length = cfg.context_length
        self.max_tokens = cfg.max_tokens
        self.params = dict(cfg.params)

    async def stream(
        self, messages: list[Message], options: Options
    ) -> AsyncIterator[ProviderEvent]:
        params = {**self.params, **options.params}
        delay = float(params.get("delay", DEFAULT_DELAY))
        limit = options.max_tokens or self.max_tokens
        every = _PIECES.findall(echo_reply(messages))
        pieces = every[:limit]
        for n, piece in enumerate(pieces):
            if n and delay > 0:
                await asyncio.sleep(delay)
            yield TextDelta(piece)
        prompt = sum(estimate_tokens(_text_of(m)) for m in messages)
        yield Usage(prompt, estimate_tokens("".join(pieces)))
        yield Finish("length" if len(pieces) < len(every) else "stop")
