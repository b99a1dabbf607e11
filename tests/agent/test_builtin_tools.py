"""The built-in tools, each called by a scripted model through the real engine, on a real
SQLite store: what the user finds in their workspace afterwards, and what the model is
told when a call cannot do what it asked."""

from __future__ import annotations

import msgspec
import pytest
from agentkit import Harness, MakeHarness

from chatthy.config import LimitsConfig, ServerSection
from chatthy.store.base import Store
from sources_upstream import SourcesUpstream

NOTES = "one\ntwo\nthree\nfour\n"


async def _put(store: Store, name: str, text: str, profile: str = "alice") -> None:
    await store.put_workspace_file(profile, name, text, "test")


async def test_write_lands_in_the_callers_workspace_only(harness: Harness) -> None:
    ran = await harness.turn(
        [("c1", "workspace_write", {"name": "docs/plan.md", "text": "# Plan\nship it\n"})]
    )
    assert ran.end.status == "complete"
    assert [(r.name, r.is_error) for r in ran.results] == [("workspace_write", False)]
    assert "created docs/plan.md" in ran.results[0].content
    assert await harness.files("alice") == {"docs/plan.md": "# Plan\nship it\n"}
    assert await harness.files("bob") == {}
    assert "created docs/plan.md" in harness.sent_back()[0]["content"]


async def test_write_refused_by_the_user_writes_nothing(harness: Harness) -> None:
    ran = await harness.turn(
        [("c1", "workspace_write", {"name": "x.md", "text": "x"})], approve="no"
    )
    assert ran.results[0].is_error and "not run" in ran.results[0].content
    assert await harness.files() == {}
    assert ran.end.status == "complete"


async def test_each_profile_reads_and_lists_its_own_files(harness: Harness) -> None:
    store = harness.engine.store
    await _put(store, "notes.md", NOTES)
    await _put(store, "secret.md", "bob's secret", profile="bob")
    ran = await harness.turn(
        [
            ("c1", "workspace_list", {}),
            ("c2", "workspace_read", {"name": "notes.md"}),
            ("c3", "workspace_read", {"name": "secret.md"}),
        ]
    )
    listed, read, other = ran.results
    assert msgspec.json.decode(listed.content) == [
        {"name": "notes.md", "bytes": len(NOTES), "benched": False}
    ]
    assert (read.content, read.is_error) == (NOTES, False)
    assert other.is_error
    assert other.content == "no workspace file 'secret.md' (the files: notes.md)"
    assert "bob's secret" not in str(harness.upstream.requests[-1].body)


async def test_an_empty_workspace_is_said_so(harness: Harness) -> None:
    ran = await harness.turn([("c1", "workspace_list", {})])
    assert ran.results[0].content == "the workspace has no files"


async def test_bad_names_are_refused_with_the_reason(harness: Harness) -> None:
    ran = await harness.turn(
        [
            ("c1", "workspace_write", {"name": "../etc/passwd", "text": "x"}),
            ("c2", "workspace_read", {"name": "/abs.md"}),
            ("c3", "workspace_delete", {"name": "a\\b"}),
        ]
    )
    write, read, delete = ran.results
    assert write.is_error and "'..'" in write.content
    assert read.is_error and "starts with '/'" in read.content
    assert delete.is_error and "backslash" in delete.content
    assert await harness.files() == {}


async def test_delete_removes_the_file_and_a_missing_one_is_named(harness: Harness) -> None:
    await _put(harness.engine.store, "old.md", "old")
    await _put(harness.engine.store, "old.md", "bob's", profile="bob")
    ran = await harness.turn(
        [
            ("c1", "workspace_delete", {"name": "old.md"}),
            ("c2", "workspace_delete", {"name": "old.md"}),
        ]
    )
    first, second = ran.results
    assert (first.content, first.is_error) == ("deleted old.md", False)
    assert second.is_error
    assert second.content == "no workspace file 'old.md': the workspace has no files"
    assert await harness.files() == {}
    assert await harness.files("bob") == {"old.md": "bob's"}


async def test_a_patch_changes_the_lines_it_names(harness: Harness) -> None:
    await _put(harness.engine.store, "notes.md", NOTES)
    diff = "--- a/notes.md\n+++ b/notes.md\n@@ -2,2 +2,3 @@\n two\n-three\n+THREE\n+3.5\n"
    ran = await harness.turn([("c1", "workspace_patch", {"name": "notes.md", "diff": diff})])
    assert ran.results[0].content == "patched notes.md: 1 hunk, +2 -1 lines"
    assert (await harness.files())["notes.md"] == "one\ntwo\nTHREE\n3.5\nfour\n"


async def test_a_patch_that_does_not_apply_changes_nothing_and_says_why(
    harness: Harness,
) -> None:
    await _put(harness.engine.store, "notes.md", NOTES)
    # the first hunk applies, the second's context is wrong: neither is kept
    diff = "@@ -1,2 +1,2 @@\n-one\n+ONE\n two\n@@ -3,2 +3,2 @@\n three\n-FOUR\n+4\n"
    ran = await harness.turn([("c1", "workspace_patch", {"name": "notes.md", "diff": diff})])
    result = ran.results[0]
    assert result.is_error
    assert result.content == (
        "the diff does not apply to notes.md, which is unchanged: hunk 2 (@@ -3,2 +3,2 @@) "
        "does not apply: line 4 is 'four', the hunk expects 'FOUR' (and its lines stand "
        "nowhere else)"
    )
    assert (await harness.files())["notes.md"] == NOTES
    assert harness.sent_back()[0]["content"] == result.content
    assert ran.end.status == "complete"


async def test_a_patch_of_a_missing_file_names_the_files(harness: Harness) -> None:
    await _put(harness.engine.store, "notes.md", NOTES)
    ran = await harness.turn(
        [("c1", "workspace_patch", {"name": "nope.md", "diff": "@@ -1 +1 @@\n-a\n+b\n"})]
    )
    assert ran.results[0].content == "no workspace file 'nope.md' (the files: notes.md)"


GROW = "@@ -4 +4 @@\n-four\n+" + "y" * 100 + "\n"


async def test_writes_keep_the_servers_file_size_limit(make_harness: MakeHarness) -> None:
    harness = await make_harness(server=ServerSection(max_workspace_file=100))
    await _put(harness.engine.store, "notes.md", NOTES)
    ran = await harness.turn(
        [
            ("c1", "workspace_write", {"name": "big.md", "text": "x" * 101}),
            (
                "c2",
                "workspace_patch",
                {"name": "notes.md", "diff": "@@ -4 +4 @@\n-four\n+" + "y" * 100 + "\n"},
            ),
        ]
    )
    write, patch = ran.results
    assert write.is_error and "big.md would be 101 bytes" in write.content
    assert "max_workspace_file" in write.content
    assert patch.is_error and "max_workspace_file" in patch.content
    assert await harness.files() == {"notes.md": NOTES}


async def test_writes_keep_the_profiles_quota(make_harness: MakeHarness) -> None:
    harness = await make_harness(limits=LimitsConfig(stored_bytes=4000))
    ran = await harness.turn([("c1", "workspace_write", {"name": "a.md", "text": "x" * 4000})])
    assert ran.results[0].is_error
    assert "over its quota of 4,000 (stored_bytes)" in ran.results[0].content
    assert await harness.files() == {}


async def test_fetch_url_refuses_a_loopback_address_by_default(
    harness: Harness, sources: SourcesUpstream
) -> None:
    sources.page("/page", "<html><body><p>local secrets</p></body></html>")
    ran = await harness.turn([("c1", "fetch_url", {"url": f"{sources.base_url}/page"})])
    result = ran.results[0]
    assert result.is_error
    assert "refused to fetch from 127.0.0.1" in result.content
    assert "allow_private" in result.content
    assert sources.paths() == []


async def test_fetch_url_reads_a_page_when_private_addresses_are_allowed(
    make_harness: MakeHarness, sources: SourcesUpstream
) -> None:
    harness = await make_harness(sources=sources.config())
    article = " ".join(["The quokka is a small marsupial found on Rottnest Island."] * 8)
    sources.page(
        "/quokka",
        "<html><head><title>Quokkas</title></head><body><nav>Home | About</nav>"
        f"<article><h1>Quokkas</h1><p>{article}</p></article></body></html>",
    )
    ran = await harness.turn([("c1", "fetch_url", {"url": f"{sources.base_url}/quokka"})])
    result = ran.results[0]
    assert not result.is_error, result.content
    assert result.content.startswith(f"{sources.base_url}/quokka\n\n")
    assert "small marsupial found on Rottnest Island" in result.content
    assert "Home | About" not in result.content
    assert await harness.files() == {}  # read for the model, not stored


async def test_fetch_url_tells_a_missing_page(
    make_harness: MakeHarness, sources: SourcesUpstream
) -> None:
    harness = await make_harness(sources=sources.config())
    ran = await harness.turn([("c1", "fetch_url", {"url": f"{sources.base_url}/gone"})])
    assert ran.results[0].is_error and "404" in ran.results[0].content


@pytest.mark.parametrize(("zone", "ok"), [("Europe/Paris", True), ("Mars/Olympus", False)])
async def test_current_time(harness: Harness, zone: str, ok: bool) -> None:
    ran = await harness.turn([("c1", "current_time", {"timezone": zone})])
    result = ran.results[0]
    assert result.is_error is not ok
    assert (zone in result.content) and (("unknown time zone" in result.content) is not ok)


async def test_a_huge_file_read_is_cut_and_said_so(make_harness: MakeHarness) -> None:
    harness = await make_harness(server=ServerSection(max_workspace_file=20_000_000))
    await _put(harness.engine.store, "huge.txt", "z" * 10_000_000)
    await harness.engine.store.set_workspace_benched("alice", "huge.txt", True)
    ran = await harness.turn([("c1", "workspace_read", {"name": "huge.txt"})])
    content = ran.results[0].content
    assert len(content) < 100_200
    assert content.endswith("[result cut: 10,000,000 characters, the first 100,000 kept]")
    assert harness.sent_back()[0]["content"] == content


async def test_a_patch_of_only_added_lines_creates_a_missing_file(harness: Harness) -> None:
    diff = "--- /dev/null\n+++ b/todo.md\n@@ -0,0 +1,2 @@\n+- tea\n+- cake\n"
    ran = await harness.turn([("c1", "workspace_patch", {"name": "todo.md", "diff": diff})])
    assert ran.results[0].content == "created todo.md: 1 hunk, +2 -0 lines"
    assert await harness.files() == {"todo.md": "- tea\n- cake\n"}
