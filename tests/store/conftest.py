"""The store test-suite, written once and run against every backend of :data:`BACKENDS`.

A test that takes ``store`` (or ``open_store``) runs once per backend, through the same
code: the :class:`~chatthy.store.base.Store` methods the server calls. Only
``test_sqlite_only.py`` is about one backend (the file, WAL, corruption, migrations, FTS5
syntax); it pins ``backend`` to SQLite.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest

from chatthy.store.base import Store
from storekit import ALICE, BACKENDS, BOB, Backend, Opener


@pytest.fixture(params=BACKENDS, ids=[backend.name for backend in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Each backend in turn; a module about one backend overrides this fixture."""
    return cast(Backend, request.param)


@pytest.fixture
async def open_store(backend: Backend, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens stores on one fresh database of ``backend``: to reopen, or to share it."""
    async with backend.place(backend.cls, tmp_path) as opener:
        yield opener


@pytest.fixture
async def store(open_store: Opener) -> AsyncIterator[Store]:
    """An open store where alice and bob are registered and have no chats yet."""
    opened = await open_store()
    await opened.register_profile(ALICE, b"a" * 32)
    await opened.register_profile(BOB, b"b" * 32)
    try:
        yield opened
    finally:
        await opened.aclose()


@pytest.fixture
async def chat(store: Store) -> str:
    """Alice's chat "plans" with one question and one answer."""
    await store.create_chat(ALICE, "plans", "helper", "echo", "echo-1")
    await store.add_message(ALICE, "plans", "user", "Where should we go hiking?")
    await store.add_message(ALICE, "plans", "assistant", "Try the ridge trail near the lake.")
    return "plans"
