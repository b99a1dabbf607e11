"""Documents cut into chunks for the document store, along their structure.

A chunk is what a search finds and what a turn's context is given, so it should hold one
thing whole: a section's paragraphs rather than the end of one and the start of the next,
a code block or an equation rather than its top half. :func:`chunk_text` therefore cuts
in two steps. First it reads the document's blocks — Markdown headings, paragraphs and
fenced code; LaTeX sectioning commands, paragraphs and environments such as ``equation``
or ``verbatim``; plain text's and code's blank-line paragraphs — and the section each
belongs to. Then, section by section, it packs consecutive blocks into chunks of about
``size`` tokens. A block larger than that is cut at its weakest joints: prose at
sentences, then lines, then words; code and environments at blank lines, then lines,
then words; a run without any (a long hash, a base64 blob) at the size itself.

Every chunk is a slice of the text (``text[start:end]``) that starts and ends on a
non-blank character, so its offsets are right by construction and every character of the
document but the blank space between blocks lies in some chunk. A chunk never holds two
sections: a heading starts a new chunk, and the chunk carries its heading path ("Install
> Linux"). Within a section each chunk but the first starts with about ``overlap`` tokens
of the end of the one before it (from a word's start), so a sentence cut apart is still
whole in one of them.

Tokens are estimated as characters / 4 (:data:`CHARS_PER_TOKEN`), about what the common
tokenizers give for English prose and code. The exact counter of
:mod:`chatthy.context.tokens` costs far more than the whole of this cutting, and a chunk's
size needs to be right only on average: the search budget is counted exactly later.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Final

import msgspec

__all__ = ["CHARS_PER_TOKEN", "KINDS", "Chunk", "chunk_text", "estimate_tokens", "kind_of"]

CHARS_PER_TOKEN: Final = 4
"""The estimate of characters in one token that chunk sizes are reckoned with."""

KINDS: Final = ("markdown", "latex", "code", "text")
"""The kinds of document :func:`chunk_text` knows the structure of."""


class Chunk(msgspec.Struct, frozen=True):
    """One piece of a document: ``text`` is ``document[start:end]``."""

    text: str
    start: int
    """Offset of the chunk's first character in the document."""
    end: int
    """Offset just past its last character."""
    heading: str = ""
    """The heading path of its section, outermost first ("Install > Linux"); empty
    before the first heading and for documents without headings."""

    @property
    def tokens(self) -> int:
        """The chunk's estimated size in tokens."""
        return estimate_tokens(self.text)


def estimate_tokens(text: str) -> int:
    """About how many tokens ``text`` is: its characters / :data:`CHARS_PER_TOKEN`,
    rounded up."""
    return -(-len(text) // CHARS_PER_TOKEN)


# -- kinds -------------------------------------------------------------------------------

_MARKDOWN = {"md", "markdown", "mdown", "mkd", "mkdn", "mdx", "qmd", "rmd"}
_LATEX = {"tex", "latex", "ltx", "sty", "cls"}
_CODE = frozenset(
    {"py", "pyi", "pyx", "ipynb", "js", "mjs", "cjs", "jsx", "ts", "tsx", "mts", "vue",
     "svelte", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "hxx", "cu", "m", "mm", "rs", "go",
     "java", "kt", "kts", "scala", "groovy", "gradle", "rb", "php", "cs", "fs", "swift", "dart",
     "zig", "nim", "lua", "pl", "pm", "r", "jl", "hs", "ml", "mli", "ex", "exs", "erl", "hrl",
     "clj", "cljs", "el", "lisp", "scm", "rkt", "sql", "sh", "bash", "zsh", "fish", "ps1",
     "bat", "cmake", "mk", "make", "toml", "yaml", "yml", "json", "jsonc", "ini", "cfg", "conf",
     "xml", "xsl", "html", "htm", "css", "scss", "sass", "less", "proto", "graphql", "gql",
     "tf", "hcl", "nix", "v", "sv", "vhd", "vhdl", "asm", "s", "f", "f90", "d", "cr", "elm",
     "purs"}
)  # fmt: skip
_CODE_NAMES = {"makefile", "dockerfile", "containerfile", "justfile", "rakefile", "gemfile"}


def kind_of(name: str) -> str:
    """The kind of document a file or URL name suggests: ``"markdown"``, ``"latex"``,
    ``"code"`` or ``"text"`` (anything else, and names without an extension)."""
    if "://" in name:
        name = name.split("?", 1)[0].split("#", 1)[0]
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1].lower()
    if base in _CODE_NAMES:
        return "code"
    stem, dot, extension = base.rpartition(".")
    if not dot or not stem:
        return "text"
    if extension in _MARKDOWN:
        return "markdown"
    if extension in _LATEX:
        return "latex"
    if extension in _CODE:
        return "code"
    return "text"


# -- reading the blocks ------------------------------------------------------------------

_Block = tuple[int, int, bool]
"""A block's start, end, and whether it is cut like code (at blank lines, then lines)
rather than like prose (at sentences) when it is too large for one chunk."""
_Section = tuple[str, list[_Block]]

_BLANK = r"\n(?:[ \t\r\f\v]*\n)+"
"""Blank lines: they end a paragraph."""

# Every event starts with a newline (the one before its line), a literal the regex
# engine skips to at once: an alternation of ``^``-anchored patterns is tried at every
# character, three times slower. A heading or fence on the very first line is matched
# by _MARKDOWN_FIRST.
_FENCE = r"(?P<FENCE> {0,3}(?P<fence>`{3,}(?=[^`\n]*$)|~{3,})[^\n]*)"
_ATX = r"(?P<ATX> {0,3}(?P<hashes>#{1,6})(?:[ \t]+(?P<title>[^\n]*?))?(?:[ \t]+#+)?[ \t\r]*$)"
_MARKDOWN_EVENTS = re.compile(
    r"\n(?:" + _FENCE + "|" + _ATX + r"|(?P<SETEXT> {0,3}(?P<underline>=+|-+)[ \t\r]*$)"
    # Blank lines up to the last newline, which the next line's event starts with.
    r"|(?P<BLANK>(?:[ \t\r\f\v]*\n)*[ \t\r\f\v]*(?=\n)))",
    re.MULTILINE,
)
_MARKDOWN_FIRST = re.compile(_FENCE + "|" + _ATX, re.MULTILINE)
_NOT_A_TITLE = re.compile(r"(?:[-*+>|]|\d{1,9}[.)])(?:[ \t]|$)")
"""A line that is a list item, a quote or a table row, not a setext heading's title."""
_FRONT_MATTER_END = re.compile(r"^(?:---|\.\.\.)[ \t\r]*$", re.MULTILINE)

_LATEX_LEVELS = {
    "part": 0,
    "chapter": 1,
    "section": 2,
    "subsection": 3,
    "subsubsection": 4,
    "paragraph": 5,
    "subparagraph": 6,
}
_LATEX_WHOLE = (
    "equation", "align", "alignat", "flalign", "gather", "multline", "eqnarray", "displaymath",
    "math", "split", "verbatim", "Verbatim", "lstlisting", "minted", "alltt", "comment",
    "figure", "table", "tabular", "tabularx", "longtable", "algorithm", "algorithmic",
    "algorithm2e", "tikzpicture",
)  # fmt: skip
"""Environments kept in one chunk when they fit: cut in the middle, an equation or a
listing means nothing. ``document``, lists and the like are read as ordinary text."""
_LATEX_EVENTS = re.compile(
    # Both branches start with a literal (a backslash, a newline): the engine skips to
    # those at once (see _MARKDOWN_EVENTS).
    r"\\(?:(?P<SECTION>(?P<command>" + "|".join(_LATEX_LEVELS) + r")\*?[ \t]*"
    r"(?:\[[^\]\n]*\][ \t]*)?\{)"
    r"|(?P<ENV>begin\{(?P<env>(?:" + "|".join(_LATEX_WHOLE) + r")\*?)\}|\[))"
    r"|\n(?P<BLANK>(?:[ \t\r\f\v]*\n)+)"
)
_LATEX_COMMENT = re.compile(r"(?<!\\)%")
_LATEX_MARKUP = re.compile(r"\\(?:emph|textbf|textit|texttt|textsc|textrm|textsf|underline)\b")
_BRACES = re.compile(r"[{}]")
_TITLE_LIMIT = 300
"""Characters of a LaTeX title looked through for its closing brace, and of any title kept."""

_BLANKS_ONLY = re.compile(_BLANK)


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    """``start``/``end`` moved inwards past blank space."""
    part = text[start:end]
    kept = part.strip()
    if not kept:
        return end, end
    first = start + len(part) - len(part.lstrip())
    return first, first + len(kept)


class _Reader:
    """Collects a document's sections and their blocks as the events are met."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.sections: list[_Section] = []
        self.heading = ""
        self.blocks: list[_Block] = []
        self.path: list[tuple[int, str]] = []

    def block(self, start: int, end: int, whole: bool = False) -> None:
        """Add the text between ``start`` and ``end`` as a block, unless it is blank."""
        start, end = _strip(self.text, start, end)
        if start < end:
            self.blocks.append((start, end, whole))

    def section(self, level: int, title: str) -> None:
        """Start a section: the blocks from here on are under ``title``."""
        if self.blocks:
            self.sections.append((self.heading, self.blocks))
            self.blocks = []
        while self.path and self.path[-1][0] >= level:
            self.path.pop()
        self.path.append((level, " ".join(title.split())[:_TITLE_LIMIT]))
        self.heading = " > ".join(name for _, name in self.path if name)

    def done(self) -> list[_Section]:
        if self.blocks:
            self.sections.append((self.heading, self.blocks))
            self.blocks = []
        return self.sections


def _read_plain(text: str, whole: bool) -> list[_Section]:
    """Blank-line paragraphs, all in one section without a heading."""
    blocks: list[_Block] = []
    cursor = 0
    for found in _BLANKS_ONLY.finditer(text):
        start, end = _strip(text, cursor, found.start())
        if start < end:
            blocks.append((start, end, whole))
        cursor = found.end()
    start, end = _strip(text, cursor, len(text))
    if start < end:
        blocks.append((start, end, whole))
    return [("", blocks)] if blocks else []


@functools.cache
def _closing_fence(fence: str) -> re.Pattern[str]:
    """What closes a fence opened with ``fence``: as many of its character or more."""
    return re.compile(
        r"^ {0,3}" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t\r]*$", re.MULTILINE
    )


def _read_markdown(text: str) -> list[_Section]:
    reader = _Reader(text)
    cursor = pos = 0
    found: re.Match[str] | None = None
    if text.startswith(("---\n", "---\r\n")) and (
        front_matter := _FRONT_MATTER_END.search(text, text.index("\n") + 1)
    ):
        reader.block(0, front_matter.end(), whole=True)
        cursor = pos = front_matter.end()
    else:
        found = _MARKDOWN_FIRST.match(text)
    while found or (found := _MARKDOWN_EVENTS.search(text, pos)):
        pos = found.end()
        event = found.lastgroup
        line = found.start(event) if event else pos
        if event == "BLANK":
            reader.block(cursor, line)
            cursor = pos
        elif event == "FENCE":
            reader.block(cursor, line)
            closing = _closing_fence(found["fence"]).search(text, pos + 1)
            pos = cursor = closing.end() if closing else len(text)
            reader.block(line, cursor, whole=True)
        elif event == "ATX":
            reader.block(cursor, line)
            reader.section(len(found["hashes"]), found["title"] or "")
            reader.block(line, pos)
            cursor = pos
        else:  # SETEXT: the line just read is a heading's title
            start, end = _strip(text, cursor, line)
            title = text[start:end]
            # Else a rule (---, ===) under a block, a list or a longer paragraph: text.
            # CommonMark would make a whole paragraph the title; read so, one rule put
            # under a paragraph without a blank line turns it into a page-long heading.
            if title and "\n" not in title and not _NOT_A_TITLE.match(title):
                reader.section(1 if found["underline"][0] == "=" else 2, title)
                reader.block(start, pos)
                cursor = pos
        found = None
    reader.block(cursor, len(text))
    return reader.done()


def _latex_title(text: str, opening: int) -> tuple[str, int]:
    """The title whose ``{`` ends just before ``opening``, and where it ends: the braces
    are balanced (``\\section{The \\emph{model}}``); unbalanced, the line's rest is taken."""
    depth = 1
    for brace in _BRACES.finditer(text, opening, opening + _TITLE_LIMIT):
        depth += 1 if brace.group() == "{" else -1
        if depth == 0:
            title = _LATEX_MARKUP.sub("", text[opening : brace.start()])
            return title.replace("{", "").replace("}", ""), brace.end()
    end = text.find("\n", opening)
    end = len(text) if end < 0 else end
    return text[opening:end], end


def _commented(text: str, at: int) -> bool:
    """Whether ``at`` is inside a LaTeX comment (after a ``%`` on its line)."""
    line = text.rfind("\n", 0, at) + 1
    return "%" in text[line:at] and _LATEX_COMMENT.search(text, line, at) is not None


def _read_latex(text: str) -> list[_Section]:
    reader = _Reader(text)
    cursor = pos = 0
    while found := _LATEX_EVENTS.search(text, pos):
        pos = found.end()
        event = found.lastgroup
        at = found.start()
        if event == "BLANK":
            reader.block(cursor, at)
            cursor = pos
        elif _commented(text, at) or (
            event == "ENV" and not found["env"] and text[at - 1 : at] == "\\"
        ):
            continue  # in a comment, or \\[2pt] (a line break), not \[ (display math)
        elif event == "SECTION":
            title, end = _latex_title(text, pos)
            reader.block(cursor, at)
            reader.section(_LATEX_LEVELS[found["command"]], title)
            reader.block(at, end)
            cursor = pos = end
        else:  # ENV: kept whole up to its end; unended, it is ordinary text
            marker = f"\\end{{{found['env']}}}" if found["env"] else "\\]"
            end = text.find(marker, pos)
            if end < 0:
                continue
            reader.block(cursor, at)
            cursor = pos = end + len(marker)
            reader.block(at, cursor, whole=True)
    reader.block(cursor, len(text))
    return reader.done()


_READERS: dict[str, Callable[[str], list[_Section]]] = {
    "markdown": _read_markdown,
    "latex": _read_latex,
    "code": lambda text: _read_plain(text, whole=True),
    "text": lambda text: _read_plain(text, whole=False),
}


# -- cutting and packing -----------------------------------------------------------------

_SENTENCE_GAP = re.compile(r"[.!?。！？][\"'’”)\]]?\s+")
"""After a sentence's end (and a closing quote or bracket): the punctuation stays with
the sentence, the blank after it goes (a literal first, so the engine skips to it)."""
_BLANK_GAP = re.compile(r"\n[ \t\r\f\v]*\n")
_PROSE_GAPS = (_SENTENCE_GAP,)
_CODE_GAPS = (_BLANK_GAP,)
_NON_BLANK = re.compile(r"\S")
_WORD_START = re.compile(r"(?<=\s)\S")

_Span = tuple[int, int]


def _cut(
    text: str, start: int, end: int, limit: int, gaps: tuple[re.Pattern[str], ...], out: list[_Span]
) -> None:
    """Append to ``out`` the pieces of ``text[start:end]``, each at most ``limit``
    characters and none blank: cut at every gap of the first kind in ``gaps`` it has,
    a piece still too large at the next kinds, then at lines and words."""
    for level, gap in enumerate(gaps):
        pieces: list[_Span] = []
        at = start
        for found in gap.finditer(text, start, end):
            if found.start() > at:
                pieces.append(_strip(text, at, found.end()))
                at = found.end()
        if not pieces:
            continue
        pieces.append(_strip(text, at, end))
        finer = gaps[level + 1 :]
        for first, last in pieces:
            if first == last:
                continue
            if last - first <= limit:
                out.append((first, last))
            else:
                _cut(text, first, last, limit, finer, out)
        return
    _cut_lines(text, start, end, limit, out)


def _cut_lines(text: str, start: int, end: int, limit: int, out: list[_Span]) -> None:
    """Append to ``out`` pieces of ``text[start:end]`` as long as they can be within
    ``limit``: each ends at the last line break within reach, else the last space, else
    at ``limit`` itself (a run without either: a long hash, a base64 blob). Found with
    ``rfind`` rather than a regex over every word: a 5 MB paragraph without sentences
    would otherwise cost a Python step per word."""
    at = start
    while end - at > limit:
        reach = at + limit
        cut = text.rfind("\n", at + 1, reach + 1)
        if cut < 0:
            cut = max(text.rfind(" ", at + 1, reach + 1), text.rfind("\t", at + 1, reach + 1))
        if cut < 0:
            cut = reach
        first, last = _strip(text, at, cut)
        if first < last:
            out.append((first, last))
        following = _NON_BLANK.search(text, cut, end)
        if following is None:
            return
        at = following.start()
    out.append((at, end))


def _pack(
    text: str, heading: str, spans: list[_Span], limit: int, overlap: int, out: list[Chunk]
) -> None:
    """Append to ``out`` the chunks of one section: consecutive ``spans`` (each at most
    ``limit`` characters) together while they fit in ``limit``; each chunk after the
    first starts about ``overlap`` characters before the end of the last, at a word."""
    start, end = spans[0]
    for first, last in spans[1:]:
        if last - start <= limit:
            end = last
            continue
        out.append(Chunk(text[start:end], start, end, heading))
        new_start = first
        if overlap:
            # Not before the last chunk's start, nor so far back that the piece won't fit.
            earliest = max(end - overlap, last - limit, start + 1)
            if earliest < end and (word := _WORD_START.search(text, earliest, end)):
                new_start = word.start()
        start, end = new_start, last
    out.append(Chunk(text[start:end], start, end, heading))


def chunk_text(text: str, kind: str = "text", *, size: int = 300, overlap: int = 40) -> list[Chunk]:
    """``text`` cut into chunks of at most about ``size`` tokens along its structure
    (see the module's description), in document order.

    ``kind`` is one of :data:`KINDS` (:func:`kind_of` tells it from a file name).
    ``overlap`` tokens of a chunk's end start the next one in the same section; it is
    held to half of ``size``, so that every chunk brings text of its own.

    Raises:
        ValueError: an unknown ``kind``, a ``size`` below 1 or a negative ``overlap``.
    """
    reader = _READERS.get(kind)
    if reader is None:
        raise ValueError(f"unknown kind of document '{kind}' (known: {', '.join(KINDS)})")
    if size < 1 or overlap < 0:
        raise ValueError(f"chunk size {size} and overlap {overlap}: size ≥ 1, overlap ≥ 0")
    limit = size * CHARS_PER_TOKEN
    overlap_chars = min(overlap, size // 2) * CHARS_PER_TOKEN
    chunks: list[Chunk] = []
    for heading, blocks in reader(text):
        spans: list[_Span] = []
        for start, end, whole in blocks:
            if end - start <= limit:
                spans.append((start, end))
            else:
                _cut(text, start, end, limit, _CODE_GAPS if whole else _PROSE_GAPS, spans)
        if spans:
            _pack(text, heading, spans, limit, overlap_chars, chunks)
    return chunks
