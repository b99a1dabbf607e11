"""Where a client connects and as whom: flags, then environment, then client.toml.

The passphrase comes from ``CHATTHY_PASSPHRASE``, client.toml, or a prompt on a terminal;
it only ever derives the signing key, here on the client.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from chatthy.client.known_servers import known_servers_path, trusted_key
from chatthy.config import (
    DEFAULT_SERVER,
    DEFAULT_THEME,
    ClientConfig,
    chosen_profile,
    config_dir,
    load_client_config,
    secret_warning,
)
from chatthy.errors import ConfigError, ServerUnavailableError
from chatthy.wire.curve import is_loopback

if TYPE_CHECKING:
    from chatthy.wire.signing import SigningKey

__all__ = [
    "KEY_TIMEOUT",
    "NOTIFY",
    "KeySource",
    "Settings",
    "check_address",
    "derive_soon",
    "key_source",
    "resolve",
    "signing_key",
]

NOTIFY = ("bell", "desktop", "off")
"""What client.toml's ``notify`` may say."""

KEY_TIMEOUT = 5.0
"""Seconds to wait for an encrypted server's key port (trust on first use)."""

KeySource = Callable[[str], tuple[bytes | None, str | None]]
"""The CURVE key to talk to a server address with (None: plain), and a line for the user
when it was learned just now (trust on first use); blocking. Raises ChatthyError."""

_TCP = re.compile(r"tcp://(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})")


@dataclass(frozen=True)
class Settings:
    server: str
    profile: str
    passphrase: str
    provider: str
    prompt: str
    timeout: float
    server_key: bytes | None
    theme: str = DEFAULT_THEME
    """The full-screen client's Textual theme (checked by the client, not here)."""
    notices: tuple[str, ...] = ()
    """Lines for the user before connecting: a server's key learned on first contact, a
    client.toml with a passphrase that others can read."""
    invite: str = ""
    """The server's invite code, sent only to register a new profile."""
    prompted: bool = False
    """The passphrase was typed at a prompt (so a new profile's is asked again)."""
    typed: bool = False
    """The passphrase was typed at a prompt: its key is never kept in the key cache
    (``prompted`` is cleared once a new profile's passphrase is confirmed; this stays)."""
    notify: str = "bell"
    """How a reply that ends in a chat not on screen is told: bell, desktop or off."""
    keys: Mapping[str, str | list[str]] = field(default_factory=dict)
    """client.toml's ``[keys]``: the full-screen client's actions and their keys (checked
    by the client, not here)."""
    servers: tuple[str, ...] = ()
    """Every address the client may talk to, in order (``server`` among them: the one it
    starts on); it moves to the next when the one it talks to stops answering. Empty:
    ``server`` alone."""
    pinned: bool = True
    """``server_key`` was given (client.toml, ``CHATTHY_SERVER_KEY``) and holds for every
    address; else each is trusted on first use by itself (:func:`key_source`)."""
    known_servers: Path | None = None
    """The known_servers file the keys of addresses beyond loopback are checked in."""

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address to try, in order (``server`` alone when no list was given)."""
        return self.servers or (self.server,)


def _passphrase(
    cfg: ClientConfig, profile: str, ask: Callable[[str], str | None] | None = None
) -> tuple[str, bool]:
    """The passphrase, and whether it was typed at a prompt (``ask``'s, a window's
    dialog, before the terminal's)."""
    if env := os.environ.get("CHATTHY_PASSPHRASE"):
        return env, False
    if cfg.passphrase:
        return cfg.passphrase, False
    if ask is not None:
        typed = ask(profile)
        if not typed:
            raise ConfigError("no passphrase given")
        return typed, True
    if sys.stdin.isatty():
        return getpass.getpass(f"passphrase for profile '{profile}': "), True
    raise ConfigError(
        "no passphrase: set CHATTHY_PASSPHRASE or `passphrase` in client.toml, "
        "or run on a terminal to be asked"
    )


def check_address(address: str) -> str:
    """Return ``address`` if a client can connect to it: ``tcp://HOST:PORT`` or ``ipc://PATH``.

    Raises:
        ConfigError: it is neither.
    """
    tcp = _TCP.fullmatch(address)
    if (tcp and 0 < int(tcp.group(2)) < 65536) or (
        address.startswith("ipc://") and len(address) > len("ipc://")
    ):
        return address
    raise ConfigError(
        f"server address must look like tcp://HOST:PORT or ipc://PATH: got '{address}'"
    )


def _addresses(server: str | None, cfg: ClientConfig) -> list[str]:
    """The addresses to try, each checked: ``--server`` (one), else ``CHATTHY_SERVER``
    (one, or several separated by commas), else client.toml's ``servers``, else its
    ``server``.

    Raises:
        ConfigError: an address is malformed, or a list names none.
    """
    if server:
        return [check_address(server)]
    if env := os.environ.get("CHATTHY_SERVER"):
        where, given = "CHATTHY_SERVER", [a.strip() for a in env.split(",")]
    elif cfg.servers:
        where, given = "client.toml: servers", list(cfg.servers)
    else:
        return [check_address(cfg.server or DEFAULT_SERVER)]
    for address in given:
        try:
            check_address(address)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc.message}") from None
    return list(dict.fromkeys(given))  # each once, in the order given


def _first_reachable(addresses: Sequence[str], path: Path) -> tuple[str, bytes | None, str | None]:
    """The first address whose key can be had (loopback: none needed), its key, and the
    line of a first contact; an address whose key cannot be learned now is passed over
    while others remain (the client tries it again when it moves there).

    Raises:
        ServerKeyChangedError: an address offers another key than the one remembered.
        ServerUnavailableError: no address's key can be learned.
        ConfigError: known_servers cannot be read or written.
    """
    failed: ServerUnavailableError | None = None
    for address in addresses:
        try:
            return address, *_learned_key(address, path)
        except ServerUnavailableError as exc:
            failed = failed or exc
    assert failed is not None
    raise failed


def _learned_key(address: str, path: Path) -> tuple[bytes | None, str | None]:
    """None on loopback (spoken to in the clear); beyond it, the key known_servers holds
    or one learned now (trust on first use) with the line saying so."""
    if is_loopback(address):
        return None, None
    return trusted_key(address, path, KEY_TIMEOUT)


def key_source(settings: Settings) -> KeySource:
    """Where a client finds each address's CURVE key: the pinned ``server_key`` for all;
    else none on loopback, and trust on first use beyond it (known_servers), address by
    address."""
    pinned = settings.server_key if settings.pinned else None
    path = settings.known_servers

    def key_of(address: str) -> tuple[bytes | None, str | None]:
        if pinned is not None:
            return pinned, None
        if path is None:
            return None, None
        return _learned_key(address, path)

    return key_of


def resolve(
    server: str | None = None,
    profile: str | None = None,
    config: Path | None = None,
    *,
    ask: Callable[[str], str | None] | None = None,
) -> Settings:
    """The settings for this run.

    A server beyond loopback without a pinned ``server_key`` is trusted on first use
    (:mod:`chatthy.client.known_servers`): its key is learned, or checked against the
    one remembered.

    Raises:
        ConfigError: the server address is malformed, client.toml or known_servers is
            wrong, or no passphrase can be had.
        ServerKeyChangedError: the server's key is not the one remembered.
        ServerUnavailableError: the key of a server never met cannot be learned.
    """
    if server:
        check_address(server)
    cfg = load_client_config(config)
    addresses = _addresses(server, cfg)
    address = addresses[0]
    name = chosen_profile(profile, cfg)
    notices: list[str] = []
    toml = config or config_dir() / "client.toml"
    if cfg.passphrase and (warning := secret_warning(toml, "your passphrase")):
        notices.append(warning)
    key: str | bytes | None = os.environ.get("CHATTHY_SERVER_KEY") or cfg.server_key
    pinned = bool(key)
    known = known_servers_path(config)
    if not key:
        address, key, first = _first_reachable(addresses, known)
        notices.extend([first] if first else [])
    notify = cfg.notify
    if notify not in NOTIFY:
        notices.append(
            f"warning: client.toml: notify must be {', '.join(NOTIFY)}, not '{notify}'; using bell"
        )
        notify = "bell"
    passphrase, prompted = _passphrase(cfg, name, ask)
    return Settings(
        server=address,
        profile=name,
        passphrase=passphrase,
        prompted=prompted,
        typed=prompted,
        provider=cfg.provider,
        prompt=cfg.prompt,
        timeout=cfg.timeout,
        server_key=(key.encode() if isinstance(key, str) else key) or None,
        theme=cfg.theme,
        notices=tuple(notices),
        invite=os.environ.get("CHATTHY_INVITE") or cfg.invite,
        notify=notify,
        keys=dict(cfg.keys),
        servers=tuple(addresses) if len(addresses) > 1 else (),
        pinned=pinned,
        known_servers=known,
    )


class _Derivation(threading.Thread):
    """One key derived in the background (scrypt lets go of the GIL): the costly part of
    a command's start overlaps its imports and its connection. A passphrase that is on
    disk anyway (client.toml, the environment) has its key looked up in the key cache
    first, and kept there once derived (:mod:`chatthy.client.keycache`)."""

    def __init__(self, passphrase: str, profile: str, cache: Path | None) -> None:
        super().__init__(daemon=True, name="chatthy-key")
        self.passphrase = passphrase
        self.profile = profile
        self.cache = cache
        self.key: SigningKey | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.key = self._key()
        except BaseException as exc:  # handed to whoever asks for the key
            self.error = exc

    def _key(self) -> SigningKey:
        from chatthy.client import keycache
        from chatthy.wire.signing import derive_key

        if self.cache is not None:
            found = keycache.cached_key(self.cache, self.profile, self.passphrase)
            if found is not None:
                return found
        key = derive_key(self.passphrase, self.profile)
        if self.cache is not None:
            keycache.keep_key(self.cache, self.profile, self.passphrase, key)
        return key


_derivations: dict[tuple[str, str], _Derivation] = {}


def derive_soon(settings: Settings) -> None:
    """Start deriving the settings' signing key now, in a thread (or finding it in the
    key cache, for a passphrase that was not typed)."""
    job = _derivations.get((settings.passphrase, settings.profile))
    if job is None:
        from chatthy.client.keycache import cache_path

        cache = None if settings.typed or settings.prompted else cache_path()
        job = _derivations[(settings.passphrase, settings.profile)] = _Derivation(
            settings.passphrase, settings.profile, cache
        )
        job.start()


def signing_key(settings: Settings) -> SigningKey:
    """The settings' signing key (the one :func:`derive_soon` started, if it did)."""
    derive_soon(settings)
    job = _derivations[(settings.passphrase, settings.profile)]
    job.join()
    if job.error is not None:
        raise job.error
    assert job.key is not None
    return job.key
