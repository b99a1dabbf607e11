"""Reasoning text (``<think>…</think>``) is shown to users but never stored or sent back.

Models such as DeepSeek-R1, QwQ and Qwen3 write their reasoning inline, between
``<think>`` (or ``<thinking>``) tags, before the answer. :class:`ThinkSplitter` routes it
while a reply streams; :func:`strip_think` removes it from a finished reply. Both follow
the same rules:

- the first closing tag ends a block (as vLLM's reasoning parsers do), so an opening
  tag quoted inside reasoning does not swallow the answer;
- an unterminated block runs to the end of the reply;
- tags inside markdown code (an odd number of backticks so far in the answer) are text,
  so a reply that explains ``<think>`` tags keeps all of its answer;
- a stray closing tag outside code is dropped;
- whitespace between a leading block and the answer is dropped;
- a reply whose first tag closes a block (QwQ: the template opened it in the prompt) was
  reasoning up to that tag. Streaming shows that part as text (nothing says otherwise
  until the tag arrives); it is not stored.

A turn feeds every chunk to one splitter and never re-reads the reply:

- ``feed(chunk)`` / ``flush()``: the pieces to show now, in order;
- ``stored_text()``: the reply less its reasoning, what is saved. After ``flush()`` it
  is exactly ``strip_think(everything fed)``; mid-stream (a checkpoint), exactly
  ``strip_think`` of what was fed less the held-back tail that may still become a tag
  (at most 10 characters). A mid-stream value is not always a prefix of the final one:
  a first closing tag turns the text before it into reasoning, and a leading block
  drops the whitespace before it;
- ``reasoning_text()``: the blocks' text routed so far, without tags, and a QwQ reply's
  text before its first closing tag: what ``strip_think`` removes less tags and trimmed
  whitespace (reasoning a provider sends apart, as ``ReasoningDelta``, is not in it);
- ``unclosed``: the text so far ends inside a block; after ``flush()``, the reply ended
  in a ``<think>`` block it never closed;
- ``answer_is_blank``: ``stored_text()`` has no visible character (empty or whitespace).

A reply that ends ``unclosed`` with ``answer_is_blank`` (a model cut off while it was
thinking) would be stored as an empty answer: the turn engine should keep
``reasoning_text()`` and say what happened instead.
"""

from __future__ import annotations

import re
from typing import Literal

__all__ = ["Kind", "ThinkSplitter", "strip_think"]

Kind = Literal["text", "reasoning"]

_TAG = re.compile(r"<(/?)think(?:ing)?>", re.IGNORECASE)
# What a tag can start with, matched as _TAG matches (IGNORECASE also takes "ı" for "i").
_TAG_START = re.compile(r"</?(?:t(?:h(?:i(?:n(?:k(?:i(?:n(?:g)?)?)?)?)?)?)?)?", re.IGNORECASE)
_SPECIAL = re.compile(r"[<`]")


class ThinkSplitter:
    """Split a streamed reply into answer text and reasoning, chunk by chunk.

    Text that might be the start of a tag (a chunk ending in ``<thi``) is held back
    until the next chunk decides it; nothing else is held. ``in_think=True`` is for
    models such as QwQ whose template opens the block in the prompt, so the reply
    starts inside reasoning and carries only the closing tag; what is stored is then
    ``strip_think("<think>" + everything fed)``.

    The splitter keeps what it routed, so that the stored text costs no second scan.
    """

    def __init__(self, *, in_think: bool = False) -> None:
        self._pending = ""
        self._in_think = in_think
        self._in_code = False
        self._answer_started = False
        self._trim = False
        self._tagged = in_think  # seen the first tag, which decides how the answer starts
        self._lstrip = in_think  # the stored answer starts at its first visible character
        self._answer: list[str] = []
        self._reasoning: list[str] = []

    def feed(self, text: str) -> list[tuple[Kind, str]]:
        """Route ``text``; returns the pieces that can be shown now, in order."""
        self._pending += text
        return self._scan(final=False)

    def flush(self) -> list[tuple[Kind, str]]:
        """Route what is held back at the end of the stream (an incomplete tag is text)."""
        return self._scan(final=True)

    def stored_text(self) -> str:
        """What is saved of the reply so far: ``strip_think`` of it (see the module)."""
        return _joined(self._answer, lstrip=self._lstrip)

    def reasoning_text(self) -> str:
        """The reasoning routed so far, without tags (see the module); what a turn keeps
        when no answer came."""
        return _joined(self._reasoning)

    @property
    def unclosed(self) -> bool:
        """Whether the text so far ends inside a block (after ``flush()``: never closed)."""
        return self._in_think

    @property
    def answer_is_blank(self) -> bool:
        """Whether ``stored_text()`` has nothing but whitespace (or nothing)."""
        return all(piece.isspace() for piece in self._answer)

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
                self._tagged = self._tagged or tag is not None
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
        if not self._tagged:
            self._first_tag(closing=closing)
        self._in_think = not closing
        self._trim = closing and not self._answer_started

    def _first_tag(self, *, closing: bool) -> None:
        """Where the stored answer starts, which only the first tag tells (as in
        strip_think): after a first closing tag everything before it was reasoning; after
        a leading opening one (nothing but whitespace before it), at its first visible
        character. A first tag inside code is text and changes nothing."""
        self._tagged = True
        self._lstrip = closing or not self._answer_started
        if closing:
            self._reasoning, self._answer = self._answer, []

    def _emit(self, out: list[tuple[Kind, str]], piece: str) -> None:
        if self._in_think:
            if piece:
                out.append(("reasoning", piece))
                self._reasoning.append(piece)
            return
        if self._trim:
            piece = piece.lstrip()
            self._trim = not piece
        if piece:
            self._answer_started = self._answer_started or not piece.isspace()
            out.append(("text", piece))
            self._answer.append(piece)


def _may_become_tag(buf: str, at: int) -> bool:
    """Whether the rest of ``buf`` from the ``<`` at ``at`` could still grow into a tag.

    Reads at most a tag's length: a copy of the rest at every ``<`` made a reply full of
    ``<`` quadratic (32 KB of HTML: 37 ms per scan)."""
    return _TAG_START.fullmatch(buf, at) is not None


def _joined(pieces: list[str], *, lstrip: bool = False) -> str:
    """The pieces as one string, kept as the only piece: the next call joins only that and
    what came since (in C: a memory copy, not a scan)."""
    text = "".join(pieces).lstrip() if lstrip else "".join(pieces)
    pieces[:] = [text] if text else []
    return text


def strip_think(text: str) -> str:
    """The reply without its reasoning: what is stored and sent back to the model later."""
    splitter = ThinkSplitter()
    splitter.feed(text)
    splitter.flush()
    return splitter.stored_text()
