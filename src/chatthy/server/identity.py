"""The server's identity at the transport: the key port, and the gate of listed keys.

**The key port** tells an encrypted server's public key to clients that have not pinned it.

A CURVE client must know the server's public key before it can connect, so a client on
first contact asks here (``chatthy.wire.curve.key_address``: the port after the server's)
over a plain socket. The answer is not trusted by itself: the client then completes a CURVE
handshake with that key, which only the holder of the secret key can, and remembers the
key (SSH's trust on first use); a later, different answer is refused.

The socket answers one fixed question with one fixed answer and keeps nothing: frames over
64 bytes drop the peer, queues are short, and an answer that cannot be sent at once is
dropped (the client asks again).

**The gate** (``transport = "listed"``): ZAP lets through the CURVE handshake only clients
whose key belongs to a profile listed in server.toml (a client's CURVE key derives from its
signing key, ``chatthy.wire.curve.transport_key``); anyone else is refused before a byte
reaches the server's socket.
"""

from __future__ import annotations

import contextlib
import logging

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator

from chatthy.wire.curve import KEY_ANSWER, KEY_REQUEST, key_address, transport_key

__all__ = ["KeyPort", "open_key_port", "transport_gate"]

log = logging.getLogger("chatthy.server")


class KeyPort:
    """A ROUTER socket answering ``KEY_REQUEST`` with the server's public key."""

    def __init__(self, ctx: zmq.asyncio.Context, public_key: bytes) -> None:
        self._answer = KEY_ANSWER + public_key
        self._sock = ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.MAXMSGSIZE, 64)
        self._sock.setsockopt(zmq.SNDHWM, 100)
        self._sock.setsockopt(zmq.RCVHWM, 100)
        self._sock.setsockopt(zmq.LINGER, 0)
        self.address = ""

    def bind(self, address: str) -> str:
        """Listen on ``address``; return the bound address.

        Raises:
            zmq.ZMQError: it cannot be listened on.
        """
        self._sock.bind(address)
        self.address = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        return self.address

    async def serve(self) -> None:
        """Answer until cancelled."""
        while True:
            frames = await self._sock.recv_multipart()
            if len(frames) == 2 and frames[1] == KEY_REQUEST:
                with contextlib.suppress(zmq.ZMQError):  # a peer not reading loses it
                    await self._sock.send_multipart([frames[0], self._answer], flags=zmq.DONTWAIT)

    def close(self) -> None:
        self._sock.close(linger=0)


def open_key_port(ctx: zmq.asyncio.Context, public_key: bytes, bound: str) -> KeyPort | None:
    """A key port beside the server bound at ``bound``; None (said in the log) when its
    address cannot be listened on: clients must then pin the key by hand."""
    address = key_address(bound)
    port = KeyPort(ctx, public_key)
    try:
        if address is None:
            raise zmq.ZMQError(msg="no port after the server's")
        port.bind(address)
    except zmq.ZMQError as exc:
        port.close()
        log.warning(
            "no key port on %s (%s): clients must set server_key, they cannot learn it",
            address,
            exc,
        )
        return None
    return port


class _Listed:
    """ZAP's question "may this CURVE key in?", answered from server.toml's profiles."""

    def __init__(self, profiles: dict[str, str]) -> None:
        self.keys: set[bytes] = set()
        for name, key in profiles.items():
            try:
                self.keys.add(transport_key(bytes.fromhex(key)))
            except ValueError:
                log.warning("[server.profiles] %s: not a hex Ed25519 public key", name)

    def callback(self, domain: str, key: bytes) -> bool:
        return key in self.keys


def transport_gate(ctx: zmq.asyncio.Context, profiles: dict[str, str]) -> AsyncioAuthenticator:
    """Start ZAP on ``ctx`` letting in only the CURVE keys of ``profiles`` (name → hex
    Ed25519 public key)."""
    listed = _Listed(profiles)
    if not listed.keys:
        log.warning('transport = "listed" but [server.profiles] lists no key: nobody can connect')
    gate = AsyncioAuthenticator(ctx, log=logging.getLogger("chatthy.server.zap"))
    gate.start()
    gate.configure_curve_callback("*", credentials_provider=listed)
    return gate
