"""Workspace files: put, replace, list, rename, bench, delete, names."""

from __future__ import annotations

import pytest

from chatthy.errors import ArgumentError, ConflictError, NotFoundError
from chatthy.store.base import Store
from chatthy.store.rules import NAME_MAX
from storekit import Opener

ALICE, BOB = "alice", "bob"


async def test_put_get_and_list_by_name(store: Store) -> None:
    await store.put_workspace_file(ALICE, "notes.txt", "buy milk", "/home/a/notes.txt")
    saved = await store.put_workspace_file(ALICE, " docs/sub/colour.md ", "# Colour", "stdin")
    assert saved.name == "docs/sub/colour.md"
    assert (saved.text, saved.source, saved.benched) == ("# Colour", "stdin", False)
    assert await store.get_workspace_file(ALICE, "docs/sub/colour.md") == saved
    assert [f.name for f in await store.list_workspace(ALICE)] == [
        "docs/sub/colour.md",
        "notes.txt",
    ]


async def test_put_replaces_text_and_keeps_bench_and_creation(store: Store) -> None:
    first = await store.put_workspace_file(ALICE, "a.md", "one")
    await store.set_workspace_benched(ALICE, "a.md", True)
    second = await store.put_workspace_file(ALICE, "a.md", "two", "elsewhere")
    assert (second.text, second.source, second.benched) == ("two", "elsewhere", True)
    assert second.created == first.created
    assert second.updated >= first.updated
    assert len(await store.list_workspace(ALICE)) == 1


async def test_bench_restore_rename_delete(store: Store) -> None:
    await store.put_workspace_file(ALICE, "a.md", "one")
    assert (await store.set_workspace_benched(ALICE, "a.md", True)).benched
    assert not (await store.set_workspace_benched(ALICE, "a.md", False)).benched
    renamed = await store.rename_workspace_file(ALICE, "a.md", "dir/b.md")
    assert (renamed.name, renamed.text) == ("dir/b.md", "one")
    with pytest.raises(NotFoundError):
        await store.get_workspace_file(ALICE, "a.md")
    await store.delete_workspace_file(ALICE, "dir/b.md")
    assert await store.list_workspace(ALICE) == []


async def test_missing_and_taken_names(store: Store) -> None:
    await store.put_workspace_file(ALICE, "a.md", "one")
    await store.put_workspace_file(ALICE, "b.md", "two")
    with pytest.raises(ConflictError, match=r"b\.md"):
        await store.rename_workspace_file(ALICE, "a.md", "b.md")
    for call in (
        store.get_workspace_file(ALICE, "nope"),
        store.set_workspace_benched(ALICE, "nope", True),
        store.rename_workspace_file(ALICE, "nope", "x"),
        store.delete_workspace_file(ALICE, "nope"),
    ):
        with pytest.raises(NotFoundError, match="no workspace file named 'nope'"):
            await call


@pytest.mark.parametrize(
    "name",
    [
        "",
        "  ",
        "x" * (NAME_MAX + 1),
        "a\nb",
        "a\x00b",
        "/etc/passwd",
        "\\server\\share",
        "docs\\colour.md",
        "..",
        "../secret",
        "docs/../../secret",
        "docs/./a",
        "docs//a",
        "docs/",
    ],
)
async def test_bad_names_are_refused(store: Store, name: str) -> None:
    with pytest.raises(ArgumentError, match="workspace file name"):
        await store.put_workspace_file(ALICE, name, "text")
    await store.put_workspace_file(ALICE, "ok.md", "text")
    with pytest.raises(ArgumentError, match="workspace file name"):
        await store.rename_workspace_file(ALICE, "ok.md", name)
    assert [f.name for f in await store.list_workspace(ALICE)] == ["ok.md"]


async def test_dots_inside_a_name_are_fine(store: Store) -> None:
    saved = await store.put_workspace_file(ALICE, "v1..2/notes...md", "text")
    assert saved.name == "v1..2/notes...md"


async def test_profiles_do_not_see_or_touch_each_others_files(store: Store) -> None:
    await store.put_workspace_file(ALICE, "secret.md", "alice's")
    assert await store.list_workspace(BOB) == []
    with pytest.raises(NotFoundError):
        await store.get_workspace_file(BOB, "secret.md")
    with pytest.raises(NotFoundError):
        await store.set_workspace_benched(BOB, "secret.md", True)
    with pytest.raises(NotFoundError):
        await store.rename_workspace_file(BOB, "secret.md", "mine.md")
    with pytest.raises(NotFoundError):
        await store.delete_workspace_file(BOB, "secret.md")
    await store.put_workspace_file(BOB, "secret.md", "bob's")
    assert (await store.get_workspace_file(ALICE, "secret.md")).text == "alice's"
    assert not (await store.get_workspace_file(ALICE, "secret.md")).benched


async def test_files_survive_reopening(store: Store, open_store: Opener) -> None:
    await store.put_workspace_file(ALICE, "a.md", "kept", "src")
    await store.set_workspace_benched(ALICE, "a.md", True)
    await store.aclose()
    reopened = await open_store()
    try:
        got = await reopened.get_workspace_file(ALICE, "a.md")
        assert (got.text, got.source, got.benched) == ("kept", "src", True)
    finally:
        await reopened.aclose()
