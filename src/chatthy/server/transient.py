"""Files a client attaches to one turn: read from the client's disk, sent with the request
(``transient`` of ``chat``, ``regenerate``, ``edit``, ``template``), put in the context
after the stored workspace files, and never stored."""

from __future__ import annotations

import msgspec

from chatthy.context.workspace import TRANSIENT
from chatthy.errors import ArgumentError
from chatthy.server.handlers.workspace import check_size
from chatthy.wire.api import TransientFile

__all__ = ["MAX_TRANSIENT_FILES", "transient_files"]

MAX_TRANSIENT_FILES = 1000
"""Most files one turn may attach (their bytes are bounded by the message size too)."""


def transient_files(files: list[TransientFile] | None, limit: int) -> list[TransientFile]:
    """The attached files as the context labels them (source ``transient:PATH``).

    Raises:
        ArgumentError: there are more than :data:`MAX_TRANSIENT_FILES`, or one is larger
            than ``limit`` bytes (``max_workspace_file``), naming it.
    """
    if not files:
        return []
    if len(files) > MAX_TRANSIENT_FILES:
        raise ArgumentError(
            f"{len(files):,} attached files; a turn takes at most {MAX_TRANSIENT_FILES:,}"
        )
    for file in files:
        check_size(f"attached file '{file.name}' ({file.source or 'no source'})", file.text, limit)
    return [
        msgspec.structs.replace(file, source=TRANSIENT + (file.source or file.name))
        for file in files
    ]
