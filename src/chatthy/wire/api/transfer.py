"""RPCs that move a chat to and from a file the client holds: export, import, and the
import in pieces (``import_begin``, ``import_append``, ``import_finish``) for files larger
than one request may be."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from chatthy.wire.api._base import Call, Result

__all__ = [
    "Export",
    "Exported",
    "Import",
    "ImportAppend",
    "ImportBegin",
    "ImportFinish",
    "ImportProgress",
    "ImportUpload",
    "Imported",
    "ImportedChat",
]


class Exported(Result):
    """A chat rendered as ``format`` (``json``, ``md`` or ``openai``): the text to save.
    JSON and OpenAI carry their images inline (``data:`` URLs); Markdown links them as
    files beside it: ``images`` maps each path it links (``images/….png``) to the digest
    to fetch it by (RPC ``image``)."""

    chat: str
    format: str
    data: str
    images: dict[str, str] = msgspec.field(default_factory=dict)


class ImportedChat(Result):
    """One chat an import made, and how many messages it holds."""

    chat: str
    messages: int


class Imported(Result):
    """The chat made from the file, and how many messages it holds; ``chats`` lists
    every chat made, in the file's order (an export of ChatGPT or claude.ai makes one
    per conversation), the first being ``chat``."""

    chat: str
    messages: int
    chats: list[ImportedChat] = msgspec.field(default_factory=list)


class ImportUpload(Result):
    """An import begun: its id, and the most bytes one ``import_append`` may carry."""

    upload: str
    chunk: int


class ImportProgress(Result):
    """How many bytes of the upload the server holds so far."""

    upload: str
    received: int


class Export(Call[Exported]):
    """A chat as text for the client to save: our JSON, Markdown, or the OpenAI
    messages list (``openai``, as ``/v1/chat/completions`` takes it)."""

    method = "export"
    chat: str
    format: Literal["md", "json", "openai"] = "json"


class Import(Call[Imported]):
    """Create a chat from a file's text."""

    method = "import"
    names_new_chat = True
    data: str
    """The file's text: chatthy JSON or Markdown, OpenAI messages JSON, or a ChatGPT or
    claude.ai ``conversations.json`` (a chat per conversation)."""
    chat: str | None = None
    """Name for the new chat (the first, where the file holds several; the others are
    named after it); by default the file's, made unique."""


class ImportBegin(Call[ImportUpload]):
    """Begin importing a file too large for one request: send its UTF-8 bytes with
    ``import_append`` in order, then ``import_finish``. An upload left idle is dropped."""

    method = "import_begin"
    size: Annotated[int, msgspec.Meta(ge=0)]
    """The file's size in bytes of UTF-8 (at most the server's ``max_import``)."""
    chat: str | None = None
    """Name for the new chat; by default the file's, made unique."""


class ImportAppend(Call[ImportProgress]):
    """The next piece of an upload, starting at byte ``offset`` (the bytes received so
    far: a piece sent again is refused, not added twice)."""

    method = "import_append"
    upload: str
    offset: Annotated[int, msgspec.Meta(ge=0)]
    data: bytes


class ImportFinish(Call[Imported]):
    """Create the chat from an upload whose every byte has arrived."""

    method = "import_finish"
    upload: str
