"""``chatthy mcp import``: the mcpServers JSON of Claude Desktop, Cursor, Cline and oterm
into server.toml, run as the user runs it (``chatthy.cli.main``, and once as a process
reading stdin), the result read back with the real ``load_server_config``. A wrong file
or entry is one line and exit 1, with server.toml byte for byte as it was."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chatthy.cli import main
from chatthy.config import SERVER_TOML, McpServerConfig, load_server_config

CLAUDE_DESKTOP: dict[str, Any] = {
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/Desktop"],
        },
        "github": {
            "command": "docker",
            "args": ["run", "-i", "--rm", "-e", "GITHUB_TOKEN", "ghcr.io/github/github-mcp"],
            "env": {"GITHUB_TOKEN": "${GITHUB_TOKEN}"},
        },
    },
    "globalShortcut": "Ctrl+Space",
}

CURSOR: dict[str, Any] = {
    "mcpServers": {
        "docs": {
            "url": "https://docs.example.com/mcp",
            "headers": {"X-Api-Key": "k-123"},
            "env": {},  # as some clients write for every server: nothing to say about it
        },
        "linear": {"type": "streamableHttp", "url": "https://mcp.linear.app/mcp"},
        "legacy": {"type": "sse", "url": "http://127.0.0.1:8931/events"},
        "brave": {
            "type": "stdio",
            "command": "npx",
            "args": ["-y", "@brave/brave-search-mcp-server"],
            "env": {"BRAVE_API_KEY": "${env:BRAVE_API_KEY}"},
        },
    }
}

OTERM: dict[str, Any] = {
    "theme": "textual-dark",
    "splash-screen": True,
    "mcpServers": {
        "git": {
            "command": "uvx",
            "args": ["mcp-server-git", "--repository", "/home/me/src/oterm"],
            "cwd": "/home/me/src",
        },
        "remote_sse": {"url": "http://remote:5678/some_path/sse"},
        "tokened": {
            "url": "https://mcp.example.org/mcp",
            "auth": {"type": "bearer", "token": "${TOKENED_TOKEN}"},
        },
    },
}

CLINE: dict[str, Any] = {
    "mcpServers": {
        "weather": {
            "command": "node",
            "args": ["/home/me/weather/build/index.js"],
            "env": {"OPENWEATHER_API_KEY": "sk-literal"},
            "disabled": True,
            "autoApprove": ["get_forecast"],
            "timeout": 120,
        },
        "claude-code": {"type": "http", "url": "https://api.example.com/mcp", "timeout": 45000},
    }
}

HAND_EDITED = """\
# my server: edited by hand, comments and all

[server]
listen = "tcp://127.0.0.1:23999"   # not the default port

# The local model.
[providers.local]
scheme = "openai"
model = "qwen"
"""


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``chatthy ARGV`` in this process: its exit code, stdout and stderr."""
    with pytest.raises(SystemExit) as ended:
        main(list(argv))
    out, err = capsys.readouterr()
    code = ended.value.code
    assert isinstance(code, int)
    return code, out, err


def sample(tmp_path: Path, data: Any, name: str = "mcp.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def hand_edited(tmp_path: Path, text: str = HAND_EDITED) -> Path:
    path = tmp_path / "server.toml"
    path.write_bytes(text.encode())
    path.chmod(0o600)
    return path


def servers(path: Path) -> dict[str, McpServerConfig]:
    return load_server_config(path).mcp_servers


def test_claude_desktop_config_goes_into_the_default_server_toml_made_first(
    tmp_path: Path, isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "mcp", "import", str(sample(tmp_path, CLAUDE_DESKTOP)))
    assert code == 0, err
    toml = isolated_env / "config" / "server.toml"
    assert toml.read_text().startswith(SERVER_TOML)  # the commented default, then the tables
    assert stat.S_IMODE(toml.stat().st_mode) == 0o600
    got = servers(toml)
    assert list(got) == ["filesystem", "github"]
    assert got["filesystem"].command == "npx"
    assert got["filesystem"].args == CLAUDE_DESKTOP["mcpServers"]["filesystem"]["args"]
    assert got["filesystem"].kind == "stdio" and got["filesystem"].enabled
    assert got["github"].env == {"GITHUB_TOKEN": "${GITHUB_TOKEN}"}  # kept for the server
    assert out.splitlines() == [
        "added filesystem (stdio: npx -y @modelcontextprotocol/server-filesystem /home/me/Desktop)",
        "added github (stdio: docker run -i --rm -e GITHUB_TOKEN ghcr.io/github/github-mcp)",
        f"restart chatthy serve to use them ({toml})",
    ]
    assert "globalShortcut" not in err  # the rest of Claude's file is not about servers


def test_cursor_config_keeps_the_hand_edited_file_and_maps_every_transport(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = hand_edited(tmp_path)
    code, out, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, CURSOR)), "--config", str(toml)
    )
    assert code == 0, err
    text = toml.read_text()
    assert text.startswith(HAND_EDITED)  # every byte of it, then the new tables
    config = load_server_config(toml)
    assert config.server.listen == "tcp://127.0.0.1:23999"
    assert config.providers["local"].model == "qwen"
    got = config.mcp_servers
    assert (got["docs"].kind, got["docs"].headers) == ("http", {"X-Api-Key": "k-123"})
    assert (got["linear"].kind, got["linear"].url) == ("http", "https://mcp.linear.app/mcp")
    assert (got["legacy"].kind, got["legacy"].url) == ("sse", "http://127.0.0.1:8931/events")
    assert got["brave"].kind == "stdio"
    assert got["brave"].env == {"BRAVE_API_KEY": "${env:BRAVE_API_KEY}"}  # not rewritten
    assert "added legacy (sse: http://127.0.0.1:8931/events)" in out
    assert "mcpServers.brave: ${env:BRAVE_API_KEY} kept as written" in err
    assert "chatthy fills in only ${NAME}" in err
    assert "mcpServers.docs" not in err


def test_oterm_config_reads_cwd_an_sse_path_and_a_bearer_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = hand_edited(tmp_path)
    code, _, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, OTERM, "config.json")), "--config", str(toml)
    )
    assert code == 0, err
    got = servers(toml)
    assert got["git"].cwd == "/home/me/src" and got["git"].args[0] == "mcp-server-git"
    assert got["remote_sse"].kind == "sse"  # oterm's url ending in /sse is SSE
    assert got["tokened"].kind == "http"
    assert got["tokened"].headers == {"Authorization": "Bearer ${TOKENED_TOKEN}"}
    assert "theme" not in err and "splash" not in err


def test_cline_and_claude_code_keys_map_and_the_rest_is_one_note_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = hand_edited(tmp_path)
    code, out, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, CLINE)), "--config", str(toml)
    )
    assert code == 0, err
    got = servers(toml)
    assert got["weather"].enabled is False  # "disabled": true
    assert got["weather"].timeout == 120.0  # Cline's seconds
    assert got["claude-code"].timeout == 45.0  # Claude Code's milliseconds
    assert "added weather (stdio: node /home/me/weather/build/index.js, disabled)" in out
    notes = [line for line in err.splitlines() if line.startswith("chatthy: note: ")]
    assert any("mcpServers.weather.autoApprove ignored" in n for n in notes)
    assert any("timeout 120 read as seconds" in n for n in notes)
    assert any("timeout 45000 read as milliseconds (45 s)" in n for n in notes)
    # a literal secret is written as given, with the hint that ${VAR} works
    assert got["weather"].env == {"OPENWEATHER_API_KEY": "sk-literal"}
    assert any("${VAR}" in n for n in notes)


def test_stdin_is_read_for_a_dash_by_the_real_command(tmp_path: Path) -> None:
    toml = hand_edited(tmp_path)
    ran = subprocess.run(
        [sys.executable, "-m", "chatthy", "mcp", "import", "-", "--config", str(toml)],
        input=json.dumps(CLAUDE_DESKTOP).encode(),
        capture_output=True,
        timeout=30,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert ran.returncode == 0, ran.stderr
    assert b"added filesystem (stdio: npx" in ran.stdout
    assert b"restart chatthy serve to use them" in ran.stdout
    assert list(servers(toml)) == ["filesystem", "github"]


def test_a_byte_order_mark_on_stdin_is_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = hand_edited(tmp_path)
    data = b"\xef\xbb\xbf" + json.dumps(CLAUDE_DESKTOP).encode()  # as Notepad saves it
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    code, _, err = cli(capsys, "mcp", "import", "-", "--config", str(toml))
    assert code == 0, err
    assert "filesystem" in servers(toml)


BROKEN = [
    pytest.param(
        '{\n  "mcpServers": {\n    "a" {}\n',
        ": not JSON (line 3, column 9): Expecting ':' delimiter",
        id="json",
    ),
    pytest.param("[1, 2]", ": not a JSON object with mcpServers", id="array"),
    pytest.param('{"servers": {}}', ": no mcpServers in it", id="no-mcpServers"),
    pytest.param('{"mcpServers": []}', ": mcpServers: not an object", id="list"),
    pytest.param('{"mcpServers": {}}', ": mcpServers is empty", id="empty"),
    pytest.param(
        '{"mcpServers": {"x": {"args": ["a"]}}}',
        ": mcpServers.x: needs a command or a url",
        id="neither",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"command": "a", "url": "http://h/mcp"}}}',
        ": mcpServers.x: has both a command and a url",
        id="both",
    ),
    pytest.param(
        '{"mcpServers": {"my server": {"command": "a"}}}',
        ': mcpServers."my server": not a server name (1-32 letters, digits, _ -; say my_server)',
        id="name",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"command": "a", "args": "-y pkg"}}}',
        ": mcpServers.x.args: not a list of strings",
        id="args",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"command": "a", "env": {"PORT": 8080}}}}',
        ": mcpServers.x.env.PORT: not a string",
        id="env",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"command": "  "}}}', ": mcpServers.x.command: empty", id="blank"
    ),
    pytest.param(
        '{"mcpServers": {"x": {"url": "wss://h/ws"}}}',
        ": mcpServers.x.url: a websocket server is not spoken here",
        id="websocket",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"url": "ftp://h/mcp"}}}',
        ": mcpServers.x.url: not an http:// or https:// URL",
        id="scheme",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"type": "stdio", "url": "http://h/mcp"}}}',
        ": mcpServers.x: transport stdio needs a command, not a url",
        id="stdio-url",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"type": "pigeon", "command": "a"}}}',
        ": mcpServers.x.type: 'pigeon' is not a transport",
        id="type",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"command": "a", "timeout": -5}}}',
        ": mcpServers.x.timeout: not a positive number",
        id="timeout",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"command": "a", "disabled": "yes"}}}',
        ": mcpServers.x.disabled: not true or false",
        id="disabled",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"command": "a\\ud800"}}}',
        ": mcpServers.x: holds a string that is not Unicode text",
        id="surrogate",
    ),
    pytest.param(
        '{"mcpServers": {"x": {"command": "a"}, "x": {"command": "b"}}}',
        ": mcpServers.x: given twice",
        id="twice",
    ),
    pytest.param(
        '{"mcpServers": {"good": {"command": "a"}, "bad": "npx server"}}',
        ": mcpServers.bad: not an object",
        id="one-bad-of-two",
    ),
]


@pytest.mark.parametrize(("content", "said"), BROKEN)
def test_a_broken_file_or_entry_is_one_line_and_nothing_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, said: str
) -> None:
    toml = hand_edited(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    code, out, err = cli(capsys, "mcp", "import", str(bad), "--config", str(toml))
    assert code == 1
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith(f"chatthy: {bad}{said}"), err
    assert toml.read_bytes() == HAND_EDITED.encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.json", "home", "server.toml"]


def test_each_broken_entry_gets_its_own_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = hand_edited(tmp_path)
    data = {"mcpServers": {"a": {}, "ok": {"command": "x"}, "b": {"url": 5}}}
    code, _, err = cli(capsys, "mcp", "import", str(sample(tmp_path, data)), "--config", str(toml))
    assert code == 1
    assert err.splitlines() == [
        f"chatthy: {tmp_path / 'mcp.json'}: mcpServers.a: needs a command or a url",
        f"chatthy: {tmp_path / 'mcp.json'}: mcpServers.b.url: not a string",
    ]
    assert toml.read_bytes() == HAND_EDITED.encode()


def test_a_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = hand_edited(tmp_path)
    code, _, err = cli(capsys, "mcp", "import", str(tmp_path / "nope.json"), "--config", str(toml))
    assert (code, err) == (1, f"chatthy: {tmp_path / 'nope.json'}: no such file\n")


def test_a_named_server_toml_that_is_missing_is_not_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "typo" / "server.toml"
    code, _, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, CLAUDE_DESKTOP)), "--config", str(missing)
    )
    assert (code, err) == (1, f"chatthy: no config file at {missing}\n")
    assert not missing.parent.exists()


def test_a_taken_name_is_refused_naming_it_and_suggesting_replace(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = hand_edited(tmp_path)
    source = str(sample(tmp_path, CLAUDE_DESKTOP))
    assert cli(capsys, "mcp", "import", source, "--config", str(toml))[0] == 0
    before = toml.read_bytes()
    code, out, err = cli(capsys, "mcp", "import", source, "--config", str(toml))
    assert code == 1 and out == ""
    assert err == (f"chatthy: {toml}: already has filesystem, github: --replace replaces them\n")
    assert toml.read_bytes() == before


OLD_TABLES = """\
# my server: edited by hand
[server]
listen = "tcp://127.0.0.1:23999"

# the files server, by hand
[mcp_servers.files]
command = "old-files"   # the old one
# its arguments
args = ["--old"]

# Keys for providers below.
[providers.local]
scheme = "openai"
model = "qwen"

[ mcp_servers."files".env ]  # its keys, spelled another way
OLD_KEY = "old"

[mcp_servers.keep]
url = "https://keep.example.com/mcp"
"""

WITHOUT_OLD = """\
# my server: edited by hand
[server]
listen = "tcp://127.0.0.1:23999"

# the files server, by hand
# Keys for providers below.
[providers.local]
scheme = "openai"
model = "qwen"

[mcp_servers.keep]
url = "https://keep.example.com/mcp"
"""


def test_replace_cuts_the_old_table_and_its_sub_tables_keeping_every_other_byte(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = hand_edited(tmp_path, OLD_TABLES)
    data = {"mcpServers": {"files": {"command": "npx", "env": {"NEW_KEY": "${NEW_KEY}"}}}}
    code, out, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, data)), "--config", str(toml), "--replace"
    )
    assert code == 0, err
    assert out.startswith("replaced files (stdio: npx)\n")
    text = toml.read_text()
    assert text.startswith(WITHOUT_OLD + "\n[mcp_servers.files]\n")
    got = servers(toml)
    assert got["files"].command == "npx" and got["files"].args == []
    assert got["files"].env == {"NEW_KEY": "${NEW_KEY}"}  # OLD_KEY went with its table
    assert got["keep"].url == "https://keep.example.com/mcp"
    assert load_server_config(toml).providers["local"].model == "qwen"


def test_replace_refuses_a_server_written_so_that_it_cannot_be_cut_safely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inline = HAND_EDITED + '\n[mcp_servers]\nfiles = { command = "old" }\n'
    toml = hand_edited(tmp_path, inline)
    data = {"mcpServers": {"files": {"command": "npx"}}}
    code, out, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, data)), "--config", str(toml), "--replace"
    )
    assert (code, out) == (1, "")
    assert err == (
        f"chatthy: {toml}: cannot cut files out safely (not written as [mcp_servers.NAME] "
        "tables of their own): edit it by hand, or import under another name\n"
    )
    assert toml.read_bytes() == inline.encode()


def test_a_new_table_that_cannot_follow_an_inline_mcp_servers_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inline = 'mcp_servers = { old = { command = "old" } }\n' + HAND_EDITED
    toml = hand_edited(tmp_path, inline)
    code, _, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, CLAUDE_DESKTOP)), "--config", str(toml)
    )
    assert code == 1
    assert err == (
        f"chatthy: {toml}: cannot append [mcp_servers.NAME] tables to the mcp_servers "
        "written there (not as tables of their own): edit it by hand\n"
    )
    assert toml.read_bytes() == inline.encode()


@pytest.mark.parametrize(
    ("content", "said"),
    [
        pytest.param('[server]\nlisten = "x\n', "Illegal character", id="not-toml"),
        pytest.param("[server]\nlisten = 5\n", "Expected `str`", id="wrong-value"),
    ],
)
def test_a_server_toml_that_does_not_load_is_one_line_and_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, said: str
) -> None:
    toml = hand_edited(tmp_path, content)
    code, out, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, CLAUDE_DESKTOP)), "--config", str(toml)
    )
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and err.startswith(f"chatthy: {toml}: ") and said in err, err
    assert toml.read_bytes() == content.encode()


def test_the_files_mode_and_crlf_line_ends_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crlf = HAND_EDITED.replace("\n", "\r\n")
    toml = hand_edited(tmp_path, crlf)
    toml.chmod(0o640)
    code, _, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, CLAUDE_DESKTOP)), "--config", str(toml)
    )
    assert code == 0, err
    raw = toml.read_bytes()
    assert raw.startswith(crlf.encode())
    assert b"\n" not in raw.replace(b"\r\n", b"")  # no bare line end added
    assert stat.S_IMODE(toml.stat().st_mode) == 0o640
    assert "other users can read it (mode 0640)" in err  # it may hold secrets now
    assert list(servers(toml)) == ["filesystem", "github"]


def test_a_linked_server_toml_is_written_through_the_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = hand_edited(tmp_path)
    link = tmp_path / "linked.toml"
    link.symlink_to(real)
    code, _, err = cli(
        capsys, "mcp", "import", str(sample(tmp_path, CLAUDE_DESKTOP)), "--config", str(link)
    )
    assert code == 0, err
    assert link.is_symlink()
    assert list(servers(real)) == ["filesystem", "github"]
