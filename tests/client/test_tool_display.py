"""Tool calls as the user meets them in `chatthy ask` and the line client: the calls and
results shown one line each, a call that changes something refused unless approved
(``--yes``, or the user's answer at the prompt), against a real server whose model (the
local upstream) asks for the tools."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest

from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker
from termkit import CHATTHY, Tmux, terminal_env
from tool_kit import NOTE_ARGS, cli, script_note
from upstream import Reply, Upstream

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

NOTE_SHOWN = 'name="a.txt", text="hello from the model"'


async def _ask(server: Server, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return await cli(server, tmp_path, "ask", *args)


async def test_ask_shows_a_read_only_call_and_its_result_on_stderr(
    tooled: Server, upstream: Upstream, tmp_path: Path
) -> None:
    upstream.push(
        Reply(chunks=["Let me look."], tool_calls=[("c1", "current_time", '{"timezone": "UTC"}')])
    )
    upstream.push(Reply(chunks=["It is late."]))
    code, out, err = await _ask(tooled, tmp_path, "--chat", "t", "what time is it?")
    assert code == 0, err
    assert out == "Let me look.It is late.\n"
    assert '⚙ current_time(timezone="UTC")' in err
    assert "⚙ current_time → ok " in err
    result = err.split("⚙ current_time → ok ")[1].splitlines()[0]
    assert re.fullmatch(r"\d+\.\d s: \d{4}-\d\d-\d\dT.* UTC\)", result), result


async def test_ask_without_yes_refuses_a_changing_call_and_says_how_to_approve(
    tooled: Server, upstream: Upstream, tmp_path: Path
) -> None:
    script_note(upstream)
    code, out, err = await _ask(tooled, tmp_path, "--chat", "t", "note this")
    assert code == 0, err
    assert not (tmp_path / "notes" / "a.txt").exists()
    assert '⚙ save_note(name="a.txt", text="hello from the model")' in err
    assert "⚙ save_note → refused: " in err
    assert "chatthy ask --yes" in err
    assert out.endswith("Done.\n")


async def test_ask_yes_runs_the_changing_call(
    tooled: Server, upstream: Upstream, tmp_path: Path, connect: ClientMaker
) -> None:
    script_note(upstream)
    code, _, err = await _ask(tooled, tmp_path, "--yes", "--chat", "t", "note this")
    assert code == 0, err
    assert (tmp_path / "notes" / "a.txt").read_text() == "hello from the model"
    assert "⚙ save_note → ok " in err
    assert "saved a.txt (20 characters)" in err
    assert "refused" not in err
    page = await connect(tooled, "cli", "pw").rpc(api.Messages(chat="t"))
    kinds = [p["type"] for p in page.messages[-1].content if isinstance(p, dict)]
    assert "tool_call" in kinds and "tool_result" in kinds


# ---- the line client -------------------------------------------------------------------


def _repl(server: Server, chat: str = "t") -> list[str]:
    return [CHATTHY, "repl", "--server", server.address, "--profile", "alice", "--chat", chat]


def _keys(tmux: Tmux, *keys: str) -> None:
    tmux.run("send-keys", "-t", "t", *keys)


async def _wait_count(tmux: Tmux, text: str, count: int) -> None:
    for _ in range(150):
        if tmux.screen().count(text) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} not {count} times on screen:\n{tmux.screen()}")


@needs_tmux
async def test_line_client_asks_before_a_changing_call_and_runs_it_on_yes(
    tooled: Server, upstream: Upstream, tmp_path: Path
) -> None:
    script_note(upstream)
    upstream.push(Reply(chunks=["Saving again."], tool_calls=[("call_2", "save_note", NOTE_ARGS)]))
    upstream.push(Reply(chunks=["Not saved."]))
    tmux = Tmux()
    try:
        tmux.start(_repl(tooled), terminal_env(tmp_path / "home"))
        await tmux.wait("t>")
        _keys(tmux, "note this", "Enter")
        await tmux.wait(f"run save_note({NOTE_SHOWN})? [y]es/[n]o/[a]lways")
        assert not (tmp_path / "notes" / "a.txt").exists()
        _keys(tmux, "y", "Enter")
        await tmux.wait("⚙ save_note(")
        await tmux.wait("→ ok ")
        await tmux.wait("Done.")
        assert (tmp_path / "notes" / "a.txt").read_text() == "hello from the model"
        (tmp_path / "notes" / "a.txt").unlink()
        _keys(tmux, "again", "Enter")
        await _wait_count(tmux, "[y]es/[n]o/[a]lways", 2)
        _keys(tmux, "n", "Enter")
        await tmux.wait("→ refused: the user said no")
        await tmux.wait("Not saved.")
        _keys(tmux, "still here", "Enter")
        await tmux.wait("upstream: still here")
        assert tmux.alive()
    finally:
        tmux.close()
    assert not (tmp_path / "notes" / "a.txt").exists()


async def test_piped_line_client_refuses_changing_calls(
    tooled: Server, upstream: Upstream, tmp_path: Path
) -> None:
    script_note(upstream)
    env = {**terminal_env(tmp_path / "home")}
    proc = await asyncio.create_subprocess_exec(
        *_repl(tooled),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(proc.communicate(b"note this\n"), 60)
    text = out.decode() + err.decode()
    assert proc.returncode == 0, text
    assert not (tmp_path / "notes" / "a.txt").exists()
    assert '⚙ save_note(name="a.txt", text="hello from the model") → refused' in text
    assert "Done." in text
