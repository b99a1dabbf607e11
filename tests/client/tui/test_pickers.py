"""The full-screen client's pickers (chats on Ctrl-o, providers and models on Ctrl-p), its
keys as client.toml's ``[keys]`` sets them, and the bell for a reply that ends in a chat
not on screen."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from textual.pilot import Pilot

from chatthy.client.tui import ChatthyApp
from chatthy.client.tui.help import HelpScreen
from chatthy.client.tui.keymap import ACTIONS, read_keys
from chatthy.client.tui.pickers import ChatPicker, ModelPicker
from chatthy.config import ClientConfig, ProviderConfig, load_client_config, write_defaults
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider, turn
from tuikit import (
    SIZE,
    make_app,
    screen_text,
    status_line,
    type_line,
    wait_for,
    wait_on_screen,
)
from upstream import Reply, Upstream


async def _ready(pilot: Pilot[int], app: ChatthyApp) -> None:
    await wait_for(pilot, lambda: app.session.booted and not app.session.busy)


def _rows(app: ChatthyApp) -> list[str]:
    """The ids of the rows the open picker shows, top to bottom."""
    picker = app.screen
    assert isinstance(picker, ChatPicker | ModelPicker)
    options = picker.options
    return [str(options.get_option_at_index(i).id) for i in range(options.option_count)]


async def _chat_picker(pilot: Pilot[int], app: ChatthyApp, key: str = "ctrl+o") -> ChatPicker:
    await pilot.press(key)
    await wait_for(pilot, lambda: isinstance(app.screen, ChatPicker), what="the chat picker")
    picker = app.screen
    assert isinstance(picker, ChatPicker)
    await wait_for(pilot, lambda: bool(picker.chats), what="the chats listed")
    return picker


# ---- the chat picker -----------------------------------------------------------------


async def test_the_chat_picker_lists_chats_newest_first_filters_and_opens_one(
    server: Server, connect: ClientMaker
) -> None:
    other = connect(server)
    for name in ("alpha plans", "beta notes", "gamma"):
        await turn(other, name, f"about {name}")
    await turn(other, "alpha plans", "more")  # the newest change now
    app = make_app(server, chat="gamma")
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        await _chat_picker(pilot, app)
        assert _rows(app) == ["alpha plans", "gamma", "beta notes"]
        shown = screen_text(app)
        assert "alpha plans      4 msgs" in shown
        assert "» gamma" in shown  # the open one marked
        assert "echo" in shown  # the provider
        await pilot.press(*"bet")
        await wait_for(pilot, lambda: _rows(app) == ["beta notes"], what="the filter")
        assert "alpha plans" not in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat == "beta notes" and not app.session.busy)
        assert not isinstance(app.screen, ChatPicker)
        await wait_on_screen(pilot, "echo: about beta notes")


async def test_enter_on_a_filter_that_matches_nothing_opens_a_new_chat(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        await type_and_wait(pilot, app, "hello")
        await _chat_picker(pilot, app)
        await pilot.press(*"ideas")
        await wait_on_screen(pilot, "new chat 'ideas'")
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat == "ideas" and not app.session.busy)
        assert "(new chat)" in screen_text(app).splitlines()[0]


async def type_and_wait(pilot: Pilot[int], app: ChatthyApp, text: str) -> None:
    await type_line(pilot, text)
    await wait_on_screen(pilot, f"echo: {text}")


async def test_rename_in_the_chat_picker_another_chat_and_the_open_one(
    server: Server, connect: ClientMaker
) -> None:
    other = connect(server)
    await turn(other, "one", "first")
    await turn(other, "two", "second")
    app = make_app(server, chat="one")
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        picker = await _chat_picker(pilot, app)
        assert _rows(app)[0] == "two"
        await pilot.press("r")
        await wait_for(pilot, lambda: picker.editor.has_focus, what="the rename line")
        assert picker.editor.value == "two"
        picker.editor.value = "three"
        await pilot.press("enter")
        await wait_on_screen(pilot, "renamed 'two' to 'three'")
        await wait_for(pilot, lambda: "three" in _rows(app), what="the list read again")
        assert {c.name for c in await other.rpc(api.Chats())} == {"one", "three"}
        picker.options.highlighted = _rows(app).index("one")
        await pilot.press("r")
        await wait_for(pilot, lambda: picker.editor.has_focus)
        picker.editor.value = "uno"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.chat == "uno", what="the open chat renamed")
        await pilot.press("r", "escape")  # Esc leaves the rename line, not the picker
        assert isinstance(app.screen, ChatPicker) and not picker.editor.has_focus
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ChatPicker))
        assert "uno" in screen_text(app).splitlines()[0]


async def test_d_twice_deletes_the_highlighted_chat_and_moving_away_keeps_it(
    server: Server, connect: ClientMaker
) -> None:
    other = connect(server)
    for name in ("keep", "drop"):
        await turn(other, name, "hi")
    app = make_app(server, chat="keep")
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        picker = await _chat_picker(pilot, app)
        assert _rows(app) == ["drop", "keep"]
        await pilot.press("d")
        await wait_on_screen(pilot, "delete 'drop' and all its messages? d again")
        await pilot.press("down", "d")  # moved away: that first d counts for nothing
        await wait_on_screen(pilot, "delete 'keep'")
        await pilot.press("up", "d", "d")
        await wait_on_screen(pilot, "deleted 'drop'")
        await wait_for(pilot, lambda: _rows(app) == ["keep"], what="the list read again")
        assert [c.name for c in await other.rpc(api.Chats())] == ["keep"]
        assert isinstance(app.screen, ChatPicker) and picker.chats


async def test_the_chat_picker_follows_other_clients_and_marks_a_running_reply(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker
) -> None:
    srv = await servers.start({"up": openai_provider(upstream)})
    other = connect(srv)
    upstream.push(Reply(chunks=["hi"]))
    await turn(other, "old", "hello")
    app = make_app(srv, chat="old")
    async with app.run_test(size=SIZE) as pilot:
        await _ready(pilot, app)
        await _chat_picker(pilot, app)
        upstream.push(Reply(chunks=["slow "] * 60, delay=0.05))
        await other.start("chat", "busy", text="take your time")  # news: created
        await wait_for(pilot, lambda: "busy" in _rows(app), what="the new chat listed")
        assert "busy" in screen_text(app) and "● replying" in screen_text(app)
        await other.rpc(api.Rename(chat="old", new="older"))
        await wait_for(pilot, lambda: "older" in _rows(app), what="the rename listed")
        await wait_for(pilot, lambda: "● replying" not in screen_text(app), what="reply end")


# ---- the provider and model picker ---------------------------------------------------


async def test_the_model_picker_lists_providers_and_models_and_applies_the_choice(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    with Upstream(models=["small", "large"]) as up:
        srv = await servers.start(
            {
                "local": openai_provider(up, model="small"),
                "gone": openai_provider(up, base_url="http://127.0.0.1:9/v1", connect_timeout=1),
                "echo": ProviderConfig(scheme="echo", model="echo", params={"delay": 0.0}),
            },
            default_provider="local",
        )
        app = make_app(srv, chat="work")
        async with app.run_test(size=SIZE) as pilot:
            await _ready(pilot, app)
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker))
            await wait_on_screen(pilot, "large")
            shown = screen_text(app)
            assert "» local (default)  4,096 tokens" in shown  # the open chat's provider
            assert "» small  (default)" in shown  # and model
            assert "provider 'gone': cannot reach" in shown  # why its models are not listed
            await pilot.press(*"large")
            await wait_for(pilot, lambda: _rows(app) == ["local", "local\0large"])
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.info.model == "large", what="the model used")
            await wait_on_screen(pilot, "this chat now uses local:large")
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker))
            await wait_on_screen(pilot, "echo")
            picker = app.screen
            assert isinstance(picker, ModelPicker)
            picker.options.highlighted = _rows(app).index("echo")
            await pilot.press("enter")
            await wait_for(pilot, lambda: app.info.provider == "echo", what="the provider used")
            assert app.info.model == "echo"  # the provider's default, not 'large'
        chat = (await connect(srv).rpc(api.Messages(chat="work", limit=1))).chat
        assert (chat.provider, chat.model) == ("echo", "")


# ---- keys ----------------------------------------------------------------------------


async def test_keys_from_client_toml_rebind_and_bad_entries_are_warned_about(
    server: Server,
) -> None:
    keys = {"chats": "F2", "models": "ctrl+o", "nope": "x", "help": "ctrl+nothing", "quit": "f10"}
    app = make_app(server, keys=keys)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "warning" in status_line(app), what="a warning at start")
        await _ready(pilot, app)
        shown = screen_text(app)
        assert "unknown action 'nope'" in shown  # each warning kept in the output
        assert "help: cannot read key 'ctrl+nothing'; keeping f1" in shown
        assert app.prompt_input.placeholder.endswith("Ctrl-c cancel · F10 quit")
        await type_and_wait(pilot, app, "a chat to list")
        await _chat_picker(pilot, app, "f2")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ChatPicker))
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ModelPicker), what="models")
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ModelPicker))
        await pilot.press("ctrl+p")  # neither the models (moved) nor Textual's palette
        await pilot.pause(0.2)
        assert app.screen is app.screen_stack[0]
        await pilot.press("f1")  # kept at its default
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_shown = screen_text(app)
        assert re.search(r"F2 +the chats: type to filter", help_shown)
        assert re.search(r"Ctrl-o +the providers and models", help_shown)


def test_two_actions_may_swap_keys_but_not_share_one() -> None:
    assert read_keys({"chats": "ctrl+p", "models": "ctrl+o"}) == (
        {"chatthy.chats": "ctrl+p", "chatthy.models": "ctrl+o"},
        [],
    )
    keymap, warnings = read_keys({"reload": "ctrl+q", "focus": ["Shift+Tab", "ctrl+t"]})
    assert keymap == {"chatthy.focus": "shift+tab,ctrl+t"}
    assert warnings == ["client.toml [keys] reload: 'ctrl+q' is quit's key; keeping ctrl+l"]
    assert read_keys({"cancel": 3})[1] == [
        "client.toml [keys] cancel: not a key name; keeping ctrl+c"
    ]


def test_the_commented_keys_of_config_init_are_the_defaults(tmp_path: Path) -> None:
    write_defaults(tmp_path)
    text = (tmp_path / "client.toml").read_text()
    uncommented = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.M)
    config = load_client_config_from(tmp_path / "client.toml", uncommented)
    assert set(config.keys) == set(ACTIONS)
    assert {name: ACTIONS[name].key for name in config.keys} == config.keys
    assert read_keys(config.keys)[1] == []


def load_client_config_from(path: Path, text: str) -> ClientConfig:
    path.write_text(text)
    return load_client_config(path)


# ---- a reply that ends elsewhere -----------------------------------------------------


def _count_bells(app: ChatthyApp) -> list[None]:
    rung: list[None] = []
    app.bell = lambda: rung.append(None)  # type: ignore[method-assign]  # this app only
    return rung


@pytest.mark.parametrize("notify", ["bell", "off"])
async def test_a_reply_that_ends_in_another_chat_rings_and_says_where(
    server: Server, connect: ClientMaker, notify: str
) -> None:
    app = make_app(server, chat="here", notify=notify)
    async with app.run_test(size=SIZE) as pilot:
        rung = _count_bells(app)
        await _ready(pilot, app)
        await type_and_wait(pilot, app, "a reply here")
        await pilot.pause(0.3)
        assert rung == []  # a reply on screen is seen, not rung for
        await turn(connect(server), "there", "a reply there")
        await wait_for(pilot, lambda: "reply finished in 'there'" in status_line(app))
        assert len(rung) == (1 if notify == "bell" else 0)
        assert app.chat == "here"


async def test_desktop_notifications_go_through_notify_send(
    server: Server, connect: ClientMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    told = tmp_path / "told.txt"
    script = tools / "notify-send"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{told}"\n')
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ.get('PATH', '')}")
    app = make_app(server, chat="here", notify="desktop")
    async with app.run_test(size=SIZE) as pilot:
        rung = _count_bells(app)
        await _ready(pilot, app)
        await turn(connect(server), "there", "hello")
        await wait_for(pilot, lambda: told.exists(), what="notify-send run")
        assert told.read_text() == "chatthy reply finished in 'there'\n"
        assert rung == []
