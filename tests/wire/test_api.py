"""The typed RPC API: every RPC the server answers is declared in ``chatthy.wire.api``,
and every answer, as it crosses the wire, decodes into its declared result with nothing
lost (no undeclared field, no field of the wrong type)."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest

from chatthy.client.core import Client, decode_result
from chatthy.providers.base import Capabilities
from chatthy.server.app import Server
from chatthy.server.rpc import registry
from chatthy.store.base import ChatRecord, MessageRecord, SearchHit
from chatthy.wire import api
from helpers import (
    PNG_URL,
    ClientMaker,
    RawPeer,
    ServerFactory,
    collect,
    key_for,
    openai_provider,
    png_bytes,
    request,
)
from mcp_kit import stdio_config
from sources_upstream import Article, Paper, SourcesUpstream, Story, Video
from upstream import Reply, Upstream


def test_every_rpc_the_server_answers_is_declared_and_every_declaration_is_served() -> None:
    served = {command.name for command in registry.describe()}
    assert served == set(api.CALLS)


def test_a_handler_must_answer_with_its_declared_result() -> None:
    async def wrong(ctx: Any, args: api.Status) -> api.AccountInfo:
        raise AssertionError("never called")

    with pytest.raises(TypeError, match="status is declared to answer"):
        registry.rpc()(wrong)


class Wire:
    """Runs declared calls as a signed raw peer (the answer as it crossed the wire) and
    checks each answer against its declaration."""

    def __init__(self, srv: Server, profile: str = "alice") -> None:
        self.peer = RawPeer(srv.address)
        self.profile = profile
        self.key = key_for(profile)
        self.seen: set[str] = set()

    async def run(self, call: api.Call[Any]) -> Any:
        body = request(self.key, self.profile, method=call.method, args=msgspec.to_builtins(call))
        reply = await self.peer.send(body, self.key.sign(body))
        assert reply.error is None, f"{call.method}: {reply.error}"
        decoded = decode_result(type(call), reply.result)
        assert msgspec.to_builtins(decoded, builtin_types=(bytes,)) == reply.result, call.method
        self.seen.add(call.method)
        return decoded


def _fill(sources: SourcesUpstream) -> None:
    sources.page("/page", "<html><body><main><p>" + "Okapis are shy. " * 20 + "</p></main>")
    sources.videos["dQw4w9WgXcQ"] = Video("Okapis", "Zoo", tracks=[("en", "", ["shy okapis"])])
    sources.papers.append(Paper("2401.01234v1", "Okapi", "Shy.", ["A. Author"], ["q-bio.PE"]))
    sources.articles.append(Article("Okapi", "The okapi is a relative of the giraffe."))
    sources.news["okapi"] = [Story("Okapi seen", "BBC", "https://www.bbc.co.uk")]


async def _finish(client: Client, started: api.Started) -> None:
    await collect(client.follow(started.stream, started.chat))


async def test_every_rpc_answers_exactly_its_declared_result(
    servers: ServerFactory, connect: ClientMaker, sources: SourcesUpstream
) -> None:
    _fill(sources)
    with Upstream(models=["a", "b"], admin_key="admin") as up:
        config = servers.config(
            {
                "up": openai_provider(up),
                "tabby": openai_provider(up, scheme="tabby", admin_key="admin"),
            },
            admins=["alice"],
            profiles={"alice": key_for("alice").public_key.hex()},
        )
        config.sources = sources.config()
        config.mcp_servers = {"up": stdio_config()}
        srv = await servers.start_with(config)
        client = connect(srv)
        await client.attach("c")  # sees the replies the raw peer starts in "c"
        wire = Wire(srv)
        try:
            for call in (
                api.Status(),
                api.Commands(),
                api.Providers(),
                api.Load(provider="tabby", model="b"),
                api.New(chat="c", provider="up"),
                api.Use(chat="c", model="test-model"),
            ):
                await wire.run(call)
            assert (await wire.run(api.Account())).profile == "alice"
            assert (await wire.run(api.Register())).profile == "alice"  # known: a no-op

            up.push(Reply(chunks=["first answer"]))
            started = await wire.run(api.Chat(chat="c", text="first question"))
            await _finish(client, started)
            up.push(Reply(chunks=["second answer"]))
            await _finish(client, await wire.run(api.Regenerate(chat="c")))
            up.push(Reply(chunks=["third answer"]))
            latest = await wire.run(api.Edit(chat="c", text="edited question"))
            await _finish(client, latest)
            page = await wire.run(api.Messages(chat="c"))
            assert [m.content for m in page.messages] == ["edited question", "third answer"]
            assert (await wire.run(api.Search(query="edited")))[0].chat == "c"
            assert [c.name for c in await wire.run(api.Chats())] == ["c"]
            assert (await wire.run(api.Attach(chat="c"))).stream == latest.stream
            await wire.run(api.Resend(stream=latest.stream))

            up.push(Reply(chunks=["tick "] * 400, delay=0.02))
            running = await wire.run(api.Chat(chat="c", text="count slowly"))
            await asyncio.sleep(0.1)
            await wire.run(api.Cancel(chat="c"))
            await _finish(client, running)
            await wire.run(api.Undo(chat="c"))
            answered = await wire.run(api.Approve(chat="c", call_id="none waits"))
            assert not answered.pending
            assert await wire.run(api.Agents()) == []
            assert "current_time" in [t.name for t in await wire.run(api.Tools())]
            chains = Path(srv.engine.config.config_dir) / "chains"
            chains.mkdir(parents=True, exist_ok=True)
            (chains / "clock.toml").write_text('[[steps]]\ntool = "current_time"\n')
            assert [c.name for c in await wire.run(api.Chains())] == ["clock"]
            ran = await wire.run(api.ChainRun(name="clock", input="x"))
            assert str(time.gmtime().tm_year) in ran.output

            exported = await wire.run(api.Export(chat="c"))
            await wire.run(api.Import(data=exported.data, chat="copy"))
            raw = exported.data.encode()
            upload = await wire.run(api.ImportBegin(size=len(raw), chat="pieces"))
            half = len(raw) // 2
            await wire.run(api.ImportAppend(upload=upload.upload, offset=0, data=raw[:half]))
            progress = await wire.run(
                api.ImportAppend(upload=upload.upload, offset=half, data=raw[half:])
            )
            assert progress.received == len(raw)
            assert (await wire.run(api.ImportFinish(upload=upload.upload))).chat == "pieces"
            await wire.run(api.Rename(chat="copy", new="renamed"))
            await wire.run(api.Fork(chat="renamed", new="forked"))
            await wire.run(api.Destroy(chat="forked"))

            calls: tuple[api.Call[Any], ...] = (
                api.Prompts(),
                api.PromptSet(name="mine", text="Be brief."),
                api.Prompt(name="mine"),
                api.PromptRename(name="mine", new="ours"),
                api.PromptCopy(name="ours", new="theirs"),
                api.PromptDelete(name="theirs"),
                api.WsAdd(name="notes.md", text="remember the milk"),
                api.WsList(),
                api.WsRename(name="notes.md", new="todo.md"),
                api.WsBench(name="todo.md"),
                api.WsRestore(name="todo.md"),
                api.WsSources(),
                api.WsFetch(source="url", argument=f"{sources.base_url}/page", name="f.md"),
                api.WsUrl(url=f"{sources.base_url}/page"),
                api.WsYoutube(video="dQw4w9WgXcQ"),
                api.WsArxiv(query="2401.01234"),
                api.WsWikipedia(title="Okapi"),
                api.WsNews(query="okapi", count=1),
                api.RagAdd(name="okapi.md", text="# Okapi\n\nThe okapi is a shy giraffid."),
                api.RagHas(name="okapi.md", digest="0" * 64),
                api.RagAddMany(documents=[api.RagText(name="tea.md", text="Green tea.")]),
                api.RagHasMany(documents=[api.RagDigest(name="tea.md", digest="0" * 64)]),
                api.RagFetch(target=f"{sources.base_url}/page", name="page"),
                api.RagList(),
                api.RagShow(name="okapi.md"),
                api.RagSearch(query="shy giraffid"),
                api.RagDrop(name="page"),
                api.McpServers(),
                api.WsMcp(server="up", uri="note://hello"),
                api.Templates(),
            )
            for each in calls:
                await wire.run(each)
            assert (await wire.run(api.WsShow(name="todo.md"))).text == "remember the milk"
            await wire.run(api.WsDrop(name="todo.md"))
            up.push(Reply(chunks=["a summary"]))
            await _finish(client, await wire.run(api.Template(chat="c", name="summarise")))
            up.push(Reply(chunks=["a tiny picture"]))
            image = {"type": "image_url", "image_url": {"url": PNG_URL}}
            await client.attach("pics")
            await _finish(client, await wire.run(api.Chat(chat="pics", content=[image])))
            digest = hashlib.sha256(png_bytes()).hexdigest()
            assert (await wire.run(api.ImageGet(digest=digest))).data == png_bytes()

            bob = Wire(srv, "bob")
            try:
                assert not (await bob.run(api.Hello())).registered
                await bob.run(api.Status())
                assert (await bob.run(api.Hello())).registered
                await bob.run(api.Rekey(key=key_for("bob", "new").public_key))
            finally:
                bob.peer.close()
        finally:
            wire.peer.close()
    assert wire.seen | bob.seen == set(api.CALLS)


def test_a_method_declared_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="declared twice"):

        class Again(api.Call[api.ServerStatus]):
            method = "status"


def _fields(struct: type) -> set[str]:
    return set(struct.__struct_fields__)  # type: ignore[attr-defined]


def test_results_copied_from_records_carry_every_field_but_row_ids() -> None:
    """The handlers copy store records and provider capabilities into wire results by
    hand: a field added to one side must be added to the other."""
    assert _fields(api.ProviderCapabilities) == _fields(Capabilities)
    assert _fields(ChatRecord) - {"id"} <= _fields(api.ChatInfo)
    assert _fields(MessageRecord) - {"chat_id"} == _fields(api.MessageInfo)
    assert _fields(SearchHit) == _fields(api.SearchHit)


def test_commands_give_defaults_only_for_arguments_that_have_one() -> None:
    described = {c.name: c for c in registry.describe()}
    args = {a.name: a for a in described["template"].args}
    assert "default" not in msgspec.to_builtins(args["chat"])
    assert args["args"].default == {} and args["file"].default is None
    assert described["messages"].result == "MessagesPage"
    assert described["chats"].result == "list[ChatInfo]"
