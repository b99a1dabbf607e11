"""One registry per extension kind, filled by built-ins and by entry points alike.

Each kind (provider schemes, workspace sources) has one :class:`Registry`. Built-ins call
:meth:`Registry.register` exactly as a plugin's entry point would be registered; third-party
ones are found through the kind's entry-point group (``chatthy.providers``,
``chatthy.sources``) the first time the registry is asked, never at import, so that
importing chatthy runs no plugin code. An entry point is named by what it provides (the
scheme, the source) and, loaded, replaces a built-in of that name.

An entry point that cannot be loaded (its module fails to import, its object is not what
the kind expects) is logged once and remembered: asking for its name raises a
:class:`~chatthy.errors.ConfigError` naming the plugin, while every other name works.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Generic, TypeVar

from chatthy.errors import ConfigError

__all__ = ["Registry"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → one extension of a kind; ``accept`` turns what an entry point loads into
    one (or raises TypeError saying why it cannot)."""

    def __init__(self, kind: str, group: str, accept: Callable[[str, object], T]) -> None:
        self.kind = kind
        self.group = group
        self._accept = accept
        self._items: dict[str, T] = {}
        self._broken: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str, item: T) -> None:
        """Offer ``item`` under ``name``; a later registration of a name replaces the earlier."""
        self._items[name] = item
        self._broken.pop(name, None)

    def names(self) -> list[str]:
        """The names that can be used, sorted (a broken plugin's name is not among them)."""
        self._load_plugins()
        return sorted(set(self._items) - set(self._broken))

    def get(self, name: str) -> T | None:
        """The extension registered as ``name``, or None when there is none.

        Raises:
            ConfigError: ``name`` comes from a plugin that could not be loaded.
        """
        self._load_plugins()
        if name in self._broken:
            raise ConfigError(self._broken[name])
        return self._items.get(name)

    def _load_plugins(self) -> None:
        """Register every entry point of the group, once."""
        if self._loaded:
            return
        self._loaded = True
        for entry in entry_points(group=self.group):
            try:
                item = self._accept(entry.name, entry.load())
            except Exception as exc:
                self._broken[entry.name] = self._failure(entry, exc)
                log.warning("%s", self._broken[entry.name])
                continue
            self._items[entry.name] = item

    def _failure(self, entry: EntryPoint, exc: Exception) -> str:
        plugin = entry.dist.name if entry.dist is not None else entry.module
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return (
            f"{self.kind} '{entry.name}' comes from plugin '{plugin}', which cannot be "
            f"loaded ({entry.group}: {entry.name} = {entry.value}): {reason}"
        )
