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

from chatthy.errors import ArgumentError
from chatthy.server.handlers.workspace import store_file
from chatthy.server.rpc import Context, registry
from chatthy.wire import api
from chatthy.workspace.sources import DEFAULT_COUNT, Fetcher, get_source, sources

__all__: list[str] = []


async def _add(
    ctx: Context, source_name: str, argument: str, count: int | None, name: str | None
) -> api.WorkspaceFile:
    """Fetch a document from the named source, then store it under ``name`` or the name
    the source gave."""
    source = get_source(source_name)
    if count is not None and not source.counted:
        raise ArgumentError(f"source '{source.name}' takes no count")
    async with Fetcher(ctx.engine.config.sources) as fetcher:
        document = await source.fetch(fetcher, argument, count=count or DEFAULT_COUNT)
    return await store_file(ctx, name or document.name, document.text, document.source)


@registry.rpc()
async def ws_sources(ctx: Context, args: api.WsSources) -> list[api.SourceInfo]:
    return [
        api.SourceInfo(
            name=source.name,
            help=source.help,
            argument=source.argument,
            metavar=source.metavar,
            counted=source.counted,
        )
        for source in sources()
    ]


@registry.rpc()
async def ws_fetch(ctx: Context, args: api.WsFetch) -> api.WorkspaceFile:
    return await _add(ctx, args.source, args.argument, args.count, args.name)


@registry.rpc()
async def ws_url(ctx: Context, args: api.WsUrl) -> api.WorkspaceFile:
    return await _add(ctx, "url", args.url, None, args.name)


@registry.rpc()
async def ws_youtube(ctx: Context, args: api.WsYoutube) -> api.WorkspaceFile:
    return await _add(ctx, "youtube", args.video, None, args.name)


@registry.rpc()
async def ws_arxiv(ctx: Context, args: api.WsArxiv) -> api.WorkspaceFile:
    return await _add(ctx, "arxiv", args.query, args.count, args.name)


@registry.rpc()
async def ws_wikipedia(ctx: Context, args: api.WsWikipedia) -> api.WorkspaceFile:
    return await _add(ctx, "wikipedia", args.title, None, args.name)


@registry.rpc()
async def ws_news(ctx: Context, args: api.WsNews) -> api.WorkspaceFile:
    return await _add(ctx, "news", args.query, args.count, args.name)
