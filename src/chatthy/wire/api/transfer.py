"""RPCs that move a chat to and from a file the client holds: export, import."""

from __future__ import annotations

from typing import Literal

from chatthy.wire.api._base import Call, Result

__all__ = ["Export", "Exported", "Import", "Imported"]


class Exported(Result):
    """A chat rendered as ``format`` (``json`` or ``md``): the text to save."""

    chat: str
    format: str
    data: str


class Imported(Result):
    """The chat made from the file, and how many messages it holds."""

    chat: str
    messages: int


class Export(Call[Exported]):
    """A chat as JSON or Markdown text, for the client to save."""

    method = "export"
    chat: str
    format: Literal["md", "json"] = "json"


class Import(Call[Imported]):
    """Create a chat from a file's text."""

    method = "import"
    names_new_chat = True
    data: str
    """The file's text: chatthy JSON or Markdown, or OpenAI messages JSON."""
    chat: str | None = None
    """Name for the new chat; by default the file's, made unique."""
