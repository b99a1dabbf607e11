"""The command line as a user runs it: real processes against a real server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from chatthy.server.app import Server
from helpers import ServerFactory, openai_provider
from upstream import Reply, Upstream


async def chatthy(
    *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatthy",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
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

    assert tomllib.loads(server_toml.read_text())["server"]["registration"] == "open"
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
