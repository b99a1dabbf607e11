"""What one connection, profile or peer address may ask of the server.

Token buckets (``[limits]`` in server.toml) for requests per connection and per profile,
for registrations per peer address and for the bytes of answers queued to one
connection; a quota of stored bytes per profile; tokens per day per profile and
provider. Every refusal is a coded error: ``rate_limited`` (with when to retry) or
``quota_exceeded``. The tables are bounded: idle buckets are forgotten.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import zmq

from chatthy.config import LimitsConfig
from chatthy.errors import QuotaExceededError, RateLimitedError

__all__ = [
    "FREES",
    "WRITES",
    "Bucket",
    "Buckets",
    "Limits",
    "Queued",
    "StoredBytes",
    "TokensPerDay",
]

MAX_KEYS = 100_000
"""Buckets one table keeps at most; beyond it the least recently used are forgotten."""

WRITES = frozenset(
    {
        "chat",
        "edit",
        "regenerate",
        "template",
        "new",
        "fork",
        "import",
        "import_begin",
        "prompt_set",
        "prompt_copy",
        "ws_add",
        "ws_url",
        "ws_youtube",
        "ws_arxiv",
        "ws_wikipedia",
        "ws_news",
        "ws_fetch",
        "rag_add",
        "rag_add_many",
        "rag_fetch",
    }
)
"""The RPCs that store more: refused when the profile's stored bytes are at its quota.
Deletes, renames and reads never are, so a profile over its quota can free space."""

FREES = frozenset(
    {"destroy", "undo", "edit", "regenerate", "ws_drop", "prompt_delete", "import_finish"}
    | {"rag_drop"}
)
"""RPCs after which the profile's stored bytes are counted again when next needed."""

UNSIZED = frozenset(
    {"fork", "import_begin", "ws_url", "ws_youtube", "ws_arxiv"}
    | {"ws_wikipedia", "ws_news", "ws_fetch", "template", "rag_fetch"}
)
"""Writes whose stored size is not their request's: the profile's bytes are counted
again (in the store) before its next write."""
GROWS = {"rag_add": 3, "rag_add_many": 3}
"""Writes that store more than they send, by about how many times: a document's chunks
keep a vector each (1 KB for 256 dimensions, beside some 700 bytes of text) and overlap.
The estimate errs high, so the count in the store comes before the quota is passed."""


@dataclass(slots=True)
class Bucket:
    """``burst`` tokens, refilled at ``rate`` per second."""

    rate: float
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; 0.0 when there were enough, else the seconds until
        there will be (nothing is taken then)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= min(cost, self.burst):  # a cost over the burst goes when full
            self.tokens -= cost
            return 0.0
        return (min(cost, self.burst) - self.tokens) / self.rate


class Buckets:
    """One bucket per key (a connection, a profile, an address), made full on first use."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[object, Bucket] = {}

    def take(self, key: object, cost: float = 1.0, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = Bucket(self.rate, self.burst, self.burst, now)
            if len(self._buckets) >= MAX_KEYS:
                self._forget(now)
        self._buckets[key] = bucket  # most recently used last
        return bucket.take(now, cost)

    def __len__(self) -> int:
        return len(self._buckets)

    def _forget(self, now: float) -> None:
        """Drop the buckets that are full again (they hold nothing), else the oldest half."""
        full = [
            k for k, b in self._buckets.items() if b.tokens + (now - b.stamp) * b.rate >= b.burst
        ]
        for key in full or list(self._buckets)[: len(self._buckets) // 2]:
            del self._buckets[key]


@dataclass(slots=True)
class _Stored:
    bytes: int
    exact: bool
    counted: float = field(default_factory=time.monotonic)


class StoredBytes:
    """A profile's stored bytes against its quota: counted in the store when it may be
    near the quota, between counts estimated by adding what each write sent."""

    def __init__(self, quota: int, count: Callable[[str], Awaitable[int]]) -> None:
        self.quota = quota
        self._count = count
        self._known: dict[str, _Stored] = {}

    async def check(self, profile: str) -> None:
        """Raises QuotaExceededError when the profile stores its quota or more."""
        if not self.quota:
            return
        known = self._known.get(profile)
        if known is None or (not known.exact and known.bytes >= self.quota):
            known = self._known[profile] = _Stored(await self._count(profile), exact=True)
            if len(self._known) > MAX_KEYS:
                self._known.pop(next(iter(self._known)))
        if known.bytes >= self.quota:
            raise QuotaExceededError(
                f"profile '{profile}' stores {_mb(known.bytes)} of its {_mb(self.quota)}: "
                "delete chats, workspace files or documents to make room"
            )

    def wrote(self, profile: str, method: str, size: int) -> None:
        """A write of ``size`` request bytes succeeded."""
        known = self._known.get(profile)
        if known is None:
            return
        known.bytes += size * GROWS.get(method, 1)
        known.exact = False
        if method in UNSIZED:
            known.bytes = max(known.bytes, self.quota)  # count again before the next write

    def freed(self, profile: str) -> None:
        """Something was deleted: count again when it matters."""
        self._known.pop(profile, None)


class TokensPerDay:
    """Tokens each profile spent per provider this UTC day."""

    def __init__(self) -> None:
        self._day = ""
        self._spent: dict[tuple[str, str], int] = {}

    def _today(self) -> None:
        day = time.strftime("%Y-%m-%d", time.gmtime())
        if day != self._day:
            self._day, self._spent = day, {}

    def spend(self, profile: str, provider: str, tokens: int) -> None:
        self._today()
        key = (profile, provider)
        self._spent[key] = self._spent.get(key, 0) + max(tokens, 0)

    def check(self, profile: str, provider: str, allowed: int) -> None:
        """Raises QuotaExceededError when ``allowed`` (0: no limit) is spent today."""
        if not allowed:
            return
        self._today()
        spent = self._spent.get((profile, provider), 0)
        if spent >= allowed:
            raise QuotaExceededError(
                f"profile '{profile}' has spent its {allowed} tokens of today on provider "
                f"'{provider}' ({spent}); more after midnight UTC"
            )


class Queued:
    """Large answers sent to each connection that its transport has not written out yet
    (ZeroMQ's trackers say when it has): a peer that stops reading gets refusals, never
    a queue in the server's memory."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._sent: dict[bytes, list[tuple[int, zmq.MessageTracker]]] = {}

    def pending(self, conn: bytes) -> int:
        """Bytes of ``conn``'s answers still queued."""
        sent = self._sent.get(conn)
        if not sent:
            return 0
        sent[:] = [(size, tracker) for size, tracker in sent if not tracker.done]
        if not sent:
            del self._sent[conn]
        return sum(size for size, _ in sent)

    def admit(self, conn: bytes, size: int) -> None:
        """Raises RateLimitedError when ``conn`` has answers queued and this one would
        take it over the limit (one answer alone always goes, up to ``max_reply``)."""
        pending = self.pending(conn)
        if pending and pending + size > self.limit:
            raise RateLimitedError(
                f"{_mb(pending)} of answers are still waiting for this connection to read "
                "them; read them first",
                retry_after=1.0,
            )

    def sent(self, conn: bytes, size: int, tracker: zmq.MessageTracker) -> None:
        if not tracker.done:
            self._sent.setdefault(conn, []).append((size, tracker))
        if len(self._sent) > 1000:  # connections gone: their messages were dropped
            for key in list(self._sent):
                self.pending(key)

    def __len__(self) -> int:
        return len(self._sent)


class Limits:
    """The server's buckets and quotas, made from ``[limits]``."""

    def __init__(self, config: LimitsConfig, count: Callable[[str], Awaitable[int]]) -> None:
        self.config = config
        self.connections = Buckets(config.connection_rate, config.connection_burst)
        self.profiles = Buckets(config.profile_rate, config.profile_burst)
        self.registrations = Buckets(
            config.registrations_per_hour / 3600.0, config.registration_burst
        )
        self.queued = Queued(config.reply_queue)
        self.stored = StoredBytes(config.stored_bytes, count)
        self.tokens = TokensPerDay()

    def connection(self, conn: bytes) -> None:
        """Raises RateLimitedError when the connection sends too fast."""
        if wait := self.connections.take(conn):
            raise RateLimitedError("too many requests on this connection", retry_after=wait)

    def profile(self, profile: str) -> None:
        """Raises RateLimitedError when the profile sends too fast (all its connections)."""
        if wait := self.profiles.take(profile):
            raise RateLimitedError(f"too many requests from profile '{profile}'", retry_after=wait)

    def registration(self, address: str) -> None:
        """Raises RateLimitedError when ``address`` registers profiles too fast."""
        if wait := self.registrations.take(address or "?"):
            raise RateLimitedError(
                f"too many new profiles from {address or 'this address'}", retry_after=wait
            )


def _mb(n: int) -> str:
    """Bytes as a person reads them."""
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    return f"{n / 1000:.1f} KB" if n >= 1000 else f"{n} bytes"
