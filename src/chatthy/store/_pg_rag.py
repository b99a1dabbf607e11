"""The RAG part of :class:`~chatthy.store.postgres.PostgresStore`."""

from __future__ import annotations

__all__ = ["PgRagMixin"]


class PgRagMixin:
    """Each profile's documents (to be written)."""
