"""/profile NAME: another profile's key, the chat reopened as that profile sees it."""

from __future__ import annotations

import pytest

from chatthy.client.tui.profile import PassphraseScreen
from chatthy.server.app import Server
from tuikit import (
    SIZE,
    make_app,
    screen_text,
    status_line,
    title_line,
    type_line,
    wait_for,
    wait_on_screen,
)


async def test_profile_switches_with_the_configured_passphrase(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "secret")
    app = make_app(server, chat="notes")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "alice was here")
        await wait_on_screen(pilot, "echo: alice was here")
        await type_line(pilot, "/profile bob")
        await wait_for(pilot, lambda: title_line(app).startswith("bob — notes (new chat)"))
        assert "alice was here" not in screen_text(app)
        assert "now profile 'bob'" in status_line(app)
        await type_line(pilot, "bob too")
        await wait_on_screen(pilot, "echo: bob too")
        await type_line(pilot, "/profile alice")
        await wait_on_screen(pilot, "echo: alice was here")
        assert title_line(app).startswith("alice — notes (2 msgs")
        assert "bob too" not in screen_text(app)


async def test_profile_asks_for_the_passphrase_and_keeps_the_old_one_if_wrong(
    server: Server,
) -> None:
    app = make_app(server, chat="notes")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/profile carol")
        await wait_on_screen(pilot, "passphrase for profile 'carol'")
        await pilot.press(*"hunter2", "enter")
        # carol is new: her passphrase is asked again before anything registers her
        await wait_on_screen(pilot, "profile 'carol' is new here: its passphrase again")
        await pilot.press(*"hunter2", "enter")
        await wait_for(pilot, lambda: title_line(app).startswith("carol — notes"))
        assert "hunter2" not in screen_text(app)
        await type_line(pilot, "carol's note")
        await wait_on_screen(pilot, "echo: carol's note")
        await type_line(pilot, "/profile alice")
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        await pilot.press(*"wrong", "enter")
        await wait_for(pilot, lambda: "cannot switch to profile 'alice'" in status_line(app))
        assert title_line(app).startswith("carol — notes")
        await type_line(pilot, "still carol")
        await wait_on_screen(pilot, "echo: still carol")
        await type_line(pilot, "/profile dave")
        await wait_for(pilot, lambda: isinstance(app.screen, PassphraseScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: "still profile 'carol'" in status_line(app))


async def test_a_new_profile_with_a_mistyped_second_passphrase_is_not_registered(
    server: Server,
) -> None:
    app = make_app(server, chat="notes")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/profile erin")
        await wait_on_screen(pilot, "passphrase for profile 'erin'")
        await pilot.press(*"tiger", "enter")
        await wait_on_screen(pilot, "profile 'erin' is new here")
        await pilot.press(*"tigre", "enter")
        await wait_for(pilot, lambda: "passphrases do not match" in status_line(app))
        assert title_line(app).startswith("alice — notes")
    assert await server.store.get_profile("erin") is None


async def test_key_shows_the_profile_fingerprint(server: Server) -> None:
    from chatthy.wire.signing import fingerprint
    from helpers import key_for

    app = make_app(server, chat="notes")
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, "connected")
        await type_line(pilot, "/key")
        await wait_on_screen(pilot, fingerprint(key_for("alice").public_key))
