"""Markdown in the Tk window: what a reply reads as (pure, no display), and what the
Text widget shows, highlights and copies (on the session's Xvfb)."""

from __future__ import annotations

import subprocess
import sys
import tkinter
from collections.abc import Iterator

import pytest

from chatthy.client.tk.markdown import (
    DARK,
    LIGHT,
    Block,
    CodeBlock,
    Run,
    configure,
    highlight,
    link_at,
    parse,
    render,
)


def shown(blocks: list[Block]) -> str:
    """The blocks' text as the widget holds it (a code block's language line aside)."""
    return "".join(b.code + "\n" if isinstance(b, CodeBlock) else _text(b) for b in blocks)


def _text(runs: list[Run]) -> str:
    return "".join(run.text for run in runs)


def runs_of(markdown: str) -> list[Run]:
    """The runs of a document without code blocks."""
    (block,) = parse(markdown)
    assert not isinstance(block, CodeBlock)
    return block


def tagged(markdown: str, tag: str) -> list[str]:
    return [run.text for run in runs_of(markdown) if tag in run.tags]


def test_headings_lose_their_hashes_and_are_tagged_by_level() -> None:
    runs = runs_of("# Title\n\nText\n\n## Part\n\n#### Deep")
    assert _text(runs) == "Title\n\nText\n\nPart\n\nDeep"
    assert [r.text for r in runs if "h1" in r.tags] == ["Title"]
    assert [r.text for r in runs if "h2" in r.tags] == ["Part"]
    assert [r.text for r in runs if "h3" in r.tags] == ["Deep"]


def test_emphasis_is_tagged_without_its_markers() -> None:
    source = "plain *it* **bold** ***both*** ~~gone~~"
    assert _text(runs_of(source)) == "plain it bold both gone"
    assert tagged(source, "italic") == ["it", "both"]
    assert tagged(source, "bold") == ["bold", "both"]
    assert tagged(source, "strike") == ["gone"]


def test_nested_lists_hang_their_bullets_and_number_from_their_start() -> None:
    runs = runs_of("- one\n- two\n  - inner\n- three\n\n3. c\n4. d")
    assert _text(runs) == "•\tone\n•\ttwo\n◦\tinner\n•\tthree\n\n3.\tc\n4.\td"
    inner = next(r for r in runs if r.text.startswith("inner"))
    assert "item2" in inner.tags
    bullets = [r.text for r in runs if "bullet" in r.tags]
    assert bullets == ["•\t", "•\t", "◦\t", "•\t", "3.\t", "4.\t"]


def test_a_loose_list_item_keeps_its_second_paragraph_under_its_text() -> None:
    runs = runs_of("- first\n\n  more of it\n- second")
    assert _text(runs) == "•\tfirst\n\nmore of it\n\n•\tsecond"
    assert "indent1" in next(r for r in runs if r.text.startswith("more")).tags


def test_a_fenced_code_block_keeps_its_language_and_exact_code() -> None:
    blocks = parse("Look:\n\n```python\ndef f():\n    return 1\n```\n\nDone.")
    assert blocks[1] == CodeBlock("python", "def f():\n    return 1")
    assert shown(blocks) == "Look:\n\ndef f():\n    return 1\n\nDone."
    assert parse("    indented\n")[0] == CodeBlock("", "indented")


def test_inline_code_is_tagged_and_left_as_written() -> None:
    assert tagged("run `x = *y*` now", "code") == ["x = *y*"]


def test_a_table_is_aligned_text_with_its_header_tagged() -> None:
    runs = runs_of("| name | n |\n|---|---:|\n| a | 1 |\n| longer | 22 |")
    assert _text(runs).split("\n") == [
        "name   │  n",
        "───────┼───",
        "a      │  1",
        "longer │ 22",
    ]
    assert [r.text for r in runs if "th" in r.tags] == ["name   │  n"]
    assert all("table" in r.tags for r in runs if r.text.strip())


def test_math_is_unicode_unless_latex_is_off() -> None:
    assert _text(runs_of("so $x^2 + \\alpha$ holds")) == "so x² + α holds"
    assert shown(parse("$$\\frac{a+b}{c}$$")) == "(a+b)/c"
    assert shown(parse("so $x^2$ holds", latex=False)) == "so $x^2$ holds"
    assert shown(parse("`$x^2$` stays")) == "$x^2$ stays"


def test_the_pure_layer_loads_no_tkinter() -> None:
    """The parse and highlight run where Tk is missing (a server, a headless test)."""
    probe = "import sys, chatthy.client.tk.markdown; print('tkinter' in sys.modules)"
    command = [sys.executable, "-c", probe]
    found = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert found.stdout.strip() == "False", found.stderr


def test_a_link_shows_its_text_and_keeps_its_address() -> None:
    runs = runs_of("see [the docs](https://example.org/d) now")
    assert _text(runs) == "see the docs now"
    (link,) = [r for r in runs if "link" in r.tags]
    assert link == Run("the docs", ("link", "url:https://example.org/d"))


def test_a_quote_shows_a_bar_on_each_of_its_lines() -> None:
    runs = runs_of("> one\n>\n> two\n\nafter")
    assert _text(runs) == "▎ one\n▎ \n▎ two\n\nafter"
    assert tagged("> one\n>\n> two\n\nafter", "quote") == ["one", "two"]


def test_a_python_keyword_gets_a_keyword_tag_and_the_pieces_join_back() -> None:
    code = "def f(x):\n    return x  # done\n"
    pairs = highlight(code, "python")
    assert "".join(text for text, _ in pairs) == code
    assert ("def", "tok.Keyword") in pairs
    assert ("return", "tok.Keyword") in pairs
    assert highlight("a b", "no-such-language") == [("a b", "tok.Text")]
    assert highlight("a b", "") == [("a b", "tok.Text")]


# ---- on a display ------------------------------------------------------------------

DOCUMENT = """# Steps

Run **this** first:

```python
def main():
    return 0
```

Then `that`, and read [the guide](https://example.org).

```sh
echo done
```"""


@pytest.fixture(scope="module")
def root(display: str) -> Iterator[tkinter.Tk]:
    """A root on the session's Xvfb (tests/client/tk/conftest.py): one X server for the
    whole run, so that no Tk in this process is left talking to one that stopped."""
    window = tkinter.Tk(screenName=display)
    yield window
    window.destroy()


@pytest.fixture
def text(root: tkinter.Tk) -> Iterator[tkinter.Text]:
    widget = tkinter.Text(root, wrap="word", width=60, height=30)
    widget.pack()
    configure(widget, LIGHT)
    yield widget
    widget.destroy()


def test_a_reply_reads_as_a_user_sees_it(text: tkinter.Text) -> None:
    render(text, "1.0", DOCUMENT, on_copy=print)
    assert text.get("1.0", "end-1c") == (
        "Steps\n\nRun this first:\n\npython\ndef main():\n    return 0\n\n"
        "Then that, and read the guide.\n\nsh\necho done"
    )


def test_the_code_is_highlighted(text: tkinter.Text) -> None:
    render(text, "1.0", DOCUMENT, on_copy=print)
    keyword = text.search("def", "1.0")
    assert "tok.Keyword" in text.tag_names(keyword)
    assert text.tag_cget("tok.Keyword", "foreground") not in ("", LIGHT.foreground)
    assert "tok.Keyword" not in text.tag_names(text.search("Run", "1.0"))


def test_each_code_block_has_a_button_that_copies_its_exact_code(text: tkinter.Text) -> None:
    copied: list[str] = []
    render(text, "1.0", DOCUMENT, on_copy=copied.append)
    buttons = [text.nametowidget(name) for name in text.window_names()]
    assert len(buttons) == 2
    for button in buttons:
        assert isinstance(button, tkinter.Button)
        assert button.cget("text") == "copy"
        button.invoke()
    assert copied == ["def main():\n    return 0", "echo done"]


def test_a_link_knows_where_it_goes(text: tkinter.Text) -> None:
    render(text, "1.0", DOCUMENT, on_copy=print)
    guide = text.search("guide", "1.0")
    assert "link" in text.tag_names(guide)
    assert link_at(text, guide) == "https://example.org"
    assert link_at(text, "1.0") is None


def test_a_message_renders_in_order_between_others_and_is_tagged_whole(
    text: tkinter.Text,
) -> None:
    text.insert("1.0", "before\n\nafter")
    text.mark_set("start", "3.0")
    text.mark_gravity("start", "left")
    text.mark_set("stop", "3.0")
    render(text, "start", "one **two**\n\n```\nx\n```", on_copy=print, extra_tags=("msg-7",))
    render(text, "stop", "three", on_copy=print)
    assert text.get("1.0", "end-1c") == "before\n\none two\n\ncode\nxthreeafter"
    first, last = text.tag_ranges("msg-7")
    assert text.get(first, last) == "one two\n\ncode\nx"
    assert text.index(first) == text.index("start")
    assert len(text.window_names()) == 1
    assert "msg-7" in text.tag_names(text.window_names()[0])


def test_the_dark_palette_recolours_what_is_shown(text: tkinter.Text) -> None:
    render(text, "1.0", DOCUMENT, on_copy=print)
    keyword = text.tag_cget("tok.Keyword", "foreground")
    assert text.tag_cget("link", "foreground") == LIGHT.link
    configure(text, DARK)
    assert text.tag_cget("link", "foreground") == DARK.link
    assert text.tag_cget("codeblock", "background") == DARK.code_background
    assert text.tag_cget("tok.Keyword", "foreground") != keyword
    assert text.cget("background") == DARK.background
    for name in text.window_names():
        assert text.nametowidget(name).cget("background") == DARK.code_background
