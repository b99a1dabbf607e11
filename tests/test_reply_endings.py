"""Replies are stored as what they are, through the real server, SDKs and `chatthy ask`
against the project's own upstream: cut at the token limit, cut off without the end
mark, and a whole JSON completion sent for a streaming request (both schemes)."""

from __future__ import annotations

import pytest

from chatthy.config import ProviderConfig
from chatthy.server.app import Server
from helpers import ClientMaker, ServerFactory, openai_provider
from test_cli import chatthy, live, stored_reply
from upstream import Reply, Upstream

__all__ = ["live"]


def anthropic_provider(upstream: Upstream) -> ProviderConfig:
    return ProviderConfig(
        scheme="anthropic",
        base_url=upstream.base_url,
        api_key="sk-ant-test",
        model="claude-test",
        timeout=5.0,
        retries=0,
    )


async def test_ask_says_a_reply_was_cut_at_the_token_limit(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["The answer is", " long and"], finish="length"))
    code, out, err = await chatthy("ask", "--chat", "t", "explain")
    assert (code, out) == (0, "The answer is long and\n"), err
    assert "cut off at the token limit" in err
    reply = await stored_reply(connect, live, "t")
    assert (reply.status, reply.content) == ("truncated", "The answer is long and")


async def test_ask_fails_on_a_stream_without_its_end(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["half ", "of it"], end_mark=False))
    code, out, err = await chatthy("ask", "--chat", "t", "explain")
    assert code == 1 and out.startswith("half of it")
    assert err.strip().count("\n") == 0 and "ended before its end" in err
    reply = await stored_reply(connect, live, "t")
    assert (reply.status, reply.content) == ("interrupted", "half of it")


@pytest.mark.parametrize("scheme", ["openai", "anthropic"])
async def test_a_json_answer_to_a_streaming_request_gives_its_text(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, scheme: str
) -> None:
    provider = openai_provider(upstream) if scheme == "openai" else anthropic_provider(upstream)
    srv = await servers.start({"up": provider})
    client = connect(srv)
    upstream.push(Reply(chunks=["all ", "at once"], json_for_stream=True))
    stream, _ = await client.start("chat", "c", text="hi")
    text, end = "", None
    async for event in stream.events():
        if event.kind == "text":
            text += event.text
        end = event
    assert text == "all at once"
    assert end is not None and (end.data or {})["status"] == "complete"


async def test_anthropic_max_tokens_is_stored_truncated(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start({"up": anthropic_provider(upstream)})
    client = connect(srv)
    upstream.push(Reply(chunks=["cut ", "here"], finish="length"))
    stream, _ = await client.start("chat", "c", text="hi")
    async for event in stream.events():
        end = event
    assert (end.data or {})["status"] == "truncated"
    assert (end.data or {})["finish_reason"] == "length"
