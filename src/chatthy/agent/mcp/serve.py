"""``chatthy mcp serve``: not built yet (issue 12, in progress)."""

from __future__ import annotations

import argparse
import sys


def serve_command(args: argparse.Namespace) -> int:
    print("chatthy: mcp serve is not built yet", file=sys.stderr)
    return 1
