"""Reading server.toml and client.toml: defaults when absent, one clear error otherwise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatthy.config import load_client_config, load_server_config
from chatthy.errors import ConfigError


def test_default_places_missing_mean_defaults(isolated_env: Path) -> None:
    assert load_server_config().server.listen == "tcp://127.0.0.1:23456"
    assert load_client_config().server == "tcp://127.0.0.1:23456"


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    with pytest.raises(ConfigError, match=re.escape(f"no config file at {missing}")):
        load_server_config(missing)
    with pytest.raises(ConfigError, match="no config file at"):
        load_client_config(missing)


def test_non_utf8_toml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_bytes(b'[server]\nlisten = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_server_config(path)


def test_the_store_is_sqlite_unless_a_postgresql_url_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "server.toml"
    path.write_text("[server]\n", encoding="utf-8")
    assert load_server_config(path).store.url == ""
    path.write_text('[store]\nurl = "postgresql://chatthy@db:5432/chats"\npool = 4\n')
    config = load_server_config(path)
    assert (config.store.url, config.store.pool) == ("postgresql://chatthy@db:5432/chats", 4)
    monkeypatch.setenv("CHATTHY_STORE_URL", "postgres://other@db2/chats")
    config = load_server_config(path)
    assert (config.store.url, config.store.pool) == ("postgres://other@db2/chats", 4)
    monkeypatch.setenv("CHATTHY_STORE_URL", "mysql://nope")
    with pytest.raises(ConfigError, match=r"CHATTHY_STORE_URL: \[store\] url: a postgresql://"):
        load_server_config(path)
    monkeypatch.delenv("CHATTHY_STORE_URL")
    path.write_text('[store]\nurl = "sqlite:///x.db"\n')
    with pytest.raises(ConfigError, match=r"url: a postgresql://USER@HOST:PORT/DB URL"):
        load_server_config(path)
