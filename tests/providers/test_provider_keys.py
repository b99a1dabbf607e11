"""API keys go only where they belong, and never into messages."""

from __future__ import annotations

import pytest

from chatthy.config import ProviderConfig
from chatthy.errors import ProviderAuthError
from chatthy.providers._common import resolve_key
from providerkit import MakeProvider, collect
from upstream import Reply, Upstream


async def test_env_key_not_sent_to_a_custom_endpoint(
    upstream: Upstream, make: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    await collect(make())
    headers = upstream.requests[-1].headers
    assert "sk-env-secret" not in str(headers)
    assert headers["authorization"] == "Bearer no-key"


async def test_config_key_is_sent(
    upstream: Upstream, make: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret")
    await collect(make(api_key="sk-config"))
    assert upstream.requests[-1].headers["authorization"] == "Bearer sk-config"


async def test_anthropic_env_key_not_sent_to_a_custom_endpoint(
    upstream: Upstream, make: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-secret")
    await collect(make("anthropic"))
    assert "sk-ant-env-secret" not in str(upstream.requests[-1].headers)
    await collect(make("anthropic", api_key="sk-ant-config"))
    # anthropic 2.x sends the key as a bearer token (1.x used x-api-key)
    assert upstream.requests[-1].headers["authorization"] == "Bearer sk-ant-config"


def test_env_key_goes_to_the_vendor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    official = ProviderConfig(base_url="https://api.openai.com/v1")
    lookalike = ProviderConfig(base_url="http://api.openai.com/v1")
    assert resolve_key(ProviderConfig(), "OPENAI_API_KEY", "api.openai.com") == "sk-env"
    assert resolve_key(official, "OPENAI_API_KEY", "api.openai.com") == "sk-env"
    assert resolve_key(lookalike, "OPENAI_API_KEY", "api.openai.com") == "no-key"


async def test_key_never_in_the_error(upstream: Upstream, make: MakeProvider) -> None:
    upstream.push(Reply(status=500, error_message="bad key sk-other"), times=3)
    with pytest.raises(Exception) as info:
        await collect(make(api_key="sk-mine-123", retries=0))
    assert "sk-mine-123" not in str(info.value)
    assert not isinstance(info.value, ProviderAuthError)
