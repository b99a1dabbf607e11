"""The one interface of workspace sources: ``Source.fetch(fetcher, argument) → Document``.

A source is a kind of document the server fetches into a profile's workspace (a web page,
a YouTube transcript, arXiv papers …), as llm's fragment loaders map a prefix to
``loader(argument) → Fragment``. It declares its name, a help line and the one argument it
takes; the server finds it by name in :mod:`chatthy.workspace.sources.registry`, where the
built-ins register exactly as a plugin's entry point is registered, and stores what it
returns like any other workspace file.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

from chatthy.workspace.sources.document import Document

if TYPE_CHECKING:
    from chatthy.workspace.sources.fetch import Fetcher

__all__ = ["DEFAULT_COUNT", "Source"]

DEFAULT_COUNT = 5
"""How many results a search keeps when the request does not say."""


class Source(abc.ABC):
    """A kind of document the server fetches; subclasses implement :meth:`fetch` and set
    :attr:`name` and :attr:`help` (the rest has defaults)."""

    name: ClassVar[str]
    """What it is called: ``chatthy ws fetch NAME …``, ``ws_fetch``'s ``source``; also the
    name of its entry point."""
    help: ClassVar[str]
    """One line saying what it adds, for lists and ``--help``."""
    argument: ClassVar[str] = "argument"
    """What the argument is, as its own RPC names it (``url``, ``video``, ``query``)."""
    metavar: ClassVar[str] = "WHAT"
    """How help writes the argument: ``URL``, ``ID|URL``, ``WORDS``."""
    counted: ClassVar[bool] = False
    """It takes a ``count``: how many results a search keeps."""

    @abc.abstractmethod
    async def fetch(
        self, fetcher: Fetcher, argument: str, *, count: int = DEFAULT_COUNT
    ) -> Document:
        """The document ``argument`` names, with the workspace name it suggests and where
        it came from. Every request goes through ``fetcher``, which applies ``[sources]``
        of server.toml (address guard, time and size limits); ``count`` matters only to a
        source that is :attr:`counted`.

        Raises:
            ArgumentError: ``argument`` is nothing this source can fetch.
            NotFoundError: there is nothing by that name, or a search finds nothing.
            SourceError: fetching failed (and its subclasses: timeout, unreachable,
                address refused), or the answer cannot be read.
        """
