"""The tabby scheme: OpenAI chat plus tabbyAPI's model list and admin load."""

from __future__ import annotations

import pytest

from chatthy.config import ProviderConfig
from chatthy.errors import ProviderAuthError, ProviderError
from chatthy.providers.base import TextDelta
from chatthy.providers.registry import build_provider
from chatthy.providers.tabby import TabbyProvider
from providerkit import MakeProvider, collect
from upstream import Upstream


async def test_chat_works_like_openai(make: MakeProvider) -> None:
    events = await collect(make("tabby"))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "upstream: hello"


async def test_models_asks_with_the_admin_key(upstream: Upstream, make: MakeProvider) -> None:
    assert await make("tabby", admin_key="admin-secret").models() == ["test-model", "big-model"]
    request = upstream.requests[-1]
    assert (request.method, request.path) == ("GET", "/v1/model/list")
    assert request.headers["x-admin-key"] == "admin-secret"


async def test_a_server_without_a_model_list_says_so() -> None:
    with Upstream(tabby_model_list=False) as bare:
        provider = build_provider(
            "up", ProviderConfig(scheme="tabby", base_url=bare.openai_url, model="m", timeout=5.0)
        )
        try:
            with pytest.raises(ProviderError) as info:
                await provider.models()
            assert bare.requests[-1].path == "/v1/model/list"
        finally:
            await provider.aclose()
    assert str(info.value) == (
        f"provider 'up': the server has no model list ({bare.openai_url}/model/list): "
        "set model in server.toml"
    )


async def test_load_model(upstream: Upstream, make: MakeProvider) -> None:
    provider = make("tabby", admin_key="admin-secret")
    assert isinstance(provider, TabbyProvider)
    await provider.load_model("big-model")
    assert upstream.loaded_model == "big-model"
    assert provider.model == "big-model"
    assert upstream.requests[-1].body == {"name": "big-model"}
    await collect(provider)
    assert upstream.requests[-1].body["model"] == "big-model"


async def test_load_with_a_wrong_admin_key(upstream: Upstream, make: MakeProvider) -> None:
    provider = make("tabby", admin_key="guess")
    assert isinstance(provider, TabbyProvider)
    with pytest.raises(ProviderAuthError, match=r"^provider 'up': invalid admin key$"):
        await provider.load_model("big-model")
    assert upstream.loaded_model is None


async def test_load_of_an_unknown_model(make: MakeProvider) -> None:
    provider = make("tabby", admin_key="admin-secret")
    assert isinstance(provider, TabbyProvider)
    with pytest.raises(ProviderError) as info:
        await provider.load_model("ghost")
    assert str(info.value) == (
        "provider 'up': cannot load model 'ghost': Could not find the model path for load."
    )


async def test_load_needs_an_admin_key(make: MakeProvider) -> None:
    provider = make("tabby")
    assert isinstance(provider, TabbyProvider)
    with pytest.raises(ProviderAuthError, match="needs admin_key"):
        await provider.load_model("big-model")
