"""Documents cut along their structure: chatthy.rag.chunk.chunk_text and kind_of."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from chatthy.rag.chunk import CHARS_PER_TOKEN, Chunk, chunk_text, kind_of

SAYING = (
    "the server keeps profiles chats prompts and keys while clients connect over zeromq "
    "a search finds the chunks nearest in meaning and the words that match"
)
WORDS = SAYING.split()


def prose(rng: random.Random, sentences: int) -> str:
    """Sentences of 6-20 words, each ending in a full stop."""
    out = []
    for _ in range(sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 20))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def check(text: str, chunks: list[Chunk], size: int) -> None:
    """What holds for every document: each chunk is its slice, starts and ends on a
    non-blank character, fits in the size, they come in order, and nothing but blank
    space lies outside them."""
    assert chunks, "a document with text gives chunks"
    for chunk in chunks:
        assert text[chunk.start : chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        assert len(chunk.text) <= size * CHARS_PER_TOKEN
    for before, after in itertools.pairwise(chunks):
        assert before.start < after.start and before.end < after.end
        assert text[before.end : after.start].strip() == ""
    assert text[: chunks[0].start].strip() == "" and text[chunks[-1].end :].strip() == ""


def containing(chunks: list[Chunk], needle: str) -> list[Chunk]:
    return [c for c in chunks if needle in c.text]


# -- plain text ----------------------------------------------------------------------------


def test_small_paragraphs_are_merged_up_to_the_size() -> None:
    text = "\n\n".join(f"Paragraph {n} has a few words." for n in range(40))
    chunks = chunk_text(text, size=60, overlap=0)
    check(text, chunks, 60)
    assert len(chunks) < 40 / 3
    assert all(c.text.startswith("Paragraph") and c.text.endswith("words.") for c in chunks)


def test_a_long_paragraph_is_cut_at_sentences_and_chunks_are_filled() -> None:
    text = prose(random.Random(1), 400)
    size = 100
    chunks = chunk_text(text, size=size, overlap=0)
    check(text, chunks, size)
    assert all(c.text.endswith(".") for c in chunks)
    assert all(len(c.text) > size * CHARS_PER_TOKEN / 2 for c in chunks[:-1])


def test_overlap_repeats_the_end_of_the_chunk_before_from_a_word() -> None:
    text = prose(random.Random(2), 300)
    chunks = chunk_text(text, size=100, overlap=20)
    check(text, chunks, 100)
    for before, after in itertools.pairwise(chunks):
        shared = before.end - after.start
        assert 0 < shared <= 20 * CHARS_PER_TOKEN
        assert text[after.start - 1].isspace()
        assert before.text.endswith(text[after.start : before.end])


def test_without_overlap_chunks_do_not_share_text() -> None:
    chunks = chunk_text(prose(random.Random(3), 200), size=80, overlap=0)
    assert all(a.end < b.start for a, b in itertools.pairwise(chunks))


def test_an_overlap_as_large_as_the_size_still_moves_on() -> None:
    text = prose(random.Random(4), 100)
    chunks = chunk_text(text, size=50, overlap=500)
    check(text, chunks, 50)
    pairs = list(itertools.pairwise(chunks))
    assert all(0 < a.end - b.start <= 25 * CHARS_PER_TOKEN for a, b in pairs)  # half the size


def test_lines_without_sentences_are_cut_at_lines_then_words_then_the_size() -> None:
    table = "\n".join(f"| row {n} | value {n * 7} | note |" for n in range(300))
    blob = "QUJD" * 2000  # base64: no gap at all
    words = " ".join(["word"] * 2000)
    text = f"{table}\n\n{blob}\n\n{words}"
    chunks = chunk_text(text, size=100, overlap=0)
    check(text, chunks, 100)
    table_chunks = [c for c in chunks if c.text.startswith("| row")]
    assert len(table_chunks) > 1
    assert all(c.text.endswith("| note |") for c in table_chunks)
    assert {len(c.text) for c in chunks if c.text.startswith("QUJD")} >= {400}
    assert all(c.text.endswith("word") for c in chunks if c.text.startswith("word"))


def test_blank_and_empty_documents_have_no_chunks() -> None:
    assert chunk_text("") == []
    assert chunk_text("  \n\n\t \n", "markdown") == []


def test_windows_line_endings() -> None:
    text = "# Title\r\n\r\nFirst paragraph.\r\n\r\n## Sub\r\n\r\nSecond one.\r\n"
    chunks = chunk_text(text, "markdown", size=50)
    check(text, chunks, 50)
    assert [c.heading for c in chunks] == ["Title", "Title > Sub"]


def test_a_5_mb_text_is_cut_whole() -> None:
    rng = random.Random(5)
    parts: list[str] = []
    while sum(map(len, parts)) < 5_000_000:
        parts.append(prose(rng, rng.randint(1, 30)))
    text = "\n\n".join(parts)
    chunks = chunk_text(text, size=300, overlap=40)
    check(text, chunks, 300)
    assert len(chunks) > 5_000_000 / (300 * CHARS_PER_TOKEN)


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        chunk_text("x", "docx")
    with pytest.raises(ValueError, match="size"):
        chunk_text("x", size=0)


# -- Markdown ------------------------------------------------------------------------------

MARKDOWN = """\
---
title: chatthy
tags: [a, b]
---
An introduction before any heading.

# Install

Get it with pip.

## Linux

Install the package.

```sh
# not a heading: a comment in a shell block

pip install chatthy
```

## macOS ##

Use Homebrew.

# Usage

Run it
------

`chatthy serve` starts the server.

Some text.

---

A rule above, not a heading.
- a list item
---
Two lines of
a paragraph
===
"""


def test_markdown_headings_give_each_chunk_its_path() -> None:
    chunks = chunk_text(MARKDOWN, "markdown", size=200, overlap=10)
    check(MARKDOWN, chunks, 200)
    by_heading = {c.heading: c.text for c in chunks}
    assert list(by_heading) == ["", "Install", "Install > Linux", "Install > macOS", "Usage",
                                "Usage > Run it"]  # fmt: skip
    assert by_heading[""].startswith("---\ntitle: chatthy") and "introduction" in by_heading[""]
    assert by_heading["Install > Linux"].startswith("## Linux")
    assert "pip install chatthy\n```" in by_heading["Install > Linux"]
    assert by_heading["Usage > Run it"].startswith("Run it\n------")
    assert by_heading["Usage > Run it"].endswith("a paragraph\n===")


def test_a_chunk_never_spans_two_sections_even_with_overlap() -> None:
    rng = random.Random(6)
    text = "\n\n".join(f"## Part {n}\n\n{prose(rng, 12)}" for n in range(30))
    chunks = chunk_text(text, "markdown", size=60, overlap=20)
    check(text, chunks, 60)
    for before, after in itertools.pairwise(chunks):
        if after.heading != before.heading:
            assert after.start > before.end and after.text.startswith("## Part")
    for chunk in chunks:
        titles = re.findall(r"^## (Part \d+)$", chunk.text, re.MULTILINE)
        assert titles == [chunk.heading] or (titles == [] and chunk.heading.startswith("Part"))


def test_a_code_fence_that_fits_is_kept_whole() -> None:
    rng = random.Random(7)
    fence = "```python\n" + "\n".join(f"x{n} = {n}\n" for n in range(30)) + "```"
    text = f"# Code\n\n{prose(rng, 8)}\n\n{fence}\n\n{prose(rng, 8)}"
    chunks = chunk_text(text, "markdown", size=120, overlap=10)
    check(text, chunks, 120)
    assert any(fence in c.text for c in chunks)


def test_a_code_fence_too_large_is_cut_at_blank_lines_then_lines() -> None:
    functions = [f"def f{n}():\n    a = {n}\n    return a * 2\n" for n in range(40)]
    fence = "```python\n" + "\n".join(functions) + "```"
    text = f"# Code\n\n{fence}\n"
    chunks = chunk_text(text, "markdown", size=40, overlap=0)
    check(text, chunks, 40)
    assert len(chunks) > 4
    for chunk in chunks[1:]:  # every piece starts at a function, none in the middle of one
        assert chunk.text.startswith("def f") or chunk.text == "```"
    assert all(c.heading == "Code" for c in chunks)


def test_an_unclosed_fence_runs_to_the_end() -> None:
    text = "# A\n\n```\ncode\n# not a heading\n"
    chunks = chunk_text(text, "markdown")
    check(text, chunks, 300)
    assert [c.heading for c in chunks] == ["A"]


def test_a_heading_on_the_first_line() -> None:
    chunks = chunk_text("# First\nText.", "markdown")
    assert [(c.heading, c.text) for c in chunks] == [("First", "# First\nText.")]


# -- LaTeX ---------------------------------------------------------------------------------

LATEX = r"""\documentclass{article}
\begin{document}
\chapter{Methods}
We measure things.
\section[Short]{The \emph{model} and its {parts}}
The model is small. It is fast.
\begin{equation}
  E = m c^2
\end{equation}
% \section{Commented out}
A line break\\[2pt] is not display math.
\subsection*{Setup}
\begin{verbatim}
first

second
\end{verbatim}
\paragraph{Note} Inline text after the title.
\section{Results}
It works.
\end{document}
"""


def test_latex_sections_give_each_chunk_its_path() -> None:
    chunks = chunk_text(LATEX, "latex", size=300, overlap=0)
    check(LATEX, chunks, 300)
    assert [c.heading for c in chunks] == [
        "",
        "Methods",
        "Methods > The model and its parts",
        "Methods > The model and its parts > Setup",
        "Methods > The model and its parts > Setup > Note",
        "Methods > Results",
    ]
    assert "% \\section{Commented out}" in chunks[2].text
    assert chunks[4].text == "\\paragraph{Note} Inline text after the title."


def test_latex_environments_are_not_cut_when_they_fit() -> None:
    rng = random.Random(8)
    verbatim = (
        "\\begin{verbatim}\n" + "\n\n".join(f"line {n}" for n in range(20)) + "\n\\end{verbatim}"
    )
    equation = "\\begin{align*}\n  a &= b \\\\\n  c &= d\n\\end{align*}"
    display = "\\[ x^2 + y^2 = z^2 \\]"
    text = (
        f"\\section{{S}}\n{prose(rng, 10)}\n{verbatim}\n{prose(rng, 6)} {equation} "
        f"{prose(rng, 6)} {display} {prose(rng, 10)}"
    )
    chunks = chunk_text(text, "latex", size=80, overlap=10)
    check(text, chunks, 80)
    for env in (verbatim, equation, display):
        assert containing(chunks, env), env


# -- code and kinds ------------------------------------------------------------------------


def test_code_is_cut_at_blank_lines_not_sentences() -> None:
    source = "\n\n".join(
        f'def f{n}(x):\n    """Do it. Then more."""\n    return x + {n}' for n in range(60)
    )
    chunks = chunk_text(source, "code", size=50, overlap=0)
    check(source, chunks, 50)
    assert all(c.text.startswith("def f") and c.text.endswith(tuple("0123456789")) for c in chunks)
    assert all(c.heading == "" for c in chunks)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("README.md", "markdown"),
        ("notes/Plan.MARKDOWN", "markdown"),
        ("paper.tex", "latex"),
        ("src/app/main.py", "code"),
        ("C:\\work\\lib.rs", "code"),
        ("Makefile", "code"),
        ("https://example.org/docs/intro.md?raw=1#top", "markdown"),
        ("notes.txt", "text"),
        ("LICENSE", "text"),
        (".bashrc", "text"),
        ("report.pdf", "text"),
    ],
)
def test_kind_of_reads_the_extension(name: str, kind: str) -> None:
    assert kind_of(name) == kind
