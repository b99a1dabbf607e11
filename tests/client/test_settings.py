"""Where a client connects: the address is checked before anything else."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatthy.client.settings import check_address, key_source, resolve
from chatthy.errors import ConfigError


@pytest.mark.parametrize(
    "address",
    ["tcp://127.0.0.1:23456", "tcp://localhost:1", "tcp://[::1]:5000", "ipc:///tmp/chatthy.sock"],
)
def test_well_formed_addresses_pass(address: str) -> None:
    assert check_address(address) == address


@pytest.mark.parametrize(
    "address",
    [
        "localhost:23456",
        "tcp://127.0.0.1:notaport",
        "tcp://127.0.0.1",
        "tcp://:23456",
        "tcp://127.0.0.1:0",
        "tcp://127.0.0.1:70000",
        "ipc://",
        "udp://127.0.0.1:1",
    ],
)
def test_malformed_addresses_are_config_errors(address: str) -> None:
    with pytest.raises(ConfigError, match="must look like tcp://HOST:PORT or ipc://PATH"):
        check_address(address)


def test_malformed_address_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATTHY_SERVER", "127.0.0.1:23456")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    with pytest.raises(ConfigError, match=re.escape("got '127.0.0.1:23456'")):
        resolve()


def test_malformed_flag_wins_over_a_broken_client_toml(isolated_env: Path) -> None:
    config = isolated_env / "config"
    config.mkdir()
    (config / "client.toml").write_text("not = [toml", encoding="utf-8")
    with pytest.raises(ConfigError, match="got 'nowhere'"):
        resolve(server="nowhere")


def test_a_named_client_toml_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no config file at"):
        resolve(server="tcp://127.0.0.1:1", config=tmp_path / "missing.toml")


def test_keys_and_notify_come_from_client_toml(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = isolated_env / "config"
    config.mkdir()
    (config / "client.toml").write_text('notify = "desktop"\n[keys]\nchats = "f2"\n')
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    settings = resolve()
    assert (settings.notify, dict(settings.keys), settings.notices) == (
        "desktop",
        {"chats": "f2"},
        (),
    )
    (config / "client.toml").write_text('notify = "loud"\n')
    settings = resolve()
    assert settings.notify == "bell"
    assert settings.notices == (
        "warning: client.toml: notify must be bell, desktop, off, not 'loud'; using bell",
    )


def test_servers_in_client_toml_are_the_addresses_tried_in_order(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = isolated_env / "config"
    config.mkdir()
    (config / "client.toml").write_text(
        'server = "tcp://127.0.0.1:1"\n'
        'servers = ["tcp://127.0.0.1:5555", "tcp://localhost:5556", "tcp://127.0.0.1:5555"]\n'
    )
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    settings = resolve()
    assert settings.server == "tcp://127.0.0.1:5555"
    assert settings.addresses == ("tcp://127.0.0.1:5555", "tcp://localhost:5556")
    monkeypatch.setenv("CHATTHY_SERVER", "tcp://127.0.0.1:7001,tcp://127.0.0.1:7002")
    assert resolve().addresses == ("tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002")
    assert resolve(server="tcp://127.0.0.1:7003").addresses == ("tcp://127.0.0.1:7003",)


def test_a_malformed_address_in_servers_is_one_line(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = isolated_env / "config"
    config.mkdir()
    (config / "client.toml").write_text('servers = ["tcp://127.0.0.1:5555", "chat2:5555"]\n')
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    with pytest.raises(ConfigError) as caught:
        resolve()
    assert caught.value.message == (
        "client.toml: servers: server address must look like tcp://HOST:PORT or "
        "ipc://PATH: got 'chat2:5555'"
    )
    (config / "client.toml").write_text('servers = "tcp://127.0.0.1:5555"\n')
    with pytest.raises(ConfigError, match=r"Expected `array`, got `str` - at `\$.servers`"):
        resolve()
    (config / "client.toml").write_text("")
    monkeypatch.setenv("CHATTHY_SERVER", "tcp://127.0.0.1:5555,,tcp://127.0.0.1:5556")
    with pytest.raises(ConfigError, match=r"^CHATTHY_SERVER: .*got ''$"):
        resolve()


def test_a_pinned_server_key_holds_for_every_address(
    isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = "k" * 40
    monkeypatch.setenv("CHATTHY_SERVER", "tcp://10.1.2.3:1,tcp://10.1.2.4:1")
    monkeypatch.setenv("CHATTHY_SERVER_KEY", key)
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    settings = resolve()  # nothing is asked of either server: the key is given
    key_of = key_source(settings)
    assert settings.server_key == key.encode()
    assert key_of("tcp://10.1.2.4:1") == (key.encode(), None)
    monkeypatch.delenv("CHATTHY_SERVER_KEY")
    monkeypatch.setenv("CHATTHY_SERVER", "tcp://127.0.0.1:1,tcp://localhost:2")
    assert key_source(resolve())("tcp://localhost:2") == (None, None)
