"""Who may speak: signature, server binding, clock window, replayed nonces, profile keys.

Nothing a stranger sends is kept: a nonce is remembered only once its signature verified,
the request names this server and the profile's key matched. The replay memory holds at
most ``max_nonces`` nonces; when it is full it forgets the oldest and refuses everything
signed before them (it narrows the accepted window), so it never grows without bound. A
restarted server does not know what it saw before, so it refuses everything signed before
it started; a request signed for another server (its id, :func:`load_server_id`) is
refused, so that a captured request cannot be replayed elsewhere.
"""

from __future__ import annotations

import asyncio
import hmac
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

from chatthy.errors import (
    ClockError,
    ConfigError,
    ConflictError,
    DeniedError,
    RegistrationError,
    ReplayError,
    SignatureError,
    VersionError,
    WrongServerError,
)
from chatthy.store.base import Store
from chatthy.wire.messages import NONCE_SIZE, PROTOCOL_VERSION, Request
from chatthy.wire.signing import verify

__all__ = ["MAX_NONCES", "UNBOUND_METHODS", "Authenticator", "load_server_id"]

MAX_NONCES = 100_000
"""Nonces the replay memory holds at most (about 13 MB)."""

UNBOUND_METHODS = frozenset({"hello"})
"""Requests that need not name the server, nor a registered profile: read-only probes,
never remembered (replaying one changes nothing)."""

_ID_FILE = "server-id"


def load_server_id(data_dir: Path) -> str:
    """This server's id (32 hex digits), made at random on first use and kept in the
    data dir, so that it survives restarts and differs between servers.

    Raises:
        ConfigError: the file cannot be read or written.
    """
    path = data_dir / _ID_FILE
    try:
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass  # another process made it meanwhile: read theirs
            else:
                with os.fdopen(fd, "w") as file:
                    file.write(secrets.token_hex(16) + "\n")
        server_id = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot use the server id in {path}: {exc}") from exc
    if len(server_id) != 32 or any(c not in "0123456789abcdef" for c in server_id):
        raise ConfigError(f"{path} does not hold a server id: delete it to make a new one")
    return server_id


class Authenticator:
    """Checks every request before any handler sees it.

    A profile's key is the first one it signs with (``registration = "open"``); with
    ``"closed"`` only profiles already in the store or listed in server.toml get in. A
    listed profile's key is always the listed one, whatever the store holds.
    """

    def __init__(
        self,
        store: Store,
        *,
        server_id: str,
        window: float = 60.0,
        registration: str = "open",
        listed: dict[str, str] | None = None,
        invite: str = "",
        max_nonces: int = MAX_NONCES,
        started: float | None = None,
    ) -> None:
        self._store = store
        self.server_id = server_id
        self._window = window
        self.registration = registration
        self._listed = {name: bytes.fromhex(key) for name, key in (listed or {}).items()}
        self._max_nonces = max_nonces
        self._nonces: dict[bytes, float] = {}
        """Nonce → the timestamp of the request that carried it."""
        self._started = time.time() if started is None else started
        """Requests signed before this are refused: this server cannot know whether it
        saw them before it (re)started."""
        self._floor = self._started
        """Requests signed at or before this are refused: the server started (or the
        replay memory forgot) after them."""
        self._next_prune = 0.0
        self._known: dict[str, bytes] = {}
        self._registering = asyncio.Lock()
        self._invite = invite.encode()

    @property
    def remembered(self) -> int:
        """How many nonces the replay memory holds."""
        return len(self._nonces)

    def is_listed(self, profile: str) -> bool:
        """Whether server.toml lists ``profile`` with its key (its requests are signed
        with that key, or refused)."""
        return profile in self._listed

    async def check(
        self,
        request: Request,
        body: bytes,
        signature: bytes,
        admit: Callable[[], None] | None = None,
    ) -> None:
        """Accept ``request`` or raise.

        Raises:
            VersionError: another protocol version.
            ReplayError: the nonce is not of the fixed size, or was seen already.
            SignatureError: the signature fails, or the key is not the profile's (on an
                open server).
            ClockError: the timestamp is outside the window, or older than what the
                full replay memory still holds.
            WrongServerError: the request is meant for another server, or was signed
                before this one started.
            DeniedError: a closed server does not know this profile with this key.
            RegistrationError: a new profile's name is not a valid name, or it came
                without the server's invite code.
            RateLimitedError: ``admit`` (called before a profile is registered) refused.
        """
        if request.v != PROTOCOL_VERSION:
            raise VersionError(
                f"protocol version {request.v} is not spoken here (server speaks "
                f"{PROTOCOL_VERSION}); upgrade the older side"
            )
        if len(request.nonce) != NONCE_SIZE:
            raise ReplayError(f"a nonce is {NONCE_SIZE} bytes, not {len(request.nonce)}")
        verify(request.key, body, signature)
        now = time.time()
        if not abs(now - request.ts) <= self._window:
            raise ClockError(
                f"message timestamp is {now - request.ts:+.0f}s off the server clock "
                f"(window ±{self._window:.0f}s): check the clocks"
            )
        if request.method in UNBOUND_METHODS:
            return  # whatever server it names: it asks which one this is
        if request.server != self.server_id:
            raise WrongServerError(
                "request signed for another server (or for none): ask this one's id "
                "(hello) and send it again"
            )
        if request.ts <= self._started:
            # Meant for this server before it (re)started: the client resends it anew.
            raise WrongServerError(
                "request signed before this server started: send it again (if this "
                "repeats, check the clocks)"
            )
        if request.ts <= self._floor:
            raise ClockError(
                "message signed before what this server still remembers (it is busy): send it again"
            )
        if request.nonce in self._nonces:
            raise ReplayError("replayed message refused (nonce already seen)")
        await self._check_profile(request, admit)
        self._remember(request.nonce, request.ts, now)

    def _remember(self, nonce: bytes, ts: float, now: float) -> None:
        # Checked again: another request with this nonce may have passed while the
        # profile was looked up.
        if nonce in self._nonces:
            raise ReplayError("replayed message refused (nonce already seen)")
        if ts <= self._floor:
            raise ClockError("message signed before what this server still remembers: resend")
        if now >= self._next_prune or len(self._nonces) >= self._max_nonces:
            self._prune(now)
        self._nonces[nonce] = ts

    def _prune(self, now: float) -> None:
        """Forget nonces whose timestamps the clock window refuses anyway; when still
        full, forget the oldest tenth and refuse anything signed before them."""
        oldest_accepted = now - self._window
        self._nonces = {n: ts for n, ts in self._nonces.items() if ts >= oldest_accepted}
        self._next_prune = now + self._window
        keep = self._max_nonces - max(1, self._max_nonces // 10)
        if len(self._nonces) > keep:
            stamps = sorted(self._nonces.values())
            self._floor = max(self._floor, stamps[len(stamps) - keep - 1])
            self._nonces = {n: ts for n, ts in self._nonces.items() if ts > self._floor}

    async def probe(self, profile: str, key: bytes) -> bool:
        """Whether ``profile`` is registered with ``key`` (True) or would be registered
        with it by its first request (False). Nothing is registered here.

        Raises:
            DeniedError: a closed server does not know the profile with this key.
            SignatureError: an open server knows the profile with another key.
            RegistrationError: the name is not a valid profile name.
        """
        known = await self._key_of(profile)
        if known is None:
            if self.registration != "open":
                raise self._denied(profile)
            _check_name(profile)
            return False
        if known != key:
            raise self._wrong_key(profile)
        return True

    async def replace_key(self, profile: str, new_key: bytes) -> None:
        """Make ``new_key`` the key of ``profile`` (its owner asked, signed with the old).

        Raises:
            DeniedError: the profile is listed in server.toml: only its admin changes it.
        """
        if profile in self._listed:
            raise DeniedError(
                f"profile '{profile}' is listed with its key in server.toml: its new key "
                "goes there (ask the server's admin)"
            )
        await self._store.set_profile_key(profile, new_key)
        self._known[profile] = new_key

    async def _key_of(self, profile: str) -> bytes | None:
        listed = self._listed.get(profile)
        if listed is not None:
            return listed
        known = self._known.get(profile)
        if known is None:
            record = await self._store.get_profile(profile)
            if record is not None:
                known = self._known[profile] = record.public_key
        return known

    async def _check_profile(self, request: Request, admit: Callable[[], None] | None) -> None:
        profile, key = request.profile, request.key
        known = await self._key_of(profile)
        if known is None:
            # One registration at a time: the requests a new client sends at once ask
            # the store (and the registration rate) once, not each.
            async with self._registering:
                known = await self._key_of(profile)
                if known is None:
                    known = await self._register(request, admit)
        if known != key:
            raise self._wrong_key(profile)
        if profile in self._listed and profile not in self._known:
            await self._store_listed(profile, key)

    async def _store_listed(self, profile: str, key: bytes) -> None:
        """The store holds a listed profile with its listed key (its account, its data)."""
        record = await self._store.get_profile(profile)
        try:
            if record is None:
                await self._store.register_profile(profile, key)
            elif record.public_key != key:
                await self._store.set_profile_key(profile, key)
        except ConflictError:
            await self._store.set_profile_key(profile, key)
        self._known[profile] = key

    async def _register(self, request: Request, admit: Callable[[], None] | None) -> bytes:
        profile, key = request.profile, request.key
        if self.registration != "open":
            raise self._denied(profile)
        _check_name(profile)
        if self._invite and not self._invited(request):
            raise RegistrationError(
                f"profile '{profile}' is not registered: this server asks new profiles for "
                "its invite code (set invite in client.toml, or CHATTHY_INVITE)"
            )
        if admit is not None:
            admit()
        try:
            await self._store.register_profile(profile, key)
        except ConflictError:
            # Registered meanwhile (by a request of the same profile): that key counts.
            return await self._key_of(profile) or key
        self._known[profile] = key
        return key

    def _invited(self, request: Request) -> bool:
        """The request is ``register`` with this server's invite code."""
        code = request.args.get("invite") if request.method == "register" else None
        return isinstance(code, str) and hmac.compare_digest(code.encode(), self._invite)

    def _wrong_key(self, profile: str) -> Exception:
        if self.registration != "open":
            return self._denied(profile)
        # An open server tells: registering the name would tell a stranger anyway.
        return SignatureError(f"wrong passphrase for profile '{profile}' (its key does not match)")

    @staticmethod
    def _denied(profile: str) -> DeniedError:
        return DeniedError(
            f"this passphrase does not open profile '{profile}' here: check it for a typo "
            "(this server's registration is closed: its admin lists new profiles in "
            "server.toml)"
        )


def _check_name(profile: str) -> None:
    if not profile or len(profile) > 64 or not profile.isprintable() or "/" in profile:
        raise RegistrationError("profile names are 1-64 printable characters without '/'")
