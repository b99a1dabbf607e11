"""The workspace part of :class:`~chatthy.store.postgres.PostgresStore`."""

from __future__ import annotations

__all__ = ["PgWorkspaceMixin"]


class PgWorkspaceMixin:
    """Workspace files (to be written)."""
