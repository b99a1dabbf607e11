"""Markdown drawn into a Tk Text widget: prose with fonts and colours by tags, code
highlighted by Pygments with a button to copy it, math as Unicode.

Two layers, so that what a message reads as is tested without a display: :func:`parse`
turns Markdown into :class:`Run` lists (text and the names of its tags) and
:class:`CodeBlock` s, and :func:`highlight` turns code into (text, tag) pairs;
:func:`configure` makes the tags (the one place that knows fonts and colours, so that
calling it again re-themes or resizes all that is shown) and :func:`render` inserts.

Tags the runs carry: ``h1``–``h3``, ``bold``, ``italic``, ``strike``, ``code`` (inline),
``link`` with ``url:<address>`` beside it, ``quote`` and ``quotebar`` (the bar before each
line of a quote), ``bullet``, ``item<N>`` (the line a list item begins, its bullet
hanging) and ``indent<N>`` (the item's further lines), ``hr``, ``table`` and ``th``.
The renderer adds one ``font…`` tag per run (a tag has one font, so bold and a heading
together need a font of their own) and ``codeblock``, ``codehead`` and ``tok.<Type>`` in
code blocks.
"""

from __future__ import annotations

import functools
import itertools
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

from markdown_it import MarkdownIt
from markdown_it.token import Token
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.styles import get_style_by_name
from pygments.token import STANDARD_TYPES, _TokenType
from pygments.util import ClassNotFound

from chatthy.client.latex import render_latex

if TYPE_CHECKING:
    import tkinter

__all__ = [
    "DARK",
    "LIGHT",
    "Block",
    "CodeBlock",
    "Palette",
    "Run",
    "configure",
    "highlight",
    "link_at",
    "parse",
    "render",
]


@dataclass(frozen=True)
class Palette:
    """The colours of a theme (``#rrggbb``), and the Pygments style its code is drawn in
    (chosen to go with ``code_background``)."""

    foreground: str
    background: str
    muted: str
    accent: str
    code_background: str
    link: str
    quote_bar: str
    user_background: str
    """Behind the user's own messages, to tell them from replies."""
    error: str
    code_style: str


LIGHT = Palette(
    foreground="#1f2328",
    background="#ffffff",
    muted="#6e7781",
    accent="#0550ae",
    code_background="#f6f8fa",
    link="#0969da",
    quote_bar="#afb8c1",
    user_background="#eef4ff",
    error="#cf222e",
    code_style="default",
)
DARK = Palette(
    foreground="#dcdfe4",
    background="#1e1f22",
    muted="#8b949e",
    accent="#79c0ff",
    code_background="#272822",
    link="#58a6ff",
    quote_bar="#5c6370",
    user_background="#263040",
    error="#ff7b72",
    code_style="monokai",
)


@dataclass(frozen=True)
class Run:
    """Text drawn one way: the names of its tags (see the module's docstring)."""

    text: str
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class CodeBlock:
    """A fenced or indented code block: its language (``""`` when none is given) and its
    code without the last line's newline; ``depth``: the list it sits in (0: none)."""

    language: str
    code: str
    depth: int = 0


Block: TypeAlias = list[Run] | CodeBlock
"""The prose between two code blocks (its line breaks and blank lines included), or one."""

MAX_DEPTH = 6
"""Lists nested deeper are drawn at this depth."""

_BULLETS = ("•", "◦", "▪")
_BAR = "▎ "
_RULE = "─" * 32
_PLAIN = "tok.Text"


@functools.cache
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table").enable("strikethrough")


def parse(markdown: str, *, latex: bool = True) -> list[Block]:
    """``markdown`` as the blocks :func:`render` draws, its math as Unicode if ``latex``
    (as the full-screen client shows it)."""
    source = render_latex(markdown) if latex else markdown
    builder = _Builder()
    builder.walk(_parser().parse(source))
    return builder.finish()


@dataclass
class _List:
    ordered: bool
    number: int
    tight: bool


@dataclass
class _Builder:
    """Markdown-it's tokens flattened into runs: blank lines go between blocks only when
    the next block opens (``newlines`` counts those already at the end, -1 before the
    first block), so nothing trails a message; a line's quote bars, bullet and margin
    tag are put when its first text comes."""

    blocks: list[Block] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    newlines: int = -1
    quotes: int = 0
    lists: list[_List] = field(default_factory=list)
    bullet: str | None = None
    block_tags: tuple[str, ...] = ()
    margin: tuple[str, ...] = ()

    def finish(self) -> list[Block]:
        self._flush()
        return self.blocks

    def _flush(self) -> None:
        if self.runs:
            self.blocks.append(_merged(self.runs))
            self.runs = []

    def _separate(self, lines: int) -> None:
        if self.newlines < 0:
            return
        while self.newlines < lines:
            self._newline()

    def _newline(self) -> None:
        """Ends the line; a blank one in a quote still shows the quote's bars."""
        ended = max(self.newlines, 0)
        if ended and self.quotes:
            self._start_line(bullet=False)
        self.runs.append(Run("\n", self.margin))
        self.newlines = ended + 1

    def _start_line(self, *, bullet: bool = True) -> None:
        depth = min(len(self.lists), MAX_DEPTH)
        item = bullet and self.bullet is not None
        self.margin = (f"item{depth}",) if item else (f"indent{depth}",) if depth else ()
        if self.quotes:
            self.runs.append(Run(_BAR * self.quotes, ("quotebar", *self.margin)))
        if item and self.bullet is not None:
            self.runs.append(Run(self.bullet + "\t", ("bullet", *self.margin)))
            self.bullet = None
        self.newlines = 0

    def emit(self, text: str, tags: tuple[str, ...] = ()) -> None:
        for number, line in enumerate(text.split("\n")):
            if number:
                self._newline()
            if not line:
                continue
            if self.newlines != 0:
                self._start_line()
            quote = ("quote",) if self.quotes else ()
            self.runs.append(Run(line, (*self.block_tags, *tags, *quote, *self.margin)))

    def walk(self, tokens: list[Token]) -> None:
        index = 0
        while index < len(tokens):
            index = self._token(tokens, index) + 1

    def _token(self, tokens: list[Token], index: int) -> int:
        """Takes in the token at ``index`` (and those it owns); the last one taken."""
        token = tokens[index]
        kind = token.type
        if kind == "inline":
            self._inline(token.children or [])
        elif kind == "paragraph_open":
            self._separate(1 if token.hidden else 2)
        elif kind == "heading_open":
            self._separate(2)
            self.block_tags = (f"h{min(int(token.tag[1:]), 3)}",)
        elif kind == "heading_close":
            self.block_tags = ()
        elif kind in ("fence", "code_block"):
            self._code(token)
        elif kind == "hr":
            self._separate(2)
            self.emit(_RULE, ("hr",))
        elif kind == "html_block":
            self._separate(2)
            self.emit(token.content.strip("\n"))
        elif kind == "blockquote_open":
            self._separate(2)
            self.quotes += 1
        elif kind == "blockquote_close":
            self.quotes -= 1
        elif kind in ("bullet_list_open", "ordered_list_open"):
            self._open_list(tokens, index)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind == "list_item_open":
            self._open_item()
        elif kind == "table_open":
            return self._table(tokens, index)
        return index

    def _open_list(self, tokens: list[Token], index: int) -> None:
        token = tokens[index]
        self._separate(1 if self.lists and self.lists[-1].tight else 2)
        tight = any(
            t.type == "paragraph_open" and t.hidden and t.level == token.level + 2
            for t in _until_close(tokens, index)
        )
        start = int(str(token.attrs.get("start", 1)))
        self.lists.append(_List(token.type == "ordered_list_open", start, tight))

    def _open_item(self) -> None:
        current = self.lists[-1]
        self._separate(1 if current.tight else 2)
        if current.ordered:
            self.bullet = f"{current.number}."
            current.number += 1
        else:
            self.bullet = _BULLETS[(len(self.lists) - 1) % len(_BULLETS)]

    def _code(self, token: Token) -> None:
        self._separate(2)
        code = token.content[:-1] if token.content.endswith("\n") else token.content
        language = token.info.split()[0] if token.info.strip() else ""
        self._flush()
        self.blocks.append(CodeBlock(language, code, min(len(self.lists), MAX_DEPTH)))
        self.bullet = None
        self.newlines = 1

    def _inline(self, children: list[Token]) -> None:
        stack: list[tuple[str, ...]] = []
        for child in children:
            tags = tuple(dict.fromkeys(itertools.chain.from_iterable(stack)))
            kind = child.type
            if kind in ("text", "html_inline"):
                self.emit(child.content, tags)
            elif kind == "code_inline":
                self.emit(child.content, (*tags, "code"))
            elif kind == "softbreak":
                self.emit(" ", tags)
            elif kind == "hardbreak":
                self._newline()
            elif kind == "image":
                address = str(child.attrs.get("src", ""))
                self.emit(child.content or "image", (*tags, "link", f"url:{address}"))
            elif kind.endswith("_open"):
                stack.append(_opened(child))
            elif kind.endswith("_close") and stack:
                stack.pop()

    def _table(self, tokens: list[Token], index: int) -> int:
        """Draws the table opening at ``index`` as aligned monospace lines; the index of
        its last token."""
        self._separate(2)
        rows: list[list[str]] = []
        aligns: list[str] = []
        header = 0
        inside = list(_until_close(tokens, index))
        for token in inside:
            if token.type == "tr_open":
                rows.append([])
            elif token.type in ("th_open", "td_open"):
                style = str(token.attrs.get("style", ""))
                if token.type == "th_open":
                    header = len(rows)
                    aligns.append(style.removeprefix("text-align:"))
            elif token.type == "inline":
                rows[-1].append(_plain(token.children or []))
        for number, line in enumerate(_table_lines(rows, aligns, header)):
            if number:
                self._newline()
            self.emit(line, ("table", "th") if number < header else ("table",))
        return index + len(inside) + 1


_OPENED = {"strong": ("bold",), "em": ("italic",), "s": ("strike",)}


def _opened(token: Token) -> tuple[str, ...]:
    """The tags an inline ``…_open`` token starts (until its ``…_close``)."""
    if token.type == "link_open":
        return ("link", f"url:{token.attrs.get('href', '')}")
    return _OPENED.get(token.type.removesuffix("_open"), ())


def _until_close(tokens: list[Token], index: int) -> Iterator[Token]:
    """The tokens inside the one opening at ``index``, up to its closing one."""
    level = tokens[index].level
    for token in itertools.islice(tokens, index + 1, None):
        if token.level == level and token.nesting < 0:
            return
        yield token


def _plain(children: list[Token]) -> str:
    return "".join(
        " " if c.type in ("softbreak", "hardbreak") else c.content
        for c in children
        if c.type in ("text", "code_inline", "softbreak", "hardbreak", "image", "html_inline")
    )


def _width(text: str) -> int:
    """Cells ``text`` takes in a monospace font: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _table_lines(rows: list[list[str]], aligns: list[str], header: int) -> list[str]:
    """The rows as lines, cells padded to their column's width and alignment, a rule
    under the ``header`` first rows."""
    columns = max((len(row) for row in rows), default=0)
    widths = [max((_width(r[c]) for r in rows if c < len(r)), default=0) for c in range(columns)]
    lines = []
    for row in rows:
        cells = [
            _aligned(row[c] if c < len(row) else "", widths[c], aligns, c) for c in range(columns)
        ]
        lines.append(" │ ".join(cells).rstrip())
    if 0 < header < len(rows) + 1:
        lines.insert(header, "─┼─".join("─" * w for w in widths))
    return lines


def _aligned(cell: str, width: int, aligns: list[str], column: int) -> str:
    pad = " " * (width - _width(cell))
    align = aligns[column] if column < len(aligns) else ""
    if align == "right":
        return pad + cell
    if align == "center":
        half = len(pad) // 2
        return pad[:half] + cell + pad[half:]
    return cell + pad


def _merged(runs: list[Run]) -> list[Run]:
    """Neighbouring runs of the same tags as one (fewer inserts into the widget)."""
    merged: list[Run] = []
    for run in runs:
        if merged and merged[-1].tags == run.tags:
            merged[-1] = Run(merged[-1].text + run.text, run.tags)
        else:
            merged.append(run)
    return merged


@functools.cache
def _lexer(language: str) -> Lexer | None:
    """Pygments looks a lexer up by name in ~1.5 ms; a chat has the same few languages.
    The lexer keeps the code's newlines as they are, so that the pairs join back to it."""
    if not language:
        return None
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def _token_tag(kind: _TokenType) -> str:
    """The tag of a token type: that of its nearest standard ancestor (styles colour only
    those, and :func:`configure` makes only their tags)."""
    while kind not in STANDARD_TYPES and kind.parent is not None:
        kind = kind.parent
    return "tok." + ".".join(kind) if kind else _PLAIN


def highlight(code: str, language: str) -> list[tuple[str, str]]:
    """``code`` as (text, tag) pairs that join back to it, tagged ``tok.<Type>`` by
    Pygments' lexer for ``language``; one ``tok.Text`` pair when it has no lexer."""
    lexer = _lexer(language.lower())
    if lexer is None:
        return [(code, _PLAIN)] if code else []
    pairs: list[tuple[str, str]] = []
    for kind, text in lexer.get_tokens(code):
        tag = _token_tag(kind)
        if pairs and pairs[-1][1] == tag:
            pairs[-1] = (pairs[-1][0] + text, tag)
        elif text:
            pairs.append((text, tag))
    return pairs


# ---- the widget -------------------------------------------------------------------

_LEVELS = {"body": 1.0, "h1": 1.6, "h2": 1.35, "h3": 1.15, "small": 0.85}
_MARK = "chatthy.markdown.insert"
_COPY = "chatthy_copy"
"""The name every copy button's begins with, so that :func:`configure` finds them."""
_copies = itertools.count()


def _font_tag(family: str, level: str, bold: bool, italic: bool) -> str:
    return f"font.{family}.{level}.{'b' if bold else ''}{'i' if italic else ''}"


def _font_of(tags: tuple[str, ...]) -> str:
    """The one font tag of a run with ``tags``."""
    mono = "code" in tags or "table" in tags
    level = next((t for t in tags if t in ("h1", "h2", "h3")), "body")
    bold = "bold" in tags or "th" in tags or level != "body"
    return _font_tag("mono" if mono else "prose", level, bold, "italic" in tags)


def _font(
    text: tkinter.Text, family: str, size: int, bold: bool, italic: bool
) -> tuple[str, int, *tuple[str, ...]]:
    """A font description in the family of Tk's default (``prose``) or fixed (``mono``)
    font: the desktop's choice, without named fonts to keep alive."""
    name = "TkFixedFont" if family == "mono" else "TkDefaultFont"
    actual = str(text.tk.call("font", "actual", name, "-family"))
    styles = tuple(style for style, on in (("bold", bold), ("italic", italic)) if on)
    return (actual, size, *styles)


def configure(text: tkinter.Text, palette: Palette, size: int = 11) -> None:
    """Makes (or remakes) every tag :func:`render` uses, in ``palette``'s colours with
    prose ``size`` points, and sets the widget's own colours and font to match: what is
    shown already changes with it. The copy buttons in ``text`` are re-coloured too."""
    text.configure(
        background=palette.background,
        foreground=palette.foreground,
        insertbackground=palette.foreground,
        font=_font(text, "prose", size, False, False),
    )
    _configure_fonts(text, size)
    unit = _unit(text)
    _configure_prose(text, palette, unit)
    _configure_code(text, palette, size, unit)
    for name in text.window_names():
        if str(name).rsplit(".", 1)[-1].startswith(_COPY):
            text.nametowidget(name).configure(_button_colours(text))
    text.tag_bind("link", "<Enter>", lambda _e: text.configure(cursor="hand2"))
    text.tag_bind("link", "<Leave>", lambda _e: text.configure(cursor="xterm"))


def _unit(text: tkinter.Text) -> int:
    """The step of list indents, in pixels: three digits of the widget's font."""
    return int(text.tk.call("font", "measure", text.cget("font"), "000"))


def _configure_fonts(text: tkinter.Text, size: int) -> None:
    for family, (level, scale), bold, italic in itertools.product(
        ("prose", "mono"), _LEVELS.items(), (False, True), (False, True)
    ):
        font = _font(text, family, max(round(size * scale), 6), bold, italic)
        text.tag_configure(_font_tag(family, level, bold, italic), font=font)


def _configure_prose(text: tkinter.Text, palette: Palette, unit: int) -> None:
    """Prose tags, made in the order of their priority (a link in a quote keeps its
    colour); list margins as multiples of ``unit`` pixels."""
    spacing = unit // 4
    text.tag_configure("strike", overstrike=True)
    text.tag_configure("code", background=palette.code_background)
    text.tag_configure("quote", foreground=palette.muted)
    text.tag_configure("quotebar", foreground=palette.quote_bar)
    text.tag_configure("bullet", foreground=palette.accent)
    text.tag_configure("hr", foreground=palette.quote_bar)
    text.tag_configure("th", foreground=palette.accent)
    for level in ("h1", "h2", "h3"):
        text.tag_configure(level, foreground=palette.accent, spacing1=spacing, spacing3=spacing)
    text.tag_configure("link", foreground=palette.link, underline=True)
    for depth in range(1, MAX_DEPTH + 1):
        margin = depth * unit
        text.tag_configure(f"item{depth}", lmargin1=margin - unit, lmargin2=margin, tabs=margin)
        text.tag_configure(f"indent{depth}", lmargin1=margin, lmargin2=margin, tabs=margin)


def _configure_code(text: tkinter.Text, palette: Palette, size: int, unit: int) -> None:
    """Code blocks: their background and margins, the language line, and one tag per
    standard token type in the colours and faces of ``palette``'s Pygments style."""
    pad = unit // 4
    code: dict[str, Any] = {"background": palette.code_background, "lmargin1": pad, "lmargin2": pad}
    text.tag_configure("codeblock", code, font=_font(text, "mono", size, False, False))
    text.tag_configure("codehead", code, foreground=palette.muted, spacing1=pad)
    style = get_style_by_name(palette.code_style)
    for kind in STANDARD_TYPES:
        spec = style.style_for_token(kind)
        font = _font(text, "mono", size, bool(spec["bold"]), bool(spec["italic"]))
        colour = f"#{spec['color']}" if spec["color"] else palette.foreground
        text.tag_configure(_token_tag(kind), foreground=colour, font=font)
    for depth in range(1, MAX_DEPTH + 1):
        text.tag_raise(f"indent{depth}")


def render(
    text: tkinter.Text,
    index: str,
    markdown: str,
    *,
    on_copy: Callable[[str], None],
    extra_tags: tuple[str, ...] = (),
    latex: bool = True,
) -> None:
    """Inserts ``markdown`` drawn (see :func:`parse`) where ``index`` is when called,
    every character (and copy button) tagged ``extra_tags`` too; nothing is inserted
    after its last line's end, not even a newline. :func:`configure` must have made the
    tags. Each code block has a "copy" button that calls ``on_copy`` with its code.

    The text goes in order at a mark of its own, so ``index`` may be anywhere: a mark
    the caller has there with gravity ``right`` (Tk's default) ends after the new text,
    ready for the next render; one with gravity ``left`` stays before it (to keep a
    message's start)."""
    text.mark_set(_MARK, index)
    text.mark_gravity(_MARK, "right")
    blocks = parse(markdown, latex=latex)
    for number, block in enumerate(blocks):
        if isinstance(block, CodeBlock):
            last = number == len(blocks) - 1
            _insert_code(text, block, on_copy, extra_tags, last=last)
        else:
            pairs = [(run.text, (*run.tags, _font_of(run.tags), *extra_tags)) for run in block]
            _insert(text, pairs)
    text.mark_unset(_MARK)


def _insert_code(
    text: tkinter.Text,
    block: CodeBlock,
    on_copy: Callable[[str], None],
    extra_tags: tuple[str, ...],
    *,
    last: bool,
) -> None:
    """A code block: a line with its language and copy button, then its code
    highlighted; the code's last newline left out if ``last``, so that nothing trails."""
    import tkinter

    indent = (f"indent{block.depth}",) if block.depth else ()
    head = (*indent, "codehead", _font_tag("prose", "small", False, False), *extra_tags)
    text.insert(_MARK, block.language or "code", head)
    button = tkinter.Button(
        text,
        name=f"{_COPY}{next(_copies)}",
        text="copy",
        command=lambda: on_copy(block.code),
        font=text.tag_cget(_font_tag("prose", "small", False, False), "font"),
        relief="flat",
        borderwidth=0,
        padx=4,
        pady=0,
        cursor="hand2",
        cnf=_button_colours(text),
    )
    text.window_create(_MARK, window=button, padx=_unit(text) // 3)
    for tag in head:
        text.tag_add(tag, f"{_MARK}-1c")
    body = (*indent, "codeblock", *extra_tags)
    pairs = [(part, (tag, *body)) for part, tag in highlight(block.code, block.language)]
    pairs.insert(0, ("\n", head))
    if not last:
        pairs.append(("\n", body))
    _insert(text, pairs)


def _insert(text: tkinter.Text, pairs: list[tuple[str, tuple[str, ...]]]) -> None:
    """Inserts the (text, tags) ``pairs`` at the render's mark in one call."""
    flat: list[Any] = list(itertools.chain.from_iterable(pairs))
    if flat:
        text.insert(_MARK, *flat)


def _button_colours(text: tkinter.Text) -> dict[str, Any]:
    """The copy button's colours from the tags :func:`configure` set (the palette is not
    kept anywhere else)."""
    background = str(text.tag_cget("codeblock", "background"))
    muted = str(text.tag_cget("codehead", "foreground"))
    return {
        "background": background,
        "foreground": muted,
        "activebackground": background,
        "activeforeground": str(text.cget("foreground")),
        "highlightbackground": background,
    }


def link_at(text: tkinter.Text, index: str) -> str | None:
    """The address of the link at ``index`` (for a click on a ``link`` tag), or None."""
    for tag in text.tag_names(index):
        if str(tag).startswith("url:"):
            return str(tag)[4:]
    return None
