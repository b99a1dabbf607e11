"""The one extension point for models: ``Provider.stream(messages, options) → events``.

A provider turns a list of typed messages (:class:`~chatthy.conversation.model.Message`:
a role and parts) into an async stream of :data:`~chatthy.conversation.events.ProviderEvent`
(text, reasoning, tool calls, usage, and last how the model finished), converting both
to its API's shapes at this edge. Built-in
providers register in :mod:`chatthy.providers.registry` exactly as plugins would.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from chatthy.conversation.events import (
    Finish,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from chatthy.conversation.model import Message

__all__ = [
    "Finish",
    "Message",
    "Options",
    "Provider",
    "ProviderEvent",
    "ReasoningDelta",
    "TextDelta",
    "ToolCall",
    "Usage",
]


class Options(msgspec.Struct):
    """What one request asks of a provider; ``None`` means the provider's default."""

    model: str | None = None
    max_tokens: int | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)


class Provider(abc.ABC):
    """A model endpoint. Subclasses implement :meth:`stream`; the rest has defaults."""

    name: str
    model: str
    context_length: int
    max_tokens: int

    @abc.abstractmethod
    def stream(self, messages: list[Message], options: Options) -> AsyncIterator[ProviderEvent]:
        """Stream the reply to ``messages``.

        Raises:
            ProviderAuthError: the endpoint refused the key.
            ProviderRateLimitError: still 429 after the bounded retries.
            ProviderTimeoutError: no first byte, or a stall, beyond the timeout.
            ProviderConnectionError: unreachable, or the stream was cut.
            ProviderError: any other failure, with a one-line message.
        """

    async def models(self) -> list[str]:
        """The models this endpoint offers; by default only the configured one.

        Raises:
            ProviderError: the endpoint could not be asked.
        """
        return [self.model]

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the provider is not used afterwards."""
