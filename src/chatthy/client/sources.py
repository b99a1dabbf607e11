"""The sources the server can fetch into the workspace, as ``chatthy ws`` actions: which
RPC each calls and which of its arguments the command's words fill. Kept apart (and
light) so that the command line can build its parser without loading the client.

The built-ins have actions of their own; ``fetch SOURCE WHAT…`` reaches any source the
server offers, a plugin's too, by the name ``ws_sources`` (``chatthy ws sources``) lists."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SOURCE_COMMANDS", "SourceCommand"]


@dataclass(frozen=True, slots=True)
class SourceCommand:
    """A ``chatthy ws SOURCE WORDS…`` command: the RPC it calls and the argument its words
    fill."""

    rpc: str
    arg: str
    metavar: str
    help: str
    counted: bool = False
    """Takes ``--count`` (how many results a search keeps)."""
    by_name: bool = False
    """The first word names the server's source; the rest is what to fetch."""


SOURCE_COMMANDS = {
    "url": SourceCommand("ws_url", "url", "URL", "add a web page's main text (or a text file)"),
    "youtube": SourceCommand("ws_youtube", "video", "ID|URL", "add a YouTube video's transcript"),
    "arxiv": SourceCommand(
        "ws_arxiv",
        "query",
        "ID|URL|WORDS",
        "add an arXiv paper's abstract and metadata, or the abstracts a search finds",
        counted=True,
    ),
    "wikipedia": SourceCommand("ws_wikipedia", "title", "TITLE", "add a Wikipedia article"),
    "news": SourceCommand(
        "ws_news", "query", "WORDS", "add the top news headlines for a search", counted=True
    ),
    "fetch": SourceCommand(
        "ws_fetch",
        "argument",
        "WHAT",
        "add from any source the server offers, by its name (`ws sources` lists them)",
        counted=True,
        by_name=True,
    ),
}
"""The sources the server fetches, by the ``chatthy ws`` action that adds them."""
