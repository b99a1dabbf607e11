"""The offline echo provider and the scheme registry."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest

from chatthy.config import ProviderConfig
from chatthy.conversation.content import message_of
from chatthy.conversation.model import Message
from chatthy.errors import ConfigError, ProviderError
from chatthy.providers.base import (
    Capabilities,
    Finish,
    Options,
    Provider,
    ProviderEvent,
    TextDelta,
    Usage,
)
from chatthy.providers.registry import build_provider, register_scheme, schemes
from providerkit import collect

QUESTION = [
    Message.of_text("system", "be kind"),
    Message.of_text("user", "what is   the time?"),
]


async def test_echo_repeats_the_last_user_message_word_by_word() -> None:
    echo = build_provider("echo", ProviderConfig(scheme="echo", params={"delay": 0}))
    first = await collect(echo, QUESTION)
    assert first == await collect(echo, QUESTION)
    texts = [e.text for e in first if isinstance(e, TextDelta)]
    assert texts == ["echo: ", "what ", "is   ", "the ", "time?"]
    usage, finish = first[-2:]
    assert isinstance(usage, Usage) and usage.input_tokens > 0 and usage.output_tokens > 0
    assert finish == Finish("stop")


async def test_echo_cut_at_max_tokens_finishes_with_length() -> None:
    echo = build_provider("echo", ProviderConfig(scheme="echo", params={"delay": 0}))
    events = await collect(echo, QUESTION, Options(max_tokens=2))
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["echo: ", "what "]
    assert events[-1] == Finish("length")


async def test_echo_shows_an_image_as_a_marker() -> None:
    echo = build_provider("echo", ProviderConfig(scheme="echo", params={"delay": 0}))
    asked = message_of(
        "user",
        [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    )
    events = await collect(echo, [asked])
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "echo: look [image]"


async def test_echo_paces_its_chunks() -> None:
    echo = build_provider("echo", ProviderConfig(scheme="echo"))
    start = time.monotonic()
    await collect(echo, QUESTION, Options(params={"delay": 0.05}))
    assert time.monotonic() - start >= 4 * 0.05


def test_attributes_come_from_config() -> None:
    cfg = ProviderConfig(scheme="echo", model="e1", context_length=1234, max_tokens=56)
    provider = build_provider("mine", cfg)
    assert (provider.name, provider.model, provider.context_length, provider.max_tokens) == (
        "mine",
        "e1",
        1234,
        56,
    )


def test_unknown_scheme_is_a_config_error_listing_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        build_provider("x", ProviderConfig(scheme="carrier-pigeon"))
    message = caught.value.message
    assert message.startswith("provider 'x': unknown scheme 'carrier-pigeon' (known: ")
    assert all(scheme in message for scheme in ("anthropic", "echo", "openai", "tabby"))


def test_a_factory_that_makes_no_provider_is_a_config_error() -> None:
    register_scheme("nothing", lambda name, cfg: None)  # type: ignore[arg-type,return-value]
    with pytest.raises(ConfigError, match="scheme 'nothing' made a NoneType, not a Provider"):
        build_provider("n", ProviderConfig(scheme="nothing"))


async def test_built_ins_declare_their_capabilities() -> None:
    async def capabilities(scheme: str) -> Capabilities:
        cfg = ProviderConfig(scheme=scheme, api_key="k", base_url="http://127.0.0.1:9/v1")
        provider = build_provider(scheme, cfg)
        await provider.aclose()
        return provider.capabilities

    both = Capabilities(tools=True, vision=True, reasoning=True)
    assert await capabilities("openai") == both
    assert await capabilities("anthropic") == both
    assert await capabilities("tabby") == Capabilities(True, True, True, model_loading=True)
    assert await capabilities("echo") == Capabilities(vision=True)
    assert Provider.capabilities == Capabilities()


async def test_a_provider_that_cannot_load_models_says_so() -> None:
    echo = build_provider("e", ProviderConfig(scheme="echo"))
    with pytest.raises(ProviderError, match="provider 'e' cannot load models"):
        await echo.load_model("other")


async def test_a_plugin_registers_like_the_built_ins() -> None:
    class Shout(Provider):
        def __init__(self, name: str, cfg: ProviderConfig) -> None:
            self.name, self.model = name, cfg.model
            self.context_length, self.max_tokens = cfg.context_length, cfg.max_tokens

        async def stream(
            self, messages: list[Message], options: Options
        ) -> AsyncIterator[ProviderEvent]:
            yield TextDelta(messages[-1].text.upper())
            yield Finish("stop")

    register_scheme("shout", Shout)
    assert "shout" in schemes()
    provider = build_provider("loud", ProviderConfig(scheme="shout"))
    events: list[ProviderEvent] = await collect(provider, [Message.of_text("user", "hi")])
    assert events == [TextDelta("HI"), Finish("stop")]


def test_importing_the_registry_imports_no_sdk() -> None:
    code = (
        "import sys, chatthy.providers.registry as r;"
        "r.build_provider('e', r.ProviderConfig(scheme='echo'));"
        "print(sorted(m for m in ('openai', 'anthropic', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
