"""CURVE: an encrypted server talks only to clients that pinned its key."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from chatthy.client import settings
from chatthy.client.settings import resolve
from chatthy.config import ProviderConfig
from chatthy.errors import ServerUnavailableError
from chatthy.wire.curve import is_loopback, load_public_key
from helpers import ClientMaker, ServerFactory, turn

ECHO = {"echo": ProviderConfig(scheme="echo", params={"delay": 0.0})}


async def test_encrypted_server_needs_its_key(
    servers: ServerFactory, connect: ClientMaker, isolated_env: Path
) -> None:
    srv = await servers.start(ECHO, encryption="on")
    assert srv.public_key
    assert load_public_key(isolated_env / "data") == srv.public_key.encode()
    pinned = connect(srv, server_key=srv.public_key.encode())
    assert (await turn(pinned, "c", "secret words")).text == "echo: secret words"
    for bad in (None, b"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"):
        client = connect(srv, server_key=bad, connect_timeout=0.5)
        with pytest.raises(ServerUnavailableError, match="cannot reach"):
            await client.call("status")


async def test_key_survives_restart(servers: ServerFactory) -> None:
    first = await servers.start(ECHO, encryption="on")
    key = first.public_key
    await servers.stop(first)
    second = await servers.start(ECHO, encryption="on")
    assert second.public_key == key


def test_loopback_addresses() -> None:
    for address in ("tcp://127.0.0.1:1", "tcp://localhost:2", "tcp://[::1]:3", "ipc:///tmp/s"):
        assert is_loopback(address), address
    for address in ("tcp://0.0.0.0:1", "tcp://*:2", "tcp://192.168.1.5:3", "tcp://host.lan:4"):
        assert not is_loopback(address), address


def test_remote_server_without_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing answers where the key should be learned: one line saying so, and how to
    pin the key by hand instead."""
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "x")
    monkeypatch.setattr(settings, "KEY_TIMEOUT", 0.3)
    with pytest.raises(ServerUnavailableError, match=r"cannot learn the key.*set server_key"):
        resolve(server="tcp://10.1.2.3:23456")
    monkeypatch.setenv("CHATTHY_SERVER_KEY", "k" * 40)
    assert resolve(server="tcp://10.1.2.3:23456").server_key == b"k" * 40


async def test_serve_beyond_loopback_prints_key(isolated_env: Path, unused_tcp_port: int) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatthy",
        "serve",
        "--listen",
        f"tcp://0.0.0.0:{unused_tcp_port}",
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert proc.stderr is not None
    try:
        lines: list[bytes] = []
        while not any(b'server_key = "' in line for line in lines):
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert line, b"".join(lines)
            lines.append(line)
    finally:
        proc.terminate()
        await proc.wait()
    key = load_public_key(isolated_env / "data")
    assert key is not None and key in lines[-1]
