"""User-defined tool plugins: files in the config dir's ``tools/`` and ``chatthy.tools``
entry points, loaded by a real engine and called by a scripted model. What a broken one
does to the rest (nothing), and what a plugin that raises, hangs or floods does to the
turn (it goes on, the model told)."""

from __future__ import annotations

import logging
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from agentkit import MakeHarness

from chatthy.config import ToolsConfig
from plugin_kit import write_plugin

GREET = '''
"""Two tools a user wrote."""

from chatthy.agent import ToolContext, tool


@tool(changes=False)
def greet(name: str, times: int = 1) -> str:
    """Greet someone.

    Args:
        name: who.
    """
    return " ".join([f"hello {name}"] * times)


@tool
async def remember(context: ToolContext, fact: str) -> dict:
    """Note a fact for the calling profile."""
    return {"profile": context.profile, "noted": fact}


def helper() -> str:
    """Not marked: not a tool."""
    return "no"
'''


def _write(folder: Path, name: str, source: str) -> None:
    (folder / name).write_text(textwrap.dedent(source), encoding="utf-8")


@pytest.fixture
def release() -> Iterator[list[str]]:
    """Names of plugin modules whose ``release`` event is set when the test ends, so
    that their hanging threads finish."""
    modules: list[str] = []
    yield modules
    for name in modules:
        module = sys.modules.get(name)
        if module is not None:
            module.release.set()
    for thread in threading.enumerate():
        if thread.name.startswith("tool "):
            thread.join(5)  # counted as abandoned until it ends: the next test starts clean


async def test_a_plugin_file_loads_and_its_marked_functions_are_tools(
    make_harness: MakeHarness, tools_dir: Path
) -> None:
    _write(tools_dir, "greet.py", GREET)
    harness = await make_harness()
    tools = harness.engine.tools
    assert {"greet", "remember"} <= set(tools.names()) and "helper" not in tools
    assert harness.engine.tools.problems == []
    greet = tools.get("greet")
    assert greet is not None and greet.spec.description == "Greet someone."
    assert greet.spec.parameters["properties"]["times"] == {"default": 1, "type": "integer"}
    assert greet.origin == "tools/greet.py"
    # greet only reads (runs unasked); remember changes something (asked, here refused)
    ran = await harness.turn(
        [("c1", "greet", {"name": "Ada", "times": 2}), ("c2", "remember", {"fact": "x"})],
        approve="no",
    )
    assert [(r.content, r.is_error) for r in ran.results] == [
        ("hello Ada hello Ada", False),
        ("not run: the client cannot ask the user (it is not interactive); `chatthy ask "
         "--yes` or [tools] auto_approve in server.toml approves such calls", True),
    ]  # fmt: skip
    ran = await harness.turn([("c3", "remember", {"fact": "tea"})], profile="bob")
    assert ran.results[0].content == '{"profile":"bob","noted":"tea"}'
    body = harness.upstream.requests[-2].body
    offered = {t["function"]["name"] for t in body["tools"]}
    assert {"greet", "remember", "workspace_write"} <= offered


async def test_a_module_without_marks_offers_its_tools_list(
    make_harness: MakeHarness, tools_dir: Path
) -> None:
    _write(
        tools_dir,
        "listed.py",
        '''
        def add(a: int, b: int) -> int:
            """Add two numbers."""
            return a + b


        def other() -> str:
            """Not listed."""
            return ""


        TOOLS = [add]
        ''',
    )
    _write(tools_dir, "_shared.py", "PREFIX = 'shared: '\n")
    _write(
        tools_dir,
        "uses_helper.py",
        '''
        from chatthy.agent import tool

        from ._shared import PREFIX


        @tool(changes=False)
        def tag(text: str) -> str:
            """Tag a text."""
            return PREFIX + text
        ''',
    )
    harness = await make_harness()
    assert "add" in harness.engine.tools and "other" not in harness.engine.tools
    assert "tag" in harness.engine.tools and "PREFIX" not in harness.engine.tools
    assert harness.engine.tools.problems == []
    add = harness.engine.tools.get("add")
    assert add is not None and add.changes  # not marked read-only: asks
    ran = await harness.turn([("c1", "add", {"a": 2, "b": "x"}), ("c2", "add", {"a": 2, "b": 3})])
    bad, good = ran.results
    assert bad.is_error and "b: Input should be a valid integer" in bad.content
    assert (good.content, good.is_error) == ("5", False)
    ran = await harness.turn([("c3", "tag", {"text": "x"})])
    assert ran.results[0].content == "shared: x"


async def test_broken_plugins_are_reported_once_and_the_rest_load(
    make_harness: MakeHarness, tools_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _write(tools_dir, "greet.py", GREET)
    _write(tools_dir, "syntax.py", "def oops(:\n")
    _write(tools_dir, "missing.py", "import no_such_module_here\n")
    _write(tools_dir, "empty.py", "X = 1\n")
    _write(tools_dir, "quits.py", "import sys\nsys.exit('no config for me')\n")
    _write(
        tools_dir,
        "half.py",
        '''
        from chatthy.agent import tool

        @tool
        def untyped(x):
            """No hints."""

        @tool(name="bad name!")
        def renamed(x: int) -> int:
            """A name the APIs refuse."""
            return x

        @tool(changes=False)
        def fine(x: int) -> int:
            """Still loads."""
            return x
        ''',
    )
    with caplog.at_level(logging.WARNING, logger="chatthy.agent"):
        harness = await make_harness()
    problems = harness.engine.tools.problems
    assert len(problems) == 6
    by_file = {p.split(" ")[2].rstrip(":"): p for p in problems}
    assert set(by_file) == {
        "tools/syntax.py",
        "tools/missing.py",
        "tools/empty.py",
        "tools/half.py",
        "tools/quits.py",
    }
    assert "SyntaxError" in by_file["tools/syntax.py"]
    assert (
        "ModuleNotFoundError: No module named 'no_such_module_here'"
        in (by_file["tools/missing.py"])
    )
    assert "has no tools" in by_file["tools/empty.py"]
    assert "SystemExit: no config for me" in by_file["tools/quits.py"]
    half = [p for p in problems if "half.py" in p]
    assert any(
        "'untyped' cannot be a tool: untyped: argument 'x' has no type hint" in p for p in half
    )
    assert any("'bad name!' is not a tool name" in p for p in half)
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == problems
    assert {"greet", "remember", "fine", "workspace_read"} <= set(harness.engine.tools.names())
    ran = await harness.turn([("c1", "fine", {"x": 7})])
    assert ran.results[0].content == "7"


async def test_a_plugin_that_raises_is_the_calls_error_and_the_turn_goes_on(
    make_harness: MakeHarness, tools_dir: Path
) -> None:
    _write(
        tools_dir,
        "raising.py",
        '''
        from chatthy.agent import ToolError, tool

        @tool(changes=False)
        def divide(a: float, b: float) -> float:
            """Divide a by b."""
            return a / b

        @tool(changes=False)
        def picky(word: str) -> str:
            """Refuses most words."""
            raise ToolError(f"'{word}' is not a word I take")
        ''',
    )
    harness = await make_harness()
    ran = await harness.turn(
        [("c1", "divide", {"a": 1, "b": 0}), ("c2", "picky", {"word": "x"})], answer="Sorry."
    )
    assert [(r.content, r.is_error) for r in ran.results] == [
        ("ZeroDivisionError: float division by zero", True),
        ("'x' is not a word I take", True),
    ]
    assert ran.end.status == "complete"
    stored = await harness.engine.store.messages("alice", "work")
    assert stored[-1].content[-1] == {"type": "text", "text": "Sorry."}
    assert [m["content"] for m in harness.sent_back()] == [r.content for r in ran.results]


SLOW = '''
import threading

from chatthy.agent import tool

release = threading.Event()


@tool(changes=False, timeout=60)
def hang() -> str:
    """Never answers in time."""
    release.wait(30)
    return "late"


@tool(changes=False)
def quick() -> str:
    """Answers at once."""
    return "quick"
'''


async def test_a_hanging_plugin_times_out_and_the_turn_goes_on(
    make_harness: MakeHarness, tools_dir: Path, release: list[str]
) -> None:
    _write(tools_dir, "slow.py", SLOW)
    release.append("chatthy_tools.slow")
    harness = await make_harness(tools=ToolsConfig(timeout=0.3))
    hang = harness.engine.tools.get("hang")
    assert hang is not None and hang.timeout == 0.3  # [tools] timeout caps what it asked
    ran = await harness.turn([("c1", "hang", {}), ("c2", "quick", {})], answer="Moving on.")
    assert [(r.content, r.is_error) for r in ran.results] == [
        ("hang took longer than 0.3 s and was stopped", True),
        ("quick", False),
    ]
    assert ran.end.status == "complete"
    stored = await harness.engine.store.messages("alice", "work")
    assert stored[-1].content[-1] == {"type": "text", "text": "Moving on."}


async def test_too_many_abandoned_plugin_calls_refuse_the_next(
    make_harness: MakeHarness, tools_dir: Path, release: list[str]
) -> None:
    from chatthy.agent.plugins import MAX_ABANDONED

    _write(tools_dir, "stuck.py", SLOW)
    release.append("chatthy_tools.stuck")
    harness = await make_harness(tools=ToolsConfig(timeout=0.2))
    calls = [(f"c{i}", "hang", "{}") for i in range(MAX_ABANDONED)]
    ran = await harness.turn(calls)
    assert all(r.is_error and "took longer" in r.content for r in ran.results)
    ran = await harness.turn([("d1", "hang", {}), ("d2", "current_time", {})])
    refused, clock = ran.results
    assert refused.is_error
    assert refused.content == (
        f"{MAX_ABANDONED} plugin calls that ran past their time are still running; "
        "hang is not run until some end"
    )
    assert not clock.is_error  # the server's own tools are not held up


async def test_a_10_mb_result_is_cut_and_said_so(
    make_harness: MakeHarness, tools_dir: Path
) -> None:
    _write(
        tools_dir,
        "flood.py",
        '''
        from chatthy.agent import tool

        @tool(changes=False)
        def flood() -> str:
            """Ten megabytes of text."""
            return "y" * 10_000_000
        ''',
    )
    harness = await make_harness(tools=ToolsConfig(max_result=5000))
    ran = await harness.turn([("c1", "flood", {})])
    content = ran.results[0].content
    assert content == "y" * 5000 + "\n[result cut: 10,000,000 characters, the first 5,000 kept]"
    assert harness.sent_back()[0]["content"] == content
    assert ran.end.status == "complete"


async def test_a_users_file_replaces_a_tool_of_the_same_name(
    make_harness: MakeHarness, tools_dir: Path
) -> None:
    _write(
        tools_dir,
        "clock.py",
        '''
        from chatthy.agent import tool

        @tool(changes=False)
        def current_time() -> str:
            """A stopped clock."""
            return "always noon"
        ''',
    )
    harness = await make_harness()
    ran = await harness.turn([("c1", "current_time", {})])
    assert ran.results[0].content == "always noon"


async def test_entry_points_name_a_function_or_a_module(
    make_harness: MakeHarness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = write_plugin(
        tmp_path / "site",
        "chatthy-tools-demo",
        {
            "chatthy.tools": {
                "shout": "demo_tools_fn:loud",
                "pack": "demo_tools_mod",
                "gone": "demo_tools_missing:thing",
                "number": "demo_tools_fn:NUMBER",
            }
        },
        {
            "demo_tools_fn.py": '''
                NUMBER = 3

                def loud(text: str) -> str:
                    """Say it louder."""
                    return text.upper() + "!"
            ''',
            "demo_tools_mod.py": '''
                from chatthy.agent import tool

                @tool(changes=False, name="reverse")
                def backwards(text: str) -> str:
                    """Say it backwards."""
                    return text[::-1]
            ''',
        },
    )
    monkeypatch.syspath_prepend(str(site))
    harness = await make_harness()
    tools = harness.engine.tools
    assert "shout" in tools and "reverse" in tools and "loud" not in tools
    shout = tools.get("shout")
    assert shout is not None and shout.changes
    assert shout.origin == "entry point shout = demo_tools_fn:loud"
    problems = tools.problems
    assert len(problems) == 2
    assert any("gone = demo_tools_missing:thing cannot be loaded: ModuleNotFoundError" in p
               for p in problems)  # fmt: skip
    assert any("number = demo_tools_fn:NUMBER cannot be loaded: TypeError: it names a int" in p
               for p in problems)  # fmt: skip
    ran = await harness.turn([("c1", "shout", {"text": "hi"}), ("c2", "reverse", {"text": "abc"})])
    assert [r.content for r in ran.results] == ["HI!", "cba"]
