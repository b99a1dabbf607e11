"""Fitting a chat into a provider's context length before every turn.

The system messages and the newest turn always go to the model; older turns are
dropped, oldest first and whole, until the rest leaves room for the reply. A turn is a
user message and the assistant and tool messages after it, so the history sent never
starts with an answer whose question is gone, nor with a tool result whose call is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import NamedTuple

import msgspec

from chatthy.context.tokens import count_message_tokens
from chatthy.conversation.model import Message
from chatthy.errors import ArgumentError

__all__ = ["Cut", "Fitted", "cut", "fit"]


class Fitted(msgspec.Struct, frozen=True):
    """What goes to the model, and what had to be left out to make it fit."""

    messages: list[Message]
    """The system messages, then the history kept, in order."""
    tokens: int
    """Tokens of ``messages``."""
    dropped: int
    """How many of the oldest history messages were left out."""
    dropped_tokens: int
    """Tokens of the messages left out."""


class Cut(NamedTuple):
    """Where a history is cut to fit: the first message kept, and token figures."""

    first: int
    tokens: int
    """Tokens of the system messages and the history from ``first`` on."""
    dropped_tokens: int


def _turn_starts(roles: Sequence[str]) -> list[int]:
    """Where history may be cut: its start and each user message, up to the newest turn."""
    return [0, *(i for i, role in enumerate(roles) if role == "user" and i > 0)]


def cut(
    system_tokens: int,
    roles: Sequence[str],
    counts: Sequence[int],
    context_length: int,
    max_tokens: int,
) -> Cut:
    """Where to cut a history of messages with these ``roles`` and token ``counts`` so
    that it fits beside ``system_tokens`` with ``max_tokens`` to spare: on a turn's start,
    oldest turns dropped first. Works on counts alone, so a long chat's contents need not
    be loaded to decide.

    Raises:
        ArgumentError: the system messages and the newest turn alone do not fit.
    """
    budget = context_length - max_tokens
    from_end = list(accumulate(reversed(counts), initial=0))[::-1]
    starts = _turn_starts(roles) if counts else [0]
    first = next((i for i in starts if system_tokens + from_end[i] <= budget), None)
    if first is None:
        needed = system_tokens + from_end[starts[-1]]
        raise ArgumentError(
            f"the message is {needed:,} tokens with the system prompt and its turn, but the "
            f"provider accepts {max(budget, 0):,} ({context_length:,} context less "
            f"{max_tokens:,} for the reply)"
        )
    return Cut(first, system_tokens + from_end[first], from_end[0] - from_end[first])


def fit(
    system: list[Message],
    history: list[Message],
    context_length: int,
    max_tokens: int,
    counter: Callable[[list[Message]], int] = count_message_tokens,
) -> Fitted:
    """Keep ``system`` and as much recent ``history`` as fits with ``max_tokens`` to spare.

    ``counter`` must be additive (a list counts as the sum of its messages); each message
    is counted once, so a caching counter makes fitting long chats cheap.

    Raises:
        ArgumentError: the system messages and the newest turn alone do not fit.
    """
    system_tokens = sum(counter([message]) for message in system)
    counts = [counter([message]) for message in history]
    where = cut(system_tokens, [m.role for m in history], counts, context_length, max_tokens)
    return Fitted(
        messages=[*system, *history[where.first :]],
        tokens=where.tokens,
        dropped=where.first,
        dropped_tokens=where.dropped_tokens,
    )
