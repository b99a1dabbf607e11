"""How a reply ended reaches the caller as the last event; a cut-off stream is an error."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from chatthy.errors import ProviderConnectionError, ProviderIncompleteError
from chatthy.providers.base import Finish, Options, TextDelta, Usage
from providerkit import HELLO, MakeProvider, collect
from upstream import Reply, Upstream

SCHEMES = ["openai", "anthropic"]


def _text(events: Sequence[object]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_finished_reply_ends_with_stop(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(chunks=["all ", "done"], usage=(9, 2)))
    events = await collect(make(scheme))
    assert _text(events) == "all done"
    assert events[-2:] == [Usage(input_tokens=9, output_tokens=2), Finish("stop")]
    assert sum(isinstance(e, Finish) for e in events) == 1


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_reply_cut_at_the_token_limit_ends_with_length(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(chunks=["The answer is", " long and"], finish="length"))
    events = await collect(make(scheme))
    assert _text(events) == "The answer is long and"
    assert events[-1] == Finish("length")


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_stream_without_its_end_mark_is_incomplete(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(chunks=["half ", "of it"], end_mark=False))
    seen = []
    with pytest.raises(ProviderIncompleteError) as info:
        async for event in make(scheme).stream(HELLO, Options()):
            assert not isinstance(event, Finish)
            seen.append(event)
    assert _text(seen) == "half of it"
    assert isinstance(info.value, ProviderConnectionError)
    assert info.value.code == "provider_incomplete"
    message = str(info.value)
    assert message.startswith("provider 'up': ") and "ended before its end" in message
    assert "\n" not in message


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_whole_json_answer_to_a_streaming_request_gives_its_events(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(chunks=["all ", "at once"], usage=(5, 3), json_for_stream=True))
    events = await collect(make(scheme))
    assert _text(events) == "all at once"
    assert events[-2:] == [Usage(input_tokens=5, output_tokens=3), Finish("stop")]


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_whole_json_answer_cut_at_the_limit_ends_with_length(
    upstream: Upstream, make: MakeProvider, scheme: str
) -> None:
    upstream.push(Reply(chunks=["cut ", "here"], finish="length", json_for_stream=True))
    events = await collect(make(scheme))
    assert _text(events) == "cut here"
    assert events[-1] == Finish("length")
