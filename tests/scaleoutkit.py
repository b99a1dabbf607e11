"""Servers on one PostgreSQL database for the scale-out tests: in this process, or as a
``chatthy serve`` of its own (to be killed)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import msgspec

from chatthy.config import StoreConfig
from chatthy.server.app import Server
from helpers import ServerFactory, openai_provider, serve_process
from upstream import Upstream

__all__ = ["serve_killable", "start_shared"]


async def start_shared(servers: ServerFactory, upstream: Upstream, pg_url: str) -> Server:
    """One more in-process server on the test's database."""
    config = servers.config({"up": openai_provider(upstream)}, checkpoint_interval=0.2)
    return await servers.start_with(msgspec.structs.replace(config, store=StoreConfig(url=pg_url)))


async def serve_killable(
    home: Path, upstream: Upstream, pg_url: str, address: str
) -> asyncio.subprocess.Process:
    """A ``chatthy serve`` process on the test's database (to be killed), its replies
    checkpointed only every 5 s: what another server keeps of them is the batches'."""
    conf = home / "config"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "server.toml").write_text(
        "[server]\ncheckpoint_interval = 5.0\n\n"
        '[providers.up]\nscheme = "openai"\n'
        f'base_url = "{upstream.openai_url}"\napi_key = "k"\nmodel = "m"\nretries = 0\n',
        encoding="utf-8",
    )
    return await serve_process(address, {**os.environ, "CHATTHY_STORE_URL": pg_url})
