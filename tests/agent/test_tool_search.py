"""Many tools, a small context: past ``[tools] schema_budget`` a turn offers what fits
and ``tool_search``; what a search finds is offered from the next step on. A real engine
(real SQLite file) loads forty plugin tools from ``tools/*.py`` and asks the local
upstream through the official OpenAI and Anthropic SDKs; the tests read the request
bodies the upstream received. ``chatthy router`` gets the same through uvicorn."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import openai
import pytest
import uvicorn

from chatthy.agent.loop import Loop, run_agent
from chatthy.agent.registry import offered as offered_tools
from chatthy.agent.registry import server_tools
from chatthy.agent.router import Router
from chatthy.agent.search import ToolSearch, schema_tokens, words
from chatthy.agent.tools import Tool, ToolContext
from chatthy.config import ProviderConfig, RouterConfig, ServerConfig, ToolsConfig
from chatthy.conversation.engine import Engine
from chatthy.conversation.events import TextDelta, ToolCall, ToolResult, TurnEnd, TurnEvent
from chatthy.conversation.model import Message
from chatthy.providers.base import Options
from chatthy.providers.registry import build_provider
from helpers import openai_provider
from upstream import Reply, Upstream

BUILT_INS = [
    "current_time",
    "fetch_url",
    "rag_search",
    "workspace_delete",
    "workspace_list",
    "workspace_patch",
    "workspace_read",
    "workspace_write",
]

DOMAINS = {
    "billing": "invoices, payments and refunds of the customer's subscription",
    "calendar": "meetings, events and reminders in the team's shared calendar",
    "crm": "contacts, companies and deals kept in the sales pipeline",
    "docs": "pages and folders of the company wiki",
    "github": "repositories, pull requests and code review comments",
    "jira": "tickets, sprints and boards of the engineering teams",
    "mail": "messages, threads and drafts in the shared mailbox",
    "slack": "channels, threads and direct messages of the workspace",
    "storage": "buckets, objects and their access policies",
    "translate": "text between languages, keeping its formatting",
}
VERBS = {
    "list": "List the",
    "get": "Read one of the",
    "create": "Create one of the",
    "delete": "Delete one of the",
}
FILLER = (
    "The call runs against the remote service with the caller's own credentials and "
    "answers with JSON; large answers are paged, so ask again with the cursor the last "
    "page gave until no cursor comes back. Rate limits apply per account."
)


def plugin_source() -> str:
    """A plugin file of forty tools, each with a long description and four described
    arguments (about 190 tokens of schema each): thirty-nine of ten services, and the
    weather tool, which sorts last."""
    blocks = ["from chatthy.agent import tool\n"]
    for domain, what in DOMAINS.items():
        for verb, doing in VERBS.items():
            if (domain, verb) == ("translate", "delete"):
                continue
            blocks.append(
                f'''
@tool(changes=False)
def {domain}_{verb}(account: str, item: str = "", cursor: str = "", page_size: int = 50) -> str:
    """{doing} {what}. {FILLER}

    Args:
        account: the account or organisation the call acts for, as its admin page shows it.
        item: which one, by the identifier the list call gives; empty for all of them.
        cursor: where the last page ended; empty for the first page.
        page_size: how many entries one page holds at most (1 to 500).
    """
    return "{domain}_{verb} ran for " + account
'''
            )
    blocks.append(
        '''
@tool(changes=False)
def weather_forecast(city: str, days: int = 3) -> str:
    """Forecast the weather (temperature, rain, wind) of a city for the coming days.

    Args:
        city: the city's name, e.g. "Oslo".
        days: how many days ahead, 1 to 10.
    """
    return f"sunny in {city} for {days} days"
'''
    )
    return "\n".join(blocks)


def provider(upstream: Upstream, api: str) -> ProviderConfig:
    if api == "openai":
        return openai_provider(upstream)
    return ProviderConfig(
        scheme="anthropic",
        base_url=upstream.base_url,
        api_key="sk-ant-test",
        model="claude-test",
        retries=0,
        timeout=5.0,
    )


def server_config(
    tmp_path: Path, upstream: Upstream, api: str, budget: int, plugins: bool
) -> ServerConfig:
    if plugins:
        folder = tmp_path / "config" / "tools"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "services.py").write_text(plugin_source(), encoding="utf-8")
    return ServerConfig(
        providers={"up": provider(upstream, api)},
        tools=ToolsConfig(schema_budget=budget),
        config_dir=str(tmp_path / "config"),
        data_dir=str(tmp_path / "data"),
    )


@pytest.fixture
async def open_engine(tmp_path: Path, upstream: Upstream) -> AsyncIterator[Any]:
    """``await open_engine(api="openai", budget=2000, plugins=True)``: an engine over a
    fresh SQLite file whose config dir holds the forty tools (when ``plugins``)."""
    made: list[Engine] = []

    async def make(api: str = "openai", budget: int = 2000, plugins: bool = True) -> Engine:
        engine = await Engine.open(server_config(tmp_path, upstream, api, budget, plugins))
        assert engine.tools.problems == []
        made.append(engine)
        return engine

    yield make
    for engine in made:
        await engine.aclose()


async def run(engine: Engine, text: str = "please") -> list[TurnEvent]:
    seen: list[TurnEvent] = []
    engine.broadcaster.listen(lambda turn, seq, event: seen.append(event))
    turn = await engine.chat(f"t{time.monotonic_ns()}", "alice", "c", text, approve="yes")
    assert turn.task is not None
    await asyncio.wait_for(turn.task, 20)
    return seen


def calls(*scripted: tuple[str, str, dict[str, Any]]) -> Reply:
    """A step in which the model calls these tools (id, name, arguments)."""
    return Reply(
        chunks=[],
        tool_calls=[
            (cid, name, msgspec.json.encode(args).decode()) for cid, name, args in scripted
        ],
    )


def chat_bodies(upstream: Upstream) -> list[dict[str, Any]]:
    return [r.body for r in upstream.requests if r.path.endswith(("/completions", "/messages"))]


def offered(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tools a request offered, as name, description and schema, in either API."""
    return [
        {
            "name": t["function"]["name"] if "function" in t else t["name"],
            "description": t["function"]["description"] if "function" in t else t["description"],
            "parameters": t["function"]["parameters"] if "function" in t else t["input_schema"],
        }
        for t in body.get("tools", [])
    ]


def names(body: dict[str, Any]) -> list[str]:
    return [tool["name"] for tool in offered(body)]


def results(events: list[TurnEvent]) -> list[ToolResult]:
    return [e for e in events if isinstance(e, ToolResult)]


def status(events: list[TurnEvent]) -> str:
    last = events[-1]
    assert isinstance(last, TurnEnd)
    return last.status


def plugin_names() -> list[str]:
    return sorted(
        [f"{d}_{v}" for d in DOMAINS for v in VERBS if (d, v) != ("translate", "delete")]
        + ["weather_forecast"]
    )


@pytest.mark.parametrize("api", ["openai", "anthropic"])
async def test_past_the_budget_the_model_searches_finds_and_calls_a_held_back_tool(
    open_engine: Any, upstream: Upstream, api: str
) -> None:
    engine = await open_engine(api)
    upstream.push(calls(("s1", "tool_search", {"query": "weather"})))
    upstream.push(calls(("w1", "weather_forecast", {"city": "Oslo", "days": 2})))
    upstream.push(Reply(chunks=["Sunny in Oslo."]))
    events = await run(engine, "what will the weather be in Oslo?")
    first, second, third = chat_bodies(upstream)

    # the first request: the built-ins, then plugin tools by name while they fit, then
    # tool_search; within the budget, the weather tool held back
    shown = names(first)
    assert shown[: len(BUILT_INS)] == BUILT_INS and shown[-1] == "tool_search"
    plugins = shown[len(BUILT_INS) : -1]
    assert plugins and plugins == plugin_names()[: len(plugins)]
    assert "weather_forecast" not in shown and len(shown) < len(BUILT_INS) + 40
    specs = {tool.name: tool.spec for tool in engine.tools.tools()}
    assert sum(schema_tokens(specs[n]) for n in shown[:-1]) <= 2000
    every = sum(schema_tokens(specs[n]) for n in BUILT_INS + plugin_names())
    assert every > 4 * 2000  # far over the budget

    # the search names the weather tool with its schema ...
    search, weather = results(events)
    assert not search.is_error and search.name == "tool_search"
    found = msgspec.json.decode(search.content)
    assert found[0]["name"] == "weather_forecast"
    assert set(found[0]["parameters"]["properties"]) == {"city", "days"}
    # ... the next request offers it (after what was offered before), and it runs
    assert names(second) == [*shown, "weather_forecast"]
    (sent,) = [t for t in offered(second) if t["name"] == "weather_forecast"]
    assert sent["parameters"]["required"] == ["city"]
    assert (weather.name, weather.content, weather.is_error) == (
        "weather_forecast",
        "sunny in Oslo for 2 days",
        False,
    )
    assert names(third) == names(second)
    assert status(events) == "complete"


@pytest.mark.parametrize(("budget", "plugins"), [(2000, False), (0, True), (100_000, True)])
async def test_within_the_budget_or_with_none_every_tool_is_offered_and_no_search(
    open_engine: Any, upstream: Upstream, budget: int, plugins: bool
) -> None:
    engine = await open_engine(budget=budget, plugins=plugins)
    upstream.push(Reply(chunks=["Hi."]))
    events = await run(engine)
    (body,) = chat_bodies(upstream)
    expected = BUILT_INS + (plugin_names() if plugins else [])
    assert names(body) == expected and "tool_search" not in names(body)
    assert status(events) == "complete"


async def test_a_held_back_tool_called_without_a_search_runs_and_is_offered_after(
    open_engine: Any, upstream: Upstream
) -> None:
    engine = await open_engine()
    upstream.push(calls(("w1", "weather_forecast", {"city": "Rome"})))
    upstream.push(Reply(chunks=["Fine."]))
    events = await run(engine)
    (result,) = results(events)
    assert (result.content, result.is_error) == ("sunny in Rome for 3 days", False)
    first, second = chat_bodies(upstream)
    assert "weather_forecast" not in names(first)
    assert names(second) == [*names(first), "weather_forecast"]


async def test_a_search_that_matches_nothing_says_so_and_offers_nothing_new(
    open_engine: Any, upstream: Upstream
) -> None:
    engine = await open_engine()
    upstream.push(calls(("s1", "tool_search", {"query": "zebra husbandry"})))
    upstream.push(Reply(chunks=["None."]))
    events = await run(engine)
    (result,) = results(events)
    assert not result.is_error
    assert result.content.startswith("no tool matched 'zebra husbandry'; try other words")
    first, second = chat_bodies(upstream)
    # it lists ten of the tools held back (not those offered), to give words to try
    listed = result.content.split("include: ", 1)[1].split(", …", 1)[0].split(", ")
    held = [n for n in plugin_names() if n not in names(first)]
    assert listed == held[:10]
    assert result.content.endswith(f"… ({len(held) - 10} more)")
    assert names(second) == names(first)


async def test_an_unknown_tool_is_told_with_twenty_names_and_a_pointer_to_the_search(
    open_engine: Any, upstream: Upstream
) -> None:
    engine = await open_engine()
    upstream.push(calls(("x1", "teleport", {})))
    upstream.push(Reply(chunks=["Sorry."]))
    events = await run(engine)
    (result,) = results(events)
    assert result.is_error
    listed = result.content.split("(the tools: ", 1)[1].split(", …", 1)[0].split(", ")
    every = sorted([*BUILT_INS, *plugin_names(), "tool_search"])
    assert listed == every[:20]
    assert result.content.endswith(
        f"… and {len(every) - 20} more; use tool_search to find the others)"
    )


async def test_the_search_ranks_by_the_words_of_names_and_descriptions() -> None:
    def made(name: str, description: str) -> Tool:
        async def run() -> str:
            return name

        return Tool.from_function(run, name=name, description=description)

    search = ToolSearch(
        [
            made("jira_create", "Create a ticket in an issue tracker."),
            made("github__createIssue", "Open an issue in a repository."),
            made("github__listRepos", "List the repositories of an owner."),
            made("mail-send", "Send a message."),
        ]
    )
    assert words("github__createIssue get-HTTPResponse") == [
        "github",
        "create",
        "issue",
        "get",
        "http",
        "response",
    ]
    assert [t.name for t in search.search("create github issue")][:2] == [
        "github__createIssue",
        "jira_create",
    ]
    assert [t.name for t in search.search("mail-send")] == ["mail-send"]
    assert [t.name for t in search.search("list repos", limit=1)] == ["github__listRepos"]
    assert search.search("the of and") == []


async def test_a_tool_choice_naming_a_held_back_tool_offers_it_from_the_start(
    tmp_path: Path, upstream: Upstream
) -> None:
    cfg = server_config(tmp_path, upstream, "openai", 2000, plugins=True)
    tools = server_tools(cfg)
    llm = build_provider("up", cfg.providers["up"])
    loop = Loop.configured(
        offered_tools(tools, cfg.tools, llm, None, None), cfg.tools, ToolContext("alice"), _yes
    )
    assert "weather_forecast" in {t.name for t in loop.deferred}
    upstream.push(Reply(chunks=["Asked."]))
    options = Options(tool_choice="weather_forecast")
    try:
        seen = [e async for e in run_agent(llm, [Message.of_text("user", "hi")], options, loop)]
    finally:
        await llm.aclose()
    assert [e.text for e in seen if isinstance(e, TextDelta)] == ["Asked."]
    (body,) = chat_bodies(upstream)
    # without it, the API would refuse a tool_choice naming a tool it was not offered
    assert names(body)[-2:] == ["tool_search", "weather_forecast"]
    assert body["tool_choice"] == {"type": "function", "function": {"name": "weather_forecast"}}


async def _yes(call: ToolCall, tool: Tool) -> bool:
    return True


async def test_the_router_offers_what_fits_and_the_search_too(
    tmp_path: Path, upstream: Upstream
) -> None:
    cfg = server_config(tmp_path, upstream, "openai", 2000, plugins=True)
    cfg = msgspec.structs.replace(cfg, router=RouterConfig(api_keys=["sk-router"]))
    providers = {name: build_provider(name, p) for name, p in cfg.providers.items()}
    router = Router(cfg, providers, server_tools(cfg), {})
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(router.app, lifespan="off", log_level="warning", ws="none")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    client = openai.AsyncOpenAI(
        base_url=f"http://127.0.0.1:{sock.getsockname()[1]}/v1",
        api_key="sk-router",
        max_retries=0,
        timeout=10,
    )
    try:
        while not server.started:
            assert not task.done(), "the router did not start"
            await asyncio.sleep(0.01)
        upstream.push(calls(("s1", "tool_search", {"query": "forecast"})))
        upstream.push(calls(("w1", "weather_forecast", {"city": "Lima"})))
        upstream.push(Reply(chunks=["Warm."]))
        answer = await client.chat.completions.create(
            model="up", messages=[{"role": "user", "content": "weather in Lima?"}]
        )
        assert answer.choices[0].message.content == "Warm."
        first, second, _ = chat_bodies(upstream)
        assert names(first)[-1] == "tool_search" and "weather_forecast" not in names(first)
        assert names(second) == [*names(first), "weather_forecast"]
        tool_messages = [m for m in chat_bodies(upstream)[-1]["messages"] if m["role"] == "tool"]
        assert tool_messages[-1]["content"] == "sunny in Lima for 3 days"
    finally:
        await client.close()
        server.should_exit = True
        await task
        sock.close()
        await router.aclose()
