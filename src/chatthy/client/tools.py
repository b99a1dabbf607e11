"""Tool calls as the front ends show them: one call, its result, a call waiting for the
user's approval, and the short lines every front end writes for them.

The server streams a reply's calls as turn events (``tool_call``, ``tool_result``,
``approve``) and stores a reply that ran tools as a list of parts (text, tool call, tool
result, in order). Both become the same few records here, so that the TUI, the line
client and ``chatthy ask`` say the same thing the same way: ``⚙ name(args…) → ok 0.2 s:
first line of the result``.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from chatthy.client.image_view import ImageRef, image_parts

__all__ = [
    "ANSWERS",
    "ApprovalRequest",
    "ToolCallInfo",
    "ToolResultInfo",
    "approval_question",
    "arguments_text",
    "call_line",
    "call_text",
    "has_tools",
    "parts_of",
    "result_line",
    "result_of",
    "result_summary",
]

ANSWERS = ("yes", "no", "always")
"""What the user may answer a call waiting for approval (``always``: this tool's calls in
this chat run without asking, until the server restarts)."""

ARGS_WIDTH = 60
"""Characters of a call's arguments shown on its one line."""

RESULT_WIDTH = 80
"""Characters of a result's first line shown on the call's line."""


@dataclass(frozen=True)
class ToolCallInfo:
    """The model asked for tool ``name`` with ``arguments`` (a JSON object's text)."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class ToolResultInfo:
    """What call ``call_id`` gave: ``content`` (the error's text when ``is_error``: the
    tool failed, was refused, or no such tool), how long it ran, and the images it
    returned."""

    call_id: str
    content: str
    is_error: bool = False
    name: str = ""
    seconds: float | None = None
    """None for a stored result (the store keeps no time)."""
    images: tuple[ImageRef, ...] = ()


def result_of(data: dict[str, Any]) -> ToolResultInfo:
    """A result as a ``tool_result`` event's data or a stored result part gives it (a
    stored one has no ``seconds``)."""
    ran = data.get("seconds")
    return ToolResultInfo(
        str(data.get("call_id", "")),
        str(data.get("content", "")),
        bool(data.get("is_error", False)),
        str(data.get("name", "")),
        float(ran) if isinstance(ran, int | float) and not isinstance(ran, bool) else None,
        tuple(image_parts(data.get("images"))),
    )


@dataclass
class ApprovalRequest:
    """A call that changes something waits for the user: answer it with
    ``Session.approve(call_id, answer)``. ``settled`` is done once it no longer waits —
    answered here (the answer), or elsewhere, run out, or the reply ended (``""``) — so
    that a front end takes its question away."""

    call_id: str
    name: str
    arguments: str
    timeout: float
    chat: str
    settled: asyncio.Future[str] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, answer: str = "") -> None:
        if not self.settled.done():
            self.settled.set_result(answer)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _decoded(arguments: str) -> dict[str, Any] | None:
    try:
        value = json.loads(arguments or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def call_text(name: str, arguments: str, width: int = ARGS_WIDTH) -> str:
    """``name(key="value", …)``: the arguments as the model gave them, cut at ``width``
    characters (arguments that are not a JSON object are shown as they came)."""
    given = _decoded(arguments)
    if given is None:
        inner = " ".join(arguments.split())
    else:
        inner = ", ".join(
            f"{key}={json.dumps(value, ensure_ascii=False)}" for key, value in given.items()
        )
    return f"{name}({_short(inner, width)})"


def arguments_text(arguments: str) -> str:
    """The arguments laid out to be read in full (indented JSON, else as they came)."""
    given = _decoded(arguments)
    if given is None:
        return arguments
    return json.dumps(given, indent=2, ensure_ascii=False)


def result_summary(result: ToolResultInfo) -> str:
    """``ok 0.2 s`` or ``error 0.0 s``: how the call went (no time for a stored one)."""
    how = "error" if result.is_error else "ok"
    return how if result.seconds is None else f"{how} {result.seconds:.1f} s"


def result_line(result: ToolResultInfo, width: int = RESULT_WIDTH) -> str:
    """``ok 0.2 s: the result's first line`` (cut at ``width``)."""
    first = next((line.strip() for line in result.content.splitlines() if line.strip()), "")
    return f"{result_summary(result)}: {_short(first, width)}" if first else result_summary(result)


def call_line(call: ToolCallInfo, result: ToolResultInfo | None = None) -> str:
    """A call on one line, with its result once there is one."""
    head = f"⚙ {call_text(call.name, call.arguments)}"
    return f"{head} → {result_line(result)}" if result is not None else head


def approval_question(request: ApprovalRequest) -> str:
    """What the user is asked: ``run workspace_write(name="a.txt", …)? [y]es/[n]o/[a]lways``."""
    return f"run {call_text(request.name, request.arguments)}? [y]es/[n]o/[a]lways"


def has_tools(content: Any) -> bool:
    """Whether a stored message's content holds tool calls or results."""
    return isinstance(content, list) and any(
        isinstance(part, dict) and part.get("type") in ("tool_call", "tool_result")
        for part in content
    )


def parts_of(content: Any) -> list[str | ToolCallInfo | ToolResultInfo]:
    """A stored reply's content in order: text (consecutive text parts joined), calls and
    results (with the images a tool returned); other parts (a message's own images) are
    left out."""
    if isinstance(content, str):
        return [content]
    out: list[str | ToolCallInfo | ToolResultInfo] = []
    for part in content or []:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            text = str(part.get("text", ""))
            if out and isinstance(out[-1], str):
                out[-1] = f"{out[-1]}\n\n{text}" if out[-1] and text else out[-1] + text
            else:
                out.append(text)
        elif kind == "tool_call":
            arguments = part.get("arguments", "{}")
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments, ensure_ascii=False)
            out.append(ToolCallInfo(str(part.get("id", "")), str(part.get("name", "")), arguments))
        elif kind == "tool_result":
            out.append(result_of(part))
    return out
