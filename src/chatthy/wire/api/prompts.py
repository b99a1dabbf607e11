"""RPCs that manage prompts (personalities) like chats: list, get, set, rename, copy,
delete; and the server's agents (personalities with their own tools and model)."""

from __future__ import annotations

from chatthy.wire.api._base import Call, Result

__all__ = [
    "AgentInfo",
    "Agents",
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


class AgentInfo(Result):
    """One of the server's agents (``agents/NAME.md``): what it is for, the tools it may
    use (none listed: every tool the server offers), its provider and model if it names
    them, and its step limit (0: the server's)."""

    name: str
    description: str = ""
    tools: list[str] | None = None
    provider: str = ""
    model: str = ""
    max_steps: int = 0


class Agents(Call[list[AgentInfo]]):
    """List the server's agents; a chat uses one as its personality (`--agent NAME`)."""

    method = "agents"
