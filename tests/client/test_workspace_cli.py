"""``chatthy ws`` as a user runs it: real processes, real files, a real server."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatthy.client.workspace import gather, typed_source_request
from chatthy.errors import ArgumentError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ServerFactory, make_pdf, openai_provider
from test_cli import chatthy
from upstream import Reply, Upstream


@pytest.fixture
async def live(
    servers: ServerFactory, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> Server:
    srv = await servers.start({"up": openai_provider(upstream)}, max_workspace_file=2000)
    monkeypatch.setenv("CHATTHY_SERVER", srv.address)
    monkeypatch.setenv("CHATTHY_PROFILE", "cli")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    return srv


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    """A folder with nested text, a binary file, an oversized file and ignored ones."""
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "build").mkdir()
    (root / ".git").mkdir()
    (root / "readme.md").write_text("# Read me\n")
    (root / "sub" / "colour.md").write_text("Blue is 42.\n")
    (root / "sub" / "debug.log").write_text("noise\n")
    (root / "build" / "out.txt").write_text("built\n")
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (root / "big.txt").write_text("x" * 5000)
    (root / ".gitignore").write_text("# comments are fine\n*.log\nbuild/\n")
    return root


def test_gather_names_folder_files_by_folder_and_path(docs: Path) -> None:
    found = gather([docs, docs / "readme.md"])
    names = [f.name for f in found.files]
    assert names == [
        "docs/.gitignore",
        "docs/big.txt",
        "docs/readme.md",
        "docs/sub/colour.md",
        "readme.md",
    ]
    assert found.files[3].text == "Blue is 42.\n"
    assert found.files[3].source == str(docs / "sub" / "colour.md")
    assert found.notices == [f"skipped {docs / 'logo.png'}: binary file"]


def test_gather_follows_negations_and_nested_gitignores(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    (root / "src" / "gen").mkdir(parents=True)
    (root / ".gitignore").write_text("*.txt\n!keep.txt\n/top.md\n")
    (root / "keep.txt").write_text("kept\n")
    (root / "drop.txt").write_text("dropped\n")
    (root / "top.md").write_text("anchored at the top\n")
    (root / "src" / "top.md").write_text("not at the top\n")
    (root / "src" / ".gitignore").write_text("gen/\n!drop.txt\n")
    (root / "src" / "drop.txt").write_text("re-included below\n")
    (root / "src" / "gen" / "code.py").write_text("generated\n")
    names = [f.name for f in gather([root]).files]
    assert names == [
        "proj/.gitignore",
        "proj/keep.txt",
        "proj/src/.gitignore",
        "proj/src/drop.txt",
        "proj/src/top.md",
    ]


def test_gather_expands_glob_patterns_itself(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    (tmp_path / "b.py").write_text("b = 2\n")
    (tmp_path / "notes.md").write_text("n\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "c.py").write_text("c = 3\n")
    top = tmp_path.name  # named as a folder add of the pattern's folder names them
    assert [f.name for f in gather([tmp_path / "*.py"]).files] == [f"{top}/a.py", f"{top}/b.py"]
    deep = gather([tmp_path / "**" / "*.py"]).files
    assert sorted(f.name for f in deep) == [f"{top}/a.py", f"{top}/b.py", f"{top}/pkg/c.py"]
    everything = gather([tmp_path / "**"]).files  # folders and their files, each file once
    assert sorted(f.name for f in everything) == [
        f"{top}/a.py",
        f"{top}/b.py",
        f"{top}/notes.md",
        f"{top}/pkg/c.py",
    ]
    with pytest.raises(ArgumentError, match=r"nothing matches .*\*\.rs"):
        gather([tmp_path / "*.rs"])


def test_gather_refuses_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match="no such file or folder"):
        gather([tmp_path / "nope"])


def test_gather_skips_text_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes("café".encode("latin-1"))
    found = gather([tmp_path / "latin.txt"])
    assert found.files == []
    assert found.notices == [f"skipped {tmp_path / 'latin.txt'}: binary file (not UTF-8 text)"]


async def test_ws_add_folder_then_list_show_bench_restore_drop(live: Server, docs: Path) -> None:
    code, out, err = await chatthy("ws", "add", str(docs))
    assert code == 0, err
    assert "added docs/sub/colour.md (" in out
    assert f"skipped {docs / 'logo.png'}: binary file" in err
    assert f"skipped {docs / 'big.txt'}: workspace file 'docs/big.txt' is 4.9 KiB" in err
    assert "debug.log" not in out + err and "build" not in out + err and "HEAD" not in out

    code, out, err = await chatthy("ws", "list")
    assert code == 0, err
    names = [line.split()[0] for line in out.splitlines()[:-1]]
    assert names == ["docs/.gitignore", "docs/readme.md", "docs/sub/colour.md"]
    assert "tokens sent with every turn" in out.splitlines()[-1]

    code, out, err = await chatthy("ws", "show", "docs/sub/colour.md")
    assert (code, out) == (0, "Blue is 42.\n"), err

    code, out, _ = await chatthy("ws", "bench", "docs/readme.md")
    assert (code, out) == (0, "docs/readme.md is benched\n")
    _, out, _ = await chatthy("ws", "list")
    assert "benched" in next(line for line in out.splitlines() if "readme" in line)
    code, out, _ = await chatthy("ws", "restore", "docs/readme.md")
    assert (code, out) == (0, "docs/readme.md is active\n")
    code, out, _ = await chatthy("ws", "drop", "docs/readme.md")
    assert (code, out) == (0, "dropped docs/readme.md\n")
    code, _, err = await chatthy("ws", "show", "docs/readme.md")
    assert code == 1
    assert err == "chatthy: no workspace file named 'docs/readme.md'\n"


async def test_ws_add_name_takes_piped_text(live: Server) -> None:
    code, out, err = await chatthy("ws", "add", "meeting/notes", stdin=b"Agenda: lunch.\n")
    assert code == 0, err
    assert out.startswith("added meeting/notes (")
    code, out, _ = await chatthy("ws", "show", "meeting/notes")
    assert out == "Agenda: lunch.\n"
    code, out, _ = await chatthy("ws", "list")
    assert "stdin" in out


async def test_ws_add_of_a_glob_keeps_the_paths_under_its_folder(live: Server, docs: Path) -> None:
    code, out, err = await chatthy("ws", "add", str(docs / "**" / "*.md"))
    assert code == 0, err
    assert [line.split(" (")[0] for line in out.splitlines()] == [
        "added docs/readme.md",
        "added docs/sub/colour.md",
    ]


async def test_ws_add_of_nothing_off_a_terminal_refuses_and_stores_nothing(
    live: Server, docs: Path
) -> None:
    code, out, err = await chatthy("ws", "add", str(docs / "*.rs"), stdin=b"")
    assert (code, out) == (1, "")
    assert err == f"chatthy: nothing matches {docs / '*.rs'}\n"
    code, out, err = await chatthy("ws", "add", str(docs / "gone.md"), stdin=b"")
    assert (code, out) == (1, "")
    assert err == (
        f"chatthy: no such file or folder: {docs / 'gone.md'} "
        "(and no text piped on stdin to add under that name)\n"
    )
    _, out, _ = await chatthy("ws", "list")
    assert out == "the workspace is empty\n"


async def test_ws_add_refuses_an_escaping_name(live: Server) -> None:
    code, out, err = await chatthy("ws", "add", "../outside", stdin=b"text")
    assert code == 1
    assert "workspace file name '../outside'" in err
    _, out, _ = await chatthy("ws", "list")
    assert out == "the workspace is empty\n"


async def test_ws_add_with_only_skipped_files_fails(live: Server, docs: Path) -> None:
    code, out, err = await chatthy("ws", "add", str(docs / "logo.png"), str(docs / "big.txt"))
    assert code == 1
    assert out == ""
    assert err.splitlines()[-1] == "chatthy: nothing added to the workspace"


async def test_repl_ws_add_list_bench_show_rename_drop(live: Server, docs: Path) -> None:
    lines = [
        f"/ws add {docs / 'readme.md'} {docs / 'logo.png'}",
        "/ws bench readme.md",
        "/ws list",
        "/ws rename readme.md intro.md",
        "/ws show intro.md",
        "/ws drop intro.md",
        "/ws list",
        "/quit",
    ]
    code, out, err = await chatthy("repl", "--chat", "r", stdin="\n".join(lines).encode())
    assert code == 0, err
    assert "added readme.md (" in out
    assert f"skipped {docs / 'logo.png'}: binary file" in err
    assert "benched" in out and "0 tokens sent with every turn" in out
    assert "readme.md is now intro.md" in out
    assert "# Read me" in out
    assert "intro.md: deleted\nthe workspace is empty" in out


def test_gather_reads_the_text_of_pdfs_and_says_why_one_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "paper.pdf").write_bytes(make_pdf([["Okapis are shy."], ["So are sloths."]]))
    (tmp_path / "scan.pdf").write_bytes(make_pdf([[], []]))
    (tmp_path / "torn.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type")
    (tmp_path / "about.md").write_text("A PDF starts with %PDF-1.7, then objects.\n")
    found = gather([tmp_path])
    assert [(f.name, f.text) for f in found.files] == [
        (f"{tmp_path.name}/about.md", "A PDF starts with %PDF-1.7, then objects.\n"),
        (f"{tmp_path.name}/paper.pdf", "Okapis are shy.\n\nSo are sloths.\n"),
    ]
    assert found.notices[0] == (
        f"skipped {tmp_path / 'scan.pdf'}: a PDF without text (scanned pages need OCR first)"
    )
    assert found.notices[1].startswith(f"skipped {tmp_path / 'torn.pdf'}: not a readable PDF (")


async def test_ws_add_a_pdf_stores_its_text(live: Server, tmp_path: Path) -> None:
    (tmp_path / "paper.pdf").write_bytes(make_pdf([["Okapis are shy."]]))
    code, out, err = await chatthy("ws", "add", str(tmp_path / "paper.pdf"))
    assert code == 0, err
    assert out.startswith("added paper.pdf (")
    code, out, _ = await chatthy("ws", "show", "paper.pdf")
    assert out == "Okapis are shy.\n"


def test_typed_source_requests_take_name_and_count() -> None:
    assert typed_source_request("news", ["giraffe", "necks", "count=3"]) == api.WsNews(
        query="giraffe necks", count=3
    )
    assert typed_source_request("url", ["https://example.com/a", "name=a.md"]) == api.WsUrl(
        url="https://example.com/a", name="a.md"
    )
    with pytest.raises(ArgumentError, match="count=N is a number"):
        typed_source_request("url", ["https://example.com", "count=2"])
    with pytest.raises(ArgumentError, match="what to fetch is needed: /ws arxiv"):
        typed_source_request("arxiv", ["count=2"])


def test_typed_fetch_requests_name_the_source_first() -> None:
    assert typed_source_request("fetch", ["mine", "two words", "count=2", "name=n"]) == (
        api.WsFetch(source="mine", argument="two words", count=2, name="n")
    )
    with pytest.raises(ArgumentError, match=r"what to fetch is needed: /ws fetch SOURCE WHAT"):
        typed_source_request("fetch", ["mine"])


# -- chatthy template / templates -----------------------------------------------------


def _asked(upstream: Upstream) -> str:
    """The last user message the provider was sent."""
    messages = upstream.requests[-1].body["messages"]
    return str([m for m in messages if m["role"] == "user"][-1]["content"])


async def test_template_on_a_local_file_streams_and_stores_nothing_of_the_file(
    live: Server, upstream: Upstream, tmp_path: Path
) -> None:
    report = tmp_path / "report.md"
    report.write_text("Sales rose by 42 giraffes.\n")
    upstream.push(Reply(chunks=["- ", "giraffe sales up"]))
    code, out, err = await chatthy(
        "template", "summarise", str(report), "style=bullets", "--chat", "s"
    )
    assert (code, out, err) == (0, "- giraffe sales up\n", "")
    assert "Sales rose by 42 giraffes." in str(upstream.requests[-1].body["messages"])
    assert "bullet" in _asked(upstream).lower()
    code, out, _ = await chatthy("ws", "list")
    assert "report.md" not in out
    code, out, _ = await chatthy("export", "s")
    assert "giraffe sales up" in out


async def test_template_on_a_workspace_file_and_on_a_chat(
    live: Server, upstream: Upstream, tmp_path: Path
) -> None:
    code, _, err = await chatthy("ws", "add", "okapi-facts-xyz.md", stdin=b"Okapis are shy.")
    assert code == 0, err
    code, out, err = await chatthy("template", "explain", "okapi-facts-xyz.md", "--chat", "k")
    assert code == 0, err
    assert "Okapis are shy." in str(upstream.requests[-1].body["messages"])
    code, out, err = await chatthy("template", "summarise", "--chat", "k")
    assert code == 0, err
    assert out.startswith("upstream: ")


async def test_template_failures_are_one_line(live: Server, tmp_path: Path) -> None:
    code, out, err = await chatthy("template", "summarise")
    assert (code, out) == (1, "")
    assert err == "chatthy: give a FILE to run the template on, or --chat CHAT for a chat\n"
    code, _, err = await chatthy("template", "sumarise", "x.md", "--chat", "c")
    assert code == 1 and err.startswith("chatthy: no template 'sumarise' (templates: ")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    code, _, err = await chatthy("template", "explain", str(tmp_path / "logo.png"))
    assert (code, err) == (
        1,
        f"chatthy: {tmp_path / 'logo.png'} cannot be sent: "
        f"skipped {tmp_path / 'logo.png'}: binary file\n",
    )
    code, _, err = await chatthy("template", "explain", str(tmp_path))
    assert (code, err) == (1, f"chatthy: {tmp_path} is a folder: a template runs on one file\n")
    code, _, err = await chatthy("template", "style=bullets", "x.md")
    assert (code, err) == (
        1,
        "chatthy: the template's NAME comes first (chatthy templates lists them)\n",
    )
    (tmp_path / "a.md").write_text("Alpha.")
    code, _, err = await chatthy("template", "explain", str(tmp_path / "a.md"), "--provider", "x")
    assert (code, err) == (1, "chatthy: no provider 'x' (available: up)\n")
    code, out, _ = await chatthy("chats")
    assert "sumarise" not in out and "ask " not in out  # refused turns leave no chat


async def test_templates_lists_names_and_placeholders(live: Server) -> None:
    code, out, err = await chatthy("templates")
    assert code == 0, err
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert {"summarise", "extract", "explain", "critique", "translate"} <= set(lines)
    assert "[style='paragraph']" in lines["summarise"]
