"""Which server runs a chat's reply: a lease per chat, kept in the store.

One reply per chat, whichever server it runs on: a server claims the chat's lease before
the reply's row exists and gives it back once the reply is stored, renewing it meanwhile.
A ``streaming`` reply whose chat has no live lease was cut off: a restarted server marks
interrupted only those (never another live server's), and any server marks a reply
interrupted once its owner's lease runs out. On one host an owner whose process is gone
is known dead at once (a server killed and started again recovers its replies at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Sequence
from typing import Protocol

from chatthy.errors import ChatthyError

__all__ = ["LeaseStore", "Peers", "ReplyOwner"]

log = logging.getLogger("chatthy.server")

LEASE_SECONDS = 15.0
"""How long a lease lasts unless renewed (it is renewed every third of that)."""


class LeaseStore(Protocol):
    """The store methods leases need (see :class:`~chatthy.store.base.Store`)."""

    async def claim_reply(self, profile: str, chat: str, owner: str, ttl: float) -> None: ...
    async def release_reply(self, profile: str, chat: str, owner: str) -> None: ...
    async def renew_replies(self, owner: str, ttl: float) -> int: ...
    async def reply_owners(self) -> list[str]: ...
    async def interrupt_orphans(self, dead: Sequence[str] = ()) -> int: ...


class Peers(Protocol):
    """The other servers on a shared database, as far as they can be seen from here
    (:class:`~chatthy.store.pg_broadcast.PgBroadcaster`): which of them stopped, and the
    replies of theirs this server followed."""

    async def gone(self, owners: Sequence[str]) -> list[str]:
        """Of ``owners``, those whose server is known to have stopped."""

    async def salvage(self, dead: Sequence[str]) -> None:
        """Keep what the ``dead`` owners' replies streamed up to their last batch, before
        those replies are marked interrupted."""

    def ended(self, dead: Sequence[str]) -> None:
        """The ``dead`` owners' replies are marked interrupted: end them for the clients
        that follow them here."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


class ReplyOwner:
    """This server's leases: claim, release, renew, and recovery of cut-off replies."""

    def __init__(
        self, store: LeaseStore, ttl: float = LEASE_SECONDS, sweep: float | None = None
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.sweep = sweep if sweep is not None else ttl / 3
        """Seconds between two rounds of renewing and recovering."""
        self.peers: Peers | None = None
        """The other servers, where they can be seen (a shared PostgreSQL)."""
        self.host = socket.gethostname()
        self.id = f"{self.host}/{os.getpid()}/{secrets.token_hex(4)}"
        self._task: asyncio.Task[None] | None = None

    async def claim(self, profile: str, chat: str) -> None:
        """Raises ConflictError when another server runs a reply there."""
        await self.store.claim_reply(profile, chat, self.id, self.ttl)

    async def release(self, profile: str, chat: str) -> None:
        with contextlib.suppress(ChatthyError):
            await self.store.release_reply(profile, chat, self.id)

    def _dead(self, owner: str) -> bool:
        """An owner on this host whose process is gone (others wait for their lease)."""
        host, _, rest = owner.partition("/")
        pid = rest.partition("/")[0]
        return owner != self.id and host == self.host and pid.isdigit() and not _alive(int(pid))

    async def recover(self) -> int:
        """Mark interrupted every reply no live owner holds; returns how many. A reply
        another server ran and this one followed keeps the text of its last batch."""
        owners = await self.store.reply_owners()
        dead = [owner for owner in owners if self._dead(owner)]
        peers = self.peers
        if peers is None:
            return await self.store.interrupt_orphans(dead)
        dead += await peers.gone([o for o in owners if o != self.id and o not in dead])
        if dead:
            await peers.salvage(dead)
        found = await self.store.interrupt_orphans(dead)
        if dead:
            peers.ended(dead)
        return found

    def start(self) -> None:
        """Renew this server's leases and recover others' cut-off replies every
        :attr:`sweep` seconds (a third of the lease unless said), until :meth:`aclose`."""
        self._task = asyncio.create_task(self._keep(), name="reply leases")

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.sweep)
            try:
                await self.store.renew_replies(self.id, self.ttl)
                found = await self.recover()
            except ChatthyError as exc:
                log.warning("reply leases: %s", exc.message)
                continue
            if found:
                log.info("%d reply(ies) whose server stopped marked interrupted", found)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
