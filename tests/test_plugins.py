"""The registry every extension kind uses: built-ins and entry points, loaded lazily once,
a broken plugin reported only where it is used; and a plugin installed beside a real
``chatthy serve``, configured in its server.toml, answering a turn and filling a workspace
file."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from chatthy.errors import ConfigError
from chatthy.plugins import Registry
from helpers import ClientMaker, turn
from plugin_kit import write_mine, write_plugin
from test_cli import chatthy, finish, spawn

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


# -- a plugin installed beside a real server -------------------------------------------


@pytest.fixture
def plugin_env(tmp_path: Path, isolated_env: Path) -> dict[str, str]:
    """``mine-plugin`` installed in a folder of its own, which only the processes started
    with this environment see."""
    site = write_mine(tmp_path / "site")
    paths = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}


def configure(home: Path, scheme: str) -> None:
    conf = home / "config"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "server.toml").write_text(
        f'[server]\ndefault_provider = "mine"\n\n[providers.mine]\nscheme = "{scheme}"\n'
        'model = "m1"\n',
        encoding="utf-8",
    )


async def listening(proc: asyncio.subprocess.Process) -> tuple[str, list[str]]:
    """The address ``chatthy serve`` listens on, and what it wrote until then."""
    assert proc.stderr is not None
    seen: list[str] = []
    while not seen or "listening on" not in seen[-1]:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, f"serve ended: {seen}"
        seen.append(line.decode())
    return seen[-1].split("listening on ")[1].split()[0], seen


async def test_a_plugin_scheme_and_source_configured_in_server_toml_are_used(
    isolated_env: Path, plugin_env: dict[str, str], connect: ClientMaker
) -> None:
    configure(isolated_env, "myscheme")
    proc = await spawn("serve", "--listen", "tcp://127.0.0.1:0", env=plugin_env)
    try:
        address, seen = await listening(proc)
        client = connect(address, profile="p", passphrase="pw")
        [mine] = await client.call("providers", models=False)
        assert (mine.name, mine.model, mine.default) == ("mine", "m1", True)
        assert not any(msgspec.structs.asdict(mine.capabilities).values())
        assert (await turn(client, "c", "hello there")).text == "plugin heard: hello there"
        listed = {s.name: s for s in await client.call("ws_sources")}
        assert listed["shelf"].help == "add a book from the plugin's shelf"
        assert "phantom" not in listed and "url" in listed
        added = await client.call("ws_fetch", source="shelf", argument="Okapis")
        assert (added.name, added.source) == ("shelf-Okapis", "shelf:Okapis")
        shown = await client.call("ws_show", name="shelf-Okapis")
        assert shown.text == "Okapis, as the shelf plugin tells it.\n"
        for _ in range(2):
            with pytest.raises(ConfigError) as caught:
                await client.call("ws_fetch", source="phantom", argument="x")
        env = {"CHATTHY_SERVER": address, "CHATTHY_PROFILE": "p", "CHATTHY_PASSPHRASE": "pw"}
        code, out, err = await chatthy("ws", "fetch", "shelf", "Giraffes", env=env)
        assert (code, out.split(" (")[0]) == (0, "added shelf-Giraffes"), err
    finally:
        proc.send_signal(signal.SIGTERM)
        code, _, rest = await finish(proc)
    assert code == 0 and "Traceback" not in rest
    assert caught.value.message.startswith(
        "workspace source 'phantom' comes from plugin 'mine-plugin', which cannot be loaded"
    )
    assert caught.value.message.endswith("ModuleNotFoundError: No module named 'mine_missing'")
    warned = [line for line in [*seen, *rest.splitlines()] if "WARNING" in line]
    assert len(warned) == 2, warned  # each broken entry point once, when its kind is first used
    assert "provider scheme 'ghost' comes from plugin 'mine-plugin'" in warned[0]
    assert "workspace source 'phantom' comes from plugin 'mine-plugin'" in warned[1]


@pytest.mark.parametrize(
    ("scheme", "reason"),
    [
        (
            "ghost",
            "provider scheme 'ghost' comes from plugin 'mine-plugin', which cannot be loaded "
            "(chatthy.providers: ghost = mine_missing:Provider): "
            "ModuleNotFoundError: No module named 'mine_missing'",
        ),
        ("nosuch", "unknown scheme 'nosuch' (known: anthropic, echo, myscheme, openai, tabby)"),
    ],
)
async def test_serve_refuses_a_scheme_it_cannot_build(
    isolated_env: Path, plugin_env: dict[str, str], scheme: str, reason: str
) -> None:
    configure(isolated_env, scheme)
    code, _, err = await chatthy("serve", "--listen", "tcp://127.0.0.1:0", env=plugin_env)
    assert code == 1
    assert err.endswith(f"chatthy: provider 'mine': {reason}\n"), err
