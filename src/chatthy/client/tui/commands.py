"""The full-screen client's own commands, added to the one command table
(:mod:`chatthy.client.command_table`) for this front end only: ``/theme`` and
``/profile``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from chatthy.client.command_table import TABLE, Front
from chatthy.client.session import Session
from chatthy.client.tui.profile import switch_profile
from chatthy.config import save_client_value
from chatthy.errors import ArgumentError, ConfigError

if TYPE_CHECKING:
    from chatthy.client.tui.app import ChatthyApp

__all__: list[str] = []


def _app(front: Front) -> ChatthyApp:
    from chatthy.client.tui.app import ChatthyApp

    assert isinstance(front, ChatthyApp)
    return front


@TABLE.command(
    "profile NAME", "switch to profile NAME (asks its passphrase if need be)", fronts=["tui"]
)
async def _profile(s: Session, f: Front, words: list[str]) -> None:
    if not words:
        raise ArgumentError("a profile name needed: /profile NAME")
    await switch_profile(_app(f), " ".join(words))


@TABLE.command(
    "theme [NAME]",
    "switch the colours to Textual theme NAME, saved in client.toml",
    complete={"NAME": "themes"},
    fronts=["tui"],
)
async def _theme(s: Session, f: Front, words: list[str]) -> None:
    app = _app(f)
    if not words:
        names = ", ".join(sorted(app.available_themes))
        await app.notice(f"theme '{app.theme}'; the themes: {names}")
        return
    app.use_theme(" ".join(words))
    try:
        saved = await asyncio.to_thread(save_client_value, "theme", app.theme)
    except ConfigError as exc:
        app.status(f"theme is now '{app.theme}', for this session: {exc.message}", "error")
        return
    app.status(f"theme is now '{app.theme}' (saved in {saved})")
