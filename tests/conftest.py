"""Shared fixtures: an isolated home, the local upstream, a real server, real clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator, Iterator
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


def _dump_tasks(name: str) -> None:
    """Print where every task of a running event loop waits: what a test stuck past its
    timeout was waiting for (pytest-timeout shows only the loop's select)."""
    import asyncio
    import gc
    import io
    import sys

    out = io.StringIO()
    out.write(f"\n{name}: near its timeout; where its tasks wait:\n")
    for loop in [o for o in gc.get_objects() if isinstance(o, asyncio.AbstractEventLoop)]:
        if not loop.is_running():
            continue
        try:
            tasks = list(asyncio.all_tasks(loop))
        except RuntimeError:  # changed while read from this thread; skip it
            continue
        for task in tasks:
            out.write(f"--- {task.get_name()}\n")
            step: Any = task.get_coro()
            while step is not None:  # down the chain of awaits, outermost first
                frame = getattr(step, "cr_frame", None) or getattr(step, "gi_frame", None)
                if frame is not None:
                    code = frame.f_code
                    out.write(f"    {code.co_filename}:{frame.f_lineno} {code.co_name}\n")
                step = getattr(step, "cr_await", None) or getattr(step, "gi_yieldfrom", None)
    sys.stderr.write(out.getvalue())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    import threading

    marker = item.get_closest_marker("timeout")
    timeout = float(marker.args[0] if marker and marker.args else item.config.getini("timeout"))
    timer = threading.Timer(max(timeout - 3, 1), _dump_tasks, args=(item.nodeid,))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """A fresh schema of the test PostgreSQL (tests/pgkit.py), as the URL that uses it;
    the test skips when no PostgreSQL is there."""
    from pgkit import pg_schema

    async with pg_schema() as url:
        yield url


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Report the skip for a missing PostgreSQL at one place rather than at each test,
    so that pytest's summary folds them all into one line saying how to run them."""
    from pgkit import PG_MISSING

    report = yield
    longrepr = report.longrepr
    if PG_MISSING is not None and isinstance(longrepr, tuple) and PG_MISSING in longrepr[2]:
        report.longrepr = (__file__, None, f"Skipped: {PG_MISSING}")  # type: ignore[assignment]
    return report
