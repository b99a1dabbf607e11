"""Building what a model sees: token counting, truncation, think-tag removal."""

from __future__ import annotations

from chatthy.context.think import Kind, ThinkSplitter, strip_think
from chatthy.context.tokens import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    TokenCache,
    count_message_tokens,
    count_tokens,
    estimate_tokens,
    tokenizer_name,
)
from chatthy.context.window import Fitted, fit

__all__ = [
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD",
    "Fitted",
    "Kind",
    "ThinkSplitter",
    "TokenCache",
    "count_message_tokens",
    "count_tokens",
    "estimate_tokens",
    "fit",
    "strip_think",
    "tokenizer_name",
]
