"""Servers on one PostgreSQL database for the scale-out tests: in this process, or as a
``chatthy serve`` of its own (to be killed)."""

from __future__ import annotations

import msgspec

from chatthy.config import StoreConfig
from chatthy.server.app import Server
from helpers import ServerFactory, openai_provider
from upstream import Upstream

__all__ = ["start_shared"]


async def start_shared(servers: ServerFactory, upstream: Upstream, pg_url: str) -> Server:
    """One more in-process server on the test's database."""
    config = servers.config({"up": openai_provider(upstream)}, checkpoint_interval=0.2)
    return await servers.start_with(msgspec.structs.replace(config, store=StoreConfig(url=pg_url)))
