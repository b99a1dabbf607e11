"""Several servers on one database: a client that lists them moves to the next when the
one it talks to stops answering, and reopens the chat there.

Two real ``chatthy serve`` processes share one data dir (the SQLite store is safe across
processes and leases replies); one is killed, and the session must carry on with the
other: told in the status line, the chat's history shown, a new message answered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import msgspec
import pytest

from chatthy.client.commands import ask
from chatthy.client.core import Client
from chatthy.client.known_servers import trusted_key
from chatthy.client.session import Session
from chatthy.client.settings import resolve
from chatthy.config import ProviderConfig
from chatthy.errors import ServerUnavailableError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ServerFactory, key_for, serve_process
from sessionkit import Recorder, Said, until
from test_cli import spawn


@pytest.fixture
async def two_servers(
    isolated_env: Path, unused_tcp_port_factory: Callable[[], int]
) -> AsyncIterator[tuple[list[str], list[asyncio.subprocess.Process]]]:
    """Two ``chatthy serve`` processes on one data dir: their addresses and processes."""
    addresses = [f"tcp://127.0.0.1:{unused_tcp_port_factory()}" for _ in range(2)]
    procs = [await serve_process(addresses[0])]
    procs.append(await serve_process(addresses[1]))
    yield addresses, procs
    for proc in procs:
        if proc.returncode is None:
            proc.terminate()
            await proc.wait()


async def sent(session: Session, view: Recorder, text: str) -> Said:
    """Send ``text`` in the open chat and wait for its reply to end."""
    await session.send(text)
    await session.wait_reply(session.started)
    reply = view.replies[-1]
    assert reply.status == "complete"
    return reply


@pytest.mark.timeout(90)
async def test_a_killed_server_is_left_for_the_next_and_the_chat_reopened_there(
    two_servers: tuple[list[str], list[asyncio.subprocess.Process]],
) -> None:
    (first, second), (proc, _) = two_servers
    client = Client(first, "alice", key_for("alice"), addresses=[first, second], timeout=5)
    client.connect()
    view = Recorder()
    session = Session(client, view, "notes")
    try:
        await session.start()
        assert (await sent(session, view, "before the crash")).said == "echo: before the crash"
        await asyncio.sleep(0.5)  # idle: the session pings at its ordinary pace
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        await proc.wait()
        await until(lambda: f"moved to {second}" in view.statuses, 10, "the move")
        took = time.monotonic() - killed
        print(f"\nfailover: {took:.2f} s from the kill to the chat shown on {second}")
        assert took < 3.0
        assert client.address == second
        assert view.shown == ["before the crash", "echo: before the crash"]
        assert view.up[-1] is True
        reply = await sent(session, view, "after the crash")
        assert reply.said == "echo: after the crash"
        page = await client.rpc(api.Messages(chat="notes"))
        assert [m.content for m in page.messages] == [
            "before the crash",
            "echo: before the crash",
            "after the crash",
            "echo: after the crash",
        ]
    finally:
        await session.close()


@pytest.mark.timeout(60)
async def test_a_request_that_finds_the_server_gone_moves_on_too(
    servers: ServerFactory,
) -> None:
    """The in-process server closed while the session is idle and its ping far off: the
    next message fails (said as today), and the session moves at once."""
    first, second = await servers.start(), await servers.start()
    client = Client(
        first.address,
        "alice",
        key_for("alice"),
        addresses=[first.address, second.address],
        connect_timeout=0.5,
        timeout=5,
    )
    client.connect()
    view = Recorder()
    session = Session(client, view, "quiet")
    session.PING_INTERVAL = 60.0  # only the drop, or a request, can tell
    try:
        await session.start()
        assert (await sent(session, view, "one")).said == "echo: one"
        await servers.stop(first)
        await until(lambda: f"moved to {second.address}" in view.statuses, 10, "the move")
        assert view.shown == ["one", "echo: one"]
        assert (await sent(session, view, "two")).said == "echo: two"
    finally:
        await session.close()


@pytest.mark.timeout(60)
async def test_a_first_address_that_never_answers_is_passed_over_at_start(
    server: Server, unused_tcp_port: int
) -> None:
    dead = f"tcp://127.0.0.1:{unused_tcp_port}"  # nothing listens there
    client = Client(
        dead, "alice", key_for("alice"), addresses=[dead, server.address], connect_timeout=0.5
    )
    client.connect()
    view = Recorder()
    session = Session(client, view, "start")
    try:
        await session.start()
        assert client.address == server.address
        assert view.statuses[0] == f"moved to {server.address} ({dead} does not answer)"
        assert (await sent(session, view, "hello")).said == "echo: hello"
    finally:
        await session.close()


@pytest.mark.timeout(60)
async def test_ask_puts_its_question_to_the_first_server_that_answers(
    server: Server,
    unused_tcp_port: int,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    dead = f"tcp://127.0.0.1:{unused_tcp_port}"  # nothing listens there
    monkeypatch.setenv("CHATTHY_SERVER", f"{dead}, {server.address}")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "secret")
    monkeypatch.setenv("CHATTHY_PROFILE", "alice")
    settings = resolve()
    assert settings.addresses == (dead, server.address)
    status = await ask(settings, "anyone there?", chat=None, provider=None, prompt=None, model=None)
    assert status == 0
    assert capsys.readouterr().out.strip() == "echo: anyone there?"


@pytest.mark.timeout(60)
async def test_each_address_has_its_key_trusted_on_first_use_by_itself(
    servers: ServerFactory, tmp_path: Path
) -> None:
    """Encrypted servers of their own keys: the client knows the first's, and learns the
    second's (remembered in known_servers, said once) only when it moves there."""
    echo = {"echo": ProviderConfig(scheme="echo", params={"delay": 0.0})}
    first = await servers.start(echo, encryption="on")
    config = servers.config(echo, encryption="on", registration="open")
    second = await servers.start_with(
        msgspec.structs.replace(config, data_dir=str(tmp_path / "second"))
    )
    assert first.public_key != second.public_key
    known = tmp_path / "known_servers"
    learned: list[str] = []

    def key_of(address: str) -> tuple[bytes | None, str | None]:
        learned.append(address)
        return trusted_key(address, known, 5.0)

    client = Client(
        first.address,
        "alice",
        key_for("alice"),
        addresses=[first.address, second.address],
        server_key=first.public_key.encode(),
        key_of=key_of,
        connect_timeout=0.5,
    )
    client.connect()
    view = Recorder()
    session = Session(client, view, "keys")
    try:
        await session.start()
        assert learned == []  # the first's key was given
        await servers.stop(first)
        await until(lambda: f"moved to {second.address}" in view.statuses, 10, "the move")
        assert learned == [second.address]
        assert client.server_key == second.public_key.encode()
        (notice,) = view.notices
        assert notice.startswith(f"first contact with {second.address}: its key is ")
        assert f"{second.address} {second.public_key}" in known.read_text()
        assert (await sent(session, view, "sealed")).said == "echo: sealed"
    finally:
        await session.close()


@pytest.mark.timeout(30)
async def test_a_client_closed_before_it_ever_waited_closes(server: Server) -> None:
    """Its connection's watch never ran: closing must not wait on its socket for ever
    (a one-shot command that fails before sending anything)."""
    client = Client(server.address, "alice", key_for("alice"))
    client.connect()
    await asyncio.wait_for(client.aclose(), 5)


async def test_reach_says_why_each_address_failed(
    unused_tcp_port_factory: Callable[[], int],
) -> None:
    dead = [f"tcp://127.0.0.1:{unused_tcp_port_factory()}" for _ in range(2)]
    client = Client(dead[0], "alice", key_for("alice"), addresses=dead, connect_timeout=0.3)
    client.connect()
    try:
        with pytest.raises(ServerUnavailableError) as caught:
            await client.reach(timeout=3)  # nothing takes the request in 0.3 s
    finally:
        await client.aclose()
    assert caught.value.message == (
        f"no server answers: cannot reach the server at {dead[0]} (is it running?); "
        f"cannot reach the server at {dead[1]} (is it running?)"
    )


@pytest.mark.timeout(90)
async def test_the_line_client_moves_on_and_says_so(
    two_servers: tuple[list[str], list[asyncio.subprocess.Process]],
) -> None:
    """``chatthy repl`` through pipes, given both servers by CHATTHY_SERVER: the first is
    killed between two messages, the move is said on stderr, and the second answers the
    next message on stdout."""
    (first, second), (proc, _) = two_servers
    env = {
        "CHATTHY_SERVER": f"{first},{second}",
        "CHATTHY_PROFILE": "alice",
        "CHATTHY_PASSPHRASE": "secret",
    }
    repl = await spawn("repl", "--chat", "piped", env=env)
    assert repl.stdin is not None and repl.stdout is not None and repl.stderr is not None
    said: dict[asyncio.StreamReader, list[str]] = {repl.stdout: [], repl.stderr: []}

    async def read_until(stream: asyncio.StreamReader, text: str) -> None:
        seen = said[stream]
        while not any(text in line for line in seen):
            try:
                line = await asyncio.wait_for(stream.readline(), 20)
            except TimeoutError:
                raise AssertionError(f"waited for {text!r}; the client said {said}") from None
            assert line, f"the client ended before saying {text!r}: {said}"
            seen.append(line.decode())

    try:
        repl.stdin.write(b"before\n")
        await read_until(repl.stdout, "echo: before")
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        await read_until(repl.stderr, f"[moved to {second}]")
        repl.stdin.write(b"after\n")
        await read_until(repl.stdout, "echo: after")
        repl.stdin.close()
        assert await asyncio.wait_for(repl.wait(), 20) == 0
    finally:
        if repl.returncode is None:
            repl.kill()
            await repl.wait()
    assert said[repl.stdout] == ["echo: before\n", "echo: after\n"]
    assert not any("unreachable" in line for line in said[repl.stderr]), said
