"""RPCs that add workspace files from sources the server fetches: a web page, a YouTube
transcript, arXiv papers, a Wikipedia article, news headlines, or any source a plugin
registers.

Every RPC dispatches through the source registry (:mod:`chatthy.workspace.sources`):
``ws_fetch`` by the source's name, ``ws_url``, ``ws_youtube`` … each for its built-in
(with its own argument name); ``ws_sources`` lists them all. Each fetches everything
first (``[sources]`` of server.toml: timeout, size cap, address guard) and only then
stores the file, through the same check as ``ws_add``; so a failure of any kind stores
nothing. Fetching awaits the network, so other clients are served meanwhile.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from chatthy.errors import ArgumentError
from chatthy.server.handlers.common import NoArgs
from chatthy.server.handlers.workspace import store_file
from chatthy.server.rpc import Context, registry
from chatthy.workspace.sources import DEFAULT_COUNT, Fetcher, get_source, sources

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
    count: Count = DEFAULT_COUNT
    name: str | None = None


class WikipediaArgs(msgspec.Struct, forbid_unknown_fields=True):
    title: str
    name: str | None = None


class NewsArgs(msgspec.Struct, forbid_unknown_fields=True):
    query: str
    count: Count = DEFAULT_COUNT
    name: str | None = None


class FetchArgs(msgspec.Struct, forbid_unknown_fields=True):
    source: str
    argument: str
    count: Count | None = None
    name: str | None = None


async def _add(
    ctx: Context, source_name: str, argument: str, count: int | None, name: str | None
) -> dict[str, Any]:
    """Fetch a document from the named source, then store it under ``name`` or the name
    the source gave."""
    source = get_source(source_name)
    if count is not None and not source.counted:
        raise ArgumentError(f"source '{source.name}' takes no count")
    async with Fetcher(ctx.engine.config.sources) as fetcher:
        document = await source.fetch(fetcher, argument, count=count or DEFAULT_COUNT)
    return await store_file(ctx, name or document.name, document.text, document.source)


@registry.rpc()
async def ws_sources(ctx: Context, args: NoArgs) -> list[dict[str, Any]]:
    """The sources `ws_fetch` can add from: name, help, argument, metavar, counted (takes
    `count`)."""
    return [
        {
            "name": source.name,
            "help": source.help,
            "argument": source.argument,
            "metavar": source.metavar,
            "counted": source.counted,
        }
        for source in sources()
    ]


@registry.rpc()
async def ws_fetch(ctx: Context, args: FetchArgs) -> dict[str, Any]:
    """Add a document from any source `ws_sources` lists (`source`: its name; `argument`:
    what to fetch; `count`: for a source that searches), as the name the source gives."""
    return await _add(ctx, args.source, args.argument, args.count, args.name)


@registry.rpc()
async def ws_url(ctx: Context, args: UrlArgs) -> dict[str, Any]:
    """Add a web page's main text (or a text file) from its URL, as url-HOST-PATH."""
    return await _add(ctx, "url", args.url, None, args.name)


@registry.rpc()
async def ws_youtube(ctx: Context, args: YoutubeArgs) -> dict[str, Any]:
    """Add a YouTube video's transcript (video: its ID or URL), as youtube-ID."""
    return await _add(ctx, "youtube", args.video, None, args.name)


@registry.rpc()
async def ws_arxiv(ctx: Context, args: ArxivArgs) -> dict[str, Any]:
    """Add an arXiv paper's abstract and metadata (query: its ID or URL), as arxiv-ID, or
    the abstracts of the top `count` papers a search finds, as arxiv-search-WORDS."""
    return await _add(ctx, "arxiv", args.query, args.count, args.name)


@registry.rpc()
async def ws_wikipedia(ctx: Context, args: WikipediaArgs) -> dict[str, Any]:
    """Add a Wikipedia article's full text, as wikipedia-TITLE."""
    return await _add(ctx, "wikipedia", args.title, None, args.name)


@registry.rpc()
async def ws_news(ctx: Context, args: NewsArgs) -> dict[str, Any]:
    """Add the top `count` news headlines for a search (outlet, date, link, summary), as
    news-WORDS."""
    return await _add(ctx, "news", args.query, args.count, args.name)
