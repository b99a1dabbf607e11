"""The offline echo provider and the scheme registry."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator

import pytest

from chatthy.config import ProviderConfig
from chatthy.errors import ConfigError
from chatthy.providers.base import Message, Options, Provider, ProviderEvent, TextDelta, Usage
from chatthy.providers.registry import build_provider, register_scheme, schemes
from providerkit import collect

QUESTION = [
    {"role": "system", "content": "be kind"},
    {"role": "user", "content": "what is   the time?"},
]


async def test_echo_repeats_the_last_user_message_word_by_word() -> None:
    echo = build_provider("echo", ProviderConfig(scheme="echo", params={"delay": 0}))
    first = await collect(echo, QUESTION)
    assert first == await collect(echo, QUESTION)
    texts = [e.text for e in first if isinstance(e, TextDelta)]
    assert texts == ["echo: ", "what ", "is   ", "the ", "time?"]
    usage = first[-1]
    assert isinstance(usage, Usage) and usage.input_tokens > 0 and usage.output_tokens > 0


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


def test_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="provider 'x': unknown scheme 'carrier-pigeon'"):
        build_provider("x", ProviderConfig(scheme="carrier-pigeon"))  # type: ignore[arg-type]


async def test_a_plugin_registers_like_the_built_ins() -> None:
    class Shout(Provider):
        def __init__(self, name: str, cfg: ProviderConfig) -> None:
            self.name, self.model = name, cfg.model
            self.context_length, self.max_tokens = cfg.context_length, cfg.max_tokens

        async def stream(
            self, messages: list[Message], options: Options
        ) -> AsyncIterator[ProviderEvent]:
            yield TextDelta(messages[-1]["content"].upper())

    register_scheme("shout", Shout)
    assert "shout" in schemes()
    provider = build_provider("loud", ProviderConfig(scheme="shout"))  # type: ignore[arg-type]
    events: list[ProviderEvent] = await collect(provider, [{"role": "user", "content": "hi"}])
    assert events == [TextDelta("HI")]


def test_importing_the_registry_imports_no_sdk() -> None:
    code = (
        "import sys, chatthy.providers.registry as r;"
        "r.build_provider('e', r.ProviderConfig(scheme='echo'));"
        "print(sorted(m for m in ('openai', 'anthropic', 'httpx2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
