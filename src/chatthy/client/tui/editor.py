"""Editing text in the user's ``$EDITOR`` while the screen is handed over to it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatthy.errors import ChatthyError

if TYPE_CHECKING:
    from textual.app import App

__all__ = ["edit_text"]


async def edit_text(app: App[Any], text: str, suffix: str = ".md") -> str | None:
    """``text`` as the user left it in ``$VISUAL``/``$EDITOR`` (``vi`` without either);
    None when it came back unchanged or empty.

    Raises:
        ChatthyError: the editor cannot be started or exits with an error.
    """
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="chatthy-") as folder:
        path = Path(folder) / f"message{suffix}"
        path.write_text(text, encoding="utf-8")
        screen = contextlib.nullcontext() if app.is_headless else app.suspend()
        with screen:
            try:
                proc = await asyncio.create_subprocess_exec(*shlex.split(editor), str(path))
            except OSError as exc:
                raise ChatthyError(f"cannot run editor '{editor}': {exc.strerror}") from None
            code = await proc.wait()
        if code != 0:
            raise ChatthyError(f"editor '{editor}' exited with status {code}: nothing changed")
        edited = path.read_text(encoding="utf-8").rstrip("\n")
    if not edited.strip() or edited == text.rstrip("\n"):
        return None
    return edited
