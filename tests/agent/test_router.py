"""``chatthy router`` as its users meet it: the official ``openai`` SDK against the router
served by uvicorn on a real loopback port, the router's providers pointed at the
project's fake upstream (OpenAI and Anthropic shapes), a chatthy engine using the router
as its provider."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import msgspec
import openai
import pytest
import uvicorn

from chatthy.agent.registry import server_tools
from chatthy.agent.router import Router, run_router
from chatthy.agent.tools import Tool, ToolRegistry
from chatthy.cli import main
from chatthy.config import ProviderConfig, RouterConfig, ServerConfig, ToolsConfig
from chatthy.conversation.engine import Engine
from chatthy.providers.registry import build_provider
from helpers import PNG_URL, openai_provider, png_bytes
from sources_upstream import SourcesUpstream
from upstream import Reply, Upstream

KEY = "sk-router-test"


class Running:
    """A router served by uvicorn in this event loop on a free loopback port."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        config = uvicorn.Config(
            router.app, lifespan="off", log_level="warning", ws="none", timeout_graceful_shutdown=2
        )
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None
        self.clients: list[openai.AsyncOpenAI] = []

    async def start(self) -> Running:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            assert not self.task.done(), "the router did not start"
            await asyncio.sleep(0.01)
        return self

    def client(self, key: str = KEY) -> openai.AsyncOpenAI:
        made = openai.AsyncOpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=10)
        self.clients.append(made)
        return made

    async def stop(self) -> None:
        for client in self.clients:
            await client.close()
        self.server.should_exit = True
        if self.task is not None:
            await self.task
        self.sock.close()
        await self.router.aclose()


def config(tmp_path: Path, providers: dict[str, ProviderConfig], **router: Any) -> ServerConfig:
    return ServerConfig(
        providers=providers,
        router=RouterConfig(**{"api_keys": [KEY], **router}),
        config_dir=str(tmp_path / "config"),
        data_dir=str(tmp_path / "data"),
    )


async def serve(cfg: ServerConfig, tools: ToolRegistry | None = None, **services: Any) -> Running:
    providers = {name: build_provider(name, p) for name, p in cfg.providers.items()}
    router = Router(cfg, providers, tools or server_tools(cfg), services)
    return await Running(router).start()


@pytest.fixture
async def running(tmp_path: Path, upstream: Upstream) -> AsyncIterator[Running]:
    cfg = config(tmp_path, {"up": openai_provider(upstream, models=["test-model", "big"])})
    served = await serve(cfg)
    yield served
    await served.stop()


def chat_requests(upstream: Upstream) -> list[Any]:
    return [r.body for r in upstream.requests if r.path.endswith(("/completions", "/messages"))]


USER: list[Any] = [{"role": "user", "content": "hello router"}]


async def test_models_lists_each_provider_and_the_other_models_it_allows(
    running: Running,
) -> None:
    models = await running.client().models.list()
    assert [m.id for m in models.data] == ["up", "up/big"]
    assert all(m.object == "model" for m in models.data)


async def test_a_streamed_reply_reaches_the_sdk_chunk_by_chunk(
    running: Running, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=["Hel", "lo ", "there"], usage=(7, 3)))
    stream = await running.client().chat.completions.create(
        model="up",
        messages=USER,
        stream=True,
        stream_options={"include_usage": True},
        temperature=0.25,
        max_tokens=50,
    )
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Hello there"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (7, 3)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    sent = chat_requests(upstream)[-1]
    assert (sent["temperature"], sent["max_tokens"], sent["model"]) == (0.25, 50, "test-model")


async def test_a_stream_without_include_usage_has_no_usage_chunk(
    running: Running, upstream: Upstream
) -> None:
    stream = await running.client().chat.completions.create(model="up", messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(c.usage is None and c.choices for c in chunks)


async def test_a_whole_completion_and_a_model_named_through_its_provider(
    running: Running, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=["All ", "at once"], usage=(5, 2)))
    done = await running.client().chat.completions.create(model="up/big", messages=USER)
    assert done.object == "chat.completion"
    assert done.choices[0].message.content == "All at once"
    assert done.choices[0].finish_reason == "stop"
    assert done.usage is not None and done.usage.total_tokens == 7
    assert chat_requests(upstream)[-1]["model"] == "big"


async def test_a_missing_or_wrong_key_is_401_in_openais_shape(
    running: Running, upstream: Upstream
) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        await running.client("sk-wrong").chat.completions.create(model="up", messages=USER)
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.type == "invalid_request_error"
    with pytest.raises(openai.AuthenticationError):
        await running.client("sk-wrong").models.list()
    async with httpx2.AsyncClient() as plain:  # the SDK will not send a request with no key
        answer = await plain.post(running.url + "/chat/completions", json={"model": "up"})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_api_key"
    assert chat_requests(upstream) == []


async def test_an_unknown_model_is_404_model_not_found(running: Running) -> None:
    for name in ("nope", "up/not-listed"):
        with pytest.raises(openai.NotFoundError) as caught:
            await running.client().chat.completions.create(model=name, messages=USER)
        assert caught.value.code == "model_not_found"
        assert f"'{name}'" in caught.value.message and "up/big" in caught.value.message


async def test_a_body_the_router_cannot_pass_on_is_400_naming_the_field(
    running: Running, upstream: Upstream
) -> None:
    client = running.client()
    bad: list[tuple[list[Any], str]] = [
        ([{"role": "robot", "content": "hi"}], "messages[0] has role 'robot'"),
        ([{"role": "user", "content": [{"type": "input_audio"}]}], "messages[0].content[0]"),
        ([{"role": "tool", "content": "42"}], "has no tool_call_id"),
        ([], "messages must be a non-empty list"),
    ]
    for messages, said in bad:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model="up", messages=messages)
        assert said in caught.value.message
    assert chat_requests(upstream) == []


PNG = PNG_URL


async def test_images_and_a_system_prompt_reach_the_model_in_their_places(
    running: Running, upstream: Upstream
) -> None:
    messages: list[Any] = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": PNG}},
            ],
        },
    ]
    await running.client().chat.completions.create(model="up", messages=messages)
    sent = chat_requests(upstream)[-1]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["content"][1] == {"type": "image_url", "image_url": {"url": PNG}}
    with pytest.raises(openai.BadRequestError) as caught:
        bad = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]
        await running.client().chat.completions.create(model="up", messages=bad)  # type: ignore[arg-type]
    assert "messages[0]: part 1 of the message is not an image" in caught.value.message


async def test_an_image_at_a_url_is_fetched_through_the_guard_never_passed_on(
    tmp_path: Path, upstream: Upstream, sources: SourcesUpstream
) -> None:
    sources.page("/cat.png", png_bytes(), "image/png")
    sources.page("/fake.png", "<html>a page</html>")
    cfg = config(tmp_path, {"up": openai_provider(upstream)})
    cfg.sources = sources.config()
    served = await serve(cfg)
    asking: Any = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"{sources.base_url}/cat.png"}},
            ],
        }
    ]
    try:
        await served.client().chat.completions.create(model="up", messages=asking)
        sent = chat_requests(upstream)[-1]["messages"][-1]["content"][1]
        assert sent == {"type": "image_url", "image_url": {"url": PNG_URL}}
        asking[0]["content"][1]["image_url"]["url"] = f"{sources.base_url}/fake.png"
        with pytest.raises(openai.BadRequestError) as caught:
            await served.client().chat.completions.create(model="up", messages=asking)
        assert "is not an image" in caught.value.message
        asking[0]["content"][1]["image_url"]["url"] = "chatthy-image:" + "0" * 64
        with pytest.raises(openai.BadRequestError) as kept:
            await served.client().chat.completions.create(model="up", messages=asking)
        assert "names a kept image: send the image itself" in kept.value.message
    finally:
        await served.stop()
    # without [sources] allow_private, the guard refuses a private address
    cfg = config(tmp_path, {"up": openai_provider(upstream)})
    served = await serve(cfg)
    try:
        asking[0]["content"][1]["image_url"]["url"] = "http://127.0.0.1:9/secret.png"
        with pytest.raises(openai.BadRequestError) as refused:
            await served.client().chat.completions.create(model="up", messages=asking)
        assert "127.0.0.1" in refused.value.message
    finally:
        await served.stop()
    assert len(chat_requests(upstream)) == 1  # only the real image reached the model


async def test_the_clients_own_tools_come_back_to_it_as_tool_calls(
    running: Running, upstream: Upstream
) -> None:
    weather: Any = {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    calls = [("c1", "weather", '{"city": "Oslo"}'), ("c2", "weather", '{"city": "Rome"}')]
    upstream.push(Reply(chunks=[], tool_calls=calls))
    stream = await running.client().chat.completions.create(
        model="up",
        messages=USER,
        tools=[weather],
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    deltas = [t for c in chunks for t in (c.choices[0].delta.tool_calls or [])]
    assert [(d.index, d.id, d.function and d.function.name) for d in deltas] == [
        (0, "c1", "weather"),
        (1, "c2", "weather"),
    ]
    assert deltas[1].function is not None and deltas[1].function.arguments == '{"city": "Rome"}'
    assert chunks[-1].choices[0].finish_reason == "tool_calls"
    sent = chat_requests(upstream)[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["weather"]  # none of the server's

    upstream.push(Reply(chunks=[], tool_calls=calls[:1]))
    done = await running.client().chat.completions.create(
        model="up",
        messages=USER,
        tools=[weather],
    )
    assert done.choices[0].finish_reason == "tool_calls"
    made = done.choices[0].message.tool_calls
    assert made is not None and [(c.id, c.function.name) for c in made] == [("c1", "weather")]  # type: ignore[union-attr]

    upstream.push(Reply(chunks=["Oslo: snow"]))
    history = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [made[0].model_dump()]},
        {"role": "tool", "tool_call_id": "c1", "content": "snow"},
    ]
    done = await running.client().chat.completions.create(
        model="up",
        messages=history,
        tools=[weather],
    )
    assert done.choices[0].message.content == "Oslo: snow"
    sent = chat_requests(upstream)[-1]["messages"]
    assert sent[1]["tool_calls"][0]["id"] == "c1"
    assert sent[2] == {"role": "tool", "tool_call_id": "c1", "content": "snow"}


async def test_a_server_tool_runs_inside_the_router_and_only_the_answer_is_sent(
    running: Running, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=[], tool_calls=[("t1", "current_time", '{"timezone": "UTC"}')]))
    upstream.push(Reply(chunks=["It is ", "noon."]))
    stream = await running.client().chat.completions.create(model="up", messages=USER, stream=True)
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "It is noon."
    assert not any(c.choices[0].delta.tool_calls for c in chunks)
    assert not any((c.choices[0].delta.model_extra or {}).get("chatthy") for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    first, second = chat_requests(upstream)
    assert "current_time" in [t["function"]["name"] for t in first["tools"]]
    result = second["messages"][-1]
    assert result["role"] == "tool" and result["tool_call_id"] == "t1"
    assert "UTC" in result["content"] and result["content"][:2] == "20"  # the time, run here


async def test_the_server_tools_calls_are_shown_when_the_request_asks(
    running: Running, upstream: Upstream
) -> None:
    upstream.push(
        Reply(chunks=["Looking."], tool_calls=[("t1", "current_time", '{"timezone": "Mars/Base"}')])
    )
    upstream.push(Reply(chunks=["Sorry."]))
    done = await running.client().chat.completions.create(
        model="up", messages=USER, extra_body={"chatthy": {"show_tools": True}}
    )
    message = done.choices[0].message
    assert message.content == "Looking.\n\nSorry."
    shown = (message.model_extra or {})["chatthy"]
    assert [s["type"] for s in shown] == ["tool_call", "tool_result"]
    assert shown[1]["is_error"] and "unknown time zone 'Mars/Base'" in shown[1]["content"]
    assert message.tool_calls is None and done.choices[0].finish_reason == "stop"


async def test_a_tool_that_changes_something_is_refused_unless_auto_approved(
    tmp_path: Path, upstream: Upstream
) -> None:
    written: list[str] = []

    def note(text: str) -> str:
        """Write a note."""
        written.append(text)
        return "noted"

    tools = ToolRegistry()
    tools.add(Tool.from_function(note, changes=True))
    served = await serve(config(tmp_path, {"up": openai_provider(upstream)}), tools)
    try:
        upstream.push(Reply(chunks=[], tool_calls=[("n1", "note", '{"text": "a"}')]))
        upstream.push(Reply(chunks=["Could not."]))
        done = await served.client().chat.completions.create(model="up", messages=USER)
        assert done.choices[0].message.content == "Could not."
        told = chat_requests(upstream)[-1]["messages"][-1]["content"]
        assert told.startswith("not run:") and "auto_approve" in told
        assert written == []
    finally:
        await served.stop()

    cfg = config(tmp_path, {"up": openai_provider(upstream)})
    cfg.tools = ToolsConfig(auto_approve=["note"])
    served = await serve(cfg, tools)
    try:
        upstream.push(Reply(chunks=[], tool_calls=[("n2", "note", '{"text": "b"}')]))
        upstream.push(Reply(chunks=["Done."]))
        await served.client().chat.completions.create(model="up", messages=USER)
        assert written == ["b"]
    finally:
        await served.stop()


async def test_keys_of_a_table_act_for_their_profile(tmp_path: Path, upstream: Upstream) -> None:
    seen: list[str] = []

    def whoami(context: Any) -> str:
        """Who the tools act for."""
        seen.append(context.profile)
        return context.profile

    from chatthy.agent.tools import ToolContext

    whoami.__annotations__["context"] = ToolContext
    tools = ToolRegistry()
    tools.add(Tool.from_function(whoami))
    cfg = config(tmp_path, {"up": openai_provider(upstream)}, api_keys={"sk-a": "alice"})
    served = await serve(cfg, tools)
    try:
        upstream.push(Reply(chunks=[], tool_calls=[("w", "whoami", "{}")]))
        upstream.push(Reply(chunks=["ok"]))
        await served.client("sk-a").chat.completions.create(model="up", messages=USER)
        assert seen == ["alice"]
        with pytest.raises(openai.AuthenticationError):
            await served.client(KEY).chat.completions.create(model="up", messages=USER)
    finally:
        await served.stop()


async def test_the_config_dirs_chains_are_tools_the_router_runs(
    tmp_path: Path, upstream: Upstream
) -> None:
    chains = tmp_path / "config" / "chains"
    chains.mkdir(parents=True)
    (chains / "brief.toml").write_text('[[steps]]\ntemplate = "Summarise: {input}"\n')
    (chains / "broken.toml").write_text("[[steps]]\n")
    router = await Router.open(config(tmp_path, {"up": openai_provider(upstream)}))
    served = await Running(router).start()
    try:
        assert any("broken.toml" in p for p in served.router.tools.problems)
        upstream.push(
            Reply(chunks=[], tool_calls=[("b", "chain_brief", '{"input": "a long text"}')])
        )
        upstream.push(Reply(chunks=["short"]))
        upstream.push(Reply(chunks=["Done: ", "short"]))
        done = await served.client().chat.completions.create(model="up", messages=USER)
        assert done.choices[0].message.content == "Done: short"
        _, step, last = chat_requests(upstream)
        assert step["messages"] == [{"role": "user", "content": "Summarise: a long text"}]
        assert last["messages"][-1] == {"role": "tool", "tool_call_id": "b", "content": "short"}
    finally:
        await served.stop()


async def test_an_agent_is_a_model_with_its_prompt_tools_and_model(
    tmp_path: Path, upstream: Upstream
) -> None:
    agents = tmp_path / "config" / "agents"
    agents.mkdir(parents=True)
    (agents / "clock.md").write_text(
        "---\ntools: [current_time]\nmodel: big\n---\nYou tell the time, nothing else.\n"
    )
    router = await Router.open(config(tmp_path, {"up": openai_provider(upstream)}))
    served = await Running(router).start()
    try:
        assert [m.id for m in (await served.client().models.list()).data] == ["up", "clock"]
        assert len(router.tools) > 1  # the server has more tools than the agent may use
        upstream.push(Reply(chunks=["Noon."]))
        done = await served.client().chat.completions.create(model="clock", messages=USER)
        assert done.choices[0].message.content == "Noon." and done.model == "clock"
        sent = chat_requests(upstream)[-1]
        assert sent["model"] == "big"
        assert sent["messages"][0] == {
            "role": "system",
            "content": "You tell the time, nothing else.",
        }
        assert [t["function"]["name"] for t in sent["tools"]] == ["current_time"]
    finally:
        await served.stop()


async def test_an_anthropic_upstream_behind_the_router_with_parallel_tool_calls(
    tmp_path: Path, upstream: Upstream
) -> None:
    anthropic = ProviderConfig(
        scheme="anthropic",
        base_url=upstream.base_url,
        api_key="sk-ant-test",
        model="claude-test",
        retries=0,
        timeout=5.0,
    )
    served = await serve(config(tmp_path, {"claude": anthropic}))
    try:
        calls = [
            ("tu1", "current_time", '{"timezone": "UTC"}'),
            ("tu2", "current_time", '{"timezone": "Asia/Tokyo"}'),
        ]
        upstream.push(Reply(chunks=["Checking."], tool_calls=calls))
        upstream.push(Reply(chunks=["Two ", "clocks ", "read."], usage=(9, 3)))
        stream = await served.client().chat.completions.create(
            model="claude",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
            temperature=0.5,
            frequency_penalty=1.0,
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "Checking.\n\nTwo clocks read."
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
        first, second = chat_requests(upstream)
        assert first["temperature"] == 0.5 and "frequency_penalty" not in first
        results = [b for b in second["messages"][-1]["content"] if b["type"] == "tool_result"]
        assert [r["tool_use_id"] for r in results] == ["tu1", "tu2"]
        assert "Asia/Tokyo" in str(results[1]["content"])
    finally:
        await served.stop()


async def test_a_provider_failure_is_a_502_with_its_reason(
    running: Running, upstream: Upstream
) -> None:
    upstream.push(Reply(status=500, error_message="the model fell over"))
    with pytest.raises(openai.APIStatusError) as caught:
        await running.client().chat.completions.create(model="up", messages=USER, stream=True)
    assert caught.value.status_code == 502
    assert "the model fell over" in caught.value.message and "\n" not in caught.value.message


async def test_a_stream_cut_upstream_ends_with_an_error_event(
    running: Running, upstream: Upstream
) -> None:
    upstream.push(Reply(chunks=["one ", "two ", "three"], drop_after=2, delay=0.05))
    stream = await running.client().chat.completions.create(model="up", messages=USER, stream=True)
    got: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        async for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "one two "
    assert caught.value.body is not None and "code" in caught.value.body  # type: ignore[operator]


async def test_a_client_that_goes_away_cancels_the_work_at_once(
    tmp_path: Path, upstream: Upstream
) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def hang() -> str:
        """Wait for ever."""
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "never"

    tools = ToolRegistry()
    tools.add(Tool.from_function(hang))
    served = await serve(config(tmp_path, {"up": openai_provider(upstream)}), tools)
    try:
        for stream in (False, True):
            started.clear()
            cancelled.clear()
            upstream.push(Reply(chunks=["Waiting."], tool_calls=[("h", "hang", "{}")]))
            asked = asyncio.create_task(
                served.client().chat.completions.create(model="up", messages=USER, stream=stream)
            )
            if stream:
                reply = await asked
                async for _chunk in reply:  # type: ignore[union-attr]
                    break
                await asyncio.wait_for(started.wait(), 5)
                await reply.close()  # type: ignore[union-attr]
            else:
                await asyncio.wait_for(started.wait(), 5)
                asked.cancel()
            await asyncio.wait_for(cancelled.wait(), 5)
    finally:
        await served.stop()


async def test_a_chatthy_engine_uses_the_router_as_its_provider(
    tmp_path: Path, upstream: Upstream
) -> None:
    served = await serve(config(tmp_path / "router", {"up": openai_provider(upstream)}))
    routed = ProviderConfig(
        scheme="openai", base_url=served.url, api_key=KEY, model="up", retries=0, tools=False
    )
    engine = await Engine.open(
        ServerConfig(
            providers={"routed": routed},
            config_dir=str(tmp_path / "server"),
            data_dir=str(tmp_path / "server"),
        )
    )
    try:
        upstream.push(Reply(chunks=[], tool_calls=[("t", "current_time", "{}")]))
        upstream.push(Reply(chunks=["Through ", "the router."]))
        turn = await engine.chat("t1", "alice", "c", "what time is it?")
        assert turn.task is not None
        await asyncio.wait_for(turn.task, 10)
        reply = (await engine.store.messages("alice", "c"))[-1]
        assert (reply.status, reply.content) == ("complete", "Through the router.")
        first, second = chat_requests(upstream)
        assert first["messages"][-1] == {"role": "user", "content": "what time is it?"}
        assert second["messages"][-1]["role"] == "tool"  # run inside the router
    finally:
        await engine.aclose()
        await served.stop()


def test_the_command_refuses_to_serve_beyond_loopback_without_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["router", "--listen", "0.0.0.0:8080"])
    assert exited.value.code == 1
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said.startswith("chatthy: router: refusing to listen on 0.0.0.0 without")
    with pytest.raises(SystemExit):
        main(["router", "--listen", "nowhere"])
    assert "give HOST:PORT" in capsys.readouterr().err


async def test_run_router_serves_what_server_toml_says(tmp_path: Path, upstream: Upstream) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    cfg = config(tmp_path, {"up": openai_provider(upstream)}, listen=f"127.0.0.1:{port}")
    task = asyncio.create_task(run_router(cfg))
    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, max_retries=0, timeout=5
    )
    try:
        for _ in range(200):
            try:
                models = await client.models.list()
                break
            except openai.APIConnectionError:
                await asyncio.sleep(0.02)
        assert [m.id for m in models.data] == ["up"]
        assert (tmp_path / "data" / "chatthy.db").exists()  # the tools' store is opened
    finally:
        await client.close()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_router_config_refuses_an_empty_key() -> None:
    with pytest.raises(msgspec.ValidationError, match="may not be empty"):
        msgspec.convert({"router": {"api_keys": [" "]}}, ServerConfig)


async def test_sigterm_stops_the_router_with_its_store_closed(tmp_path: Path) -> None:
    import os
    import signal
    import sys

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "server.toml").write_text("")
    env = {
        **os.environ,
        "CHATTHY_CONFIG_DIR": str(tmp_path / "cfg"),
        "CHATTHY_DATA_DIR": str(tmp_path / "data"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatthy",
        "router",
        "--listen",
        f"127.0.0.1:{port}",
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stderr is not None
    line = await asyncio.wait_for(proc.stderr.readline(), 30)
    while b"listening on" not in line:
        assert line, "the router ended before listening"
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
    proc.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(proc.stderr.read(), 30)
    assert await proc.wait() == 0, rest.decode()
    # the store was closed: SQLite removes its write-ahead log with the last connection
    assert (tmp_path / "data" / "chatthy.db").exists()
    assert not (tmp_path / "data" / "chatthy.db-wal").exists()


async def test_the_router_runs_an_mcp_servers_tool(tmp_path: Path, upstream: Upstream) -> None:
    import msgspec

    from chatthy.agent.mcp import manager_for
    from mcp_kit import alive, started, stdio_config

    starts = tmp_path / "starts"
    cfg = config(tmp_path, {"up": openai_provider(upstream)})
    cfg = msgspec.structs.replace(cfg, mcp_servers={"notes": stdio_config(starts)})
    providers = {name: build_provider(name, p) for name, p in cfg.providers.items()}
    router = Router(cfg, providers, server_tools(cfg), {}, manager_for(cfg))
    served = await Running(router).start()
    try:
        # echo is marked read-only by its server: it runs without asking
        upstream.push(Reply(chunks=[], tool_calls=[("m1", "notes__echo", '{"text": "hi"}')]))
        upstream.push(Reply(chunks=["Said hi."]))
        done = await served.client().chat.completions.create(model="up", messages=USER)
        assert done.choices[0].message.content == "Said hi."
        first, second = chat_requests(upstream)
        assert "notes__echo" in [t["function"]["name"] for t in first["tools"]]
        assert second["messages"][-1] == {"role": "tool", "tool_call_id": "m1", "content": "hi"}
    finally:
        await served.stop()
    (pid,) = started(starts)
    assert not alive(pid)  # the router's close stops its MCP servers
