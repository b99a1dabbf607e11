"""Where :class:`~chatthy.store.sqlite.SQLiteStore` does its database work: off the event
loop, so that one long query never stalls every other client.

One writer thread owns the writing connection: writes run one at a time, in the order
they were asked for (a reply's checkpoints and its last write never overtake each other),
each one ``BEGIN IMMEDIATE`` … ``COMMIT``. A few reader threads share a small pool of
read-only connections; WAL lets them read while the writer writes, each read in one
transaction so that its queries see one snapshot.

The ``sqlite3`` module releases the GIL while SQLite steps through a query, so a search
over 60,000 messages in a reader costs the event loop nothing; only turning rows into
records holds it, a few microseconds a row.

A full disk: the store keeps a reserve, a file of :data:`RESERVE` bytes beside the
database (``chatthy.db.reserve``). A write that adds nothing (a delete, a reply marked
``error``) and fails for want of space deletes the reserve and runs again, then gives
the WAL's space back (a ``TRUNCATE`` checkpoint) and makes the reserve anew if the disk
has room by then. Writes that add data never touch the reserve, so they cannot eat it:
on a full disk they fail (``disk_full``) and a user can still free space over the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import queue
import shutil
import sqlite3
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from chatthy.errors import DiskFullError, StoreError
from chatthy.store._sqlite_support import rollback, translated

__all__ = ["READERS", "RESERVE", "Threads", "Work", "keep_reserve", "reserve_of"]

log = logging.getLogger("chatthy.server")

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], T]
"""Database work: given a connection inside a transaction, returns its result."""

READERS = 3
"""Reader threads (and connections): enough that a long search leaves others to read."""

SWITCH_INTERVAL = 0.001
"""Seconds a thread holding the GIL keeps it while another waits (Python's default: 5 ms).
Turning 20,000 rows into records holds it; at 5 ms a turn, the event loop waited behind
each database thread in turn, 50-100 ms in all, under load."""

RESERVE = 8 * 2**20
"""Bytes kept free for deletes on a full disk. A delete writes every page it touches to
the WAL (a chat of 11 MB deleted at once wrote 10 MB); chats are deleted in slices, so one
deletion's WAL stays under ~4.5 MB (its auto-checkpoint at 1,000 pages)."""


NICENESS = 5
"""How much lower than the event loop's thread the database threads run: on a busy
machine the loop (every stream, every quick answer) gets a core first."""


def _yield_to_the_loop() -> None:
    """Lower this thread's scheduling priority by :data:`NICENESS` (Linux: one thread's
    own; elsewhere nothing)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + NICENESS)


def reserve_of(path: Path) -> Path:
    """The reserve file of the database at ``path``."""
    return path.with_name(path.name + ".reserve")


def keep_reserve(path: Path) -> bool:
    """Make the reserve of the database at ``path`` unless it is there; whether it is.
    Only on a disk with room for it twice over: right after a delete on a full disk, the
    space it freed is the users' to write again, not the reserve's."""
    reserve = reserve_of(path)
    with contextlib.suppress(OSError):
        if reserve.stat().st_size >= RESERVE:
            return True
    try:
        if shutil.disk_usage(path.parent).free < 2 * RESERVE:
            return False
        fd = os.open(reserve, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, RESERVE)
        finally:
            os.close(fd)
    except OSError:
        with contextlib.suppress(OSError):
            reserve.unlink()
        return False
    return True


def _few_malloc_arenas() -> None:
    """Let the process's threads share two malloc arenas (glibc; elsewhere nothing).

    glibc gives each thread that allocates an arena of its own and keeps it grown: the
    large strings a reader thread decodes (a page of long messages) would stay held by
    the process after use. ``bench/abuse.py --only slow_readers``: +58 MB with the
    default, +35 MB with two arenas."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, 2)


M_ARENA_MAX = -8
"""glibc's ``mallopt`` parameter for the most arenas."""


class Threads:
    """The writer thread with its connection and the readers with theirs."""

    def __init__(
        self, writer: sqlite3.Connection, readers: list[sqlite3.Connection], path: Path
    ) -> None:
        self.writer = writer
        self.path = path
        self._readers = readers
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        for conn in readers:
            self._idle.put(conn)
        sys.setswitchinterval(SWITCH_INTERVAL)
        _few_malloc_arenas()
        self._write_thread = ThreadPoolExecutor(
            1, thread_name_prefix="chatthy-db-write", initializer=_yield_to_the_loop
        )
        self._read_threads = ThreadPoolExecutor(
            len(readers), thread_name_prefix="chatthy-db-read", initializer=_yield_to_the_loop
        )

    async def write(self, work: Work[T], *, frees: bool = False) -> T:
        """Run ``work`` in one write transaction on the writer thread: all of it is
        committed, or none of it on any error. With ``frees`` (the work adds nothing), a
        full disk releases the reserve and the work runs again."""
        loop = asyncio.get_running_loop()
        run = self._freeing if frees else self._in_write
        try:
            done = loop.run_in_executor(self._write_thread, run, work)
        except RuntimeError as exc:  # the executor was shut down: the store is closed
            raise StoreError("the store is closed") from exc
        return await done

    async def read(self, work: Work[T]) -> T:
        """Run ``work`` in one read transaction on a reader thread."""
        loop = asyncio.get_running_loop()
        try:
            done = loop.run_in_executor(self._read_threads, self._in_read, work)
        except RuntimeError as exc:
            raise StoreError("the store is closed") from exc
        return await done

    def _in_write(self, work: Work[T]) -> T:
        conn = self.writer
        with translated():
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                rollback(conn)
                raise
        return result

    def _freeing(self, work: Work[T]) -> T:
        try:
            return self._in_write(work)
        except DiskFullError as full:
            reserve = reserve_of(self.path)
            try:
                reserve.unlink()
            except OSError:
                raise full from full.__cause__  # the reserve is spent already
            log.warning("disk full: released the reserve %s for a delete", reserve)
        result = self._in_write(work)
        with contextlib.suppress(sqlite3.Error):
            self.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        keep_reserve(self.path)
        return result

    def _in_read(self, work: Work[T]) -> T:
        conn = self._idle.get()
        try:
            with translated():
                conn.execute("BEGIN")
                try:
                    return work(conn)
                finally:
                    rollback(conn)
        finally:
            self._idle.put(conn)

    def close(self) -> None:
        """Finish the work already asked for, then close every connection (blocks: call
        it from a thread, or where blocking is fine)."""
        self._write_thread.shutdown(wait=True)
        self._read_threads.shutdown(wait=True)
        with translated():
            for conn in (self.writer, *self._readers):
                conn.close()
