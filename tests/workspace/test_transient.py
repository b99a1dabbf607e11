"""The transient workspace: local files attached to a session, read afresh every turn,
sent to the provider, never stored; on a real server with the fake OpenAI upstream."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from chatthy.client.core import Client
from chatthy.errors import ArgumentError, NotFoundError
from chatthy.server.app import Server
from chatthy.server.transient import MAX_TRANSIENT_FILES
from helpers import ClientMaker, ServerFactory, collect, make_pdf, openai_provider, turn
from test_cli import chatthy
from upstream import Upstream


def _sent(upstream: Upstream) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = upstream.requests[-1].body["messages"]
    return messages


def _sent_text(upstream: Upstream) -> str:
    return "\n".join(str(m["content"]) for m in _sent(upstream))


def _stored_anywhere(server: Server, needle: str) -> bool:
    """Whether ``needle`` is in any row of any table of the server's SQLite file, or in
    the bytes of the file and its write-ahead log."""
    db = Path(server.config.data_dir) / "chatthy.db"
    raw = b"".join(p.read_bytes() for p in db.parent.glob("chatthy.db*"))
    if needle.encode() in raw:
        return True
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return any(
            needle in repr(row)
            for table in tables
            for row in conn.execute(f'SELECT * FROM "{table}"')
        )
    finally:
        conn.close()


@pytest.fixture
async def live(servers: ServerFactory, upstream: Upstream) -> Server:
    return await servers.start({"up": openai_provider(upstream)}, max_workspace_file=4000)


@pytest.fixture
def notes(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("The meeting is on Tuesday. ZEBRA-1\n", encoding="utf-8")
    return path


async def test_an_edited_file_is_seen_fresh_and_never_stored(
    live: Server, connect: ClientMaker, upstream: Upstream, notes: Path
) -> None:
    client = connect(live)
    await client.call("ws_add", name="stored.md", text="Stored facts.", source="/w/stored.md")
    client.transient.attach(notes)
    stream, started = await client.start("chat", "c", text="when is the meeting?")
    assert (await collect(stream)).status == "complete"
    sent = _sent(upstream)
    assert [m["role"] for m in sent] == ["system", "system", "system", "user"]
    assert sent[1]["content"].startswith('<workspace_file name="stored.md"')
    assert sent[2]["content"] == (
        f'<workspace_file name="notes.txt" source="transient:{notes}">\n'
        "The meeting is on Tuesday. ZEBRA-1\n\n</workspace_file>"
    )
    with_file = started.workspace_tokens

    notes.write_text("Moved to Thursday. ZEBRA-2\n", encoding="utf-8")
    await turn(client, "c", "and now?")
    text = _sent_text(upstream)
    assert "Moved to Thursday. ZEBRA-2" in text and "ZEBRA-1" not in text

    assert [f.name for f in await client.call("ws_list")] == ["stored.md"]
    stored = (await client.call("messages", chat="c")).messages
    assert all("ZEBRA" not in str(m.content) for m in stored)
    assert not _stored_anywhere(live, "ZEBRA")
    assert with_file > 0


async def test_an_attached_pdf_sends_its_text_and_an_edit_is_seen(
    live: Server, connect: ClientMaker, upstream: Upstream, tmp_path: Path
) -> None:
    paper = tmp_path / "paper.pdf"
    paper.write_bytes(make_pdf([["Draft one: OKAPI-1"]]))
    client = connect(live)
    client.transient.attach(paper)
    await turn(client, "c", "what does it say?")
    assert "Draft one: OKAPI-1" in _sent_text(upstream)
    paper.write_bytes(make_pdf([["Second draft, longer: OKAPI-2"]]))
    await turn(client, "c", "and now?")
    text = _sent_text(upstream)
    assert "OKAPI-2" in text and "OKAPI-1" not in text
    assert not _stored_anywhere(live, "OKAPI")


async def test_workspace_tokens_count_the_attached_files(
    live: Server, connect: ClientMaker, notes: Path
) -> None:
    client = connect(live)
    stream, without = await client.start("chat", "c", text="hi")
    await collect(stream)
    client.transient.attach(notes)
    stream, with_notes = await client.start("chat", "c", text="hi")
    await collect(stream)
    assert without.workspace_tokens == 0
    assert 0 < with_notes.workspace_tokens < with_notes.tokens


async def test_detach_stops_sending_it(
    live: Server, connect: ClientMaker, upstream: Upstream, notes: Path
) -> None:
    client = connect(live)
    client.transient.attach(notes)
    await turn(client, "c", "one")
    assert "ZEBRA-1" in _sent_text(upstream)
    assert client.transient.detach(notes) == [notes.resolve()]
    stream, started = await client.start("chat", "c", text="two")
    await collect(stream)
    assert "ZEBRA" not in _sent_text(upstream)
    assert started.workspace_tokens == 0
    with pytest.raises(NotFoundError, match="is not attached"):
        client.transient.detach(notes)


async def test_a_vanished_file_is_a_notice_not_a_crash(
    live: Server, connect: ClientMaker, upstream: Upstream, notes: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.md"
    other.write_text("Still here.", encoding="utf-8")
    client = connect(live)
    client.transient.attach(notes)
    client.transient.attach(other)
    notes.unlink()
    stream, _ = await client.start("chat", "c", text="hello")
    assert stream.notices == [f"{notes} is gone: not sent (/ws detach {notes})"]
    assert (await collect(stream)).status == "complete"
    assert "Still here." in _sent_text(upstream)
    stream, _ = await client.start("chat", "c", text="again")
    await collect(stream)
    assert stream.notices == []
    notes.write_text("Back again.", encoding="utf-8")
    await turn(client, "c", "back?")
    assert "Back again." in _sent_text(upstream)


async def test_a_folder_is_read_with_its_gitignore_and_binary_files_skipped(
    live: Server, connect: ClientMaker, upstream: Upstream, tmp_path: Path
) -> None:
    folder = tmp_path / "proj"
    (folder / "sub").mkdir(parents=True)
    (folder / ".gitignore").write_text("*.log\n", encoding="utf-8")
    (folder / "sub" / "a.md").write_text("Alpha text.", encoding="utf-8")
    (folder / "debug.log").write_text("LOG NOISE", encoding="utf-8")
    (folder / "logo.png").write_bytes(b"\x89PNG\x00\x00")
    client = connect(live)
    found = client.transient.attach(folder)
    assert found.notices == [f"skipped {folder / 'logo.png'}: binary file"]
    (folder / "sub" / "b.md").write_text("Beta, added later.", encoding="utf-8")
    stream, _ = await client.start("chat", "c", text="hi")
    await collect(stream)
    assert stream.notices == []
    text = _sent_text(upstream)
    assert '<workspace_file name="proj/sub/a.md"' in text and "Beta, added later." in text
    assert "LOG NOISE" not in text and "PNG" not in text


async def test_attaching_a_missing_path_is_refused(connect: ClientMaker, live: Server) -> None:
    client = connect(live)
    with pytest.raises(ArgumentError, match="no such file or folder"):
        client.transient.attach("/no/such/file.txt")
    assert client.transient.paths == []


async def test_a_file_too_big_for_the_context_is_refused_naming_it(
    servers: ServerFactory, connect: ClientMaker, upstream: Upstream, tmp_path: Path
) -> None:
    srv = await servers.start({"up": openai_provider(upstream, context_length=600)})
    big = tmp_path / "big.txt"
    big.write_text("word " * 700, encoding="utf-8")
    client = connect(srv)
    client.transient.attach(big)
    with pytest.raises(ArgumentError) as caught:
        await client.start("chat", "c", text="hello")
    message = caught.value.message
    assert "workspace does not fit" in message and "big.txt [attached] (" in message
    assert "detach attached ones" in message
    assert upstream.requests == []
    assert await client.call("chats") == []  # the refused first turn left no chat
    client.transient.detach()
    assert (await turn(client, "c", "hello")).status == "complete"


async def test_a_file_over_the_size_limit_is_refused_naming_it(
    live: Server, connect: ClientMaker, upstream: Upstream, tmp_path: Path
) -> None:
    huge = tmp_path / "huge.txt"
    huge.write_text("x" * 5000, encoding="utf-8")
    client = connect(live)
    client.transient.attach(huge)
    with pytest.raises(ArgumentError, match=r"attached file 'huge.txt' .* is 4.9 KiB.*at most"):
        await client.start("chat", "c", text="hello")
    assert upstream.requests == []


async def test_too_many_attached_files_are_refused(live: Server, connect: ClientMaker) -> None:
    client = connect(live)
    files = [{"name": f"f{i}", "text": "x"} for i in range(MAX_TRANSIENT_FILES + 1)]
    with pytest.raises(ArgumentError, match="attached files; a turn takes at most"):
        await client.start("chat", "c", text="hello", transient=files)


async def test_regenerate_and_edit_read_the_files_again(
    live: Server, connect: ClientMaker, upstream: Upstream, notes: Path
) -> None:
    client: Client = connect(live)
    client.transient.attach(notes)
    await turn(client, "c", "first")
    notes.write_text("Regenerated with ZEBRA-3.", encoding="utf-8")
    stream, _ = await client.start("regenerate", "c")
    await collect(stream)
    assert "ZEBRA-3" in _sent_text(upstream)
    notes.write_text("Edited with ZEBRA-4.", encoding="utf-8")
    stream, _ = await client.start("edit", "c", text="first, edited")
    await collect(stream)
    assert "ZEBRA-4" in _sent_text(upstream) and "ZEBRA-3" not in _sent_text(upstream)
    assert not _stored_anywhere(live, "ZEBRA")


@pytest.fixture
async def cli_env(live: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv("CHATTHY_SERVER", live.address)
    monkeypatch.setenv("CHATTHY_PROFILE", "cli")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    return live


async def test_ask_attach_sends_files_without_storing_them(
    cli_env: Server, upstream: Upstream, notes: Path, tmp_path: Path
) -> None:
    second = tmp_path / "second.md"
    second.write_text("Second file. ZEBRA-5", encoding="utf-8")
    code, out, err = await chatthy(
        "ask", "--attach", str(notes), "--attach", str(second), "--chat", "a", "when?"
    )
    assert code == 0, err
    assert out == "upstream: when?\n"
    text = _sent_text(upstream)
    assert "ZEBRA-1" in text and "ZEBRA-5" in text
    assert not _stored_anywhere(cli_env, "ZEBRA")


async def test_ask_attach_missing_path_is_one_line(cli_env: Server, upstream: Upstream) -> None:
    code, out, err = await chatthy("ask", "--attach", "/no/such.txt", "hi")
    assert (code, out, err) == (1, "", "chatthy: no such file or folder: /no/such.txt\n")
    assert upstream.requests == []


async def test_repl_attach_attached_detach(
    cli_env: Server, upstream: Upstream, notes: Path
) -> None:
    lines = [
        f"/ws attach {notes}",
        "/ws attached",
        "first",
        f"/ws detach {notes}",
        "/ws attached",
        "second",
        "/ws frobnicate",
        "/quit",
    ]
    code, out, err = await chatthy("repl", "--chat", "r", stdin="\n".join(lines).encode())
    assert code == 0, err
    assert f"attached {notes}: 1 file, 35 bytes, read again for every turn" in out
    assert f"{notes}  1 file(s), 35 bytes" in out
    assert f"detached {notes}" in out and "nothing attached" in out
    assert "error: unknown /ws frob" in err and ", attach, detach, attached" in err
    first, second = (r.body["messages"] for r in upstream.requests)
    assert "ZEBRA-1" in str(first) and "ZEBRA-1" not in str(second)
