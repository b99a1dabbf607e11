"""RPCs that add workspace files from sources the server fetches: a web page, a YouTube
transcript, arXiv papers, a Wikipedia article, news headlines.

Each fetches everything first (``[sources]`` of server.toml: timeout, size cap, address
guard) and only then stores the file, through the same check as ``ws_add``; so a failure
of any kind stores nothing. Fetching awaits the network, so other clients are served
meanwhile.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec

from chatthy.server.handlers.workspace import store_file
from chatthy.server.rpc import Context, registry
from chatthy.workspace.sources import (
    Document,
    Fetcher,
    fetch_arxiv,
    fetch_news,
    fetch_page,
    fetch_wikipedia,
    fetch_youtube,
)

__all__: list[str] = []

Count = Annotated[int, msgspec.Meta(ge=1, le=50)]


class UrlArgs(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    name: str | None = None


class YoutubeArgs(msgspec.Struct, forbid_unknown_fields=True):
    video: str
    name: str | None = None


class ArxivArgs(msgspec.Struct, forbid_unknown_fields=True):
    query: str
    count: Count = 5
    name: str | None = None


class WikipediaArgs(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    name: str | None = None


class NewsArgs(msgspec.Struct, forbid_unknown_fields=True):
    query: str
    count: Count = 5
    name: str | None = None


async def _add(
    ctx: Context, fetch: Callable[[Fetcher], Awaitable[Document]], name: str | None
) -> dict[str, Any]:
    """Fetch a document, then store it under ``name`` or the name the source gave."""
    async with Fetcher(ctx.engine.config.sources) as fetcher:
        document = await fetch(fetcher)
    return await store_file(ctx, name or document.name, document.text, document.source)


@registry.rpc()
async def ws_url(ctx: Context, args: UrlArgs) -> dict[str, Any]:
    """Add a web page's main text (or a text file) from its URL, as url-HOST-PATH."""
    return await _add(ctx, lambda fetcher: fetch_page(fetcher, args.url), args.name)


@registry.rpc()
async def ws_youtube(ctx: Context, args: YoutubeArgs) -> dict[str, Any]:
    """Add a YouTube video's transcript (video: its ID or URL), as youtube-ID."""
    return await _add(ctx, lambda fetcher: fetch_youtube(fetcher, args.video), args.name)


@registry.rpc()
async def ws_arxiv(ctx: Context, args: ArxivArgs) -> dict[str, Any]:
    """Add an arXiv paper's abstract and metadata (query: its ID or URL), as arxiv-ID, or
    the abstracts of the top `count` papers a search finds, as arxiv-search-WORDS."""
    return await _add(ctx, lambda fetcher: fetch_arxiv(fetcher, args.query, args.count), args.name)


@registry.rpc()
async def ws_wikipedia(ctx: Context, args: WikipediaArgs) -> dict[str, Any]:
    """Add a Wikipedia article's full text, as wikipedia-TITLE."""
    return await _add(ctx, lambda fetcher: fetch_wikipedia(fetcher, args.title), args.name)


@registry.rpc()
async def ws_news(ctx: Context, args: NewsArgs) -> dict[str, Any]:
    """Add the top `count` news headlines for a search (outlet, date, link, summary), as
    news-WORDS."""
    return await _add(ctx, lambda fetcher: fetch_news(fetcher, args.query, args.count), args.name)
