"""What a user sees when an upstream fails: one line, the provider's name first."""

from __future__ import annotations

import socket

import pytest

from chatthy.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
)
from chatthy.providers.base import Message, Options, TextDelta
from providerkit import MakeProvider, collect
from upstream import Reply, Upstream

SCHEMES = ["openai", "anthropic"]
HI = [Message.of_text("user", "hi")]


def _chats(upstream: Upstream) -> int:
    return sum(r.method == "POST" for r in upstream.requests)


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_refused_key(upstream: Upstream, make: MakeProvider, scheme: str) -> None:
    upstream.push(Reply(status=401, error_message="Incorrect API key provided: sk-sec***"))
    with pytest.raises(ProviderAuthError) as info:
        await collect(make(scheme, api_key="sk-secret-123"))
    assert str(info.value) == "provider 'up': invalid API key"


async def test_refused_without_any_key_says_missing(upstream: Upstream, make: MakeProvider) -> None:
    upstream.push(Reply(status=401))
    with pytest.raises(ProviderAuthError, match=r"^provider 'up': missing API key$"):
        await collect(make())


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_rate_limit_twice_then_reply(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(status=429), times=2)
    upstream.push(Reply(chunks=["made ", "it"]))
    events = await collect(make(scheme, retries=2))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "made it"
    assert _chats(upstream) == 3


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_rate_limit_forever(upstream: Upstream, make: MakeProvider, scheme: str) -> None:
    upstream.push(Reply(status=429), times=10)
    with pytest.raises(ProviderRateLimitError) as info:
        await collect(make(scheme, retries=2))
    assert str(info.value) == "provider 'up': rate limited (429) after 2 retries"
    assert _chats(upstream) == 3


async def test_server_error_is_retried(upstream: Upstream, make: MakeProvider) -> None:
    upstream.push(Reply(status=500))
    events = await collect(make(retries=1))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "upstream: hello"


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_server_error_shows_upstream_message(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(status=500, error_message="GPU on fire\nsecond line"), times=2)
    with pytest.raises(ProviderError) as info:
        await collect(make(scheme, retries=1))
    assert str(info.value) == "provider 'up': upstream error 500: GPU on fire second line"


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_unknown_model(upstream: Upstream, make: MakeProvider, scheme: str) -> None:
    upstream.push(Reply(status=404))
    with pytest.raises(ProviderError) as info:
        await collect(make(scheme), options=Options(model="nope"))
    assert str(info.value) == "provider 'up': model 'nope' not found"


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_dropped_mid_stream_after_partial_text(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(chunks=["one ", "two ", "three"], drop_after=2))
    seen = []
    with pytest.raises(ProviderConnectionError) as info:
        async for event in make(scheme).stream(HI, Options()):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert "".join(seen) == "one two "
    assert str(info.value) == "provider 'up': connection lost mid-stream"


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_stall_times_out(upstream: Upstream, make: MakeProvider, scheme: str) -> None:
    upstream.push(Reply(chunks=["early ", "late"], stall_after=1))
    seen = []
    with pytest.raises(ProviderTimeoutError) as info:
        async for event in make(scheme, timeout=0.5).stream(HI, Options()):
            if isinstance(event, TextDelta):
                seen.append(event.text)
    assert seen == ["early "]
    assert str(info.value) == "provider 'up': timed out after 0.5s"


async def test_unreachable(make: MakeProvider) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(ProviderConnectionError) as info:
        await collect(make(base_url=url, retries=0))
    assert str(info.value) == f"provider 'up': cannot reach {url}"
