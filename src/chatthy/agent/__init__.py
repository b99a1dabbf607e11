"""The API layer: the tool loop, tools (built-in, plugins, MCP), agents and chains, and
the router app that serves them over HTTP. Its input is messages plus options; its output
is the stream of events a provider yields (see :mod:`chatthy.agent.loop`).

A tool plugin needs only :func:`tool` (and :class:`ToolContext`, :class:`ToolError` when
it wants them; :class:`ToolOutcome` and :func:`picture` to return images):
``from chatthy.agent import tool``."""

from chatthy.agent.plugins import tool
from chatthy.agent.tools import ToolContext, ToolError, ToolOutcome, picture

__all__ = ["ToolContext", "ToolError", "ToolOutcome", "picture", "tool"]
