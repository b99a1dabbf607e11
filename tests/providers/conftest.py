"""Fixtures for provider tests: a fake upstream per test and providers pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from chatthy.config import ProviderConfig
from chatthy.providers.base import Provider
from chatthy.providers.registry import build_provider
from providerkit import MakeProvider
from upstream import Upstream


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream(models=["test-model", "big-model"], admin_key="admin-secret") as server:
        yield server


@pytest.fixture(autouse=True)
def _no_vendor_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests decide which keys exist; the developer's own keys never leak in."""
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
async def make(upstream: Upstream) -> AsyncIterator[MakeProvider]:
    """Build a provider of a scheme against the upstream; closed after the test."""
    made: list[Provider] = []

    def _make(scheme: str = "openai", name: str = "up", **fields: Any) -> Provider:
        base = upstream.base_url if scheme == "anthropic" else upstream.openai_url
        fields.setdefault("base_url", base)
        fields.setdefault("model", "test-model")
        fields.setdefault("timeout", 5.0)
        provider = build_provider(name, ProviderConfig(scheme=scheme, **fields))
        made.append(provider)
        return provider

    yield _make
    for provider in made:
        await provider.aclose()
