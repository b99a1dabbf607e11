"""Fixtures of the agent tests: engines over the local upstream (see agentkit)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from agentkit import Harness, MakeHarness

from chatthy.config import (
    LimitsConfig,
    ServerConfig,
    ServerSection,
    SourcesConfig,
    ToolsConfig,
)
from chatthy.conversation.engine import Engine
from helpers import openai_provider
from upstream import Upstream


@pytest.fixture
async def make_harness(tmp_path: Path, upstream: Upstream) -> AsyncIterator[MakeHarness]:
    """``await make_harness(sources=…, tools=…, server=…, limits=…)``: an engine over a
    fresh SQLite file, its config dir ``tmp_path/config`` (put ``tools/*.py`` there
    first)."""
    made: list[Engine] = []

    async def make(
        *,
        sources: SourcesConfig | None = None,
        tools: ToolsConfig | None = None,
        server: ServerSection | None = None,
        limits: LimitsConfig | None = None,
    ) -> Harness:
        config = ServerConfig(
            server=server or ServerSection(),
            sources=sources or SourcesConfig(),
            tools=tools or ToolsConfig(),
            limits=limits or LimitsConfig(),
            providers={"up": openai_provider(upstream)},
            config_dir=str(tmp_path / "config"),
            data_dir=str(tmp_path / f"data{len(made)}"),
        )
        engine = await Engine.open(config)
        made.append(engine)
        return Harness(engine, upstream)

    yield make
    for engine in made:
        await engine.aclose()


@pytest.fixture
async def harness(make_harness: MakeHarness) -> Harness:
    return await make_harness()


@pytest.fixture
def tools_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config" / "tools"
    folder.mkdir(parents=True)
    return folder
