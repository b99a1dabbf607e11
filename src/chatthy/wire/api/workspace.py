"""RPCs of the context workspace: the documents each profile's chats see before their
history, added from the client's text or fetched by the server from a source."""

from __future__ import annotations

from typing import Annotated

import msgspec

from chatthy.wire.api._base import Call, Count, Result

__all__ = [
    "SourceInfo",
    "WorkspaceDropped",
    "WorkspaceFile",
    "WsAdd",
    "WsArxiv",
    "WsBench",
    "WsDrop",
    "WsFetch",
    "WsList",
    "WsMcp",
    "WsNews",
    "WsRename",
    "WsRestore",
    "WsShow",
    "WsSources",
    "WsUrl",
    "WsWikipedia",
    "WsYoutube",
]


class WorkspaceFile(Result):
    """A workspace file: its name (a label such as ``docs/a.md``), where its text came
    from, whether it is benched (kept but not sent), its size in bytes and tokens, its
    times, and (from ``ws_show`` only) its text."""

    name: str
    source: str
    benched: bool
    size: int
    tokens: int
    created: float
    updated: float
    text: str | None = None


class WorkspaceDropped(Result):
    name: str
    deleted: bool = True


class SourceInfo(Result):
    """A source ``ws_fetch`` adds from: its name, help, what its argument is (and the
    metavar to show for it), and whether it takes a ``count``."""

    name: str
    help: str
    argument: str
    metavar: str
    counted: bool


class WsList(Call[list[WorkspaceFile]]):
    """List your workspace files: name, tokens, benched, source, size."""

    method = "ws_list"


class WsShow(Call[WorkspaceFile]):
    """Show one workspace file with its text."""

    method = "ws_show"
    name: str


class WsAdd(Call[WorkspaceFile]):
    """Add a workspace file (replacing one of the same name); source says where it came
    from."""

    method = "ws_add"
    name: str
    text: str
    source: str = ""


class WsRename(Call[WorkspaceFile]):
    """Rename a workspace file."""

    method = "ws_rename"
    name: str
    new: str


class WsBench(Call[WorkspaceFile]):
    """Bench a workspace file: kept, but not sent to the model until restored."""

    method = "ws_bench"
    name: str


class WsRestore(Call[WorkspaceFile]):
    """Restore a benched workspace file: sent to the model again."""

    method = "ws_restore"
    name: str


class WsDrop(Call[WorkspaceDropped]):
    """Delete a workspace file."""

    method = "ws_drop"
    name: str


class WsSources(Call[list[SourceInfo]]):
    """The sources `ws_fetch` can add from: name, help, argument, metavar, counted (takes
    `count`)."""

    method = "ws_sources"


class WsFetch(Call[WorkspaceFile]):
    """Add a document from any source `ws_sources` lists (`source`: its name; `argument`:
    what to fetch; `count`: for a source that searches), as the name the source gives."""

    method = "ws_fetch"
    source: str
    argument: str
    count: Count | None = None
    name: str | None = None


class WsUrl(Call[WorkspaceFile]):
    """Add a web page's main text (or a text file) from its URL, as url-HOST-PATH."""

    method = "ws_url"
    url: str
    name: str | None = None


class WsMcp(Call[WorkspaceFile]):
    """Add a resource of an MCP server of the chat server's (`server`: its name in
    server.toml, `uri`: the resource's), as mcp-SERVER-NAME unless `name` is given."""

    method = "ws_mcp"
    server: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    uri: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    name: str | None = None


class WsYoutube(Call[WorkspaceFile]):
    """Add a YouTube video's transcript (video: its ID or URL), as youtube-ID."""

    method = "ws_youtube"
    video: str
    name: str | None = None


class WsArxiv(Call[WorkspaceFile]):
    """Add an arXiv paper's abstract and metadata (query: its ID or URL), as arxiv-ID, or
    the abstracts of the top `count` papers a search finds, as arxiv-search-WORDS."""

    method = "ws_arxiv"
    query: str
    count: Count = 5
    name: str | None = None


class WsWikipedia(Call[WorkspaceFile]):
    """Add a Wikipedia article's full text, as wikipedia-TITLE."""

    method = "ws_wikipedia"
    title: str
    name: str | None = None


class WsNews(Call[WorkspaceFile]):
    """Add the top `count` news headlines for a search (outlet, date, link, summary), as
    news-WORDS."""

    method = "ws_news"
    query: str
    count: Count = 5
    name: str | None = None
