"""The server's identity: trust on first use of its key, and the gate of listed keys."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import sys
from pathlib import Path
from typing import Literal

import pytest
import zmq
import zmq.asyncio
from zmq.utils.monitor import recv_monitor_message

from chatthy.client.known_servers import trusted_key
from chatthy.config import ProviderConfig, ServerConfig, ServerSection
from chatthy.errors import ServerKeyChangedError, ServerUnavailableError
from chatthy.server.app import Server
from chatthy.server.identity import KeyPort
from chatthy.wire.curve import client_key_pair, fingerprint, key_address
from helpers import ClientMaker, ServerFactory, key_for, turn

ECHO = {"echo": ProviderConfig(scheme="echo", params={"delay": 0.0})}


def other_server(
    servers: ServerFactory, address: str, data: Path, encryption: Literal["auto", "on"] = "on"
) -> ServerConfig:
    """A server of its own data dir (so its own key) on ``address``."""
    return ServerConfig(
        server=ServerSection(listen=address, encryption=encryption, registration="open"),
        providers=ECHO,
        config_dir=str(servers.tmp_path / "home" / "config"),
        data_dir=str(data),
    )


async def test_first_contact_remembers_the_key_and_says_its_fingerprint(
    servers: ServerFactory, connect: ClientMaker, tmp_path: Path
) -> None:
    srv = await servers.start(ECHO, encryption="on")
    known = tmp_path / "client" / "known_servers"
    key, notice = await asyncio.to_thread(trusted_key, srv.address, known, 5.0)
    assert key == srv.public_key.encode()
    assert notice is not None
    assert fingerprint(key) in notice and str(known) in notice and "first contact" in notice
    assert f"{srv.address} {srv.public_key}" in known.read_text().splitlines()
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    assert stat.S_IMODE(known.parent.stat().st_mode) == 0o700
    # The learned key is the one that talks to the server, and the next contact is quiet.
    assert (await turn(connect(srv, server_key=key), "c", "hi")).text == "echo: hi"
    assert await asyncio.to_thread(trusted_key, srv.address, known, 5.0) == (key, None)
    assert len(known.read_text().splitlines()) == 4  # the header and one server


async def test_a_changed_key_is_refused_naming_the_file(
    servers: ServerFactory, tmp_path: Path
) -> None:
    first = await servers.start(ECHO, encryption="on")
    address, old = first.address, first.public_key
    known = tmp_path / "known_servers"
    await asyncio.to_thread(trusted_key, address, known, 5.0)
    await servers.stop(first)
    second = await servers.start_with(other_server(servers, address, tmp_path / "other"))
    assert second.address == address and second.public_key != old
    with pytest.raises(ServerKeyChangedError) as refused:
        await asyncio.to_thread(trusted_key, address, known, 5.0)
    message = refused.value.message
    assert refused.value.code == "server_key_changed"
    assert f"{known} (line 4)" in message and "delete that line" in message
    assert (
        fingerprint(second.public_key.encode()) in message and fingerprint(old.encode()) in message
    )
    assert "\n" not in message
    assert known.read_text().count(old) == 1  # nothing was changed


async def test_a_key_port_offering_a_key_the_server_does_not_hold_is_not_trusted(
    tmp_path: Path,
) -> None:
    """Someone answering on the key port cannot make a client remember their key: the
    server itself must complete the handshake with it."""
    held, secret = zmq.curve_keypair()
    offered, _ = zmq.curve_keypair()
    ctx = zmq.asyncio.Context()
    server = ctx.socket(zmq.ROUTER)
    server.curve_secretkey, server.curve_publickey, server.curve_server = secret, held, True
    liar = KeyPort(ctx, offered)
    for _ in range(50):  # the key port is the port above: another process may hold it
        server.bind("tcp://127.0.0.1:0")
        address = server.getsockopt_string(zmq.LAST_ENDPOINT)
        where = key_address(address)
        assert where is not None
        try:
            liar.bind(where)
            break
        except zmq.ZMQError:
            server.unbind(address)
    else:
        pytest.fail("no free pair of ports")
    answering = asyncio.create_task(liar.serve())
    known = tmp_path / "known_servers"
    try:
        with pytest.raises(ServerUnavailableError, match="did not prove it holds the key"):
            await asyncio.to_thread(trusted_key, address, known, 1.0)
        assert not known.exists()
    finally:
        answering.cancel()
        await asyncio.gather(answering, return_exceptions=True)
        liar.close()
        server.close(linger=0)
        ctx.term()


async def test_no_key_port_on_first_contact_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ServerUnavailableError, match=r"cannot learn the key .* set server_key"):
        await asyncio.to_thread(trusted_key, f"tcp://127.0.0.1:{port - 1}", tmp_path / "k", 0.3)


def lan_address() -> str | None:
    """An address of this machine beyond loopback, if it has one to bind."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the interface
            host = str(s.getsockname()[0])
        with socket.socket() as s:
            s.bind((host, 0))
    except OSError:
        return None
    return None if host.startswith("127.") else host


async def chats(address: str, isolated_env: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "chatthy", "chats", "--server", address),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env={**os.environ, "CHATTHY_PASSPHRASE": "secret", "CHATTHY_PROFILE": "alice"},
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, err.decode()


async def test_the_cli_learns_a_remote_servers_key_and_refuses_a_changed_one(
    servers: ServerFactory, isolated_env: Path, tmp_path: Path
) -> None:
    host = lan_address()
    if host is None:
        pytest.skip("this machine has no address beyond loopback to listen on")
    first = await servers.start_with(
        other_server(servers, f"tcp://{host}:0", tmp_path / "d", encryption="auto")
    )
    srv_address = first.address
    assert first.public_key  # beyond loopback: encrypted without being asked
    status, err = await chats(srv_address, isolated_env)
    known = isolated_env / "config" / "known_servers"
    assert status == 0, err
    assert f"first contact with {srv_address}" in err
    assert fingerprint(first.public_key.encode()) in err
    status, err = await chats(srv_address, isolated_env)
    assert status == 0 and "first contact" not in err, err
    await servers.stop(first)
    await servers.start_with(other_server(servers, srv_address, tmp_path / "impostor"))
    status, err = await chats(srv_address, isolated_env)
    assert status == 1
    assert err.startswith("chatthy: the server at") and f"{known} (line 4)" in err
    assert len(err.strip().splitlines()) == 1


# --- the gate: only listed keys get through the transport ---------------------------


async def handshake(address: str, server_key: str, profile: str) -> int:
    """The handshake event a CURVE client with ``profile``'s key gets from the server."""
    ctx = zmq.asyncio.Context()
    sock = ctx.socket(zmq.DEALER)
    monitor = sock.get_monitor_socket(
        zmq.EVENT_HANDSHAKE_SUCCEEDED
        | zmq.EVENT_HANDSHAKE_FAILED_AUTH
        | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
        | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    )
    public, secret = client_key_pair(key_for(profile))
    sock.curve_serverkey, sock.curve_publickey, sock.curve_secretkey = (
        server_key.encode(),
        public,
        secret,
    )
    sock.connect(address)
    try:
        event = await asyncio.wait_for(recv_monitor_message(monitor), 5)
        return int(event["event"])
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)
        sock.close(linger=0)
        ctx.term()


async def test_a_listed_transport_refuses_unlisted_keys_before_the_server_sees_them(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    alice = key_for("alice")
    srv: Server = await servers.start(
        ECHO,
        transport="listed",
        registration="open",
        profiles={"alice": alice.public_key.hex()},
    )
    assert srv.public_key  # "listed" encrypts, on loopback too
    listed = connect(srv, "alice", server_key=srv.public_key.encode())
    assert (await turn(listed, "c", "hi")).text == "echo: hi"
    assert await handshake(srv.address, srv.public_key, "alice") == zmq.EVENT_HANDSHAKE_SUCCEEDED
    assert await handshake(srv.address, srv.public_key, "bob") == zmq.EVENT_HANDSHAKE_FAILED_AUTH
    # bob, unlisted, signs a request: registration is open, yet he never reaches it.
    bob = connect(srv, "bob", server_key=srv.public_key.encode(), connect_timeout=0.5)
    with pytest.raises(ServerUnavailableError, match="cannot reach"):
        await bob.call("status")
    assert await srv.store.get_profile("bob") is None
