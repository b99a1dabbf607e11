"""What every test of the full-screen client relies on, pinned: the colours are on
whatever the shell that starts the suite holds (a test of NO_COLOR sets it itself)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def colours_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual reads NO_COLOR when an app is made: a user's NO_COLOR=1 would turn every
    colour the tests look for grey."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_COLOR_SYSTEM", raising=False)
