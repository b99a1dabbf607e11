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
from typing import Any, ClassVar

import msgspec

from chatthy.conversation.events import (
    Finish,
    ProviderEvent,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    Usage,
)
from chatthy.conversation.model import Message, ToolSpec
from chatthy.errors import ProviderError

__all__ = [
    "Capabilities",
    "Finish",
    "Message",
    "Options",
    "Provider",
    "ProviderEvent",
    "ReasoningDelta",
    "TextDelta",
    "ToolCall",
    "ToolSpec",
    "Usage",
]


class Options(msgspec.Struct):
    """What one request asks of a provider; ``None`` means the provider's default."""

    model: str | None = None
    max_tokens: int | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    tools: list[ToolSpec] = msgspec.field(default_factory=list)
    """The tools the model may call; a provider whose :attr:`Provider.capabilities` lack
    ``tools`` ignores them, and none (the default) sends no tools parameter at all (some
    local servers refuse an empty list)."""
    tool_choice: str | None = None
    """``auto``, ``none``, ``required`` (some call must be made) or a tool's name (that
    one); ``None`` leaves it to the API's default. Sent only along with tools."""


class Capabilities(msgspec.Struct, frozen=True):
    """What a provider can do beyond streaming text, declared by its class so that nobody
    has to probe it: the server and clients read these, never ``hasattr``."""

    tools: bool = False
    """The model can be offered tools and ask for calls."""
    vision: bool = False
    """Image parts in a message reach the model."""
    reasoning: bool = False
    """The stream may carry reasoning (``ReasoningDelta``) apart from the reply."""
    model_loading: bool = False
    """:meth:`Provider.load_model` switches the model the endpoint serves (for everyone)."""


class Provider(abc.ABC):
    """A model endpoint. Subclasses implement :meth:`stream`; the rest has defaults."""

    name: str
    model: str
    context_length: int
    max_tokens: int
    capabilities: ClassVar[Capabilities] = Capabilities()
    """What this kind of provider can do; a subclass declares its own."""

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

    def offered_tools(self, options: Options) -> list[ToolSpec]:
        """The tools to send with a request: ``options.tools`` if this provider takes
        tools at all, else none, so a caller need not check :attr:`capabilities` first."""
        return options.tools if self.capabilities.tools else []

    async def models(self) -> list[str]:
        """The models this endpoint offers; by default only the configured one.

        Raises:
            ProviderError: the endpoint could not be asked.
        """
        return [self.model]

    async def load_model(self, name: str) -> None:
        """Load ``name`` on the endpoint and make it this provider's default model; only
        providers whose :attr:`capabilities` say ``model_loading`` override this.

        Raises:
            ProviderAuthError: the endpoint refused the (admin) key.
            ProviderError: this provider cannot load models, or the load failed.
        """
        raise ProviderError(f"provider '{self.name}' cannot load models")

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the provider is not used afterwards."""
