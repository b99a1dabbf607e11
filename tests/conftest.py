"""Shared fixtures: an isolated home, the local upstream, a real server, real clients."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from upstream import Upstream

from chatthy.client.core import Client
from chatthy.config import ProviderConfig, ServerConfig, ServerSection
from chatthy.server.app import Server
from chatthy.wire.signing import SigningKey, derive_key


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the real home, config or keys, or reaches a real provider."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CHATTHY_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("CHATTHY_DATA_DIR", str(home / "data"))
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL",
                "CHATTHY_SERVER", "CHATTHY_PROFILE", "CHATTHY_PASSPHRASE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """The project's local OpenAI/Anthropic look-alike on a free loopback port."""
    with Upstream() as up:
        yield up


@functools.lru_cache(maxsize=64)
def key_for(profile: str, passphrase: str = "secret") -> SigningKey:
    """Derived keys are cached: scrypt is meant to be slow."""
    return derive_key(passphrase, profile)


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

    def config(self, providers: dict[str, ProviderConfig] | None = None,
               **server: Any) -> ServerConfig:
        data = self.tmp_path / "home" / "data"
        conf = self.tmp_path / "home" / "config"
        return ServerConfig(
            server=ServerSection(listen="tcp://127.0.0.1:0", **server),
            providers=providers or {},
            config_dir=str(conf),
            data_dir=str(data),
        )

    async def start(self, providers: dict[str, ProviderConfig] | None = None,
                    **server: Any) -> Server:
        srv = await Server.open(self.config(providers, **server))
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


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    factory = ServerFactory(tmp_path)
    yield factory
    await factory.close()


@pytest.fixture
async def server(servers: ServerFactory) -> Server:
    """A server with only the offline echo provider."""
    return await servers.start({"echo": ProviderConfig(scheme="echo", model="echo",
                                                       params={"delay": 0.0})})


ClientMaker = Callable[..., Client]


@pytest.fixture
async def connect() -> AsyncIterator[ClientMaker]:
    """Make connected clients: ``connect(server, profile="alice", passphrase="secret")``."""
    made: list[Client] = []

    def make(srv: Server | str, profile: str = "alice", passphrase: str = "secret",
             **kwargs: Any) -> Client:
        address = srv if isinstance(srv, str) else srv.address
        client = Client(address, profile, key_for(profile, passphrase), **kwargs)
        client.connect()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


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
