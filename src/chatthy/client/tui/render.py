"""Markdown for messages that no longer change, drawn as one light widget each.

Textual's Markdown widget builds a widget per block (~40 ms for a short reply with a list
and a code block), too slow for a chat of thousands of messages. Here Rich renders the
Markdown once per width, and the lines become selectable :class:`Content`, so the mouse
selection and search work as on any text.
"""

from __future__ import annotations

import functools
import io
from typing import Any, ClassVar

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound
from rich.console import Console, ConsoleOptions, RenderResult
from rich.markdown import CodeBlock, MarkdownElement
from rich.markdown import Markdown as RichMarkdown
from rich.syntax import Syntax, SyntaxTheme
from rich.text import Text
from textual.content import Content
from textual.geometry import Size
from textual.widget import Widget

from chatthy.client.tui.latex import render_latex

__all__ = ["MarkdownText", "markdown_content", "warm_up"]

CODE_THEME = "monokai"


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
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        code = str(self.text).rstrip()
        theme = _theme(self.theme)
        yield Syntax(code, _lexer(self.lexer_name), theme=theme, word_wrap=True, padding=1)


class _Markdown(RichMarkdown):
    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **RichMarkdown.elements,
        "fence": _CodeBlock,
        "code_block": _CodeBlock,
    }

    def __init__(self, source: str, **options: Any) -> None:
        super().__init__(source, code_theme=CODE_THEME, **options)


@functools.cache
def _console() -> Console:
    return Console(
        file=io.StringIO(), color_system="truecolor", force_terminal=True, legacy_windows=False
    )


def markdown_content(source: str | RichMarkdown, width: int) -> tuple[Content, int]:
    """``source`` rendered as Markdown ``width`` cells wide, trailing spaces removed, and
    its number of lines."""
    console = _console()
    options = console.options.update(width=max(width, 1))
    document = _Markdown(source) if isinstance(source, str) else source
    lines = console.render_lines(document, options, pad=False)
    rows = []
    for line in lines:
        row = Text.assemble(*((s.text, s.style or "") for s in line if not s.control))
        row.rstrip()
        rows.append(row)
    while rows and not rows[-1].plain:
        rows.pop()
    return Content.from_rich_text(Text("\n").join(rows), console), len(rows)


def warm_up() -> None:
    """Render once what every chat needs (Markdown's and Pygments' regular expressions,
    the Python lexer), so that the first chat opened does not pay for it (~0.1 s)."""
    markdown_content("# a\n\n*b* `c`\n\n- d\n\n> e\n\n```python\nf = 1\n```\n", 40)


class MarkdownText(Widget):
    """Markdown that is drawn once per width; ``source`` is what was rendered. LaTeX math
    in it shows as Unicode unless ``latex`` is off (then as its source). It takes the
    setting of the first ancestor with a ``latex`` attribute when mounted."""

    DEFAULT_CSS = """
    MarkdownText { height: auto; padding: 0 1 0 2; }
    """

    def __init__(self, source: str, *, classes: str | None = None) -> None:
        super().__init__(classes=classes)
        self.source = source
        self.latex = True
        self._drawn: tuple[int, str, bool, Content, int] | None = None
        self._parsed: tuple[str, bool, RichMarkdown] | None = None
        self.marks: list[tuple[int, int, int | None, str]] = []
        """Highlights as (line, start, end or None for the whole line, style)."""

    def on_mount(self) -> None:
        owner = next((node for node in self.ancestors if hasattr(node, "latex")), None)
        if owner is not None:
            self.show_latex(bool(owner.latex))

    def _draw(self, width: int) -> tuple[int, str, bool, Content, int]:
        drawn = self._drawn
        if drawn is None or drawn[:3] != (width, self.source, self.latex):
            parsed = self._parsed
            if parsed is None or parsed[:2] != (self.source, self.latex):
                text = render_latex(self.source) if self.latex else self.source
                parsed = self._parsed = (self.source, self.latex, _Markdown(text))
            drawn = (width, self.source, self.latex, *markdown_content(parsed[2], width))
            self._drawn = drawn
        return drawn

    def update(self, source: str) -> None:
        self.source = source
        self.refresh(layout=True)

    def show_latex(self, on: bool) -> None:
        """Math as Unicode (``on``) or as its LaTeX source."""
        if on != self.latex:
            self.latex = on
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return self._draw(width)[4]

    def _content(self) -> Content:
        return self._draw(self.content_region.width or self.app.size.width)[3]

    def lines(self) -> list[str]:
        """The text of each line as drawn now."""
        return self._content().plain.split("\n")

    def set_marks(self, marks: list[tuple[int, int, int | None, str]]) -> None:
        if marks != self.marks:
            self.marks = marks
            self.refresh()

    def render(self) -> Content:
        content = self._content()
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
