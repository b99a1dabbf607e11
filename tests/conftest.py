"""Shared fixtures: an isolated home, the local upstream, a real server, real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatthy.client.core import Client
from chatthy.config import ProviderConfig
from chatthy.server.app import Server
from helpers import ClientMaker, ServerFactory, key_for
from sources_upstream import SourcesUpstream
from upstream import Upstream


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the real home, config, keys or clipboard, or reaches a real
    provider."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CHATTHY_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("CHATTHY_DATA_DIR", str(home / "data"))
    for var in (
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_BASE_URL",
        "CHATTHY_SERVER",
        "CHATTHY_PROFILE",
        "CHATTHY_PASSPHRASE",
        "DISPLAY",
        "WAYLAND_DISPLAY",
        "WSL_DISTRO_NAME",
        "WSL_INTEROP",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """The project's local OpenAI/Anthropic look-alike on a free loopback port."""
    with Upstream() as up:
        yield up


@pytest.fixture
def sources() -> Iterator[SourcesUpstream]:
    """The local fake of the workspace sources (web pages, YouTube, arXiv, Wikipedia, news)."""
    up = SourcesUpstream()
    up.start()
    yield up
    up.stop()


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    factory = ServerFactory(tmp_path)
    yield factory
    await factory.close()


@pytest.fixture
async def server(servers: ServerFactory) -> Server:
    """A server with only the offline echo provider."""
    return await servers.start(
        {"echo": ProviderConfig(scheme="echo", model="echo", params={"delay": 0.0})}
    )


@pytest.fixture
async def connect() -> AsyncIterator[ClientMaker]:
    """Make connected clients: ``connect(server, profile="alice", passphrase="secret")``."""
    made: list[Client] = []

    def make(
        srv: Server | str, profile: str = "alice", passphrase: str = "secret", **kwargs: Any
    ) -> Client:
        address = srv if isinstance(srv, str) else srv.address
        client = Client(address, profile, key_for(profile, passphrase), **kwargs)
        client.connect()
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()
