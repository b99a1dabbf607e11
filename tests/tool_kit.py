"""The model's side of the tool tests (replies scripted on the upstream that call the
test server's ``save_note``, see ``tests/client/conftest.py``), and chatthy run as a
process of its own against the test server."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from chatthy.server.app import Server
from upstream import Reply, Upstream

NOTE_ARGS = '{"name": "a.txt", "text": "hello from the model"}'


def script_note(upstream: Upstream, call_id: str = "call_1", after: str = "Done.") -> None:
    """The model says it saves a note, calls ``save_note``, then answers ``after``."""
    upstream.push(Reply(chunks=["Saving it."], tool_calls=[(call_id, "save_note", NOTE_ARGS)]))
    upstream.push(Reply(chunks=[after]))


def cli_env(server: Server, tmp_path: Path) -> dict[str, str]:
    """The environment chatthy runs in as a process against ``server``: profile
    ``cli`` (passphrase ``pw``), its config and data under ``tmp_path``."""
    return {
        **os.environ,
        "CHATTHY_SERVER": server.address,
        "CHATTHY_PROFILE": "cli",
        "CHATTHY_PASSPHRASE": "pw",
        "CHATTHY_CONFIG_DIR": str(tmp_path / "cfg"),
        "CHATTHY_DATA_DIR": str(tmp_path / "data"),
    }


async def cli(
    server: Server, tmp_path: Path, *args: str, stdin: bytes = b""
) -> tuple[int, str, str]:
    env = cli_env(server, tmp_path)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chatthy",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
