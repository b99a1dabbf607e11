"""RPCs of instruction templates: list them, and run one as a turn of a chat."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from chatthy.wire.api._base import Call, Result
from chatthy.wire.api.replies import Started, TransientFile

__all__ = ["Template", "TemplateInfo", "Templates"]


class TemplateInfo(Result):
    """A template: its name, description, placeholders (besides the document) and their
    defaults, and the file it came from; one that cannot be used has an ``error``
    instead."""

    name: str
    description: str = ""
    placeholders: list[str] = msgspec.field(default_factory=list)
    defaults: dict[str, str] = msgspec.field(default_factory=dict)
    origin: str = ""
    error: str | None = None


class Templates(Call[list[TemplateInfo]]):
    """List the instruction templates: name, description, placeholders and defaults."""

    method = "templates"


class Template(Call[Started]):
    """Run an instruction template on a workspace file (`file`) or, without one, on the
    chat so far; the reply streams into the chat like `chat`'s."""

    method = "template"
    chat: str
    name: str
    args: dict[str, str] = msgspec.field(default_factory=dict)
    """Values of the template's placeholders (over its defaults)."""
    file: str | None = None
    """The workspace file to run on; the chat so far when omitted."""
    transient: list[TransientFile] | None = None
    params: dict[str, Any] | None = None
    provider: str | None = None
    """As for ``chat``: the provider, personality or model a chat made here gets (an
    existing chat is switched to them)."""
    prompt: str | None = None
    model: str | None = None
    approve: Literal["ask", "yes", "no"] = "no"
    """As for ``chat``: what to do with calls of tools that change something."""
