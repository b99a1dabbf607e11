"""Who may speak: signature, clock window, replayed nonces and trust on first use."""

from __future__ import annotations

import time

from chatthy.errors import (
    ClockError,
    ConflictError,
    RegistrationError,
    ReplayError,
    SignatureError,
    VersionError,
)
from chatthy.store.base import Store
from chatthy.wire.messages import PROTOCOL_VERSION, Request
from chatthy.wire.signing import verify

__all__ = ["Authenticator"]


class Authenticator:
    """Checks every request before any handler sees it.

    A profile's key is the first one it signs with (``registration = "open"``); with
    ``"closed"`` only profiles already in the store or listed in server.toml get in.
    """

    def __init__(
        self,
        store: Store,
        *,
        window: float = 60.0,
        registration: str = "open",
        listed: dict[str, str] | None = None,
    ) -> None:
        self._store = store
        self._window = window
        self._registration = registration
        self._listed = {name: bytes.fromhex(key) for name, key in (listed or {}).items()}
        self._nonces: dict[bytes, float] = {}
        self._next_prune = 0.0
        self._known: dict[str, bytes] = {}

    async def check(self, request: Request, body: bytes, signature: bytes) -> None:
        """Accept ``request`` or raise.

        Raises:
            VersionError: another protocol version.
            SignatureError: the signature fails or the key is not the profile's.
            ClockError: the timestamp is outside the window.
            ReplayError: the nonce was seen within the window.
            RegistrationError: unknown profile on a closed server.
        """
        if request.v != PROTOCOL_VERSION:
            raise VersionError(
                f"protocol version {request.v} is not spoken here (server speaks "
                f"{PROTOCOL_VERSION}); upgrade the older side"
            )
        verify(request.key, body, signature)
        now = time.time()
        if not abs(now - request.ts) <= self._window:
            raise ClockError(
                f"message timestamp is {now - request.ts:+.0f}s off the server clock "
                f"(window ±{self._window:.0f}s): check the clocks"
            )
        self._remember_nonce(request.nonce, now)
        await self._check_profile(request.profile, request.key)

    def _remember_nonce(self, nonce: bytes, now: float) -> None:
        if len(nonce) < 8:
            raise ReplayError("nonce too short")
        if now >= self._next_prune:
            self._nonces = {n: t for n, t in self._nonces.items() if t > now}
            self._next_prune = now + self._window
        if nonce in self._nonces:
            raise ReplayError("replayed message refused (nonce already seen)")
        self._nonces[nonce] = now + 2 * self._window

    async def _check_profile(self, profile: str, key: bytes) -> None:
        known = self._known.get(profile) or self._listed.get(profile)
        if known is None:
            record = await self._store.get_profile(profile)
            if record is not None:
                known = record.public_key
            else:
                known = await self._register(profile, key)
            self._known[profile] = known
        if known != key:
            raise SignatureError(
                f"wrong passphrase for profile '{profile}' (its key does not match)"
            )

    async def _register(self, profile: str, key: bytes) -> bytes:
        listed = self._listed.get(profile)
        if listed is None and self._registration != "open":
            raise RegistrationError(
                f"profile '{profile}' is not registered and this server's registration is closed"
            )
        if listed is not None and listed != key:
            raise SignatureError(f"wrong passphrase for profile '{profile}' (not the listed key)")
        if not profile or len(profile) > 64 or not profile.isprintable() or "/" in profile:
            raise RegistrationError("profile names are 1-64 printable characters without '/'")
        try:
            await self._store.register_profile(profile, key)
        except ConflictError:  # another request of the same profile registered it first
            record = await self._store.get_profile(profile)
            if record is None:
                raise
            return record.public_key
        return key
