"""The full-screen terminal client (Textual). Only ``chatthy [tui]`` imports this package,
so that ``chatthy ask`` and the server never load Textual."""

from __future__ import annotations

from chatthy.client.tui.app import ChatthyApp, run_tui

__all__ = ["ChatthyApp", "run_tui"]
