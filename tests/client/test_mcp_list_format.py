"""What ``chatthy mcp list`` prints of the server's MCP servers (the formatting; the
``mcp_servers`` call itself is tested with the server)."""

from __future__ import annotations

from chatthy.client.mcp import format_servers
from chatthy.wire import api

READY = api.McpServerInfo(
    name="files",
    transport="stdio",
    state="ready",
    tools=["files__read_file", "files__write_file"],
    prompts=["summarize"],
    resources=["file:///notes/todo.md", "file:///notes/done.md"],
)
FAILED = api.McpServerInfo(
    name="remote",
    transport="http",
    state="failed",
    error="connection refused\n  (https://mcp.example.com/mcp)",
)


def test_no_servers_says_how_to_add_some() -> None:
    said = format_servers([])
    assert "\n" not in said
    assert "[mcp_servers.NAME]" in said and "chatthy mcp import FILE" in said


def test_each_server_is_a_block_with_its_tools_prompts_and_resources_one_a_line() -> None:
    assert format_servers([READY, FAILED]).splitlines() == [
        "files            stdio ready",
        "  tools      files__read_file",
        "             files__write_file",
        "  prompts    summarize",
        "  resources  file:///notes/todo.md",
        "             file:///notes/done.md",
        "",
        "remote           http  failed",
        "  error      connection refused (https://mcp.example.com/mcp)",
    ]


def test_a_ready_server_offering_nothing_says_so_and_a_stopped_one_does_not() -> None:
    empty = api.McpServerInfo(name="quiet", transport="sse", state="ready")
    stopped = api.McpServerInfo(name="later", transport="stdio", state="stopped")
    blocks = format_servers([empty, stopped]).split("\n\n")
    assert blocks[0].splitlines()[1] == "  no tools, prompts or resources"
    assert blocks[1] == "later            stdio stopped"


def test_a_long_name_widens_the_column_for_every_server() -> None:
    long = api.McpServerInfo(name="a-rather-long-server-name", transport="http", state="disabled")
    lines = [line for line in format_servers([READY, long]).splitlines() if line[:1] != " "]
    heads = [line for line in lines if line]
    assert [head.index("stdio" if "files" in head else "http") for head in heads] == [26, 26]
