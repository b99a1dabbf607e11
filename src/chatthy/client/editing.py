"""Editing text in the user's ``$VISUAL``/``$EDITOR``: a message to send again, a
workspace file. The full-screen client hands the terminal over around it (``around``);
the line client has nothing to hand over."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import tempfile
from collections.abc import Iterator
from pathlib import Path

from chatthy.errors import ChatthyError

__all__ = ["edit_in_editor", "kept_on_failure"]


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


@contextlib.contextmanager
def kept_on_failure(text: str, suffix: str = ".md") -> Iterator[None]:
    """Around sending what the user edited: if that fails, ``text`` is written to a file
    that stays, and the error says where, so that no edit is lost.

    Raises:
        ChatthyError: the one raised inside, its message led by the file's path (the
            full-screen client's status line may cut its end).
    """
    try:
        yield
    except ChatthyError as exc:
        handle, name = tempfile.mkstemp(prefix="chatthy-unsaved-", suffix=suffix)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text if text.endswith("\n") else text + "\n")
        raise ChatthyError(f"your text is kept in {name}: {exc.message}") from exc
