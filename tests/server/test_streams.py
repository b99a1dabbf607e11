"""Reply streams with a real provider SDK over HTTP: many clients, watchers, attach,
cancel, and a provider dying mid-stream."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from chatthy.server.app import Server
from helpers import (
    ClientMaker,
    RawPeer,
    ServerFactory,
    collect,
    key_for,
    openai_provider,
    request,
    turn,
)
from upstream import Reply, Upstream


@pytest.fixture
async def live(servers: ServerFactory, upstream: Upstream) -> Server:
    return await servers.start({"up": openai_provider(upstream)}, checkpoint_interval=0.05)


async def test_twenty_clients_at_once_all_in_order(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    chunks = [f"<{i}>" for i in range(60)]
    upstream.push(Reply(chunks=chunks, delay=0.001), times=20)
    clients = [connect(live, f"user{i % 5}") for i in range(20)]
    results = await asyncio.gather(*(turn(c, f"chat{i}", "go") for i, c in enumerate(clients)))
    for seen in results:
        assert seen.text == "".join(chunks)
        assert seen.seqs == list(range(len(seen.seqs)))
        assert seen.status == "complete"


async def test_second_client_sees_reply_live(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["slow ", "and ", "steady"], delay=0.05))
    first, second = connect(live), connect(live)
    await first.call("new", chat="shared")
    await second.attach("shared")
    stream, _ = await first.start("chat", "shared", text="hi")
    mine = asyncio.create_task(collect(stream))
    theirs = await asyncio.wait_for(second.incoming.get(), 5)
    watched = await collect(theirs)
    assert watched.text == "slow and steady"
    assert (await mine).text == "slow and steady"


async def test_other_profile_sees_nothing(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["private"], delay=0.05))
    alice, bob = connect(live, "alice"), connect(live, "bob")
    await bob.attach("shared")
    await turn(alice, "shared", "hi")
    await asyncio.sleep(0.1)
    assert bob.incoming.empty()


async def test_disconnect_and_attach_resumes_exactly(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    chunks = [f"[{i}]" for i in range(30)]
    upstream.push(Reply(chunks=chunks, delay=0.02))
    first = connect(live)
    stream, _ = await first.start("chat", "resume", text="go")
    got = ""
    seqs = []
    async for event in stream.events():
        seqs.append(event.seq)
        got += event.text
        if len(seqs) == 5:
            break
    await first.aclose()
    again = connect(live)
    resumed = await again.attach("resume", from_seq=5)
    assert resumed is not None
    rest = await collect(resumed)
    assert rest.seqs[0] == 5
    assert got + rest.text == "".join(chunks)
    assert rest.status == "complete"


async def test_cancel_keeps_partial_reply(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=[f"w{i} " for i in range(200)], delay=0.02))
    client = connect(live)
    stream, _ = await client.start("chat", "c", text="talk")
    seen_text = ""
    async for event in stream.events():
        seen_text += event.text
        if seen_text.count("w") >= 3:
            await client.call("cancel", chat="c")
            break
    rest = await collect(stream)
    assert rest.status == "cancelled"
    stored = (await client.call("messages", chat="c")).messages[-1]
    assert stored.status == "cancelled"
    assert stored.content.startswith("w0 w1 w2")
    assert len(stored.content) < len("".join(f"w{i} " for i in range(200)))


async def test_provider_dies_mid_stream(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["part ", "one ", "never"], drop_after=2))
    client = connect(live)
    seen = await turn(client, "c", "hi")
    assert seen.text == "part one "
    assert seen.status == "error"
    assert seen.error is not None
    assert seen.error["message"].startswith("provider 'up'")
    assert "\n" not in seen.error["message"]
    stored = (await client.call("messages", chat="c")).messages[-1]
    assert (stored.status, stored.content) == ("error", "part one ")
    assert stored.error == seen.error["message"]
    upstream.push(Reply(chunks=["fine"]))
    assert (await turn(client, "c", "again")).text == "fine"


async def test_invalid_key_is_one_clear_line(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(status=401, error_message="bad key"))
    seen = await turn(connect(live), "c", "hi")
    assert seen.status == "error"
    assert seen.error == {"code": "provider_auth", "message": "provider 'up': invalid API key"}


async def test_think_text_shown_but_not_stored(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(
        Reply(
            chunks=["<think>let me ", "see</think>", "The answer."], reasoning=["native reasoning"]
        )
    )
    client = connect(live)
    seen = await turn(client, "c", "q")
    assert "let me see" in seen.reasoning and "native reasoning" in seen.reasoning
    assert seen.text == "The answer."
    stored = (await client.call("messages", chat="c")).messages[-1]
    assert stored.content == "The answer."
    upstream.push(Reply(chunks=["ok"]))
    await turn(client, "c", "next")
    sent = upstream.requests[-1].body["messages"]
    assert {"role": "assistant", "content": "The answer."} in sent
    assert all("let me" not in str(m["content"]) for m in sent)


async def test_missing_opening_think_tag_not_stored(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["pondering...", "</think>", "Result."]))
    client = connect(live)
    await turn(client, "c", "q")
    stored = (await client.call("messages", chat="c")).messages[-1]
    assert stored.content == "Result."


async def test_history_truncated_to_context(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start(
        {"small": openai_provider(upstream, context_length=300, max_tokens=100)}
    )
    client = connect(srv)
    for i in range(8):
        upstream.push(Reply(chunks=[f"reply {i} " + "filler " * 20]))
        await turn(client, "c", f"question {i} " + "words " * 20)
    upstream.push(Reply(chunks=["ok"]))
    stream, result = await client.start("chat", "c", text="last one")
    seen = await collect(stream)
    assert result.dropped > 0
    assert "info" in seen.kinds
    sent = upstream.requests[-1].body["messages"]
    assert sent[0]["role"] == "system"
    assert sent[-1] == {"role": "user", "content": "last one"}
    assert len(sent) < 1 + 2 * 8 + 1


async def test_system_prompt_reaches_provider(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(live)
    await client.call("prompt_set", name="p", text="SYSTEM TEXT")
    await turn(client, "c", "question", prompt="p")
    sent = upstream.requests[-1].body["messages"]
    assert sent[0] == {"role": "system", "content": "SYSTEM TEXT"}
    await turn(client, "plain", "question")
    assert upstream.requests[-1].body["messages"][0]["content"].startswith("You are a helpful")


async def test_server_prompts_from_config_dir(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, isolated_env: Path
) -> None:
    folder = isolated_env / "config" / "prompts"
    folder.mkdir(parents=True)
    (folder / "poet.md").write_text("Answer in verse.\n", encoding="utf-8")
    config = servers.config({"up": openai_provider(upstream)})
    config.prompts = {"terse": "Be terse.", "poet": "overridden by the file"}
    srv = await servers.start_with(config)
    client = connect(srv)
    listed = {p.name: p.source for p in await client.call("prompts")}
    assert listed == {"default": "server", "poet": "server", "terse": "server"}
    assert (await client.call("prompt", name="terse")).text == "Be terse."
    await turn(client, "c", "hi", prompt="poet")
    assert upstream.requests[-1].body["messages"][0]["content"] == "Answer in verse."


async def test_cancel_before_first_token(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["late"], stall_after=0, stall=2.0))
    client = connect(live)
    stream, _ = await client.start("chat", "c", text="hi")
    await client.call("cancel", chat="c")
    seen = await collect(stream)
    assert seen.status == "cancelled" and seen.text == ""
    stored = (await client.call("messages", chat="c")).messages[-1]
    assert (stored.status, stored.content) == ("cancelled", "")


async def test_watcher_gets_one_error_line_when_provider_dies(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    upstream.push(Reply(chunks=["a ", "b ", "c"], drop_after=2, delay=0.05))
    first, second = connect(live), connect(live)
    await second.attach("c")
    stream, _ = await first.start("chat", "c", text="hi")
    mine = asyncio.create_task(collect(stream))
    watched = await collect(await asyncio.wait_for(second.incoming.get(), 5))
    for seen in (watched, await mine):
        assert seen.status == "error"
        assert seen.error is not None and seen.error["code"] == "provider_connection"
        assert seen.error["message"].count("\n") == 0


async def test_slow_client_does_not_stall_others(
    live: Server, upstream: Upstream, connect: ClientMaker
) -> None:
    """A client that never reads its socket must not hold up anyone else."""
    chunks = [f"<{i}>" * 50 for i in range(300)]
    upstream.push(Reply(chunks=chunks, delay=0.001), times=2)
    stuck = RawPeer(live.address)
    key = key_for("alice")
    body = request(key, method="chat", args={"chat": "big", "text": "go"})
    await stuck.sock.send_multipart([body, key.sign(body)])
    reader = connect(live)
    try:
        seen = await asyncio.wait_for(turn(reader, "other", "go"), 20)
    finally:
        stuck.close()
    assert seen.text == "".join(chunks)
