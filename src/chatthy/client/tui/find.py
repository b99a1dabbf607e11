"""Search (``/``, n, N), the line-wise visual selection (``v``, j/k, ``y``) and the code
blocks (``c``) in the output. They work on the rendered lines of the messages, so what is
found and copied is what the user reads (math as shown, user messages with their quote
mark)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input

from chatthy.client.tui.live import LiveMarkdown
from chatthy.client.tui.render import CodeSpan, MarkdownText

__all__ = [
    "COPIED",
    "MATCH",
    "SELECTED",
    "CodeBlock",
    "Hit",
    "Marks",
    "Row",
    "SearchBar",
    "Shown",
    "code_blocks_in",
    "find_all",
    "mark",
    "marks_for",
    "matches",
    "rows_of",
]

MATCH = "#000000 on #ffd700"
"""The style of the match jumped to."""

SELECTED = "#ffffff on #3050a0"
"""The style of the lines of a visual selection."""

COPIED = "on #2a5a40"
"""The background of the code block copied last (its highlighting stays readable)."""


@dataclass(frozen=True)
class Marks:
    """The styles of the match, the visual selection and the copied code block."""

    match: str
    selected: str
    copied: str


COLOURED = Marks(MATCH, SELECTED, COPIED)

PLAIN = Marks("bold reverse underline", "reverse", "underline")
"""Marks without colour, for NO_COLOR: a colour alone would be taken away there."""


def marks_for(no_color: bool) -> Marks:
    """The marks to draw with (without colour when the user asked for NO_COLOR)."""
    return PLAIN if no_color else COLOURED


Shown = MarkdownText | LiveMarkdown
"""A message's text as drawn: a stored one, or a reply while it streams."""


@dataclass(frozen=True)
class Row:
    """One rendered line of a message; ``y`` is its row in the output's scrolled area."""

    widget: Shown
    line: int
    y: int
    text: str


@dataclass(frozen=True)
class Hit:
    """A match: ``row`` indexes the rows it was found in, ``start``/``end`` the columns."""

    row: int
    start: int
    end: int

    def key(self, rows: list[Row]) -> tuple[int, int]:
        return rows[self.row].y, self.start


def rows_of(log: Widget) -> list[Row]:
    """Every rendered line of the messages in ``log``, top to bottom, the reply streaming
    (as drawn so far) included; not what is hidden (folded reasoning)."""
    origin = log.content_region.y - round(log.scroll_y)
    rows: list[Row] = []
    for widget in log.query("MarkdownText, LiveMarkdown").results():
        if not isinstance(widget, Shown) or not _displayed(widget, log):
            continue
        top = widget.content_region.y - origin
        rows.extend(Row(widget, i, top + i, text) for i, text in enumerate(widget.lines()))
    return rows


def _displayed(widget: Widget, within: Widget) -> bool:
    """Whether ``widget`` and its ancestors up to ``within`` are all displayed."""
    node: Widget | None = widget
    while node is not None and node is not within:
        if not node.display:
            return False
        parent = node.parent
        node = parent if isinstance(parent, Widget) else None
    return True


@dataclass(frozen=True)
class CodeBlock:
    """A code block in the output: the message it is in, the block as drawn there, and
    the indices of its lines in the rows it was found in."""

    widget: Shown
    span: CodeSpan
    rows: range


def code_blocks_in(rows: list[Row]) -> list[CodeBlock]:
    """The code blocks drawn in ``rows`` (as :func:`rows_of` makes them), top to bottom."""
    blocks: list[CodeBlock] = []
    for index, row in enumerate(rows):
        if row.line == 0:
            for span in row.widget.code_spans():
                lines = range(index + span.first, index + span.last + 1)
                blocks.append(CodeBlock(row.widget, span, lines))
    return blocks


def _folded(query: str) -> bool:
    """Whether ``query`` is looked for ignoring case (it has no capitals)."""
    return not any(c.isupper() for c in query)


def matches(text: str, query: str) -> bool:
    """Whether ``text`` is ``query`` as :func:`find_all` finds it."""
    return text.lower() == query.lower() if _folded(query) else text == query


def find_all(rows: list[Row], query: str) -> list[Hit]:
    """The matches of ``query`` in ``rows``; case-insensitive unless it has capitals."""
    fold = _folded(query)
    needle = query.lower() if fold else query
    hits = []
    for index, row in enumerate(rows):
        text = row.text.lower() if fold else row.text
        start = text.find(needle)
        while start >= 0 and needle:
            hits.append(Hit(index, start, start + len(needle)))
            start = text.find(needle, start + 1)
    return hits


def mark(
    rows: list[Row],
    hit: Hit | None,
    selected: range | None,
    copied: range | None = None,
    styles: Marks = COLOURED,
) -> None:
    """Show ``hit``, the ``selected`` rows and the ``copied`` code block's rows
    highlighted in ``styles``, and nothing else."""
    marks: dict[Shown, list[tuple[int, int, int | None, str]]] = {}
    for widget in {row.widget for row in rows if row.widget.marks}:
        marks[widget] = []
    for index in copied or ():
        row = rows[index]
        marks.setdefault(row.widget, []).append((row.line, 0, None, styles.copied))
    for index in selected or ():
        row = rows[index]
        marks.setdefault(row.widget, []).append((row.line, 0, None, styles.selected))
    if hit is not None:
        row = rows[hit.row]
        marks.setdefault(row.widget, []).append((row.line, hit.start, hit.end, styles.match))
    for widget, wanted in marks.items():
        widget.set_marks(wanted)


class SearchBar(Input):
    """The search prompt under the output: Enter searches, Esc closes."""

    DEFAULT_CSS = """
    SearchBar { display: none; border: tall $accent; }
    SearchBar.-active { display: block; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", show=False),
    ]

    class Closed(Message):
        """The user left the search prompt without searching."""

    def __init__(self) -> None:
        super().__init__(placeholder="search the chat (Enter: find below · Esc: close)")

    def open(self) -> None:
        self.value = ""
        self.add_class("-active")
        self.focus()

    def close(self) -> None:
        self.remove_class("-active")

    def action_close(self) -> None:
        self.close()
        self.post_message(self.Closed())
