"""The line client (``chatthy repl``) as its users meet it: in a real terminal (tmux)
with prompt_toolkit, and through pipes."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider, turn
from termkit import CHATTHY, Tmux, terminal_env
from upstream import Reply, Upstream

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def _repl(server: Server, chat: str = "t") -> list[str]:
    return [CHATTHY, "repl", "--server", server.address, "--profile", "alice", "--chat", chat]


def _keys(tmux: Tmux, *keys: str) -> None:
    tmux.run("send-keys", "-t", "t", *keys)


@needs_tmux
async def test_ctrl_c_clears_the_line_and_the_client_stays(server: Server, tmp_path: Path) -> None:
    tmux = Tmux()
    try:
        tmux.start(_repl(server), terminal_env(tmp_path / "home"))
        await tmux.wait("t>")
        _keys(tmux, "half a thought")
        await tmux.wait("half a thought")
        _keys(tmux, "C-c")
        _keys(tmux, "a whole message", "Enter")
        await tmux.wait("echo: a whole message")
        assert tmux.alive()
        assert "echo: half a thought" not in tmux.screen()
    finally:
        tmux.close()


@needs_tmux
async def test_ctrl_c_cancels_a_streaming_reply_and_the_prompt_comes_back(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    upstream.push(Reply(chunks=["tick "] * 200, delay=0.05))
    server = await servers.start({"up": openai_provider(upstream)})
    tmux = Tmux()
    try:
        tmux.start(_repl(server, "slow"), terminal_env(tmp_path / "home"))
        await tmux.wait("slow>")
        _keys(tmux, "count slowly", "Enter")
        await tmux.wait("tick tick")
        _keys(tmux, "C-c")
        await tmux.wait("[reply cancelled]")
        _keys(tmux, "/chats", "Enter")
        await tmux.wait("msgs")
        assert tmux.alive()
    finally:
        tmux.close()
    page = await connect(server).rpc(api.Messages(chat="slow"))
    assert page.messages[-1].status == "cancelled"


@needs_tmux
async def test_tab_completes_chat_names_and_history_is_kept_across_runs(
    server: Server, connect: ClientMaker, tmp_path: Path
) -> None:
    other = connect(server, "alice")
    await turn(other, "zebra crossing", "hi")
    home = tmp_path / "home"
    tmux = Tmux()
    try:
        tmux.start(_repl(server), terminal_env(home))
        await tmux.wait("t>")
        _keys(tmux, "/chat zeb", "Tab")
        await tmux.wait("/chat 'zebra crossing'")
        _keys(tmux, "Enter")
        await tmux.wait("zebra crossing>")
        _keys(tmux, "remember me", "Enter")
        await tmux.wait("echo: remember me")
        _keys(tmux, "C-d")
    finally:
        tmux.close()
    tmux = Tmux()
    try:
        tmux.start(_repl(server), terminal_env(home))
        await tmux.wait("t>")
        _keys(tmux, "Up")
        await tmux.wait("t> remember me")
    finally:
        tmux.close()


@needs_tmux
async def test_a_reply_another_client_starts_shows_up_and_rename_is_followed(
    server: Server, connect: ClientMaker, tmp_path: Path
) -> None:
    tmux = Tmux()
    try:
        tmux.start(_repl(server, "shared"), terminal_env(tmp_path / "home"))
        await tmux.wait("shared>")
        await asyncio.sleep(0.3)
        await turn(connect(server, "alice"), "shared", "from the other side")
        await tmux.wait("[another client] you: from the other side")
        await tmux.wait("echo: from the other side")
        _keys(tmux, "/rename renamed", "Enter")
        await tmux.wait("renamed>")
        _keys(tmux, "next one", "Enter")
        await tmux.wait("echo: next one")
    finally:
        tmux.close()
    chats = {c.name: c.messages for c in await connect(server, "alice").rpc(api.Chats())}
    assert chats == {"renamed": 4}


@needs_tmux
async def test_load_puts_a_file_into_the_input(server: Server, tmp_path: Path) -> None:
    (tmp_path / "draft.txt").write_text("a drafted question\n")
    tmux = Tmux()
    try:
        tmux.start(_repl(server), terminal_env(tmp_path / "home"))
        await tmux.wait("t>")
        _keys(tmux, f"/load {tmp_path / 'draft.txt'}", "Enter")
        await tmux.wait("t> a drafted question")
        _keys(tmux, " now", "Enter")
        await tmux.wait("echo: a drafted question now")
    finally:
        tmux.close()


@needs_tmux
async def test_a_start_the_server_refuses_on_a_terminal_is_one_line_and_exit_status_1(
    server: Server, tmp_path: Path
) -> None:
    tmux = Tmux()
    then = 'echo "exit status $?"; sleep 60'
    try:
        command = [*_repl(server), "--provider", "nosuch"]
        tmux.start(["sh", "-c", f'"$@"; {then}', "sh", *command], terminal_env(tmp_path / "home"))
        screen = await tmux.wait("exit status")
    finally:
        tmux.close()
    said = [line for line in screen.splitlines() if line.strip()]
    assert said == ["chatthy: no provider 'nosuch' (available: echo)", "exit status 1"]


async def test_malformed_lines_are_one_error_line_each(server: Server) -> None:
    lines = "/\n/chat 'unclosed\n/frobnicate\n/quit\n"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatthy", *_repl(server)[1:],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "CHATTHY_PASSPHRASE": "secret"},
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(lines.encode()), 60)
    assert proc.returncode == 0
    errors = [line for line in err.decode().splitlines() if line.startswith("error:")]
    assert errors == [
        "error: an empty command: /help lists them",
        "error: cannot read that command: No closing quotation (/help lists them)",
        "error: unknown command /frobnicate (/help lists them)",
    ]
    assert "Traceback" not in err.decode()


async def test_results_read_as_text_not_json(server: Server, connect: ClientMaker) -> None:
    await turn(connect(server, "alice"), "t", "hello")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatthy", *_repl(server)[1:],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "CHATTHY_PASSPHRASE": "secret"},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(b"/account\n/quit\n"), 60)
    text = out.decode()
    assert "{" not in text and '"' not in text, text
    assert re.search(r"^created +20\d\d-\d\d-\d\d \d\d:\d\d$", text, re.MULTILINE), text


@needs_tmux
async def test_a_rename_by_another_client_is_followed(
    server: Server, connect: ClientMaker, tmp_path: Path
) -> None:
    other = connect(server, "alice")
    await turn(other, "old name", "hi")
    tmux = Tmux()
    try:
        tmux.start(_repl(server, "old name"), terminal_env(tmp_path / "home"))
        await tmux.wait("old name>")
        await other.rpc(api.Rename(chat="old name", new="new name"))
        await tmux.wait("[chat renamed to 'new name']")
        await tmux.wait("new name>")  # the prompt redrawn with the chat's new name
        _keys(tmux, "after the rename", "Enter")
        await tmux.wait("echo: after the rename")
    finally:
        tmux.close()
    chats = {c.name: c.messages for c in await other.rpc(api.Chats())}
    assert chats == {"new name": 4}


async def test_one_command_from_the_shell(server: Server, connect: ClientMaker) -> None:
    """``chatthy /NAME …`` runs one command of the table (``chatthy do`` too): its output
    on stdout, exit 0; a failure is one line and exit 1."""
    await turn(connect(server, "alice"), "zoo", "the giraffe is tall")
    env = {
        **os.environ,
        "CHATTHY_PASSPHRASE": "secret",
        "CHATTHY_SERVER": server.address,
        "CHATTHY_PROFILE": "alice",
    }

    async def run(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chatthy", *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await run("/search", "giraffe")
    assert code == 0, err
    assert "zoo #1 user" in out and "the giraffe is tall" in out and "**" not in out
    code, out, err = await run("--chat", "zoo", "/rename", "savanna")
    assert (code, err) == (0, ""), err
    assert "chat renamed to 'savanna'" in out
    code, out, _ = await run("do", "/help")
    assert code == 0 and "/ws add PATH…" in out
    code, _, err = await run("/frobnicate")
    assert (code, err) == (1, "chatthy: unknown command /frobnicate (/help lists them)\n")
    chats = [c.name for c in await connect(server, "alice").rpc(api.Chats())]
    assert chats == ["savanna"]


async def test_every_chat_command_through_a_pipe(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    """The table's chat, personality and provider commands in the line client (the TUI
    runs the same table: tests/client/tui)."""
    server = await servers.start(
        {"up": openai_provider(upstream), "other": openai_provider(upstream, model="m2")}
    )
    upstream.push(Reply(chunks=["first answer"]))
    upstream.push(Reply(chunks=["second answer"]))
    upstream.push(Reply(chunks=["answer again"]))
    lines = [
        "one",
        "two",
        "/regenerate",
        "/fork copy",
        "/undo",
        "/providers",
        "/provider other",
        "/model m3",
        "/prompts",
        "/prompt",
        "/prompt edit",
        "/commands",
        f"/export {tmp_path / 'out.md'}",
        "/destroy",
        "/destroy base",
        "/chats",
        "/quit",
    ]
    env = {**os.environ, "CHATTHY_PASSPHRASE": "secret"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatthy", *_repl(server, "base")[1:],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    raw_out, raw_err = await asyncio.wait_for(proc.communicate("\n".join(lines).encode()), 60)
    out, err = raw_out.decode(), raw_err.decode()
    assert proc.returncode == 0, err
    assert "first answer" in out and "second answer" in out and "answer again" in out
    assert "forked into 'copy'" in out
    assert "removed 2 message(s)" in out
    assert "other: m2" in out
    assert "provider is now 'other'" in out and "model is now 'm3'" in out
    assert "personalities:" in out and "personality 'default':" in out
    assert "error: $EDITOR needs a terminal; without one: /prompt_set name=default text=…" in err
    assert "/messages" in out and "server commands:" in out
    assert f"exported 'copy' to {tmp_path / 'out.md'} (md)" in out
    assert "type /destroy copy to confirm" in out
    assert "chat 'base' deleted" in out
    assert (tmp_path / "out.md").read_text().count("## user") == 1
    chats = {
        c.name: (c.messages, c.provider, c.model) for c in await connect(server).rpc(api.Chats())
    }
    assert chats == {"copy": (2, "other", "m3")}


@needs_tmux
async def test_a_reply_that_ends_in_another_chat_is_told(
    server: Server, connect: ClientMaker, tmp_path: Path
) -> None:
    tmux = Tmux()
    try:
        tmux.start(_repl(server, "here"), terminal_env(tmp_path / "home"))
        await tmux.wait("here>")
        await asyncio.sleep(0.3)
        await turn(connect(server, "alice"), "there", "elsewhere")
        await tmux.wait("[reply finished in 'there']")
        _keys(tmux, "still here", "Enter")
        await tmux.wait("echo: still here")
        assert "reply finished in 'here'" not in tmux.screen()
    finally:
        tmux.close()


@needs_tmux
async def test_ctrl_c_while_a_line_waits_for_the_server_cancels_it_not_the_client(
    servers: ServerFactory, tmp_path: Path
) -> None:
    server = await servers.start()
    tmux = Tmux()
    try:
        tmux.start(_repl(server), terminal_env(tmp_path / "home"))
        await tmux.wait("t>")
        await servers.stop(server)
        _keys(tmux, "anyone there?", "Enter")
        await asyncio.sleep(0.5)
        _keys(tmux, "C-c")
        await tmux.wait("[cancelled]")
        await asyncio.sleep(0.3)
        assert tmux.alive()
        _keys(tmux, "/key", "Enter")
        await tmux.wait("public key")
    finally:
        tmux.close()


@needs_tmux
async def test_the_prompt_does_not_wait_for_a_reply_another_client_started(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, tmp_path: Path
) -> None:
    upstream.push(Reply(chunks=["slow "] * 100, delay=0.1))
    server = await servers.start({"up": openai_provider(upstream)})
    tmux = Tmux()
    try:
        tmux.start(_repl(server, "shared"), terminal_env(tmp_path / "home"))
        await tmux.wait("shared>")
        await asyncio.sleep(0.3)
        other = connect(server, "alice")
        await other.start("chat", "shared", text="take your time")
        await tmux.wait("[another client] you: take your time")
        _keys(tmux, "/key", "Enter")
        await tmux.wait("public key", timeout=5)  # long before the other reply ends
        page = await other.rpc(api.Messages(chat="shared"))
        assert page.running is not None  # that reply still runs, untouched
    finally:
        tmux.close()


async def test_own_rename_is_said_once_and_a_bad_home_folder_is_one_line(server: Server) -> None:
    lines = "hello\n/rename other\n/ws add ~nosuchuser/x\n/load ~nosuchuser/x\nstill here\n"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatthy", *_repl(server)[1:],
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "CHATTHY_PASSPHRASE": "secret"},
    )  # fmt: skip
    raw_out, raw_err = await asyncio.wait_for(proc.communicate(lines.encode()), 60)
    out, err = raw_out.decode(), raw_err.decode()
    assert proc.returncode == 0, err
    assert (out + err).count("chat renamed to 'other'") == 1, out + err
    assert err.count("error: ~nosuchuser/x: no such user's home folder\n") == 2
    assert "echo: still here" in out and "Traceback" not in err
