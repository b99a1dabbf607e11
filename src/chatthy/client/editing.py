"""Editing text in the user's ``$VISUAL``/``$EDITOR``: a message to send again, a
workspace file. The full-screen client hands the terminal over around it (``around``);
the line client has nothing to hand over."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from chatthy.errors import ChatthyError, NotFoundError
from chatthy.wire import api

if TYPE_CHECKING:
    from chatthy.client.core import Client

__all__ = ["edit_in_editor", "edit_workspace_file", "kept_on_failure"]


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


Editor = Callable[[str, str], Awaitable[str | None]]
"""Edits a text (with a file suffix for the editor's syntax); None if it is unchanged."""


async def edit_workspace_file(client: Client, name: str, edit: Editor) -> api.WorkspaceFile | None:
    """The workspace file ``name`` (a new one if there is none) edited with ``edit`` and
    saved on the server; the file as saved, None when it came back unchanged.

    Raises:
        ChatthyError: the name is not valid, the editor failed, or the server refused
            the text (then kept in a file the message names).
    """
    try:
        file = await client.rpc(api.WsShow(name=name))
        text, source = file.text or "", file.source
    except NotFoundError:
        text, source = "", "typed"
    suffix = Path(name).suffix or ".md"
    edited = await edit(text, suffix)
    if edited is None:
        return None
    with kept_on_failure(edited, suffix):
        return await client.rpc(api.WsAdd(name=name, text=edited, source=source))
