"""Workspace files as the model sees them, and the check that they fit.

Each active file is one system message after the system prompt and before the history,
labelled with its name and source; files a client attached for this turn only follow the
stored ones, their source marked ``transient:``. Files are never dropped to make room:
when they do not fit beside the newest turn, :func:`check_workspace_fits` names them and
says by how many tokens the context is over, so the user can bench, drop or detach some.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from chatthy.context.tokens import count_message_tokens
from chatthy.conversation.model import Message
from chatthy.errors import ArgumentError

__all__ = [
    "TRANSIENT",
    "WorkspaceFile",
    "check_workspace_fits",
    "files_fit",
    "newest_turn",
    "workspace_message",
]

TRANSIENT = "transient:"
"""Source prefix of a file attached by a client for one turn (never stored)."""


class WorkspaceFile(Protocol):
    """What a workspace file needs to go into a context (a store record has it)."""

    name: str
    text: str
    source: str


def _attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("\n", " ")


def workspace_message(file: WorkspaceFile) -> Message:
    """One file as a system message, its text between tags naming it and its source."""
    label = f'name="{_attribute(file.name)}"'
    if file.source:
        label += f' source="{_attribute(file.source)}"'
    return Message.of_text("system", f"<workspace_file {label}>\n{file.text}\n</workspace_file>")


def _listed_name(file: WorkspaceFile) -> str:
    return f"{file.name} [attached]" if file.source.startswith(TRANSIENT) else file.name


def newest_turn(history: list[Message]) -> list[Message]:
    """The messages from the last user message on: what a context must always hold."""
    users = [i for i, message in enumerate(history) if message.role == "user"]
    return history[users[-1] :] if users else history


def check_workspace_fits(
    system: list[Message],
    files: Sequence[WorkspaceFile],
    history: list[Message],
    budget: int,
    counter: Callable[[list[Message]], int] = count_message_tokens,
) -> int:
    """The tokens of ``files``' messages, once sure they fit in ``budget`` beside the
    system prompt and the newest turn of ``history`` (see :func:`files_fit`)."""
    messages = [workspace_message(f) for f in files]
    newest = counter(newest_turn(history))
    return files_fit(counter(system), files, messages, newest, budget, counter)


def files_fit(
    system_tokens: int,
    files: Sequence[WorkspaceFile],
    messages: Sequence[Message],
    newest_tokens: int,
    budget: int,
    counter: Callable[[list[Message]], int] = count_message_tokens,
) -> int:
    """The tokens of ``files`` (as ``messages``, one each), once sure they fit in
    ``budget`` beside ``system_tokens`` and the newest turn's ``newest_tokens``.

    Raises:
        ArgumentError: they do not fit, naming each file (largest first) with its tokens
            and how many tokens too many there are. A newest turn that does not fit even
            without the workspace is not this check's to report.
    """
    counts = [(counter([m]), _listed_name(f)) for f, m in zip(files, messages, strict=True)]
    workspace = sum(count for count, _ in counts)
    fixed = system_tokens + newest_tokens
    over = fixed + workspace - budget
    if over <= 0 or fixed > budget:
        return workspace
    listed = ", ".join(f"{name} ({count:,})" for count, name in sorted(counts, reverse=True))
    detach = any(f.source.startswith(TRANSIENT) for f in files)
    raise ArgumentError(
        f"the workspace does not fit the context: {over:,} tokens too many. Its files "
        f"(tokens): {listed}. Bench or drop some (chatthy ws bench NAME)"
        + (", or detach attached ones (/ws detach PATH)" if detach else "")
    )
