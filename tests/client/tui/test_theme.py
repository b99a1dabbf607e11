"""The colours: ``theme`` in client.toml, ``/theme`` while running."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatthy.client.settings import resolve
from chatthy.client.tui.app import tui_app
from chatthy.config import load_client_config, save_client_value, write_defaults
from chatthy.errors import ConfigError
from chatthy.server.app import Server
from tuikit import (
    SIZE,
    highlighted,
    make_app,
    screen_text,
    status_line,
    type_line,
    wait_for,
    wait_on_screen,
)


async def test_the_theme_in_client_toml_colours_the_client(
    server: Server, isolated_env: Path
) -> None:
    config = isolated_env / "config"
    config.mkdir()
    (config / "client.toml").write_text(
        f'server = "{server.address}"\nprofile = "alice"\npassphrase = "secret"\ntheme = "nord"\n'
    )
    app = tui_app(resolve(), "default")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted, what="the chat open")
        assert app.theme == "nord"
        primary = app.get_theme("nord")
        assert primary is not None
        title = highlighted(app, f"on {primary.primary}")
        assert any("alice — default" in run for run in title)
        assert "unknown theme" not in status_line(app)


async def test_an_unknown_theme_is_one_line_and_the_default_is_used(server: Server) -> None:
    app = make_app(server, theme="no-such-theme")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted, what="the chat open")
        assert status_line(app).endswith(
            " · client.toml: unknown theme 'no-such-theme', using textual-dark"
        )
        assert app.theme == "textual-dark"
        await type_line(pilot, "still here?")
        await wait_on_screen(pilot, "echo: still here?")
        await wait_for(pilot, lambda: "streaming" not in status_line(app), what="the end")


async def test_slash_theme_lists_and_switches(server: Server) -> None:
    app = make_app(server)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.session.booted, what="the chat open")
        await type_line(pilot, "/theme")
        await wait_on_screen(pilot, "theme 'textual-dark'; the themes:")
        assert "gruvbox" in screen_text(app)
        await type_line(pilot, "/theme gruvbox")
        await wait_for(pilot, lambda: "theme is now 'gruvbox' (saved in" in status_line(app))
        assert app.theme == "gruvbox"
        assert load_client_config().theme == "gruvbox"  # the next start has it too
        await type_line(pilot, "/theme nope")
        await wait_for(pilot, lambda: "error: unknown theme 'nope'" in status_line(app))
        assert app.theme == "gruvbox"


def test_config_init_writes_the_theme(tmp_path: Path) -> None:
    write_defaults(tmp_path)
    text = (tmp_path / "client.toml").read_text()
    assert '\ntheme = "textual-dark"\n' in text
    assert load_client_config(tmp_path / "client.toml").theme == "textual-dark"
    (tmp_path / "client.toml").write_text(text.replace('"textual-dark"', '"dracula"'))
    assert load_client_config(tmp_path / "client.toml").theme == "dracula"


def test_saving_a_value_keeps_the_rest_of_client_toml(tmp_path: Path) -> None:
    write_defaults(tmp_path)
    before = (tmp_path / "client.toml").read_text()
    save_client_value("theme", "nord", tmp_path)
    after = (tmp_path / "client.toml").read_text()
    assert after == before.replace('theme = "textual-dark"', 'theme = "nord"')
    (tmp_path / "client.toml").write_text('# theme = "x"\nprofile = "bo"\n[extra]\ntheme = 1\n')
    save_client_value("theme", "dracula", tmp_path)
    assert (tmp_path / "client.toml").read_text() == (
        'theme = "dracula"\nprofile = "bo"\n[extra]\ntheme = 1\n'
    )
    (tmp_path / "client.toml").write_text('profile = "bo"\n[extra]\n')
    save_client_value("theme", "nord", tmp_path)
    assert (tmp_path / "client.toml").read_text() == 'profile = "bo"\ntheme = "nord"\n[extra]\n'


def test_a_client_toml_that_cannot_be_saved_is_left_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "client.toml").write_text("profile = \n")
    with pytest.raises(ConfigError, match=r"cannot save theme in .*client\.toml"):
        save_client_value("theme", "nord", tmp_path)
    assert (tmp_path / "client.toml").read_text() == "profile = \n"
    assert save_client_value("theme", "nord", tmp_path / "new") == tmp_path / "new" / "client.toml"
    assert load_client_config(tmp_path / "new" / "client.toml").theme == "nord"


def test_saving_keeps_the_file_s_mode_and_link_and_refuses_a_line_inside_a_string(
    tmp_path: Path,
) -> None:
    real = tmp_path / "dotfiles" / "client.toml"
    real.parent.mkdir()
    real.write_text('passphrase = "s3cret"\n')
    real.chmod(0o600)
    config = tmp_path / "config"
    config.mkdir()
    (config / "client.toml").symlink_to(real)
    save_client_value("theme", "nord", config)
    assert (config / "client.toml").is_symlink()
    assert real.read_text() == 'passphrase = "s3cret"\ntheme = "nord"\n'
    assert real.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in real.parent.iterdir()) == ["client.toml"]  # no leftovers
    tricky = 'prompt = """\ntheme = "x"\n"""\n'
    real.write_text(tricky)
    with pytest.raises(ConfigError, match="no top-level line to set it"):
        save_client_value("theme", "nord", config)
    assert real.read_text() == tricky
