"""Helpers shared by the tests: keys, provider configs, real servers, reading streams."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import os
import struct
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from PIL import Image

from chatthy.client.core import Client
from chatthy.config import ProviderConfig, ServerConfig, ServerSection
from chatthy.server.app import Server
from chatthy.server.auth import load_server_id
from chatthy.wire.messages import PROTOCOL_VERSION, Reply, Request, decode_server_message, encode
from chatthy.wire.signing import SigningKey, derive_key
from upstream import Upstream


@functools.lru_cache(maxsize=64)
def key_for(profile: str, passphrase: str = "secret") -> SigningKey:
    """Derived keys are cached: scrypt is meant to be slow."""
    return derive_key(passphrase, profile)


def png_bytes(width: int = 4, height: int = 3, colour: str = "teal") -> bytes:
    """A real PNG, made with Pillow."""
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, "PNG")
    return out.getvalue()


PNG_URL = "data:image/png;base64," + base64.b64encode(png_bytes()).decode()
"""A real 4 × 3 PNG as the data: URL a client sends."""


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int, height: int) -> bytes:
    """A PNG's signature, an IHDR claiming ``width`` × ``height`` with a correct CRC, a
    tiny IDAT and the end: a few dozen bytes that would decode to gigabytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def openai_provider(upstream: Upstream, **overrides: Any) -> ProviderConfig:
    """A provider of scheme openai pointed at the local upstream."""
    fields: dict[str, Any] = {
        "scheme": "openai",
        "base_url": upstream.openai_url,
        "api_key": "sk-test",
        "model": "test-model",
        "context_length": 4096,
        "max_tokens": 256,
        "timeout": 5.0,
        "retries": 0,
    }
    fields.update(overrides)
    return ProviderConfig(**fields)


class ServerFactory:
    """Starts real servers (ROUTER on a free loopback port, SQLite in tmp) in this loop."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.servers: list[tuple[Server, asyncio.Task[None]]] = []

    def config(
        self, providers: dict[str, ProviderConfig] | None = None, **server: Any
    ) -> ServerConfig:
        data = self.tmp_path / "home" / "data"
        conf = self.tmp_path / "home" / "config"
        return ServerConfig(
            server=ServerSection(**{"listen": "tcp://127.0.0.1:0", **server}),
            providers=providers or {},
            config_dir=str(conf),
            data_dir=str(data),
        )

    async def start(
        self, providers: dict[str, ProviderConfig] | None = None, **server: Any
    ) -> Server:
        return await self.start_with(self.config(providers, **server))

    async def start_with(self, config: ServerConfig) -> Server:
        srv = await Server.open(config)
        srv.bind()
        for _ in range(20):
            # an encrypted server's key port is the port above its own, which any other
            # socket of this machine may hold: a free port of its own, then, if it can
            if not srv.public_key or srv.offers_key_port or not config.server.listen.endswith(":0"):
                break
            await srv.aclose()
            srv = await Server.open(config)
            srv.bind()
        task = asyncio.create_task(srv.serve())
        self.servers.append((srv, task))
        return srv

    async def stop(self, srv: Server) -> None:
        for i, (s, task) in enumerate(self.servers):
            if s is srv:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                await s.aclose()
                del self.servers[i]
                return

    async def close(self) -> None:
        for srv, _ in list(self.servers):
            await self.stop(srv)


ClientMaker = Callable[..., Client]


class Collected:
    """What a client saw of one reply stream."""

    def __init__(self) -> None:
        self.text = ""
        self.reasoning = ""
        self.kinds: list[str] = []
        self.seqs: list[int] = []
        self.end: Any = None

    @property
    def status(self) -> str:
        return str((self.end.data or {}).get("status"))

    @property
    def error(self) -> dict[str, str] | None:
        error: dict[str, str] | None = (self.end.data or {}).get("error")
        return error


async def collect(stream: Any) -> Collected:
    """Read a ReplyStream to its end."""
    seen = Collected()
    async for event in stream.events():
        seen.kinds.append(event.kind)
        seen.seqs.append(event.seq)
        if event.kind == "text":
            seen.text += event.text
        elif event.kind == "reasoning":
            seen.reasoning += event.text
        elif event.kind == "end":
            seen.end = event
    return seen


async def turn(client: Client, chat: str, text: str, **kwargs: Any) -> Collected:
    """Send one message and read the whole reply."""
    stream, _ = await client.start("chat", chat, text=text, **kwargs)
    return await collect(stream)


class RawPeer:
    """A DEALER that sends whatever bytes a test makes, signed or not."""

    def __init__(self, address: str) -> None:
        self.ctx = zmq.asyncio.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(address)

    async def send(self, *frames: bytes) -> Reply:
        await self.sock.send_multipart(list(frames))
        return await self.read()

    async def read(self) -> Reply:
        """The next reply (events skipped)."""
        while True:
            body = (await self.sock.recv_multipart())[0]
            message = decode_server_message(body)
            if isinstance(message, Reply):
                return message

    def watch_drops(self) -> zmq.asyncio.Socket:
        """Start watching for the server dropping this connection (before sending)."""
        return self.sock.get_monitor_socket(zmq.EVENT_DISCONNECTED)

    async def dropped(self, monitor: zmq.asyncio.Socket, timeout: float = 10.0) -> None:
        """Wait until the server drops this connection.

        A peer must not close while the server is cutting it off mid-send:
        libzmq 4.3.5 then aborts the whole process (session_base.cpp:233,
        clean_pipes finds the half-sent message's pipe already terminating).
        """
        try:
            async with asyncio.timeout(timeout):
                await monitor.recv_multipart()
        finally:
            self.sock.disable_monitor()
            monitor.close(0)

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


def test_server_id() -> str:
    """The id of the servers a test starts: they keep it in the test's data dir."""
    return load_server_id(Path(os.environ["CHATTHY_DATA_DIR"]))


def request(key: SigningKey, profile: str = "alice", **fields: Any) -> bytes:
    """A request body signed for the test's servers (``server=`` names another)."""
    values: dict[str, Any] = {
        "server": test_server_id(),
        "v": PROTOCOL_VERSION,
        "id": os.urandom(4).hex(),
        "profile": profile,
        "ts": time.time(),
        "nonce": os.urandom(16),
        "key": key.public_key,
        "method": "status",
        "args": {},
    }
    values.update(fields)
    return encode(Request(**values))


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF whose pages show these lines of text (Helvetica), written out by hand:
    catalog, page tree, font, each page and its content stream, the xref table."""

    def shown(line: str) -> str:
        return "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ")"

    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(len(pages)))
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i, lines in enumerate(pages):
        bodies.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        ops = " ".join(f"{shown(line)} Tj T*" for line in lines)
        data = f"BT /F1 12 Tf 72 720 Td 14 TL {ops} ET".encode("latin-1")
        bodies.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(data), data))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1,
        xref,
    )
    return bytes(out)


async def serve_process(
    address: str, env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """``chatthy serve`` in a process of its own on ``address`` (in the test's config and
    data dirs, or ``env``), once it says it listens."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatthy",
        "serve",
        "--listen",
        address,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert proc.stderr is not None
    while True:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, "the server exited before listening"
        if b"listening on" in line:
            return proc
