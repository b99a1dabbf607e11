"""Workspace sources: documents the server fetches for a profile (a web page, a YouTube
transcript, arXiv papers, a Wikipedia article, news headlines, or a plugin's), each a
:class:`Source` found by name in one registry, each fetching through the guarded
:class:`Fetcher` and giving a :class:`Document` named after its source."""

from chatthy.workspace.sources.arxiv import fetch_arxiv
from chatthy.workspace.sources.base import DEFAULT_COUNT, Source
from chatthy.workspace.sources.document import Document
from chatthy.workspace.sources.fetch import Fetcher
from chatthy.workspace.sources.news import fetch_news
from chatthy.workspace.sources.page import fetch_page
from chatthy.workspace.sources.registry import get_source, register_source, sources
from chatthy.workspace.sources.wikipedia import fetch_wikipedia
from chatthy.workspace.sources.youtube import fetch_youtube

__all__ = [
    "DEFAULT_COUNT",
    "Document",
    "Fetcher",
    "Source",
    "fetch_arxiv",
    "fetch_news",
    "fetch_page",
    "fetch_wikipedia",
    "fetch_youtube",
    "get_source",
    "register_source",
    "sources",
]
