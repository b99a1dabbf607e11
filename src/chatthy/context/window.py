"""Fitting a chat into a provider's context length before every turn.

The system messages and the newest turn always go to the model; older turns are
dropped, oldest first and whole, until the rest leaves room for the reply. A turn is a
user message and the assistant and tool messages after it, so the history sent never
starts with an answer whose question is gone, nor with a tool result whose call is gone.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import accumulate

import msgspec

from chatthy.context.tokens import count_message_tokens
from chatthy.errors import ArgumentError
from chatthy.providers.base import Message

__all__ = ["Fitted", "fit"]


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


def _turn_starts(history: list[Message]) -> list[int]:
    """Where history may be cut: its start and each user message, up to the newest turn."""
    users = [i for i, message in enumerate(history) if message.get("role") == "user"]
    return [0, *(i for i in users if i > 0)]


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
    budget = context_length - max_tokens
    system_tokens = sum(counter([message]) for message in system)
    counts = [counter([message]) for message in history]
    from_end = list(accumulate(reversed(counts), initial=0))[::-1]
    starts = _turn_starts(history) if history else [0]
    cut = next((i for i in starts if system_tokens + from_end[i] <= budget), None)
    if cut is None:
        needed = system_tokens + from_end[starts[-1]]
        raise ArgumentError(
            f"the message is {needed:,} tokens with the system prompt and its turn, but the "
            f"provider accepts {max(budget, 0):,} ({context_length:,} context less "
            f"{max_tokens:,} for the reply)"
        )
    return Fitted(
        messages=[*system, *history[cut:]],
        tokens=system_tokens + from_end[cut],
        dropped=cut,
        dropped_tokens=from_end[0] - from_end[cut],
    )
