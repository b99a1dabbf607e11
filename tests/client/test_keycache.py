"""The key cache: a passphrase on disk anyway has its key kept between runs; a typed one
never; a broken cache is ignored, never an error."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatthy.client import keycache
from chatthy.client.keycache import cache_path, cached_key, forget_profile, keep_key
from chatthy.client.settings import Settings, signing_key
from chatthy.wire.signing import SigningKey
from helpers import key_for


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems have (022): without care, files would come out 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture
def cache(isolated_env: Path) -> Path:
    return cache_path()


def settings_for(profile: str, passphrase: str = "secret", *, typed: bool = False) -> Settings:
    return Settings(
        server="tcp://127.0.0.1:1",
        profile=profile,
        passphrase=passphrase,
        provider="",
        prompt="",
        timeout=5.0,
        server_key=None,
        prompted=typed,
        typed=typed,
    )


def test_a_key_is_kept_in_a_private_file_and_found_again(cache: Path) -> None:
    keep_key(cache, "alice", "secret", key_for("alice"))
    assert cache == Path(os.environ["CHATTHY_DATA_DIR"]) / "key-cache.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    found = cached_key(cache, "alice", "secret")
    assert found is not None and found.public_key == key_for("alice").public_key
    assert b"secret" not in cache.read_bytes()  # only a keyed hash of it


def test_another_passphrase_or_profile_finds_nothing(cache: Path) -> None:
    keep_key(cache, "alice", "secret", key_for("alice"))
    assert cached_key(cache, "alice", "Secret") is None
    assert cached_key(cache, "bob", "secret") is None


def test_a_settings_key_is_derived_once_then_read_from_the_cache(cache: Path) -> None:
    first = signing_key(settings_for("cached-once"))
    assert first.public_key == key_for("cached-once").public_key
    assert cache.exists()
    # A cached entry of another key (made as keep_key makes them) is what a new run
    # gets: the key came from the cache, not from scrypt.
    stand_in = SigningKey.from_seed(b"\x01" * 32)
    keep_key(cache, "cached-twice", "secret", stand_in)
    assert signing_key(settings_for("cached-twice")).public_key == stand_in.public_key


def test_a_typed_passphrase_is_never_cached(cache: Path) -> None:
    key = signing_key(settings_for("typist", "typed secret", typed=True))
    assert key.public_key == key_for("typist", "typed secret").public_key
    assert not cache.exists()


def test_an_entry_that_does_not_match_its_hash_is_ignored(cache: Path) -> None:
    keep_key(cache, "mallory", "secret", key_for("mallory"))
    doc = json.loads(cache.read_text())
    doc["entries"][0]["seed"] = "01" * 32  # not the key the hash was made over
    cache.write_text(json.dumps(doc))
    assert cached_key(cache, "mallory", "secret") is None
    key = signing_key(settings_for("mallory"))
    assert key.public_key == key_for("mallory").public_key
    found = cached_key(cache, "mallory", "secret")  # the right one, kept beside it
    assert found is not None and found.public_key == key.public_key


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b'{"version": 1, "entries": "no"}', b"\xff\xfe", b"[" * 100_000],
)
def test_a_corrupt_cache_is_ignored_and_written_again(cache: Path, content: bytes) -> None:
    profile = f"corrupt-{len(content)}-{content[:2].hex()}"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(content)
    key = signing_key(settings_for(profile))
    assert key.public_key == key_for(profile).public_key
    assert cached_key(cache, profile, "secret") is not None


def test_an_unwritable_cache_is_no_error(cache: Path) -> None:
    cache.mkdir(parents=True)  # a folder where the file would go: nothing can be written
    key = signing_key(settings_for("unwritable"))
    assert key.public_key == key_for("unwritable").public_key
    assert cached_key(cache, "unwritable", "secret") is None


def test_a_changed_passphrase_drops_the_profiles_entries(cache: Path) -> None:
    keep_key(cache, "alice", "one", key_for("alice", "one"))
    keep_key(cache, "alice", "two", key_for("alice", "two"))
    keep_key(cache, "bob", "one", key_for("bob", "one"))
    forget_profile(cache, "alice")
    assert cached_key(cache, "alice", "one") is None
    assert cached_key(cache, "alice", "two") is None
    assert cached_key(cache, "bob", "one") is not None


def test_the_cache_keeps_the_newest_entries_only(cache: Path) -> None:
    stand_in = SigningKey.from_seed(b"\x02" * 32)
    for n in range(keycache.MAX_ENTRIES + 3):
        keep_key(cache, f"p{n}", "secret", stand_in)
    assert len(json.loads(cache.read_text())["entries"]) == keycache.MAX_ENTRIES
    assert cached_key(cache, "p0", "secret") is None
    assert cached_key(cache, f"p{keycache.MAX_ENTRIES + 2}", "secret") is not None
