"""The command line as a user runs it: real processes against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider
from upstream import Reply, Upstream

# As from a terminal: Ctrl-C raises KeyboardInterrupt even where the test runner was
# started in the background (which leaves SIGINT ignored for every child).
AS_FROM_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('chatthy', run_name='__main__', alter_sys=True)"
)


async def spawn(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    """``chatthy ARGS`` as a real process, its stdin an open pipe."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        AS_FROM_A_TERMINAL,
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


async def finish(proc: asyncio.subprocess.Process, timeout: float = 60) -> tuple[int, str, str]:
    """Wait for the process to end by itself, without closing its stdin first."""
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    try:
        out, err, code = await asyncio.wait_for(
            asyncio.gather(proc.stdout.read(), proc.stderr.read(), proc.wait()), timeout
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError(f"chatthy still running after {timeout} s") from None
    finally:
        proc.stdin.close()
    return code, out.decode(), err.decode()


async def chatthy(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = await spawn(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(stdin or b""), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
async def live(
    servers: ServerFactory, upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> Server:
    srv = await servers.start({"up": openai_provider(upstream)})
    monkeypatch.setenv("CHATTHY_SERVER", srv.address)
    monkeypatch.setenv("CHATTHY_PROFILE", "cli")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    return srv


@pytest.fixture
async def duo(
    servers: ServerFactory,
    upstream: Upstream,
    isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Server:
    """A server with two providers (``up``, ``other``) and a server prompt ``terse``."""
    prompts = isolated_env / "config" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "terse.md").write_text("Answer in one word.", encoding="utf-8")
    srv = await servers.start(
        {"up": openai_provider(upstream), "other": openai_provider(upstream, model="m2")}
    )
    monkeypatch.setenv("CHATTHY_SERVER", srv.address)
    monkeypatch.setenv("CHATTHY_PROFILE", "cli")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    return srv


async def chat_records(connect: ClientMaker, srv: Server) -> dict[str, api.ChatInfo]:
    """Profile cli's chats by name, as the server has them."""
    client = connect(srv, profile="cli", passphrase="pw")
    return {c.name: c for c in await client.rpc(api.Chats())}


async def stored_reply(connect: ClientMaker, srv: Server, chat: str) -> api.MessageInfo:
    """The last assistant message of ``chat`` once no reply runs in it any more."""
    client = connect(srv, profile="cli", passphrase="pw")
    for _ in range(100):
        page = await client.rpc(api.Messages(chat=chat))
        if page.running is None:
            break
        await asyncio.sleep(0.05)
    return [m for m in page.messages if m.role == "assistant"][-1]


async def test_ask_streams_reply_and_stores_it(live: Server, upstream: Upstream) -> None:
    upstream.push(Reply(chunks=["Paris", " is the capital."]))
    code, out, err = await chatthy("ask", "--chat", "geo", "capital of France?")
    assert (code, out) == (0, "Paris is the capital.\n"), err
    code, out, _ = await chatthy("chats")
    assert code == 0 and "geo" in out


async def test_ask_reads_stdin(live: Server, upstream: Upstream) -> None:
    code, out, _ = await chatthy("ask", "--chat", "s", stdin=b"piped question")
    assert code == 0
    assert upstream.requests[-1].body["messages"][-1]["content"] == "piped question"
    assert out.startswith("upstream:")


async def test_ask_provider_error_exits_nonzero(live: Server, upstream: Upstream) -> None:
    upstream.push(Reply(status=401))
    code, _, err = await chatthy("ask", "hi")
    assert code == 1
    assert err.strip().splitlines()[-1] == "chatthy: provider 'up': invalid API key"


async def test_ask_wrong_passphrase(live: Server, upstream: Upstream) -> None:
    assert (await chatthy("ask", "hi"))[0] == 0
    code, _, err = await chatthy("ask", "hi", env={"CHATTHY_PASSPHRASE": "other"})
    assert code == 1
    assert "wrong passphrase for profile 'cli'" in err
    assert "Traceback" not in err


async def test_ask_server_down(unused_tcp_port: int) -> None:
    code, _, err = await chatthy(
        "ask",
        "hi",
        env={"CHATTHY_SERVER": f"tcp://127.0.0.1:{unused_tcp_port}", "CHATTHY_PASSPHRASE": "x"},
    )
    assert code == 1
    assert "cannot reach the server" in err
    assert len(err.strip().splitlines()) == 1


async def test_ask_without_passphrase_off_terminal(
    live: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CHATTHY_PASSPHRASE")
    code, _, err = await chatthy("ask", "hi")
    assert code == 1 and "no passphrase" in err


async def test_export_and_import_files(live: Server, upstream: Upstream, tmp_path: Path) -> None:
    upstream.push(Reply(chunks=["saved answer"]))
    assert (await chatthy("ask", "--chat", "keep", "question"))[0] == 0
    code, out, _ = await chatthy("export", "keep")
    assert code == 0 and "saved answer" in out and out.startswith("# keep")
    target = tmp_path / "keep.json"
    assert (await chatthy("export", "keep", "--format", "json", "-o", str(target)))[0] == 0
    assert json.loads(target.read_text())["messages"][1]["content"] == "saved answer"
    code, out, _ = await chatthy("import", str(target), "--chat", "copy")
    assert code == 0 and "2 message(s)" in out and "'copy'" in out
    code, out, err = await chatthy("export", "nope")
    assert (code, err) == (1, "chatthy: no chat named 'nope'\n")


async def test_config_init_writes_commented_defaults(isolated_env: Path) -> None:
    code, out, _ = await chatthy("config", "init")
    assert code == 0
    server_toml = isolated_env / "config" / "server.toml"
    client_toml = isolated_env / "config" / "client.toml"
    assert server_toml.exists() and client_toml.exists()
    assert "# chatthy server configuration" in server_toml.read_text()
    import tomllib

    assert tomllib.loads(server_toml.read_text())["server"]["registration"] == "auto"
    code, out, _ = await chatthy("config", "init")
    assert "already present" in out


async def test_help_lists_commands() -> None:
    code, out, _ = await chatthy("--help")
    assert code == 0
    for command in ("serve", "ask", "chats", "export", "import", "config", "run"):
        assert command in out


async def test_config_key_shows_the_server_key(isolated_env: Path) -> None:
    from chatthy.wire.curve import load_public_key

    code, out, _ = await chatthy("config", "key")
    assert code == 0
    key = load_public_key(isolated_env / "data")
    assert key is not None and out.strip() == key.decode()
    assert (await chatthy("config", "key"))[1] == out


async def test_serve_port_in_use_is_one_line(isolated_env: Path) -> None:
    (await chatthy("config", "init"))  # else its first run says it wrote server.toml
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"tcp://127.0.0.1:{taken.getsockname()[1]}"
        code, _, err = await chatthy("serve", "--listen", address)
    assert (code, err) == (1, f"chatthy: cannot listen on {address}: Address already in use\n")


@pytest.mark.parametrize("address", ["garbage", "tcp://127.0.0.1:notaport"])
async def test_serve_bad_listen_address_is_one_line(isolated_env: Path, address: str) -> None:
    code, _, err = await chatthy("serve", "--listen", address)
    server_toml = isolated_env / "config" / "server.toml"
    assert (code, err.splitlines()) == (
        1,
        [
            f"chatthy: wrote the commented default {server_toml}",  # the first run
            f"chatthy: cannot listen on {address}: Invalid argument",
        ],
    )


async def test_serve_missing_config_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    code, _, err = await chatthy("serve", "--config", str(missing))
    assert (code, err) == (1, f"chatthy: no config file at {missing}\n")


async def test_serve_leaves_out_a_non_utf8_prompt(isolated_env: Path, connect: ClientMaker) -> None:
    prompts = isolated_env / "config" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "bad.md").write_bytes(b"\xff\xfe not text")
    (prompts / "good.md").write_text("Be good.", encoding="utf-8")
    proc = await spawn("serve", "--listen", "tcp://127.0.0.1:0")
    assert proc.stderr is not None
    seen: list[str] = []
    while not seen or "listening on" not in seen[-1]:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, f"serve ended: {seen}"
        seen.append(line.decode())
    address = seen[-1].split("listening on ")[1].split()[0]
    assert any("bad.md" in line and "WARNING" in line for line in seen), seen
    client = connect(address, profile="p", passphrase="pw")
    names = {p.name for p in await client.rpc(api.Prompts())}
    assert {"default", "good"} <= names and "bad" not in names
    proc.send_signal(signal.SIGTERM)
    code, _, err = await finish(proc)
    assert code == 0 and "Traceback" not in err


@pytest.mark.parametrize("content", [b"\xff\xfe\x00binary", None])
async def test_import_unreadable_file_is_one_line(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "data.dat"
    if content is not None:
        path.write_bytes(content)
    reason = "not UTF-8 text (byte 0)" if content else "No such file or directory"
    code, _, err = await chatthy("import", str(path), env={"CHATTHY_PASSPHRASE": "pw"})
    assert (code, err) == (1, f"chatthy: cannot read {path}: {reason}\n")


@pytest.mark.parametrize(
    "address", ["localhost:23456", "tcp://127.0.0.1:notaport", "tcp://127.0.0.1", "http://h:1"]
)
async def test_malformed_server_address_is_one_line(address: str) -> None:
    code, _, err = await chatthy("ask", "--server", address, "hi", env={"CHATTHY_PASSPHRASE": "x"})
    assert (code, err) == (
        1,
        f"chatthy: server address must look like tcp://HOST:PORT or ipc://PATH: got '{address}'\n",
    )


async def test_parallel_asks_get_chats_of_their_own(live: Server) -> None:
    results = await asyncio.gather(*(chatthy("ask", f"question {i}") for i in range(4)))
    assert [code for code, _, _ in results] == [0, 0, 0, 0], [err for _, _, err in results]
    code, out, _ = await chatthy("chats")
    assert code == 0 and out.count("ask ") == 4


async def test_ask_text_never_waits_on_an_open_stdin(live: Server, upstream: Upstream) -> None:
    proc = await spawn("ask", "hello")
    code, out, err = await finish(proc, timeout=30)
    assert code == 0 and out.startswith("upstream:"), err
    assert upstream.requests[-1].body["messages"][-1]["content"] == "hello"


async def test_ask_dash_is_replaced_by_stdin(live: Server, upstream: Upstream) -> None:
    code, _, err = await chatthy("ask", "summarise:", "-", stdin=b"the piped text\n")
    assert code == 0, err
    assert upstream.requests[-1].body["messages"][-1]["content"] == "summarise: the piped text"


async def test_ask_help_tells_the_stdin_rule() -> None:
    code, out, _ = await chatthy("ask", "--help")
    assert code == 0
    assert "stdin is read only when no TEXT is given" in " ".join(out.split())


async def slow_ask(upstream: Upstream, chat: str) -> asyncio.subprocess.Process:
    """``chatthy ask`` on a reply of 200 chunks, once its first text is out."""
    upstream.push(Reply(chunks=["tick "] * 200, delay=0.02))
    proc = await spawn("ask", "--chat", chat, "go on")
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdin.close()
    assert await asyncio.wait_for(proc.stdout.read(5), 30)
    return proc


async def test_ctrl_c_cancels_the_reply_on_the_server(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    proc = await slow_ask(upstream, "slow")
    proc.send_signal(signal.SIGINT)
    code, _, err = await finish(proc)
    assert code == 130 and "Traceback" not in err, err
    reply = await stored_reply(connect, live, "slow")
    assert reply.status == "cancelled"
    assert reply.content.count("tick") < 200


async def test_ask_reply_cancelled_elsewhere_exits_1(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    proc = await slow_ask(upstream, "c")
    other = connect(live, profile="cli", passphrase="pw")
    await other.call("cancel", chat="c")
    code, _, err = await finish(proc)
    assert (code, err) == (1, "chatthy: reply cancelled\n")


async def test_ask_reply_interrupted_by_server_stop_exits_1(
    live: Server, upstream: Upstream, servers: ServerFactory
) -> None:
    proc = await slow_ask(upstream, "i")
    await servers.stop(live)
    code, _, err = await finish(proc)
    assert (code, err) == (1, "chatthy: reply interrupted (the server stopped)\n")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"status": "complete"}, None),
        ({"status": "cancelled"}, "reply cancelled"),
        ({"status": "interrupted"}, "reply interrupted (the server stopped)"),
        ({"status": "error", "error": {"code": "provider", "message": "boom"}}, "boom"),
    ],
)
def test_how_a_reply_ended_is_one_line(data: dict[str, Any], message: str | None) -> None:
    from chatthy.client.commands import failure_of
    from chatthy.wire.messages import Event

    failure = failure_of(Event("s", "c", 3, "end", data=data, total=4))
    assert (failure and failure.message) == message


async def test_repl_applies_provider_and_prompt(duo: Server, connect: ClientMaker) -> None:
    code, _, err = await chatthy(
        "repl", "--chat", "r", "--provider", "other", "--prompt", "terse", stdin=b"/quit\n"
    )
    assert code == 0, err
    chat = (await chat_records(connect, duo))["r"]
    assert (chat.provider, chat.personality) == ("other", "terse")


async def test_repl_server_commands_take_the_open_chat_only_where_it_fits(
    duo: Server, connect: ClientMaker
) -> None:
    """``/NAME key=value`` runs any RPC; the open chat fills in ``chat`` for commands
    about a chat, never for one that names a chat to make (``import``, ``new``)."""
    lines = [
        "/use model=m2",
        r"""/import 'data="[{\"role\": \"user\", \"content\": \"hi\"}]"'""",
        "/new chat=fresh",
        "/quit",
    ]
    code, out, err = await chatthy("repl", "--chat", "open", stdin="\n".join(lines).encode())
    assert code == 0, err
    chats = await chat_records(connect, duo)
    assert chats["open"].model == "m2"
    assert {"imported", "fresh"} <= set(chats)
    assert re.search(r"^messages +1$", out, re.MULTILINE), out


async def test_repl_unknown_provider_is_one_line(duo: Server) -> None:
    code, _, err = await chatthy("repl", "--provider", "nope", stdin=b"/quit\n")
    assert code == 1 and err.startswith("chatthy: ") and len(err.splitlines()) == 1, err


async def test_run_applies_provider_and_prompt(
    isolated_env: Path, servers: ServerFactory, connect: ClientMaker
) -> None:
    prompts = isolated_env / "config" / "prompts"
    prompts.mkdir(parents=True)
    (prompts / "terse.md").write_text("Answer in one word.", encoding="utf-8")
    env = {"CHATTHY_PROFILE": "cli", "CHATTHY_PASSPHRASE": "pw"}
    code, _, err = await chatthy("run", "--chat", "e", "--prompt", "terse", stdin=b"/q\n", env=env)
    assert code == 0, err
    srv = await servers.start()
    chat = (await chat_records(connect, srv))["e"]
    assert chat.personality == "terse"


async def test_ask_client_defaults_only_for_new_chats(
    duo: Server, isolated_env: Path, connect: ClientMaker
) -> None:
    (isolated_env / "config" / "client.toml").write_text(
        'provider = "other"\nprompt = "terse"\n', encoding="utf-8"
    )
    assert (await chatthy("ask", "--chat", "keep", "--provider", "up", "hi"))[0] == 0
    assert (await chatthy("ask", "--chat", "keep", "again"))[0] == 0
    assert (await chatthy("ask", "fresh"))[0] == 0
    chats = await chat_records(connect, duo)
    assert (chats["keep"].provider, chats["keep"].personality) == ("up", "default")
    (fresh,) = [c for name, c in chats.items() if name.startswith("ask ")]
    assert (fresh.provider, fresh.personality) == ("other", "terse")


async def test_repl_turn_prints_the_reply(live: Server, upstream: Upstream) -> None:
    upstream.push(Reply(chunks=["line ", "reply"]))
    code, out, err = await chatthy("repl", "--chat", "r", stdin=b"hello\n/quit\n")
    assert code == 0 and "line reply" in out, err
    assert "error" not in err


async def test_repl_editor_commands_off_a_terminal_are_one_line(live: Server) -> None:
    stdin = b"hello\n/edit\n/ws edit notes.md\n/quit\n"
    code, _, err = await chatthy("repl", "--chat", "r", stdin=stdin)
    assert code == 0, err
    assert "error: $EDITOR needs a terminal; without one: /edit TEXT\n" in err
    assert "error: $EDITOR needs a terminal; without one: chatthy ws add notes.md < FILE\n" in err


async def test_ask_whose_reader_goes_away_cancels_quietly(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["tick "] * 200, delay=0.02))
    proc = await spawn("ask", "--chat", "gone", "go on")
    assert proc.stdout is not None and proc.stderr is not None and proc.stdin is not None
    proc.stdin.close()
    assert await asyncio.wait_for(proc.stdout.read(5), 30)
    proc.stdout.feed_eof()
    transport = proc._transport.get_pipe_transport(1)  # type: ignore[attr-defined]
    transport.close()  # the reader goes away, as `| head -c 5` does
    err = await asyncio.wait_for(proc.stderr.read(), 30)
    assert (await proc.wait(), err) == (1, b"")
    reply = await stored_reply(connect, live, "gone")
    assert reply.status == "cancelled"


def test_completion_completes_commands_subcommands_options_and_paths(tmp_path: Path) -> None:
    script = subprocess.run(
        [sys.executable, "-m", "chatthy", "completion", "bash"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (tmp_path / "notes.md").write_text("x")
    (tmp_path / "completion.bash").write_text(script)
    probe = """
source completion.bash
complete_words() {
    COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()
    _shtab_chatthy; echo "${COMPREPLY[*]}"
}
complete_words chatthy te
complete_words chatthy ws re
complete_words chatthy ask --at
complete_words chatthy ws add no
"""
    done = subprocess.run(
        ["bash", "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    offered = [sorted(line.split()) for line in done.stdout.splitlines()]
    assert offered == [["template", "templates"], ["rename", "restore"], ["--attach"], ["notes.md"]]
    zsh = subprocess.run(
        [sys.executable, "-m", "chatthy", "completion", "zsh"], capture_output=True, text=True
    )
    assert zsh.stdout.startswith("#compdef chatthy")


def test_a_reader_that_goes_away_is_no_traceback() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "chatthy", "completion", "bash"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before the interpreter is even up: every write fails
        err = proc.stderr.read().decode()
        assert (proc.wait(30), err) == (1, "")


async def test_config_profile_key_shows_the_fingerprint(monkeypatch: pytest.MonkeyPatch) -> None:
    from chatthy.wire.signing import derive_key, fingerprint

    monkeypatch.setenv("CHATTHY_PROFILE", "cli")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    code, out, _ = await chatthy("config", "profile-key")
    key = derive_key("pw", "cli").public_key
    assert code == 0
    assert f"profile 'cli': {fingerprint(key)}" in out
    assert key.hex() in out


async def _on_a_terminal(
    args: list[str], talk: list[tuple[bytes, str]], env: dict[str, str]
) -> tuple[int, str, str]:
    """``chatthy ARGS`` whose stdin is a terminal (a pty): each answer is typed once its
    prompt ends what the process wrote on stderr."""
    import pty

    master, slave = pty.openpty()
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "chatthy", *args),
        stdin=slave,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
        start_new_session=True,  # no controlling terminal: getpass reads the pty on stdin
    )
    os.close(slave)
    assert proc.stderr is not None
    err = b""
    try:
        for prompt, answer in talk:
            while not err.endswith(prompt):
                chunk = await asyncio.wait_for(proc.stderr.read(256), 30)
                if not chunk:
                    break
                err += chunk
            os.write(master, answer.encode() + b"\n")
        out, rest = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        os.close(master)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), (err + rest).decode()


async def _ask_on_a_terminal(address: str, answers: list[str]) -> tuple[int, str, str]:
    """``chatthy ask`` as profile typist, its passphrase typed at each prompt."""
    prompts = (b"profile 'typist': ", b"again: ")
    return await _on_a_terminal(
        ["ask", "--chat", "c", "hello"],
        list(zip(prompts, answers, strict=False)),
        {"CHATTHY_SERVER": address, "CHATTHY_PROFILE": "typist", "CHATTHY_PASSPHRASE": ""},
    )


async def test_a_new_profile_typed_on_a_terminal_is_asked_twice(live: Server) -> None:
    code, _, err = await _ask_on_a_terminal(live.address, ["tiger", "tigre"])
    assert code == 1
    assert "profile 'typist' is new" in err
    assert err.strip().splitlines()[-1] == (
        "chatthy: the passphrases do not match: nothing was registered"
    )
    assert await live.store.get_profile("typist") is None

    code, _, err = await _ask_on_a_terminal(live.address, ["tiger", "tiger"])
    assert code == 0, err
    assert await live.store.get_profile("typist") is not None
    code, _, err = await _ask_on_a_terminal(live.address, ["tiger"])  # known: asked once
    assert code == 0, err
    assert "again" not in err


async def test_a_typed_passphrase_leaves_no_key_cache(live: Server, isolated_env: Path) -> None:
    code, _, err = await _ask_on_a_terminal(live.address, ["tiger", "tiger"])
    assert code == 0, err
    assert not (isolated_env / "data" / "key-cache.json").exists()


async def test_ask_keeps_the_key_of_a_passphrase_from_the_environment(
    live: Server, isolated_env: Path
) -> None:
    from chatthy.client.keycache import cached_key, keep_key
    from chatthy.wire.signing import SigningKey

    cache = isolated_env / "data" / "key-cache.json"
    assert (await chatthy("ask", "hi"))[0] == 0
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert cached_key(cache, "cli", "pw") is not None
    # the next run signs with what the cache holds: a stand-in key there is refused
    keep_key(cache, "cli", "pw", SigningKey.from_seed(b"\x07" * 32))
    code, _, err = await chatthy("ask", "hi")
    assert code == 1 and "wrong passphrase for profile 'cli'" in err


async def test_passphrase_changes_the_profile_key(
    live: Server, connect: ClientMaker, isolated_env: Path
) -> None:
    from chatthy.client.keycache import cached_key
    from chatthy.wire.signing import derive_key, fingerprint

    await connect(live, "cli", "pw").rpc(api.New(chat="kept"))
    talk = [(b"profile 'cli': ", "new pw"), (b"again: ", "new pw")]
    code, out, err = await _on_a_terminal(["passphrase"], talk, {})
    assert code == 0, err
    assert cached_key(isolated_env / "data" / "key-cache.json", "cli", "pw") is None
    new_key = derive_key("new pw", "cli").public_key
    assert out.strip() == f"profile 'cli' now has key {fingerprint(new_key)}"
    assert "update CHATTHY_PASSPHRASE" in err
    record = await live.store.get_profile("cli")
    assert record is not None and record.public_key == new_key
    chats = await connect(live, "cli", "new pw").rpc(api.Chats())
    assert [c.name for c in chats] == ["kept"]

    talk = [(b"profile 'cli': ", "one"), (b"again: ", "other")]
    code, _, err = await _on_a_terminal(["passphrase"], talk, {"CHATTHY_PASSPHRASE": "new pw"})
    assert code == 1 and "differ: nothing changed" in err


async def test_repl_key_shows_the_fingerprint(live: Server) -> None:
    from chatthy.wire.signing import derive_key, fingerprint

    code, out, err = await chatthy("repl", stdin=b"/key\n/quit\n")
    assert code == 0, err
    assert fingerprint(derive_key("pw", "cli").public_key) in out


async def test_ask_options_reach_the_upstream_typed(live: Server, upstream: Upstream) -> None:
    code, _, err = await chatthy(
        "ask",
        "-o",
        "temperature=0.2",
        "--option",
        'stop="\\n"',
        "-o",
        "user=alice",
        "-o",
        "seed=7",
        "-o",
        'tag="2024"',
        "hi",
    )
    assert code == 0, err
    body = upstream.requests[-1].body
    assert (body["temperature"], body["stop"], body["user"]) == (0.2, "\n", "alice")
    assert (body["seed"], body["tag"]) == (7, "2024")
    await chatthy("ask", "again")
    assert "temperature" not in upstream.requests[-1].body  # for that turn only


async def test_ask_refuses_options_it_cannot_send(live: Server, upstream: Upstream) -> None:
    code, _, err = await chatthy("ask", "-o", "model=other", "hi")
    assert (code, err) == (1, "chatthy: params may not set model\n")
    code, _, err = await chatthy("ask", "-o", "temperature", "hi")
    assert code == 2
    assert err.splitlines()[-1] == (
        "chatthy ask: error: argument -o/--option: KEY=VALUE wanted, "
        "e.g. -o temperature=0.2 (not 'temperature')"
    )
    assert len(upstream.requests) == 0


async def test_import_of_a_chatgpt_export_and_export_as_openai(live: Server) -> None:
    export = Path(__file__).parent / "conversation" / "data" / "chatgpt_conversations.json"
    code, out, err = await chatthy("import", str(export))
    assert code == 0, err
    assert out.splitlines() == [
        "imported 4 message(s) into chat 'Feeding a sourdough starter'",
        "imported 2 message(s) into chat 'Lisbon in three days'",
        "2 chats made",
    ]
    code, out, _ = await chatthy("export", "Lisbon in three days", "--format", "openai")
    assert code == 0
    assert json.loads(out) == [
        {"role": "user", "content": "Plan three days in Lisbon.\n## assistant\nno museums"},
        {"role": "assistant", "content": "Day 1: Alfama. Day 2: Belém. Day 3: Sintra."},
    ]


async def test_serve_writes_its_default_config_on_first_run(isolated_env: Path) -> None:
    from chatthy.config import SERVER_TOML

    proc = await spawn("serve", "--listen", "tcp://127.0.0.1:0")
    assert proc.stderr is not None
    seen: list[str] = []
    while not seen or "listening on" not in seen[-1]:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, f"serve ended: {seen}"
        seen.append(line.decode())
    proc.send_signal(signal.SIGTERM)
    await finish(proc)
    server_toml = isolated_env / "config" / "server.toml"
    assert seen[0] == f"chatthy: wrote the commented default {server_toml}\n"
    assert server_toml.read_text() == SERVER_TOML
    assert server_toml.stat().st_mode & 0o777 == 0o600
    assert not (isolated_env / "config" / "client.toml").exists()


async def test_the_first_client_run_writes_client_toml_and_never_over_one(
    live: Server, isolated_env: Path
) -> None:
    from chatthy.config import CLIENT_TOML

    client_toml = isolated_env / "config" / "client.toml"
    code, out, err = await chatthy("chats")
    assert (code, out, err) == (0, "no chats yet\n", "")
    assert client_toml.read_text() == CLIENT_TOML
    assert client_toml.stat().st_mode & 0o777 == 0o600
    client_toml.write_text("timeout = 9.0\n")
    assert (await chatthy("chats"))[0] == 0
    assert client_toml.read_text() == "timeout = 9.0\n"


async def test_a_config_folder_that_cannot_be_written_is_a_warning(
    live: Server, isolated_env: Path
) -> None:
    folder = isolated_env / "config"
    folder.mkdir(mode=0o500)
    if os.geteuid() == 0:  # root writes into a read-only folder: use one no one can
        folder = Path("/proc/self")
    try:
        code, out, err = await chatthy("chats", env={"CHATTHY_CONFIG_DIR": str(folder)})
    finally:
        (isolated_env / "config").chmod(0o700)
    assert (code, out) == (0, "no chats yet\n")
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"chatthy: warning: no default client.toml written: cannot write {folder / 'client.toml'}: "
    )


async def test_prompts_export_and_import_as_files(
    live: Server, connect: ClientMaker, tmp_path: Path
) -> None:
    client = connect(live, profile="cli", passphrase="pw")
    await client.rpc(api.PromptSet(name="terse", text="Be terse."))
    folder = tmp_path / "personalities"
    code, out, err = await chatthy("prompts", "export", str(folder))
    assert code == 0, err
    assert out.splitlines() == [
        f"wrote {folder / 'default.md'} (the server's)",
        f"wrote {folder / 'terse.md'} (yours)",
    ]
    assert (folder / "terse.md").read_text() == "Be terse.\n"
    mine = tmp_path / "mine"
    assert (await chatthy("prompts", "export", "--mine", str(mine)))[0] == 0
    assert sorted(p.name for p in mine.iterdir()) == ["terse.md"]

    (mine / "terse.md").write_text("Be very terse.\n")
    (mine / "pirate.md").write_text("Talk like a pirate.\n\nAlways.\n")
    code, out, err = await chatthy("prompts", "import", str(mine))
    assert (code, err) == (0, ""), err
    assert out.splitlines() == [
        f"imported 'pirate' from {mine / 'pirate.md'}",
        f"imported 'terse' from {mine / 'terse.md'}",
    ]
    texts = {p.name: (p.text, p.source) for p in await client.rpc(api.Prompts())}
    assert texts["pirate"] == ("Talk like a pirate.\n\nAlways.", "profile")
    assert texts["terse"] == ("Be very terse.", "profile")


async def test_prompts_import_says_what_it_left_out(live: Server, tmp_path: Path) -> None:
    (tmp_path / "latin.md").write_bytes("café".encode("latin-1"))
    (tmp_path / "good.md").write_text("Be good.")
    code, out, err = await chatthy(
        "prompts",
        "import",
        str(tmp_path / "latin.md"),
        str(tmp_path / "gone.md"),
        str(tmp_path / "good.md"),
    )
    assert code == 1
    assert out == f"imported 'good' from {tmp_path / 'good.md'}\n"
    assert err.splitlines() == [
        f"skipped {tmp_path / 'latin.md'}: not UTF-8 text (byte 3)",
        f"skipped {tmp_path / 'gone.md'}: no such file or folder",
    ]


async def _serve_until_listening(seen: list[str]) -> tuple[asyncio.subprocess.Process, str]:
    proc = await spawn("serve", "--listen", "tcp://127.0.0.1:0")
    assert proc.stderr is not None
    while not seen or "listening on" not in seen[-1]:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, f"serve ended: {seen}"
        seen.append(line.decode())
    return proc, seen[-1].split("listening on ")[1].split()[0]


async def test_serve_reads_the_embedder_before_serving_once_documents_exist(
    isolated_env: Path, connect: ClientMaker
) -> None:
    first: list[str] = []
    proc, address = await _serve_until_listening(first)
    client = connect(address, profile="p", passphrase="pw")
    await client.rpc(api.RagAdd(name="tea.md", text="Green tea is steeped at 80 degrees."))
    proc.send_signal(signal.SIGTERM)
    code, _, err = await finish(proc)
    assert code == 0 and "document store:" not in "".join(first) + err  # no documents yet

    again: list[str] = []
    proc, address = await _serve_until_listening(again)
    assert proc.stderr is not None
    # read before the first request is: the log says so before any answer can come
    line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
    assert "document store: embedder read in" in line, line
    client = connect(address, profile="p", passphrase="pw")
    hits = await client.rpc(api.RagSearch(query="how hot for green tea"))
    assert hits[0].document == "tea.md"
    proc.send_signal(signal.SIGTERM)
    code, _, err = await finish(proc)
    assert code == 0 and "Traceback" not in err


def _peak_rss(pid: int) -> int:
    """The most memory process ``pid`` has held (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
async def test_a_20_mb_photo_is_downscaled_and_the_server_grows_by_less_than_twice_it(
    isolated_env: Path, tmp_path: Path
) -> None:
    from PIL import Image

    photo = tmp_path / "big.jpg"
    Image.effect_noise((6000, 4500), 90).convert("RGB").save(photo, "JPEG", quality=95)
    size = photo.stat().st_size
    assert size > 15_000_000
    seen: list[str] = []
    proc, address = await _serve_until_listening(seen)
    try:
        env = {"CHATTHY_SERVER": address, "CHATTHY_PROFILE": "p", "CHATTHY_PASSPHRASE": "pw"}
        code, _, _ = await chatthy("ask", "hello", env=env)  # registers, warms the server
        assert code == 0
        before = _peak_rss(proc.pid)
        code, out, err = await chatthy("ask", "--image", str(photo), "what is this?", env=env)
        assert code == 0, err
        assert "[image]" in out and "big.jpg downscaled from 6000×4500" in err
        grown = _peak_rss(proc.pid) - before
        assert grown < 2 * size, f"the server grew by {grown:,} bytes for a {size:,}-byte photo"
    finally:
        proc.send_signal(signal.SIGTERM)
        await finish(proc)
