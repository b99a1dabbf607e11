"""A whole turn through the anthropic SDK: the system prompt goes its own way, thinking
is shown but not stored, the key stays with its endpoint."""

from __future__ import annotations

from chatthy.config import ProviderConfig
from helpers import ClientMaker, ServerFactory, turn
from upstream import Reply, Upstream


async def test_anthropic_turn_end_to_end(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start(
        {
            "claude": ProviderConfig(
                scheme="anthropic",
                base_url=upstream.base_url,
                api_key="sk-ant-test",
                model="claude-test",
                retries=0,
                timeout=5.0,
            ),
        }
    )
    client = connect(srv)
    await client.call("prompt_set", name="p", text="Be brief.")
    upstream.push(Reply(chunks=["Short", " answer."], reasoning=["thinking it over"]))
    seen = await turn(client, "c", "explain", prompt="p")
    assert seen.text == "Short answer."
    assert seen.reasoning == "thinking it over"
    assert seen.status == "complete"
    sent = upstream.requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.body["system"] in ("Be brief.", [{"type": "text", "text": "Be brief."}])
    assert all(m["role"] != "system" for m in sent.body["messages"])
    stored = (await client.call("messages", chat="c")).messages
    assert stored[-1].content == "Short answer."
    assert stored[-1].usage["output_tokens"] == 4
    upstream.push(Reply(status=401))
    failed = await turn(client, "c", "again")
    assert failed.error == {
        "code": "provider_auth",
        "message": "provider 'claude': invalid API key",
    }
