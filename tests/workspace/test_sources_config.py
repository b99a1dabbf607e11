"""The ``[sources]`` table of server.toml as a user writes it."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatthy.config import SourcesConfig, load_server_config, write_defaults
from chatthy.errors import ConfigError


def test_the_written_defaults_are_the_defaults(tmp_path: Path) -> None:
    write_defaults(tmp_path)
    assert load_server_config(tmp_path / "server.toml").sources == SourcesConfig()
    assert SourcesConfig().allow_private is False


def test_sources_are_read_from_server_toml(tmp_path: Path) -> None:
    path = tmp_path / "server.toml"
    path.write_text(
        '[sources]\nallow_private = ["192.168.1.0/24"]\ntimeout = 5\nmax_bytes = 1000\n'
        'wikipedia_base = "https://de.wikipedia.org"\n'
    )
    sources = load_server_config(path).sources
    assert sources.allow_private == ["192.168.1.0/24"]
    assert (sources.timeout, sources.max_bytes) == (5.0, 1000)
    assert sources.wikipedia_base == "https://de.wikipedia.org"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('allow_private = ["not a network"]', "does not appear to be an IPv4 or IPv6 network"),
        ('news_base = "news.google.com"', "news_base must be an http:// or https:// URL"),
        ("timeout = 0", r"Expected `float` > 0.0"),
        ("allow_private = 1", "Expected `bool | array`"),
    ],
)
def test_wrong_values_are_config_errors(tmp_path: Path, line: str, match: str) -> None:
    path = tmp_path / "server.toml"
    path.write_text(f"[sources]\n{line}\n")
    with pytest.raises(ConfigError, match=match):
        load_server_config(path)
