"""The built-in tools. Their names are a contract (issue 11): ``workspace_list``,
``workspace_read``, ``workspace_write``, ``workspace_delete``, ``workspace_patch``,
``fetch_url``, ``current_time``; each acts only on the calling profile's data."""

from __future__ import annotations

import datetime
import zoneinfo

from chatthy.agent.tools import Tool, ToolError

__all__ = ["builtin_tools"]


def current_time(timezone: str = "UTC") -> str:
    """The current date and time, in ISO 8601, in an IANA time zone.

    Args:
        timezone: e.g. "Europe/Paris"; UTC when not given.
    """
    try:
        zone = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone '{timezone}' (an IANA name: Europe/Paris)") from None
    now = datetime.datetime.now(zone)
    return f"{now.isoformat(timespec='seconds')} ({now:%A}, {timezone})"


def builtin_tools() -> list[Tool]:
    """Every built-in tool."""
    return [Tool.from_function(current_time)]
