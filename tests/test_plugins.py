"""The registry every extension kind uses: built-ins and entry points, loaded lazily once,
a broken plugin reported only where it is used."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatthy.errors import ConfigError
from chatthy.plugins import Registry
from plugin_kit import write_plugin

GROUP = "chatthy.test_greetings"


def _greeting(name: str, loaded: object) -> str:
    if not isinstance(loaded, str):
        raise TypeError(f"{loaded!r} is not a greeting")
    return loaded


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Two plugins on sys.path: one that works, one whose module does not import (both
    forgotten after the test, as if never imported)."""
    site = tmp_path / "site"
    write_plugin(
        site,
        "hello-plugin",
        {GROUP: {"hello": "hello_greeting:TEXT", "number": "hello_greeting:NUMBER"}},
        {"hello_greeting.py": 'TEXT = "hello from a plugin"\nNUMBER = 42\n'},
    )
    write_plugin(
        site,
        "broken-plugin",
        {GROUP: {"broken": "broken_greeting:TEXT"}},
        {"broken_greeting.py": "import no_such_module_anywhere\nTEXT = 'never'\n"},
    )
    monkeypatch.syspath_prepend(str(site))
    yield site
    for module in ("hello_greeting", "broken_greeting"):
        sys.modules.pop(module, None)


def test_nothing_is_loaded_until_the_registry_is_asked(installed: Path) -> None:
    registry = Registry("greeting", GROUP, _greeting)
    registry.register("hi", "built in")
    assert "hello_greeting" not in sys.modules
    assert registry.get("hello") == "hello from a plugin"
    assert "hello_greeting" in sys.modules


def test_built_ins_and_plugins_are_listed_together(installed: Path) -> None:
    registry = Registry("greeting", GROUP, _greeting)
    registry.register("hi", "built in")
    assert registry.names() == ["hello", "hi"]
    assert registry.get("hi") == "built in"
    assert registry.get("nobody") is None


def test_a_plugin_replaces_the_built_in_of_its_name(installed: Path) -> None:
    registry = Registry("greeting", GROUP, _greeting)
    registry.register("hello", "built in")
    assert registry.get("hello") == "hello from a plugin"
    registry.register("hello", "registered after")
    assert registry.get("hello") == "registered after"


def test_a_broken_plugin_is_logged_once_and_fails_only_where_used(
    installed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry("greeting", GROUP, _greeting)
    with caplog.at_level(logging.WARNING, logger="chatthy.plugins"):
        assert registry.get("hello") == "hello from a plugin"
        for _ in range(2):
            with pytest.raises(ConfigError) as caught:
                registry.get("broken")
        registry.names()
    message = caught.value.message
    assert message.startswith("greeting 'broken' comes from plugin 'broken-plugin'")
    assert "broken_greeting:TEXT" in message
    assert "ModuleNotFoundError: No module named 'no_such_module_anywhere'" in message
    warnings = [r.getMessage() for r in caplog.records if r.name == "chatthy.plugins"]
    assert len(warnings) == 2  # the broken one and the number: each once
    assert any(w == message for w in warnings)


def test_an_object_of_the_wrong_kind_is_a_broken_plugin(installed: Path) -> None:
    registry = Registry("greeting", GROUP, _greeting)
    with pytest.raises(ConfigError, match=r"plugin 'hello-plugin'.*TypeError: 42 is not a greet"):
        registry.get("number")
    assert "number" not in registry.names()


def test_registering_a_broken_name_anew_repairs_it(installed: Path) -> None:
    registry = Registry("greeting", GROUP, _greeting)
    registry.names()
    registry.register("broken", "fixed by hand")
    assert registry.get("broken") == "fixed by hand"
