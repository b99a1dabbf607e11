"""``chatthy mcp import``: not built yet (issue 12, in progress)."""

from __future__ import annotations

import sys
from pathlib import Path


def import_command(file: str, config: Path | None, *, replace: bool = False) -> int:
    print("chatthy: mcp import is not built yet", file=sys.stderr)
    return 1
