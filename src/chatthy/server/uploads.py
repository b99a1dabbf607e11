"""Imports too large for one request, taken in pieces (``import_begin``/``append``/
``finish``): bounded in size, in number per profile and in bytes held in all."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from chatthy.errors import (
    ArgumentError,
    ConflictError,
    NotFoundError,
    RateLimitedError,
    TooLargeError,
)

__all__ = ["Upload", "Uploads"]

IDLE = 300.0
"""Seconds an upload may wait for its next piece before it is dropped."""

PER_PROFILE = 2
"""Uploads one profile may have open at once."""


@dataclass(slots=True)
class Upload:
    id: str
    profile: str
    size: int
    chat: str | None
    data: bytearray = field(default_factory=bytearray)
    touched: float = field(default_factory=time.monotonic)


class Uploads:
    """The open uploads of one server. ``budget`` bytes may be promised in all (each
    upload promises its declared size when it begins), so memory stays bounded."""

    def __init__(self, max_size: int, chunk: int, budget: int | None = None) -> None:
        self.max_size = max_size
        self.chunk = chunk
        self.budget = budget if budget is not None else 2 * max_size
        self._open: dict[str, Upload] = {}

    def begin(self, profile: str, size: int, chat: str | None) -> Upload:
        """Open an upload of ``size`` bytes.

        Raises:
            TooLargeError: over ``max_size``.
            RateLimitedError: the profile has too many open, or the server's budget is
                promised to others for now.
        """
        self._expire()
        if size > self.max_size:
            raise TooLargeError(
                f"import of {size} bytes is over this server's limit of {self.max_size} "
                "(max_import)"
            )
        mine = [u for u in self._open.values() if u.profile == profile]
        if len(mine) >= PER_PROFILE:
            raise RateLimitedError(
                f"{len(mine)} imports of yours are already under way; finish them first",
                retry_after=IDLE,
            )
        if sum(u.size for u in self._open.values()) + size > self.budget:
            raise RateLimitedError("the server is taking in other imports", retry_after=10.0)
        upload = Upload(os.urandom(8).hex(), profile, size, chat)
        self._open[upload.id] = upload
        return upload

    def append(self, profile: str, upload_id: str, offset: int, data: bytes) -> int:
        """Add the piece at ``offset``; return the bytes received so far.

        Raises:
            NotFoundError: no such upload of this profile (finished, dropped or idle).
            ConflictError: ``offset`` is not where the upload stands (a piece lost or
                sent twice).
            ArgumentError: the piece is larger than ``chunk``, or runs past the size.
        """
        upload = self._get(profile, upload_id)
        if offset != len(upload.data):
            raise ConflictError(
                f"import piece at byte {offset}, but {len(upload.data)} bytes have arrived"
            )
        if len(data) > self.chunk:
            raise ArgumentError(f"import piece of {len(data)} bytes (at most {self.chunk})")
        if offset + len(data) > upload.size:
            raise ArgumentError(f"import runs past its declared size of {upload.size} bytes")
        upload.data += data
        upload.touched = time.monotonic()
        return len(upload.data)

    def finish(self, profile: str, upload_id: str) -> Upload:
        """Close a complete upload and hand it over.

        Raises:
            NotFoundError: no such upload.
            ConflictError: bytes are still missing (the upload stays open).
        """
        upload = self._get(profile, upload_id)
        if len(upload.data) != upload.size:
            raise ConflictError(
                f"import has {len(upload.data)} of its {upload.size} bytes; send the rest"
            )
        del self._open[upload_id]
        return upload

    def _get(self, profile: str, upload_id: str) -> Upload:
        self._expire()
        upload = self._open.get(upload_id)
        if upload is None or upload.profile != profile:
            raise NotFoundError(f"no import under way with id '{upload_id}' (idle ones end)")
        return upload

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, u in self._open.items() if now - u.touched > IDLE]:
            del self._open[key]
