"""Source names → sources: :func:`register_source`, :func:`sources`, :func:`get_source`.

The built-in sources (``url``, ``youtube``, ``arxiv``, ``wikipedia``, ``news``) register
through :func:`register_source` exactly as a plugin's are. A third-party source is an
entry point of the group ``chatthy.sources``, named by the source, that loads a
:class:`~chatthy.workspace.sources.base.Source` subclass, made with no arguments; in the
plugin's ``pyproject.toml``::

    [project.entry-points."chatthy.sources"]
    mysource = "my_plugin:MySource"

Entry points are read on the first call that asks for a source (see
:mod:`chatthy.plugins`); one that cannot be loaded is logged then, and only a request for
its source fails, with a ConfigError naming the plugin.
"""

from __future__ import annotations

from chatthy.errors import ArgumentError
from chatthy.plugins import Registry
from chatthy.workspace.sources.arxiv import ArxivSource
from chatthy.workspace.sources.base import Source
from chatthy.workspace.sources.news import NewsSource
from chatthy.workspace.sources.page import PageSource
from chatthy.workspace.sources.wikipedia import WikipediaSource
from chatthy.workspace.sources.youtube import YoutubeSource

__all__ = ["GROUP", "get_source", "register_source", "sources"]

GROUP = "chatthy.sources"
"""The entry-point group of source plugins."""


def _as_source(name: str, loaded: object) -> Source:
    """What a ``chatthy.sources`` entry point loads, made into the source it names."""
    if not (isinstance(loaded, type) and issubclass(loaded, Source)):
        raise TypeError(f"{loaded!r} is not a Source subclass")
    source = loaded()
    if source.name != name:
        raise TypeError(f"its source is named '{source.name}', not '{name}'")
    return source


_sources: Registry[Source] = Registry("workspace source", GROUP, _as_source)


def register_source(source: Source) -> None:
    """Offer ``source`` under its name; a later source of the same name replaces the
    earlier, so a plugin can override a built-in."""
    _sources.register(source.name, source)


def sources() -> list[Source]:
    """Every source that can be used (built-ins and loadable plugins), by name."""
    return [source for name in _sources.names() if (source := _sources.get(name))]


def get_source(name: str) -> Source:
    """The source called ``name``.

    Raises:
        ArgumentError: no source has that name (the message lists those there are).
        ConfigError: the source comes from a plugin that cannot be loaded.
    """
    source = _sources.get(name)
    if source is None:
        known = ", ".join(_sources.names())
        raise ArgumentError(f"no source '{name}' (known: {known})")
    return source


for _builtin in (PageSource, YoutubeSource, ArxivSource, WikipediaSource, NewsSource):
    register_source(_builtin())
