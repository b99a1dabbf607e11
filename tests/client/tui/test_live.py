"""A streaming reply drawn block by block looks as the finished reply does."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markdown import Markdown
from textual.app import App

from chatthy.client.tui.live import LiveMarkdown, finished_upto
from chatthy.client.tui.render import markdown_content, markdown_document, markdown_strips

REPLY = """# Plan

First a paragraph with *emphasis* and `code`, long enough to wrap at sixty columns
of width, and then some.

- one item
- another item

  with a second paragraph

- a third, after a blank line

1. first
2. second

```python
def f(x):

    return x + 1
```

    an indented code block

> a quote

| a | b |
|---|---|
| 1 | 2 |

The end.
"""


def blocks_as_streamed(text: str, chunk: int) -> list[str]:
    """The finished blocks and the tail, as they are cut while ``text`` arrives
    ``chunk`` characters at a time."""
    blocks, done = [], 0
    for end in range(chunk, len(text) + chunk, chunk):
        cut = finished_upto(text[:end], done)
        if cut > done:
            blocks.append(text[done:cut])
            done = cut
    return [*blocks, text[done:]]


def lines(source: str, width: int, follows: bool = False, trim: bool = True) -> list[str]:
    strips, _ = markdown_strips(source, width, follows=follows, trim=trim)
    return [strip.text for strip in strips]


def test_blocks_are_cut_between_paragraphs_never_in_a_list_or_a_fence() -> None:
    blocks = blocks_as_streamed(REPLY, 7)
    assert "".join(blocks) == REPLY
    assert blocks[0] == "# Plan\n\n"
    assert any(b.startswith("- one item") and "- a third" in b for b in blocks)
    assert any(b.startswith("```python") and "return x + 1\n```" in b for b in blocks)
    assert blocks[-1] == "The end.\n"
    assert ends(blocks_as_streamed(REPLY, 64)) <= ends(blocks_as_streamed(REPLY, 1))


def ends(blocks: list[str]) -> set[int]:
    """Where each block ends in the text: a big chunk may finish several blocks at once,
    but never cut where small chunks would not."""
    offsets, total = set(), 0
    for block in blocks:
        total += len(block)
        offsets.add(total)
    return offsets


def test_drawn_block_by_block_it_looks_as_drawn_whole() -> None:
    for width in (40, 60, 100):
        *done, tail = blocks_as_streamed(REPLY, 5)
        pieces = lines(done[0], width, trim=False)
        for block in done[1:]:
            pieces += lines(block, width, follows=True, trim=False)
        assert pieces + lines(tail, width, follows=True) == lines(REPLY, width)


def test_messages_are_drawn_as_rich_draws_markdown() -> None:
    console = Console(file=io.StringIO(), width=60, force_terminal=True, color_system=None)
    rich = [
        "".join(s.text for s in line).rstrip()
        for line in console.render_lines(Markdown(REPLY), pad=False)
    ]
    while not rich[-1]:
        rich.pop()
    assert lines(REPLY, 60) == rich


async def test_a_streaming_reply_offers_the_lines_and_code_blocks_it_will_have() -> None:
    """What search, visual selection and ``c`` see of a reply while it streams: the lines
    and code blocks of the whole reply, once all of it came in chunks."""
    app: App[None] = App()
    async with app.run_test(size=(64, 80)) as pilot:
        live = LiveMarkdown()
        await app.mount(live)
        for start in range(0, len(REPLY), 5):
            live.append(REPLY[start : start + 5])
        await pilot.pause(0.2)
        whole, _, spans = markdown_content(markdown_document(REPLY), live.content_region.width)
        assert live.lines() == whole.plain.split("\n")
        assert live.code_spans() == spans
    codes = [s.code.rstrip("\n") for s in spans]
    assert codes == ["def f(x):\n\n    return x + 1", "an indented code block"]
