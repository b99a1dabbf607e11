"""Editing text in the user's ``$EDITOR`` while the screen is handed over to it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from chatthy.client.editing import edit_in_editor

if TYPE_CHECKING:
    from textual.app import App

__all__ = ["edit_text"]


async def edit_text(app: App[Any], text: str, suffix: str = ".md") -> str | None:
    """:func:`edit_in_editor` with the terminal handed over to the editor (not when the
    app runs headless, in tests)."""
    around = contextlib.nullcontext() if app.is_headless else app.suspend()
    return await edit_in_editor(text, suffix, around)
