"""Reasoning text (``<think>…</think>``) is shown to users but never stored or sent back.

Models such as DeepSeek-R1, QwQ and Qwen3 write their reasoning inline, between
``<think>`` (or ``<thinking>``) tags, before the answer. :class:`ThinkSplitter` routes it
while a reply streams; :func:`strip_think` removes it from the finished reply before it
is saved. Both follow the same rules:

- the first closing tag ends a block (as vLLM's reasoning parsers do), so an opening
  tag quoted inside reasoning does not swallow the answer;
- an unterminated block runs to the end of the reply;
- tags inside markdown code (an odd number of backticks so far in the answer) are text,
  so a reply that explains ``<think>`` tags keeps all of its answer;
- a stray closing tag outside code is dropped;
- whitespace between a leading block and the answer is dropped.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["Kind", "ThinkSplitter", "strip_think"]

Kind = Literal["text", "reasoning"]

_TAG = re.compile(r"<(/?)think(?:ing)?>", re.IGNORECASE)
# What a tag can start with, matched as _TAG matches (IGNORECASE also takes "ı" for "i").
_TAG_START = re.compile(r"</?(?:t(?:h(?:i(?:n(?:k(?:i(?:n(?:g)?)?)?)?)?)?)?)?", re.IGNORECASE)
_LEADING_OPEN = re.compile(r"\s*<think(?:ing)?>", re.IGNORECASE)
_SPECIAL = re.compile(r"[<`]")


class ThinkSplitter:
    """Split a streamed reply into answer text and reasoning, chunk by chunk.

    Text that might be the start of a tag (a chunk ending in ``<thi``) is held back
    until the next chunk decides it; nothing else is held. ``in_think=True`` is for
    models such as QwQ whose template opens the block in the prompt, so the reply
    starts inside reasoning and carries only the closing tag.
    """

    def __init__(self, *, in_think: bool = False) -> None:
        self._pending = ""
        self._in_think = in_think
        self._in_code = False
        self._answer_started = False
        self._trim = False

    def feed(self, text: str) -> list[tuple[Kind, str]]:
        """Route ``text``; returns the pieces that can be shown now, in order."""
        self._pending += text
        return self._scan(final=False)

    def flush(self) -> list[tuple[Kind, str]]:
        """Route what is held back at the end of the stream (an incomplete tag is text)."""
        return self._scan(final=True)

    def _scan(self, *, final: bool) -> list[tuple[Kind, str]]:
        out: list[tuple[Kind, str]] = []
        buf, start, pos = self._pending, 0, 0
        while (found := _SPECIAL.search(buf, pos)) is not None:
            at = found.start()
            if buf[at] == "`":
                if not self._in_think:
                    self._in_code = not self._in_code
                pos = at + 1
                continue
            tag = _TAG.match(buf, at)
            if tag is not None and self._is_live(closing=bool(tag.group(1))):
                self._emit(out, buf[start:at])
                self._switch(closing=bool(tag.group(1)))
                start = pos = tag.end()
            elif tag is None and not final and _may_become_tag(buf, at):
                break
            else:
                pos = at + 1
        hold = len(buf) if final or found is None else found.start()
        self._emit(out, buf[start:hold])
        self._pending = buf[hold:]
        return out

    def _is_live(self, *, closing: bool) -> bool:
        """Whether a tag here is markup: it closes reasoning, or stands outside code."""
        return closing if self._in_think else not self._in_code

    def _switch(self, *, closing: bool) -> None:
        """Enter or leave reasoning; the answer after a leading block starts trimmed."""
        self._in_think = not closing
        self._trim = closing and not self._answer_started

    def _emit(self, out: list[tuple[Kind, str]], piece: str) -> None:
        if self._in_think:
            if piece:
                out.append(("reasoning", piece))
            return
        if self._trim:
            piece = piece.lstrip()
            self._trim = not piece
        if piece:
            self._answer_started = self._answer_started or not piece.isspace()
            out.append(("text", piece))


def _may_become_tag(buf: str, at: int) -> bool:
    """Whether the rest of ``buf`` from the ``<`` at ``at`` could still grow into a tag.

    Reads at most a tag's length: a copy of the rest at every ``<`` made a reply full of
    ``<`` quadratic (32 KB of HTML: 37 ms per scan)."""
    return _TAG_START.fullmatch(buf, at) is not None


def _starts_in_think(text: str) -> bool:
    """Whether the reply began inside reasoning: its first tag is a closing one (QwQ)."""
    first = _TAG.search(text)
    return first is not None and bool(first.group(1)) and text.count("`", 0, first.start()) % 2 == 0


def strip_think(text: str) -> str:
    """The reply without its reasoning: what is stored and sent back to the model later."""
    in_think = _starts_in_think(text)
    splitter = ThinkSplitter(in_think=in_think)
    pieces = splitter.feed(text) + splitter.flush()
    answer = "".join(piece for kind, piece in pieces if kind == "text")
    return answer.lstrip() if in_think or _LEADING_OPEN.match(text) else answer
