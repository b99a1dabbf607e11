"""Signing keys kept between runs, for passphrases that are on disk anyway.

Deriving a profile's key costs scrypt's ~0.6 s and 128 MiB on every run of a one-shot
command. When the passphrase comes from client.toml or ``CHATTHY_PASSPHRASE`` (never
when it was typed at a prompt), the derived key is kept in ``key-cache.json`` in the
client's data dir (0600, in a 0700 folder), one entry per profile and passphrase. An
entry is found by a keyed hash of the passphrase: BLAKE2b under a random salt of its own,
over scrypt's cost, the profile, the key and the passphrase. That hash is fast to test
guesses against, which is acceptable here only because whoever can read this file can
read client.toml or the environment it came from, where the passphrase itself is; and
the key the entry holds gives that reader no more than the passphrase would. A typed
passphrase is never kept, so nothing on disk lets anyone test guesses at it cheaply.

A changed passphrase finds no entry and derives afresh; ``chatthy passphrase`` drops the
profile's entries. A cache that cannot be read, or does not parse, or an entry whose
hash does not match is ignored (the key is derived and the file written again): the
cache never makes a command fail.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
from pathlib import Path

import msgspec

from chatthy.private import FILE_MODE, private_dir
from chatthy.wire.signing import SCRYPT_N, SCRYPT_P, SCRYPT_R, SigningKey

__all__ = ["CACHE_FILE", "MAX_ENTRIES", "cache_path", "cached_key", "forget_profile", "keep_key"]

CACHE_FILE = "key-cache.json"
MAX_ENTRIES = 16
"""Entries kept at most (the newest): one per profile and passphrase in use."""
MAX_SIZE = 64 * 1024
"""A cache file larger than this is not read (it is not one this client wrote)."""
_PERSON = b"chatthy-keycache"
_KDF = f"scrypt n={SCRYPT_N} r={SCRYPT_R} p={SCRYPT_P};".encode()


class _Entry(msgspec.Struct):
    profile: str
    salt: str
    mac: str
    seed: str


class _Cache(msgspec.Struct):
    version: int = 1
    entries: list[_Entry] = []


def cache_path(data_dir: Path | None = None) -> Path:
    """Where the key cache is: the client's data dir (``CHATTHY_DATA_DIR`` overrides)."""
    if data_dir is None:
        from chatthy.config import data_dir as default_data_dir

        data_dir = default_data_dir()
    return data_dir / CACHE_FILE


def _mac(salt: bytes, profile: str, passphrase: str, seed: bytes) -> bytes:
    """The entry's hash: over the derivation's cost too, so that keys derived at another
    cost (a later version's) are not taken for today's."""
    name = profile.encode()
    data = _KDF + len(name).to_bytes(4, "big") + name + seed + passphrase.encode()
    return hashlib.blake2b(data, key=salt, person=_PERSON, digest_size=32).digest()


def _read(path: Path) -> list[_Entry]:
    """The entries of the cache file; none when it is missing, unreadable or malformed."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_SIZE + 1)
        if len(raw) > MAX_SIZE:
            return []
        return msgspec.json.decode(raw, type=_Cache).entries
    except (OSError, msgspec.DecodeError):
        return []


def _matches(entry: _Entry, profile: str, passphrase: str) -> bytes | None:
    """The entry's seed if it is the key of ``profile`` for ``passphrase``."""
    if entry.profile != profile:
        return None
    try:
        salt, mac, seed = (
            bytes.fromhex(entry.salt),
            bytes.fromhex(entry.mac),
            bytes.fromhex(entry.seed),
        )
    except ValueError:
        return None
    if len(seed) != 32 or not 16 <= len(salt) <= 64:
        return None
    return seed if hmac.compare_digest(mac, _mac(salt, profile, passphrase, seed)) else None


def cached_key(path: Path, profile: str, passphrase: str) -> SigningKey | None:
    """The key kept for ``profile`` and ``passphrase``, or None."""
    for entry in _read(path):
        seed = _matches(entry, profile, passphrase)
        if seed is not None:
            return SigningKey.from_seed(seed)
    return None


def keep_key(path: Path, profile: str, passphrase: str, key: SigningKey) -> None:
    """Keep ``key`` as the key of ``profile`` for ``passphrase`` (replacing an entry of
    the same pair, and the oldest beyond :data:`MAX_ENTRIES`). Failing to write is not
    an error: the next run derives the key again."""
    entries = [e for e in _read(path) if _matches(e, profile, passphrase) is None]
    seed, salt = key.seed(), os.urandom(32)
    mac = _mac(salt, profile, passphrase, seed)
    entries.append(_Entry(profile, salt.hex(), mac.hex(), seed.hex()))
    with contextlib.suppress(OSError):
        _write(path, entries[-MAX_ENTRIES:])


def forget_profile(path: Path, profile: str) -> None:
    """Drop every entry of ``profile`` (its passphrase changed). Failing to write is not
    an error: an old entry only matches the old passphrase."""
    entries = _read(path)
    kept = [e for e in entries if e.profile != profile]
    if len(kept) != len(entries):
        with contextlib.suppress(OSError):
            _write(path, kept)


def _write(path: Path, entries: list[_Entry]) -> None:
    """Replace the file at once (another run reads the old or the new one, never half),
    made 0600 before anything is in it."""
    private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), FILE_MODE)  # exactly 0600, whatever the umask
            f.write(msgspec.json.encode(_Cache(entries=entries)))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
