"""What the client tests of tool calls share: a server whose model may call a tool that
changes something."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatthy.agent.tools import Tool
from chatthy.server.app import Server
from helpers import ServerFactory, openai_provider
from upstream import Upstream


@pytest.fixture
async def tooled(servers: ServerFactory, upstream: Upstream, tmp_path: Path) -> Server:
    """A server on the upstream with a tool that changes something: ``save_note`` writes
    a file in ``tmp_path/notes`` (so a test sees whether it ran); ``current_time`` is the
    built-in read-only one."""
    notes = tmp_path / "notes"
    notes.mkdir()

    def save_note(name: str, text: str) -> str:
        """Save a note.

        Args:
            name: the note's file name.
            text: what it says.
        """
        (notes / name).write_text(text, encoding="utf-8")
        return f"saved {name} ({len(text)} characters)"

    srv = await servers.start({"up": openai_provider(upstream)})
    srv.engine.tools.add(Tool.from_function(save_note, changes=True))
    return srv
