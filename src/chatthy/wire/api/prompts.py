"""RPCs that manage prompts (personalities) like chats: list, get, set, rename, copy, delete."""

from __future__ import annotations

from chatthy.wire.api._base import Call, Result

__all__ = [
    "Prompt",
    "PromptCopy",
    "PromptDelete",
    "PromptDeleted",
    "PromptInfo",
    "PromptRename",
    "PromptSet",
    "Prompts",
]


class PromptInfo(Result):
    """A prompt: its name, text, ``source`` (``profile``: yours; ``server``: a default of
    the server's) and when it last changed."""

    name: str
    text: str
    source: str
    updated: float = 0.0


class PromptDeleted(Result):
    name: str
    deleted: bool = True


class Prompts(Call[list[PromptInfo]]):
    """List the prompts (personalities) you can use: yours and the server's defaults."""

    method = "prompts"


class Prompt(Call[PromptInfo]):
    """Show one prompt's text."""

    method = "prompt"
    name: str


class PromptSet(Call[PromptInfo]):
    """Create or replace one of your prompts."""

    method = "prompt_set"
    name: str
    text: str


class PromptRename(Call[PromptInfo]):
    """Rename one of your prompts."""

    method = "prompt_rename"
    name: str
    new: str


class PromptCopy(Call[PromptInfo]):
    """Copy a prompt (yours or a server default) to a new name of yours."""

    method = "prompt_copy"
    name: str
    new: str


class PromptDelete(Call[PromptDeleted]):
    """Delete one of your prompts."""

    method = "prompt_delete"
    name: str
