"""Editing text in the user's ``$VISUAL``/``$EDITOR``: a message to send again, a
workspace file. The full-screen client hands the terminal over around it (``around``);
the line client has nothing to hand over."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import tempfile
from pathlib import Path

from chatthy.errors import ChatthyError

__all__ = ["edit_in_editor"]


async def edit_in_editor(
    text: str, suffix: str = ".md", around: contextlib.AbstractContextManager[object] | None = None
) -> str | None:
    """``text`` as the user left it in ``$VISUAL``/``$EDITOR`` (``vi`` without either),
    the editor run inside ``around``; None when it came back unchanged or empty.

    Raises:
        ChatthyError: the editor cannot be started or exits with an error.
    """
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="chatthy-") as folder:
        path = Path(folder) / f"message{suffix}"
        path.write_text(text, encoding="utf-8")
        with around or contextlib.nullcontext():
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
