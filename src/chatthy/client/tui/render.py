"""Markdown for messages that no longer change, drawn as one light widget each.

Textual's Markdown widget builds a widget per block (~40 ms for a short reply with a list
and a code block), too slow for a chat of thousands of messages. Here Rich renders the
Markdown once per width, and the lines become selectable :class:`Content`, so the mouse
selection and search work as on any text.
"""

from __future__ import annotations

import collections
import copy
import functools
import io
from dataclasses import dataclass
from typing import ClassVar

from markdown_it import MarkdownIt
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock, MarkdownElement
from rich.markdown import Markdown as RichMarkdown
from rich.segment import Segment
from rich.style import Style
from rich.syntax import Syntax, SyntaxTheme
from rich.text import Text
from textual.content import Content
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from chatthy.client.latex import render_latex

__all__ = [
    "CodeSpan",
    "MarkdownText",
    "drawn",
    "markdown_content",
    "markdown_document",
    "markdown_strips",
    "warm_up",
]

CODE_THEME = "monokai"

_CODE = "chatthy-code"
"""The meta key that tags the drawn lines of a code block with its code."""


@dataclass(frozen=True)
class CodeSpan:
    """A code block as drawn: its code, and its first and last line (the padding lines
    around the code included)."""

    code: str
    first: int
    last: int


@functools.cache
def _lexer(name: str) -> Lexer | str:
    """Pygments looks a lexer up by name in ~1.5 ms; a chat has the same few languages."""
    try:
        return get_lexer_by_name(name)
    except ClassNotFound:
        return "text"


@functools.cache
def _theme(name: str) -> SyntaxTheme:
    return Syntax.get_theme(name)


class _CodeBlock(CodeBlock):
    """A code block, highlighted, each of its lines led by an empty segment whose style
    holds the code (see :class:`CodeSpan`)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        theme = _theme(self.theme)
        syntax = Syntax(code, _lexer(self.lexer_name), theme=theme, word_wrap=True, padding=1)
        tag = Segment("", Style.from_meta({_CODE: code + "\n"}))
        for line in console.render_lines(syntax, options, pad=False):
            yield tag
            yield from line
            yield Segment.line()


class _Markdown(RichMarkdown):
    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **RichMarkdown.elements,
        "fence": _CodeBlock,
        "code_block": _CodeBlock,
    }


@functools.cache
def _parser() -> MarkdownIt:
    """The parser Rich would make, made once: Rich makes one per document (~0.4 ms, 20
    times the parsing of a short paragraph)."""
    return MarkdownIt().enable("strikethrough").enable("table")


@functools.cache
def _empty_document() -> _Markdown:
    return _Markdown("", code_theme=CODE_THEME)


@functools.cache
def _console() -> Console:
    return Console(
        file=io.StringIO(), color_system="truecolor", force_terminal=True, legacy_windows=False
    )


_BEFORE = "x\n\n"
"""A paragraph to draw a block after: Rich puts the blank line between two blocks before
the second, and some blocks (lists, quotes, tables) begin with one anyway."""


def markdown_document(source: str, latex: bool = True, *, follows: bool = False) -> RichMarkdown:
    """``source`` parsed as Markdown, its math as Unicode if ``latex``; if it ``follows``
    other blocks, after a one-line paragraph (to leave out) so as to be drawn as there.
    The document is a copy of an empty one given the text and its tokens, so that the
    parser is not built again."""
    document = copy.copy(_empty_document())
    document.markup = (_BEFORE if follows else "") + (render_latex(source) if latex else source)
    document.parsed = _parser().parse(document.markup)
    return document


def _draw(
    document: RichMarkdown, width: int, trim: bool = True
) -> tuple[list[Text], list[CodeSpan]]:
    """``document`` drawn ``width`` cells wide as lines without trailing spaces (nor,
    if ``trim``, trailing empty lines), and where its code blocks are."""
    console = _console()
    options = console.options.update(width=max(width, 1))
    rows: list[Text] = []
    spans: list[CodeSpan] = []
    codes: dict[Style, str | None] = {}
    for number, line in enumerate(console.render_lines(document, options, pad=False)):
        row, code = Text(), None
        for text, style, control in line:
            if control:
                continue
            if not text:
                if style is not None and style.link_id:
                    if style not in codes:
                        codes[style] = style.meta.get(_CODE)
                    code = codes[style] or code
                continue
            row.append(text, style)
        row.rstrip()
        rows.append(row)
        if code is None:
            continue
        if spans and spans[-1].code == code and spans[-1].last == number - 1:
            spans[-1] = CodeSpan(code, spans[-1].first, number)
        else:
            spans.append(CodeSpan(code, number, number))
    while trim and rows and not rows[-1].plain:
        rows.pop()
    end = len(rows) - 1
    return rows, [CodeSpan(s.code, s.first, min(s.last, end)) for s in spans if s.first <= end]


def markdown_content(document: RichMarkdown, width: int) -> tuple[Content, int, list[CodeSpan]]:
    """``document`` drawn ``width`` cells wide as selectable text, its number of lines,
    and its code blocks."""
    rows, spans = _draw(document, width)
    return Content.from_rich_text(Text("\n").join(rows), _console()), len(rows), spans


_DRAWN: collections.OrderedDict[tuple[str, bool, int], tuple[Content, int, list[CodeSpan]]]
_DRAWN = collections.OrderedDict()
"""Messages drawn lately (source, LaTeX on, width → lines): the ones drawn ahead of the
view (:func:`draw_ahead`) and the ones let go of near it, drawn again for free."""

DRAWN_KEPT = 256


def drawn(source: str, latex: bool, width: int) -> tuple[Content, int, list[CodeSpan]]:
    """``source`` as Markdown ``width`` cells wide (see :func:`markdown_content`), from the
    cache of the messages drawn lately when it is there."""
    key = (source, latex, width)
    found = _DRAWN.get(key)
    if found is not None:
        _DRAWN.move_to_end(key)
        return found
    found = _DRAWN[key] = markdown_content(markdown_document(source, latex), width)
    if len(_DRAWN) > DRAWN_KEPT:
        _DRAWN.popitem(last=False)
    return found


def markdown_strips(
    source: str, width: int, latex: bool = True, *, follows: bool = False, trim: bool = True
) -> tuple[list[Strip], list[CodeSpan]]:
    """``source`` rendered as Markdown ``width`` cells wide, as lines to paint, and its
    code blocks; as drawn after other blocks if it ``follows`` them (see
    :func:`markdown_document`)."""
    console = _console()
    rows, spans = _draw(markdown_document(source, latex, follows=follows), width, trim)
    if follows:
        rows = rows[1:]
        spans = [CodeSpan(s.code, s.first - 1, s.last - 1) for s in spans if s.first > 0]
    return [Strip(row.render(console), row.cell_len) for row in rows], spans


def warm_up() -> None:
    """Render once what every chat needs (Markdown's and Pygments' regular expressions,
    the Python lexer), so that the first chat opened does not pay for it (~0.1 s)."""
    sample = "# a\n\n*b* `c`\n\n- d\n\n> e\n\n```python\nf = 1\n```\n"
    markdown_content(markdown_document(sample), 40)


class MarkdownText(Widget):
    """Markdown that is drawn once per width; ``source`` is what was rendered. LaTeX math
    in it shows as Unicode unless ``latex`` is off (then as its source). It takes the
    setting of the first ancestor with a ``latex`` attribute when mounted."""

    DEFAULT_CSS = """
    MarkdownText { height: auto; padding: 0 1 0 2; }
    """

    def __init__(
        self,
        source: str,
        *,
        classes: str | None = None,
        footer: str = "",
        footer_style: str = "$text-muted",
    ) -> None:
        super().__init__(classes=classes)
        self.source = source
        self.footer = footer
        """A muted line under the text (a message's time): not one of its :meth:`lines`."""
        self.footer_style = footer_style
        self.latex = True
        self._drawn: tuple[tuple[int, str, bool], tuple[Content, int, list[CodeSpan]]] | None
        self._drawn = None
        self.marks: list[tuple[int, int, int | None, str]] = []
        """Highlights as (line, start, end or None for the whole line, style)."""

    def on_mount(self) -> None:
        owner = next((node for node in self.ancestors if hasattr(node, "latex")), None)
        if owner is not None:
            self.show_latex(bool(owner.latex))

    def _draw(self, width: int) -> tuple[Content, int, list[CodeSpan]]:
        """The source drawn ``width`` wide: lines, how many, code blocks."""
        key = (width, self.source, self.latex)
        if self._drawn is None or self._drawn[0] != key:
            self._drawn = (key, drawn(self.source, self.latex, width))
        return self._drawn[1]

    def show_latex(self, on: bool) -> None:
        """Math as Unicode (``on``) or as its LaTeX source."""
        if on != self.latex:
            self.latex = on
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._draw(width)[1] + bool(self.footer)

    def _content(self) -> Content:
        return self._draw(self.content_region.width or self.app.size.width)[0]

    def code_spans(self) -> list[CodeSpan]:
        """The code blocks as drawn now."""
        return self._draw(self.content_region.width or self.app.size.width)[2]

    def lines(self) -> list[str]:
        """The text of each line as drawn now."""
        return self._content().plain.split("\n")

    def set_marks(self, marks: list[tuple[int, int, int | None, str]]) -> None:
        if marks != self.marks:
            self.marks = marks
            self.refresh()

    def render(self) -> Content:
        content = self._marked(self._content())
        if self.footer:
            content = Content.assemble(content, "\n", (self.footer, self.footer_style))
        return content

    def _marked(self, content: Content) -> Content:
        if not self.marks:
            return content
        starts = [0]
        for text in content.plain.split("\n"):
            starts.append(starts[-1] + len(text) + 1)
        for line, start, end, style in self.marks:
            if line < len(starts) - 1:
                first = starts[line]
                stop = starts[line + 1] - 1 if end is None else first + end
                content = content.stylize(style, first + start, max(stop, first + 1))
        return content
