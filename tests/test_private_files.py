"""Secrets on disk: what chatthy creates is its user's only; open config files are named."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import pytest

from chatthy.client.settings import resolve
from chatthy.config import ProviderConfig, save_client_value, write_defaults
from helpers import ClientMaker, ServerFactory, turn

ECHO = {"echo": ProviderConfig(scheme="echo", params={"delay": 0.0})}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> object:
    """The umask most systems have (022): without care, files would come out 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


async def test_a_fresh_server_keeps_chats_and_keys_to_its_user(
    servers: ServerFactory, connect: ClientMaker, isolated_env: Path
) -> None:
    srv = await servers.start(ECHO, encryption="on")
    client = connect(srv, server_key=srv.public_key.encode())
    assert (await turn(client, "c", "a secret")).text == "echo: a secret"
    data = isolated_env / "data"
    db = next(data.glob("*.db"))
    assert mode(data) == 0o700
    made = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), *(data / "curve").iterdir()]
    assert len(made) == 5
    assert {p.name: mode(p) for p in made} == {p.name: 0o600 for p in made}
    assert mode(data / "curve") == 0o700


async def test_a_folder_the_user_made_keeps_its_mode(
    servers: ServerFactory, isolated_env: Path
) -> None:
    (isolated_env / "data").mkdir(mode=0o750)
    await servers.start(ECHO)
    assert mode(isolated_env / "data") == 0o750
    assert mode(next((isolated_env / "data").glob("*.db"))) == 0o600


def test_config_files_are_written_private(isolated_env: Path) -> None:
    written = write_defaults()
    folder = isolated_env / "config"
    assert mode(folder) == 0o700
    assert sorted(p.name for p in written) == ["client.toml", "server.toml"]
    assert [mode(p) for p in written] == [0o600, 0o600]


def test_a_saved_setting_makes_a_private_client_toml(isolated_env: Path) -> None:
    path = save_client_value("theme", "nord")
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_a_client_toml_with_a_passphrase_others_can_read_is_warned_of(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = isolated_env / "config" / "client.toml"
    toml.parent.mkdir()
    toml.write_text('passphrase = "hunter2"\n')
    toml.chmod(0o644)
    (warning,) = resolve().notices
    assert warning == (
        f"warning: {toml} holds your passphrase and other users can read it (mode 0644): "
        f"chmod 600 {toml}"
    )
    toml.chmod(0o600)
    assert resolve().notices == ()
    toml.write_text('theme = "nord"\n')  # no secret in it: nothing to say
    toml.chmod(0o644)
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "x")
    assert resolve().notices == ()


async def test_serve_warns_of_an_open_server_toml_and_keeps_its_data_private(
    isolated_env: Path, unused_tcp_port: int
) -> None:
    toml = isolated_env / "config" / "server.toml"
    toml.parent.mkdir()
    toml.write_text('[providers.x]\nscheme = "echo"\napi_key = "sk-secret"\n')
    toml.chmod(0o644)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "chatthy", "serve", "--listen", f"tcp://127.0.0.1:{unused_tcp_port}"),
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    try:
        while not any("listening" in line for line in lines):
            line = (await asyncio.wait_for(proc.stderr.readline(), 30)).decode()
            assert line, "".join(lines)
            lines.append(line)
    finally:
        proc.terminate()
        await proc.wait()
    assert lines[0] == (
        f"chatthy: warning: {toml} holds provider API keys and other users can read it "
        f"(mode 0644): chmod 600 {toml}\n"
    )
    data = isolated_env / "data"
    assert mode(data) == 0o700
    assert [mode(p) for p in data.glob("*.db*")] == [0o600] * len(list(data.glob("*.db*")))
    assert list(data.glob("*.db"))
