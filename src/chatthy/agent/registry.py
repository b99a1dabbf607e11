"""The tools of one server: the built-ins, then the plugins (the ``chatthy.tools`` entry
points, then ``tools/*.py`` in the config dir), then the tool chains
(``chains/NAME.toml`` as ``chain_NAME``), a later one of a name replacing an earlier one.
Every tool runs at most ``[tools] timeout`` seconds. :func:`offered` is which of them a
turn offers: the one rule the chat server and the router share."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from chatthy.agent.builtin import builtin_tools
from chatthy.agent.chains import chain_tools, load_chains
from chatthy.agent.plugins import load_plugins
from chatthy.agent.tools import Tool, ToolRegistry, is_pattern, named
from chatthy.config import ProviderConfig, ServerConfig, ToolsConfig
from chatthy.providers.base import Provider

if TYPE_CHECKING:
    from chatthy.agent.mcp.manager import McpManager

__all__ = ["offered", "server_tools", "takes_tools", "with_mcp"]


def server_tools(
    config: ServerConfig, provider_of: Callable[[str | None], Provider] | None = None
) -> ToolRegistry:
    """Every tool this server has (what ``[tools] enabled`` chooses from); what could
    not be loaded is in the registry's ``problems``. The chains come too when
    ``provider_of`` says which provider a chain's template step runs on (the one it
    names, or the default for None)."""
    registry = ToolRegistry()
    timeout = config.tools.timeout
    for tool in builtin_tools():
        tool.timeout = min(tool.timeout, timeout)
        registry.add(tool)
    load_plugins(registry, config.config_dir, timeout)
    if provider_of is not None:
        chains, problems = load_chains(Path(config.config_dir))
        registry.problems.extend(problems)
        for tool in chain_tools(chains, provider_of, registry):
            registry.add(tool)
    return registry


def takes_tools(provider: Provider, provider_config: ProviderConfig | None) -> bool:
    """Whether a turn on ``provider`` may be offered tools at all: its class declares
    them and its config does not say ``tools = false``."""
    return provider.capabilities.tools and (provider_config is None or provider_config.tools)


def offered(
    registry: ToolRegistry,
    settings: ToolsConfig,
    provider: Provider,
    provider_config: ProviderConfig | None,
    allowed: list[str] | None,
) -> list[Tool]:
    """The tools a turn offers: none when the provider cannot take tools or its config
    says not to; else those ``[tools] enabled`` names, narrowed to ``allowed`` (a
    personality's or agent's ``tools``) when it is not None. In ``enabled``'s order, or
    when it is not set the built-ins first, then the rest, each by name: the order in
    which a ``schema_budget`` offers them before holding the rest back
    (:func:`~chatthy.agent.search.split_tools`)."""
    if not takes_tools(provider, provider_config):
        return []
    tools = registry.tools(settings.enabled)
    if settings.enabled is None:
        tools.sort(key=lambda tool: tool.origin != "built-in")  # stable: by name within
    if allowed is not None:
        tools = [tool for tool in tools if named(tool.name, allowed)]
    return tools


async def with_mcp(
    registry: ToolRegistry,
    mcp: McpManager | None,
    settings: ToolsConfig,
    allowed: list[str] | None,
) -> list[str]:
    """Start the MCP servers whose tools a turn may offer (on their first use; the
    ``[tools] enabled`` names and ``allowed`` choose them as they choose tools: a server
    is wanted when one of its ``SERVER__TOOL`` names is, or when they name no tools at
    all) and put the ready servers' tools in ``registry``, in place of what they had
    there. One line for each server that could not start."""
    if mcp is None:
        return []
    wanted = [info.name for info in mcp.infos() if info.state != "disabled"]
    for names in (settings.enabled, allowed):
        if names is not None:
            wanted = [s for s in wanted if any(_may_name(n, s) for n in names)]
    problems = await mcp.start(wanted) if wanted else []
    registry.replace_origin("mcp:", mcp.tools())
    return problems


def _may_name(entry: str, server: str) -> bool:
    """Whether a name or pattern of ``[tools] enabled`` (or an agent's ``tools``) may
    stand for a tool of MCP server ``server`` (``server__x``, ``server__*``, ``*``)."""
    head, separator, _ = entry.partition("__")
    if not separator:
        return is_pattern(entry)  # a bare "*" may name anything; "current_time" no server
    return fnmatch.fnmatchcase(server, head)
