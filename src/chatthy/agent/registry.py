"""The tools of one server: the built-ins, then the plugins (the ``chatthy.tools`` entry
points, then ``tools/*.py`` in the config dir), a later one of a name replacing an
earlier one. Every tool runs at most ``[tools] timeout`` seconds."""

from __future__ import annotations

from chatthy.agent.builtin import builtin_tools
from chatthy.agent.plugins import load_plugins
from chatthy.agent.tools import ToolRegistry
from chatthy.config import ServerConfig

__all__ = ["server_tools"]


def server_tools(config: ServerConfig) -> ToolRegistry:
    """Every tool this server has (what ``[tools] enabled`` chooses from); what could
    not be loaded is in the registry's ``problems``."""
    registry = ToolRegistry()
    timeout = config.tools.timeout
    for tool in builtin_tools():
        tool.timeout = min(tool.timeout, timeout)
        registry.add(tool)
    load_plugins(registry, config.config_dir, timeout)
    return registry
