"""The API layer from the command line: `chatthy chain`, `chatthy tools` and `--agent`,
as processes against a real server whose model is the local upstream."""

from __future__ import annotations

from pathlib import Path

from chatthy.server.app import Server
from tool_kit import cli
from upstream import Reply, Upstream


async def test_chain_runs_on_a_file_or_stdin_and_lists_the_chains(
    tooled: Server, upstream: Upstream, tmp_path: Path
) -> None:
    chains = Path(tooled.engine.config.config_dir) / "chains"
    chains.mkdir(parents=True, exist_ok=True)
    (chains / "brief.toml").write_text(
        'description = "Make it brief"\n[[steps]]\ntemplate = "Shorten: {input}"\n'
    )
    code, out, err = await cli(tooled, tmp_path, "chain")
    assert code == 0, err
    assert out.split()[:3] == ["brief", "template", "Make"]
    source = tmp_path / "long.txt"
    source.write_text("a very long text indeed")
    upstream.push(Reply(chunks=["short"]))
    code, out, err = await cli(tooled, tmp_path, "chain", "brief", str(source))
    assert (code, out) == (0, "short\n"), err
    assert upstream.requests[-1].body["messages"][-1]["content"] == (
        "Shorten: a very long text indeed"
    )
    upstream.push(Reply(chunks=["piped"]))
    code, out, err = await cli(tooled, tmp_path, "chain", "brief", stdin=b"from stdin")
    assert (code, out) == (0, "piped\n"), err
    assert upstream.requests[-1].body["messages"][-1]["content"] == "Shorten: from stdin"
    code, out, err = await cli(tooled, tmp_path, "chain", "nope", stdin=b"x")
    assert code == 1 and "no chain 'nope' (the chains: brief)" in err and out == ""


async def test_tools_lists_them_with_what_asks_first(tooled: Server, tmp_path: Path) -> None:
    code, out, err = await cli(tooled, tmp_path, "tools")
    assert code == 0, err
    rows = {line[3:].split()[0]: line for line in out.splitlines()}
    assert rows["current_time"].startswith("  ")  # reads only: runs without asking
    assert rows["workspace_write"].startswith("⚠")


async def test_ask_with_an_agent_uses_its_prompt_and_model(
    tooled: Server, upstream: Upstream, tmp_path: Path
) -> None:
    agents = Path(tooled.engine.config.config_dir) / "agents"
    agents.mkdir(parents=True, exist_ok=True)
    (agents / "terse.md").write_text("---\ntools: []\n---\nAnswer in one word.\n")
    upstream.push(Reply(chunks=["Yes."]))
    code, out, err = await cli(tooled, tmp_path, "ask", "--agent", "terse", "--chat", "a", "ok?")
    assert (code, out) == (0, "Yes.\n"), err
    body = upstream.requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "Answer in one word."}
    assert "tools" not in body  # the agent may use none
