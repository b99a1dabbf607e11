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

__all__ = ["LeaseStore", "ReplyOwner"]

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

    def __init__(self, store: LeaseStore, ttl: float = LEASE_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
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
        """Mark interrupted every reply no live owner holds; returns how many."""
        dead = [owner for owner in await self.store.reply_owners() if self._dead(owner)]
        return await self.store.interrupt_orphans(dead)

    def start(self) -> None:
        """Renew this server's leases and recover others' cut-off replies, every third
        of the lease, until :meth:`aclose`."""
        self._task = asyncio.create_task(self._keep(), name="reply leases")

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
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
