"""Helpers for the provider tests: a one-message conversation, the type of the ``make``
fixture (tests/providers/conftest.py), reading one reply whole or as it comes.

They live here rather than in that conftest so that tests import them by a name of their
own: ``from conftest import …`` gets whichever conftest pytest loaded last, and a type
checker sees only tests/conftest.py under that name."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing

from chatthy.providers.base import Message, Options, Provider, ProviderEvent

__all__ = ["HELLO", "MakeProvider", "closing_stream", "collect"]

HELLO: list[Message] = [Message.of_text("user", "hello")]

MakeProvider = Callable[..., Provider]


async def collect(
    provider: Provider, messages: list[Message] | None = None, options: Options | None = None
) -> list[ProviderEvent]:
    """Every event of one reply."""
    return [e async for e in provider.stream(messages or HELLO, options or Options())]


def closing_stream(
    provider: Provider, messages: list[Message], options: Options
) -> aclosing[AsyncGenerator[ProviderEvent]]:
    """One reply's events, closed (the request ended) when the ``async with`` is left.

    ``Provider.stream`` promises an async iterator; every provider's is an async generator,
    which is what can be closed."""
    stream = provider.stream(messages, options)
    assert isinstance(stream, AsyncGenerator), f"{type(provider).__name__}.stream is no generator"
    return aclosing(stream)
