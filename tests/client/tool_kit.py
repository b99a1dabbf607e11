"""The model's side of the tool tests: replies scripted on the upstream that call the
test server's ``save_note`` (see ``tests/client/conftest.py``)."""

from __future__ import annotations

from upstream import Reply, Upstream

NOTE_ARGS = '{"name": "a.txt", "text": "hello from the model"}'


def script_note(upstream: Upstream, call_id: str = "call_1", after: str = "Done.") -> None:
    """The model says it saves a note, calls ``save_note``, then answers ``after``."""
    upstream.push(Reply(chunks=["Saving it."], tool_calls=[(call_id, "save_note", NOTE_ARGS)]))
    upstream.push(Reply(chunks=[after]))
