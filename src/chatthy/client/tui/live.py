"""A reply while it streams, drawn at a cost that does not grow with its length.

The text is cut into finished blocks and the block still growing (the tail). A finished
block is drawn once (Rich Markdown, math as Unicode), as it would be drawn after the
blocks above it, so that the reply looks as it will once stored; new text only redraws
the tail. Blocks are cut at a blank line outside a code fence followed by a line that
starts a new top-level block, so that a list or an indented continuation stays in one
piece. When the reply ends, the whole text is drawn again as one document
(:class:`MarkdownText`), as stored replies are.

Chunks come far more often than a screen can be read: they are drawn together, at most
every :attr:`LiveMarkdown.FRAME` seconds, and the output is laid out again (which moves
and repaints everything on screen) only when the reply grew by a line.
"""

from __future__ import annotations

import re
import time
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

from chatthy.client.tui.render import CodeSpan, markdown_strips

__all__ = ["LiveMarkdown", "finished_upto"]

_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_ITEM = re.compile(r" {0,3}(?:[-*+]|\d{1,9}[.)])(?:[ \t]|$)")


def finished_upto(text: str, start: int) -> int:
    """Where the finished blocks of ``text[start:]`` end (``start`` when none has): the
    start of the last complete line that begins a new top-level block after a blank line
    outside a code fence (neither an indented line nor the next item of a list does), or
    the end of a top-level code fence once it is closed. ``start`` must be outside a
    fence."""
    cut, fence, blank, in_list = start, "", False, False
    position = start
    while (end := text.find("\n", position)) >= 0:
        line = text[position:end]
        if fence:
            closing = line.strip()
            if closing.startswith(fence) and set(closing) == {fence[0]}:
                fence = ""
                cut = end + 1 if not in_list and not line[0].isspace() else cut
        elif line.strip():
            item, indented = _ITEM.match(line) is not None, line[0] in " \t"
            if blank and not indented and not (item and in_list):
                cut = position
            in_list = item or (indented and in_list)
            if opening := _FENCE.match(line):
                fence = opening.group(1)
        blank = not fence and not line.strip()
        position = end + 1
    return cut


class LiveMarkdown(Widget):
    """Markdown that grows: finished blocks drawn once each, the tail redrawn at most
    every :attr:`FRAME` seconds, and the layout (which moves the whole output) redone
    only when the height changed. Math shows as Unicode unless ``latex`` is off; the
    setting is taken from the first ancestor with a ``latex`` attribute when mounted, as
    :class:`MarkdownText` does."""

    DEFAULT_CSS = """
    LiveMarkdown { height: auto; padding: 0 1 0 2; }
    """

    FRAME: ClassVar[float] = 1 / 30
    """Seconds between redraws while text arrives: what a chunk waits at most, unless
    drawing the tail takes longer (a long code block): then three times that, so that
    the client stays responsive."""

    def __init__(self, text: str = "", *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.text = ""
        self.latex = True
        self._done = 0
        """Where the tail starts in ``text``."""
        self._blocks: list[str] = []
        self._key = (0, True)
        self._drawn: list[Strip] = []
        self._spans: list[CodeSpan] = []
        """The code blocks of the finished blocks drawn, by their lines in ``_drawn``."""
        self._drawn_blocks = 0
        self._tail: tuple[str, list[Strip], list[CodeSpan]] = ("", [], [])
        self._height = 0
        self._due = False
        self._cost = 0.0
        """Seconds the tail took to draw last time."""
        self._style = Style()
        self._painted: dict[int, Strip] = {}
        """Finished lines as painted with ``_style``: they never change."""
        self.marks: list[tuple[int, int, int | None, str]] = []
        """Highlights as (line, start, end or None for the whole line, style), as
        :class:`MarkdownText` has them (search, visual selection, a copied code block)."""
        self._under: list[str] = []
        """The text each mark covered when it was set."""
        self._take(text)

    def on_mount(self) -> None:
        owner = next((node for node in self.ancestors if hasattr(node, "latex")), None)
        if owner is not None:
            self.show_latex(bool(owner.latex))

    def append(self, text: str) -> None:
        """Add ``text`` at the end; it shows within :attr:`FRAME` seconds."""
        if not text:
            return
        self._take(text)
        if not self._due:
            self._due = True
            self.set_timer(max(self.FRAME, 3 * self._cost), self._redraw)

    def _take(self, text: str) -> None:
        self.text += text
        cut = finished_upto(self.text, self._done)
        if cut > self._done:
            self._blocks.append(self.text[self._done : cut])
            self._done = cut

    def _redraw(self) -> None:
        self._due = False
        height = self._height
        self._measure(self.content_region.width or self.app.size.width, tail=True)
        if self.marks:
            self._drop_moved_marks()
        self.refresh(layout=self._height != height)

    def _drop_moved_marks(self) -> None:
        """Take away the marks whose text the last redraw changed (the growing lines are
        drawn again: a closing ``**`` or a table's new row can move what was marked)."""
        kept = [
            (mark, under)
            for mark, under in zip(self.marks, self._under, strict=True)
            if self._covered(mark) == under
        ]
        self.marks = [mark for mark, _ in kept]
        self._under = [under for _, under in kept]

    def show_latex(self, on: bool) -> None:
        """Math as Unicode (``on``) or as its LaTeX source."""
        if on != self.latex:
            self.latex = on
            self.refresh(layout=True)

    def _measure(self, width: int, *, tail: bool = False) -> int:
        """Draw the blocks finished since at ``width``, and the tail too if asked (only a
        redraw does, so that what it costs is paced) or if it has to be (the width
        changed, or it lost lines to a new block); the number of lines."""
        if self._key != (width, self.latex):
            self._key, self._drawn, self._spans = (width, self.latex), [], []
            self._drawn_blocks = 0
            self._tail = ("", [], [])
            self._painted.clear()
            tail = True
        for index in range(self._drawn_blocks, len(self._blocks)):
            block = self._blocks[index]
            drawn = markdown_strips(block, width, self.latex, follows=index > 0, trim=False)
            self._spans += _shifted(drawn[1], len(self._drawn))
            self._drawn += drawn[0]
            tail = True
        self._drawn_blocks = len(self._blocks)
        text = self.text[self._done :]
        if tail and text != self._tail[0]:
            started = time.perf_counter()
            lines: tuple[list[Strip], list[CodeSpan]] = ([], [])
            if text.strip():
                lines = markdown_strips(text, width, self.latex, follows=bool(self._blocks))
            self._tail, self._cost = (text, *lines), time.perf_counter() - started
        self._height = len(self._drawn) + len(self._tail[1])
        return self._height

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._measure(width)

    def lines(self) -> list[str]:
        """The text of each line as last drawn (what the reply shows so far)."""
        return [strip.text for strip in (*self._drawn, *self._tail[1])]

    def code_spans(self) -> list[CodeSpan]:
        """The code blocks as last drawn, the growing one included."""
        return self._spans + _shifted(self._tail[2], len(self._drawn))

    def set_marks(self, marks: list[tuple[int, int, int | None, str]]) -> None:
        if marks != self.marks:
            self.marks = marks
            self._under = [self._covered(mark) for mark in marks]
            self.refresh()

    def _covered(self, mark: tuple[int, int, int | None, str]) -> str:
        """The text ``mark`` covers as the reply is drawn now."""
        line, start, end, _ = mark
        drawn = self._line(line)
        return drawn.text[start:end] if drawn is not None else ""

    def _line(self, y: int) -> Strip | None:
        """Line ``y`` as last drawn (not painted), None past the end."""
        done, tail = self._drawn, self._tail[1]
        if y < len(done):
            return done[y]
        if y - len(done) < len(tail):
            return tail[y - len(done)]
        return None

    def render_lines(self, crop: Region) -> list[Strip]:
        style = self.rich_style
        if style != self._style:
            self._style = style
            self._painted.clear()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        """Line ``y`` as last measured (text that came since shows at the next redraw),
        with its marks."""
        line = self._line(y)
        if line is None:
            return Strip.blank(self._key[0], self._style)
        if y >= len(self._drawn):
            painted = self._paint(line)
        else:
            if y not in self._painted:
                self._painted[y] = self._paint(line)
            painted = self._painted[y]
        for row, start, end, style in self.marks:
            if row == y:
                painted = _highlight(painted, line.text, start, end, style)
        return painted

    def _paint(self, line: Strip) -> Strip:
        return line.apply_style(self._style).crop_extend(0, self._key[0], self._style)


def _shifted(spans: list[CodeSpan], lines: int) -> list[CodeSpan]:
    return [CodeSpan(s.code, s.first + lines, s.last + lines) for s in spans]


def _highlight(strip: Strip, text: str, start: int, end: int | None, style: str) -> Strip:
    """``strip`` with the characters ``start:end`` of its ``text`` (to the end of the text
    when ``end`` is None) drawn in ``style`` over their own."""
    width = strip.cell_length
    first = min(cell_len(text[:start]), width)
    last = min(max(cell_len(text if end is None else text[:end]), first + 1), width)
    before, middle, after = strip.divide([first, last, width])
    marked = Strip(Segment.apply_style(middle, post_style=Style.parse(style)), middle.cell_length)
    return Strip.join([before, marked, after])
