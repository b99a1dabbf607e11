"""The document store through a real server: documents added, skipped when unchanged,
listed, shown, searched (hybrid, and rescored by a RAG provider), dropped; a turn given
what a query finds; a tool that searches; bad documents refused with one line."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from chatthy.client.core import Client
from chatthy.config import LimitsConfig, RagConfig
from chatthy.errors import ChatthyError, QuotaExceededError
from chatthy.server.app import Server
from chatthy.store.base import text_digest
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider, turn
from upstream import Reply, Upstream

OKAPI = "# Okapi\n\nThe okapi is a shy forest giraffid of the Congo, with striped legs.\n"
TEA = "# Tea\n\nGreen tea is steeped at 80 degrees for two minutes.\n"
RUST = "# Rust\n\nThe borrow checker makes sure references never outlive their data.\n"


async def start(servers: ServerFactory, upstream: Upstream, **rag: Any) -> Server:
    config = servers.config({"up": openai_provider(upstream)})
    return await servers.start_with(msgspec.structs.replace(config, rag=RagConfig(**rag)))


async def stocked(client: Client) -> None:
    for name, text in (("okapi.md", OKAPI), ("tea.md", TEA), ("rust.md", RUST)):
        added = await client.rpc(api.RagAdd(name=name, text=text, source=f"/docs/{name}"))
        assert not added.skipped and added.document.chunks == 1


async def test_documents_are_added_skipped_listed_shown_and_dropped(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(await start(servers, upstream))
    await stocked(client)
    again = await client.rpc(api.RagAdd(name="tea.md", text=TEA))
    assert again.skipped and again.document.name == "tea.md"
    have = await client.rpc(api.RagHas(name="tea.md", digest=text_digest(TEA)))
    assert have.stored
    changed = await client.rpc(api.RagHas(name="tea.md", digest=text_digest(TEA + "!")))
    assert not changed.stored
    listed = await client.rpc(api.RagList())
    assert [d.name for d in listed] == ["okapi.md", "rust.md", "tea.md"]
    assert listed[0].source == "/docs/okapi.md" and listed[0].embedder.startswith("wordllama")
    shown = await client.rpc(api.RagShow(name="okapi.md"))
    assert shown.headings == ["Okapi"] and shown.bytes == len(OKAPI)
    await client.rpc(api.RagDrop(name="okapi.md"))
    assert [d.name for d in await client.rpc(api.RagList())] == ["rust.md", "tea.md"]
    with pytest.raises(ChatthyError) as gone:
        await client.rpc(api.RagShow(name="okapi.md"))
    assert "okapi.md" in gone.value.message


async def test_search_finds_by_words_and_by_meaning_and_only_your_own(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await start(servers, upstream)
    alice, bob = connect(srv), connect(srv, "bob")
    await stocked(alice)
    hits = await alice.rpc(api.RagSearch(query="borrow checker"))
    assert hits[0].document == "rust.md" and "bm25" in hits[0].ranked_by
    assert hits[0].heading == "Rust" and "outlive" in hits[0].text
    by_meaning = await alice.rpc(api.RagSearch(query="an animal of the rainforest", mode="vector"))
    assert by_meaning[0].document == "okapi.md"
    assert await bob.rpc(api.RagSearch(query="borrow checker")) == []


async def test_a_rag_provider_rescores_and_winnows(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(await start(servers, upstream))
    await stocked(client)
    fused = await client.rpc(api.RagSearch(query="okapi tea", limit=3))
    order = [hit.document for hit in fused]
    # the model thinks the last of them best and the first useless
    upstream.push(Reply(chunks=['{"1": 0, "2": 4, "3": 9}']))
    rescored = await client.rpc(api.RagSearch(query="okapi tea", limit=3, provider="up"))
    assert [hit.document for hit in rescored] == [order[2], order[1]]
    assert rescored[0].score == 9 and "rerank" in rescored[0].ranked_by
    asked = upstream.requests[-1].body["messages"][-1]["content"]
    assert "Question: okapi tea" in asked and "[3]" in asked
    upstream.push(Reply(chunks=["I cannot rate these."]))
    kept = await client.rpc(api.RagSearch(query="okapi tea", limit=3, provider="up"))
    assert [hit.document for hit in kept] == order  # an answer without scores: fused order


async def test_a_turn_gets_what_its_query_finds_numbered_to_cite(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(await start(servers, upstream, top_k=2))
    await stocked(client)
    upstream.push(Reply(chunks=["Shy, per [1]."]))
    seen = await turn(client, "c", "what is it like?", rag="okapi giraffid")
    assert seen.text == "Shy, per [1]."
    sent = str(upstream.requests[-1].body["messages"])
    assert 'found for \\"okapi giraffid\\"' in sent or 'found for "okapi giraffid"' in sent
    assert "[1] okapi.md — Okapi (/docs/okapi.md)" in sent and "striped legs" in sent
    stored = await client.rpc(api.Messages(chat="c"))
    assert stored.messages[0].content == "what is it like?"  # the passages are not stored


async def test_bad_documents_get_one_line_and_store_nothing(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(await start(servers, upstream, max_document_bytes=1000))
    for text, said in (("x" * 2000, "over [rag] max_document_bytes"), ("  \n", "no text")):
        with pytest.raises(ChatthyError) as refused:
            await client.rpc(api.RagAdd(name="bad.md", text=text))
        assert said in refused.value.message and "\n" not in refused.value.message
    with pytest.raises(ChatthyError) as unreachable:
        await client.rpc(api.RagFetch(target="http://127.0.0.1:9/nothing"))
    assert "\n" not in unreachable.value.message
    assert await client.rpc(api.RagList()) == []


async def test_a_batch_is_stored_document_by_document_with_an_outcome_each(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    client = connect(await start(servers, upstream, max_document_bytes=1000))
    await client.rpc(api.RagAdd(name="tea.md", text=TEA))
    batch = [
        api.RagText(name="okapi.md", text=OKAPI, source="/docs/okapi.md"),
        api.RagText(name="tea.md", text=TEA),  # stored unchanged already
        api.RagText(name="big.md", text="x" * 2000),
        api.RagText(name="blank.md", text=" \n"),
        api.RagText(name="rust.md", text=RUST, kind="text"),
    ]
    outcomes = await client.rpc(api.RagAddMany(documents=batch))
    assert [(o.document.name if o.document else None, o.skipped) for o in outcomes] == [
        ("okapi.md", False),
        ("tea.md", True),
        (None, False),
        (None, False),
        ("rust.md", False),
    ]
    assert "over [rag] max_document_bytes" in outcomes[2].error and outcomes[2].code == "bad_args"
    assert "has no text" in outcomes[3].error
    assert outcomes[0].document is not None and outcomes[0].document.source == "/docs/okapi.md"
    listed = [d.name for d in await client.rpc(api.RagList())]
    assert listed == ["okapi.md", "rust.md", "tea.md"]
    hits = await client.rpc(api.RagSearch(query="shy forest giraffid"))
    assert hits[0].document == "okapi.md"
    have = await client.rpc(
        api.RagHasMany(
            documents=[
                api.RagDigest(name="okapi.md", digest=text_digest(OKAPI)),
                api.RagDigest(name="rust.md", digest=text_digest(RUST + "changed")),
                api.RagDigest(name="big.md", digest=text_digest("x" * 2000)),
            ]
        )
    )
    assert have == [True, False, False]
    with pytest.raises(ChatthyError, match="documents"):  # more than a batch may hold
        await client.rpc(
            api.RagAddMany(documents=[api.RagText(name=f"n{i}", text="t") for i in range(257)])
        )


async def test_the_stored_bytes_quota_counts_documents_and_refuses_more(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    config = servers.config({"up": openai_provider(upstream)})
    config.limits = LimitsConfig(stored_bytes=6000)
    client = connect(await servers.start_with(config))
    long = "# Notes\n\n" + "\n\n".join(f"Paragraph {n} about tides." for n in range(200))
    added = await client.rpc(api.RagAdd(name="long.md", text=long))
    assert added.document.chunks >= 2
    with pytest.raises(QuotaExceededError, match="documents to make room"):
        await client.rpc(api.RagAdd(name="more.md", text=TEA))
    with pytest.raises(QuotaExceededError):
        await client.rpc(api.RagAddMany(documents=[api.RagText(name="more.md", text=TEA)]))
    await client.rpc(api.RagDrop(name="long.md"))
    assert (await client.rpc(api.RagAdd(name="more.md", text=TEA))).document.chunks == 1
