"""Reasoning is shown while it streams but never stored: strip_think and ThinkSplitter."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from chatthy.context import Kind, ThinkSplitter, strip_think


@pytest.mark.parametrize(
    ("reply", "stored"),
    [
        ("<think>The user wants a haiku.</think>\n\nSnow on the harbour.", "Snow on the harbour."),
        ("<thinking>\nplan\n</thinking>\nAnswer.", "Answer."),
        ("<THINK>loud</THINK>Answer.", "Answer."),
        ("Before. <think>aside</think> After.", "Before.  After."),
        ("<think>a</think>One. <think>b</think>Two.", "One. Two."),
        ("<think>cut off mid-thought", ""),
        ("Answer first. <think>then it rambles", "Answer first. "),
        ("The model reasons here.\nStill reasoning.</think>\n\nThe answer.", "The answer."),
        ("No tags at all.", "No tags at all."),
        ("    indented code stays indented", "    indented code stays indented"),
        ("", ""),
    ],
    ids=[
        "block",
        "thinking-tag",
        "upper-case",
        "mid-reply",
        "two-blocks",
        "unterminated-only",
        "unterminated-trailing",
        "missing-opening-tag",
        "no-tags",
        "leading-space-kept-without-tags",
        "empty",
    ],
)
def test_strip_think_keeps_only_the_answer(reply: str, stored: str) -> None:
    assert strip_think(reply) == stored


def test_an_opening_tag_quoted_in_reasoning_does_not_swallow_the_answer() -> None:
    reply = "<think>Should I answer inside <think> tags? No.</think>The answer is 4."
    assert strip_think(reply) == "The answer is 4."


def test_a_stray_closing_tag_after_the_reasoning_is_dropped() -> None:
    assert strip_think("<think>a <think>b</think> c</think> d") == "c d"


@pytest.mark.parametrize(
    "reply",
    [
        "Wrap the reasoning in `<think>` and end it with `</think>`, then answer.",
        "Example:\n```xml\n<think>\nweigh the options\n</think>\nfinal answer\n```\nThat's all.",
        "A lone `</think>` in code is not the end of any reasoning.",
    ],
    ids=["inline-code", "fenced-code", "closing-tag-in-code"],
)
def test_tags_inside_code_are_part_of_the_answer(reply: str) -> None:
    assert strip_think(reply) == reply


def test_reasoning_before_answer_about_tags_is_removed_but_the_code_kept() -> None:
    reply = "<think>They ask about tags.</think>Use `<think>` like this: `<think>…</think>`."
    assert strip_think(reply) == "Use `<think>` like this: `<think>…</think>`."


def _merged(pieces: list[tuple[Kind, str]]) -> list[tuple[Kind, str]]:
    merged: list[tuple[Kind, str]] = []
    for kind, text in pieces:
        if merged and merged[-1][0] == kind:
            merged[-1] = (kind, merged[-1][1] + text)
        else:
            merged.append((kind, text))
    return merged


def _stream(chunks: list[str], *, in_think: bool = False) -> list[tuple[Kind, str]]:
    splitter = ThinkSplitter(in_think=in_think)
    pieces = [piece for chunk in chunks for piece in splitter.feed(chunk)]
    return _merged(pieces + splitter.flush())


SAMPLE = (
    "<think>Step 1: read.\nStep 2: is a < b?</think>\n\nUse `<think>` tags; "
    "<b>bold</b> stays. <thinking>second thought</thinking>Done <thi"
)


def test_the_sample_is_routed_as_a_reader_expects() -> None:
    assert _stream([SAMPLE]) == [
        ("reasoning", "Step 1: read.\nStep 2: is a < b?"),
        ("text", "Use `<think>` tags; <b>bold</b> stays. "),
        ("reasoning", "second thought"),
        ("text", "Done <thi"),
    ]


def test_every_split_into_two_or_three_chunks_routes_like_the_whole() -> None:
    whole = _stream([SAMPLE])
    cuts = range(len(SAMPLE) + 1)
    for i, j in itertools.combinations_with_replacement(cuts, 2):
        assert _stream([SAMPLE[:i], SAMPLE[i:j], SAMPLE[j:]]) == whole, (i, j)


def test_character_by_character_routes_like_the_whole() -> None:
    assert _stream(list(SAMPLE)) == _stream([SAMPLE])


def test_a_chunk_ending_in_part_of_a_tag_shows_nothing_of_the_tag() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("Hi <thi") == [("text", "Hi ")]
    assert splitter.feed("nk>secret</thi") == [("reasoning", "secret")]
    assert splitter.feed("nk>ok") == [("text", "ok")]


def test_ordinary_text_is_held_back_no_longer_than_a_tag() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("if a < b and c <") == [("text", "if a < b and c ")]
    assert splitter.feed("d then") == [("text", "<d then")]
    assert splitter.feed("x <thinkin") == [("text", "x ")]
    assert splitter.flush() == [("text", "<thinkin")]


def test_an_unterminated_block_streams_as_reasoning_to_the_end() -> None:
    assert _stream(["<think>still", " going"]) == [("reasoning", "still going")]


def test_a_reply_that_starts_inside_reasoning_is_split_when_told() -> None:
    chunks = ["Weighing it up", "...</thi", "nk>\n\nThe answer."]
    assert _stream(chunks, in_think=True) == [
        ("reasoning", "Weighing it up..."),
        ("text", "The answer."),
    ]


@pytest.mark.parametrize(
    "reply",
    [
        SAMPLE,
        "<think>x</think>\n\n  Answer with `code` and <think>y</think> more.",
        "Plain text with no tags, and a < b > c.",
    ],
)
def test_streamed_text_is_what_gets_stored(reply: str) -> None:
    text = "".join(piece for kind, piece in _stream(list(reply)) if kind == "text")
    assert text == strip_think(reply)


def test_a_tag_the_pattern_matches_without_ascii_letters_is_held_back_too() -> None:
    # IGNORECASE takes "ı" (dotless i) for "i", so the whole reply has a tag here;
    # cut after the "ı", the start must still be held back, not shown as text.
    splitter = ThinkSplitter()
    assert splitter.feed("a <thı") == [("text", "a ")]
    assert splitter.feed("nk>b</think>c") == [("reasoning", "b"), ("text", "c")]
    assert strip_think("a <thınk>b</think>c") == "a c"


def test_a_long_run_after_a_lone_less_than_is_not_held() -> None:
    splitter = ThinkSplitter()
    assert splitter.feed("a <" + "b" * 10_000) == [("text", "a <" + "b" * 10_000)]


def test_the_splitter_says_a_reply_ended_in_an_unclosed_block() -> None:
    splitter = ThinkSplitter()
    splitter.feed("<think>Let me weigh")
    splitter.feed(" the options")
    splitter.flush()
    assert splitter.unclosed and splitter.answer_is_blank
    assert splitter.stored_text() == ""
    assert splitter.reasoning_text() == "Let me weigh the options"


def test_a_closed_block_with_an_answer_is_neither_unclosed_nor_blank() -> None:
    splitter = ThinkSplitter()
    splitter.feed("<think>plan</think>\n\n")
    assert not splitter.unclosed and splitter.answer_is_blank
    splitter.feed("Answer.")
    splitter.flush()
    assert not splitter.answer_is_blank
    assert (splitter.stored_text(), splitter.reasoning_text()) == ("Answer.", "plan")


def test_text_before_a_first_closing_tag_leaves_the_stored_text_when_the_tag_comes() -> None:
    # QwQ: shown as text while it streams (nothing says otherwise yet), but reasoning.
    splitter = ThinkSplitter()
    splitter.feed("Weighing it up...")
    assert splitter.stored_text() == "Weighing it up..."
    splitter.feed("</think>\n\nThe answer.")
    splitter.flush()
    assert splitter.stored_text() == "The answer."
    assert splitter.reasoning_text() == "Weighing it up..."


def test_mid_stream_the_stored_text_leaves_out_only_a_possible_tag() -> None:
    splitter = ThinkSplitter()
    splitter.feed("<think>x</think> One <thi")
    assert splitter.stored_text() == "One "
    splitter.feed("s is bold")
    assert splitter.stored_text() == "One <this is bold"


def test_a_splitter_told_the_reply_starts_inside_reasoning_stores_as_if_opened() -> None:
    splitter = ThinkSplitter(in_think=True)
    splitter.feed("plan</think>  Answer.")
    splitter.flush()
    assert splitter.stored_text() == strip_think("<think>plan</think>  Answer.") == "Answer."
    assert splitter.reasoning_text() == "plan"


# A seeded random fuzz against the splitter as it was before it kept what it routed
# (_OldSplitter, _old_strip_think below): the pieces shown must not change, and the
# stored text must be strip_think's, at the end and at every checkpoint.

_ATOMS = [
    "<think>", "</think>", "<thinking>", "</thinking>", "<THINK>", "</Thinking>",
    "`", "```", "<", "<th", "</", "<b>", ">", "text", "a", " ", "  ", "\n", "\u2003", "\x1f",
]  # fmt: skip


def _random_reply(rng: random.Random) -> str:
    return "".join(rng.choices(_ATOMS, k=rng.randint(0, 30)))


def _random_chunks(rng: random.Random, text: str) -> list[str]:
    if rng.random() < 0.2:
        return list(text)
    cuts = sorted(rng.choices(range(len(text) + 1), k=rng.randint(0, 8)))
    return [text[i:j] for i, j in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def _old_reasoning(text: str, *, in_think: bool) -> tuple[str, bool]:
    """What the old strip_think removed (less the tags), and whether it ended in a block."""
    splitter = _OldSplitter(in_think=in_think)
    pieces = splitter.feed(text) + splitter.flush()
    return "".join(p for kind, p in pieces if kind == "reasoning"), splitter._in_think


@pytest.mark.parametrize("in_think", [False, True], ids=["plain", "in-think"])
@pytest.mark.parametrize("seed", range(6))
def test_random_splits_route_as_before_and_store_what_strip_think_stores(
    seed: int, in_think: bool
) -> None:
    rng = random.Random(seed)
    opened = "<think>" if in_think else ""
    for _ in range(400):
        whole = _random_reply(rng)
        new, old = ThinkSplitter(in_think=in_think), _OldSplitter(in_think=in_think)
        fed = ""
        for chunk in _random_chunks(rng, whole):
            fed += chunk
            assert new.feed(chunk) == old.feed(chunk), (whole, fed)
            routed = fed[: len(fed) - len(old._pending)]
            assert new.stored_text() == _old_strip_think(opened + routed), (whole, fed)
        assert new.flush() == old.flush(), whole
        stored = new.stored_text()
        assert stored == strip_think(opened + whole) == _old_strip_think(opened + whole), whole
        starts_inside = _old_starts_in_think(opened + whole)
        reasoning, unclosed = _old_reasoning(opened + whole, in_think=starts_inside)
        assert (new.reasoning_text(), new.unclosed) == (reasoning, unclosed), whole
        assert new.answer_is_blank == (not stored.strip()), whole


# The reference oracle: ThinkSplitter and strip_think as they were before the splitter
# kept what it routed (commit 26420d8), copied unchanged but for the names.

_OLD_TAGS = ("<think>", "<thinking>", "</think>", "</thinking>")
_OLD_TAG = re.compile(r"<(/?)think(?:ing)?>", re.IGNORECASE)
_OLD_LEADING_OPEN = re.compile(r"\s*<think(?:ing)?>", re.IGNORECASE)
_OLD_SPECIAL = re.compile(r"[<`]")


class _OldSplitter:
    def __init__(self, *, in_think: bool = False) -> None:
        self._pending = ""
        self._in_think = in_think
        self._in_code = False
        self._answer_started = False
        self._trim = False

    def feed(self, text: str) -> list[tuple[Kind, str]]:
        self._pending += text
        return self._scan(final=False)

    def flush(self) -> list[tuple[Kind, str]]:
        return self._scan(final=True)

    def _scan(self, *, final: bool) -> list[tuple[Kind, str]]:
        out: list[tuple[Kind, str]] = []
        buf, start, pos = self._pending, 0, 0
        while (found := _OLD_SPECIAL.search(buf, pos)) is not None:
            at = found.start()
            if buf[at] == "`":
                if not self._in_think:
                    self._in_code = not self._in_code
                pos = at + 1
                continue
            tag = _OLD_TAG.match(buf, at)
            if tag is not None and self._is_live(closing=bool(tag.group(1))):
                self._emit(out, buf[start:at])
                self._switch(closing=bool(tag.group(1)))
                start = pos = tag.end()
            elif tag is None and not final and _old_may_become_tag(buf[at:]):
                break
            else:
                pos = at + 1
        hold = len(buf) if final or found is None else found.start()
        self._emit(out, buf[start:hold])
        self._pending = buf[hold:]
        return out

    def _is_live(self, *, closing: bool) -> bool:
        return closing if self._in_think else not self._in_code

    def _switch(self, *, closing: bool) -> None:
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


def _old_may_become_tag(tail: str) -> bool:
    lowered = tail.lower()
    return len(lowered) < len(_OLD_TAGS[-1]) and any(t.startswith(lowered) for t in _OLD_TAGS)


def _old_starts_in_think(text: str) -> bool:
    first = _OLD_TAG.search(text)
    return first is not None and bool(first.group(1)) and text.count("`", 0, first.start()) % 2 == 0


def _old_strip_think(text: str) -> str:
    in_think = _old_starts_in_think(text)
    splitter = _OldSplitter(in_think=in_think)
    pieces = splitter.feed(text) + splitter.flush()
    answer = "".join(piece for kind, piece in pieces if kind == "text")
    return answer.lstrip() if in_think or _OLD_LEADING_OPEN.match(text) else answer
