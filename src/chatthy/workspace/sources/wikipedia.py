"""``wikipedia``: an article's full plain text.

Asked of the wiki's action API (``{wikipedia_base}/w/api.php``, ``prop=extracts`` with
``explaintext``, redirects followed) rather than the REST API's ``page/summary``, which
gives only the lead paragraph: a workspace file is there to give the model the article.
Section headings come as ``== Heading ==`` lines. A wiki (or mirror) without the action
API gets the REST summary instead, the lead alone. The wiki's language is its host
(``wikipedia_base = "https://de.wikipedia.org"``).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from chatthy.errors import ArgumentError, NotFoundError, SourceError
from chatthy.workspace.sources.base import DEFAULT_COUNT, Source
from chatthy.workspace.sources.document import Document, label, named
from chatthy.workspace.sources.fetch import Fetcher

__all__ = ["WikipediaSource", "fetch_wikipedia"]


async def fetch_wikipedia(fetcher: Fetcher, title: str) -> Document:
    """The article ``title`` (after redirects, e.g. ``giraffe`` → ``Giraffe``) as
    ``wikipedia-<Title>``; the source recorded is the article's URL.

    Raises:
        ArgumentError: an empty or invalid title.
        NotFoundError: the wiki has no such article.
        SourceError: any fetch failure, or an answer of another shape.
    """
    if not title.strip():
        raise ArgumentError("give the title of a Wikipedia article")
    base = fetcher.config.wikipedia_base.rstrip("/")
    params = {
        "action": "query",
        "prop": "extracts|info",
        "inprop": "url",
        "explaintext": "1",
        "redirects": "1",
        "titles": title.strip(),
        "format": "json",
        "formatversion": "2",
    }
    try:
        answer = (await fetcher.get(f"{base}/w/api.php", params=params)).json()
    except NotFoundError:
        return await _summary(fetcher, base, title.strip())
    page = _page(answer, title)
    found = str(page.get("title") or title.strip())
    extract = str(page.get("extract") or "").strip()
    if not extract:
        raise NotFoundError(f"the Wikipedia article '{found}' has no text")
    url = page.get("fullurl") or f"{base}/wiki/{urllib.parse.quote(found.replace(' ', '_'))}"
    return Document(named("wikipedia", label(found)), f"{found}\n\n{extract}\n", str(url))


async def _summary(fetcher: Fetcher, base: str, title: str) -> Document:
    """The REST API's summary of ``title`` (the lead section), for a wiki whose action
    API is not there."""
    path = urllib.parse.quote(title.replace(" ", "_"), safe="")
    try:
        answer = (await fetcher.get(f"{base}/api/rest_v1/page/summary/{path}")).json()
    except NotFoundError:
        raise NotFoundError(
            f"no Wikipedia article '{title}' (asked the REST API: {base} has no /w/api.php)"
        ) from None
    if not isinstance(answer, dict) or not isinstance(answer.get("extract"), str):
        raise SourceError("Wikipedia answered in an unexpected shape")
    titles = answer.get("titles")
    found = str((titles or {}).get("normalized") or answer.get("title") or title)
    found = found.replace("_", " ")
    extract = answer["extract"].strip()
    if not extract:
        raise NotFoundError(f"the Wikipedia article '{found}' has no text")
    try:
        url = str(answer["content_urls"]["desktop"]["page"])
    except (KeyError, TypeError):
        url = f"{base}/wiki/{urllib.parse.quote(found.replace(' ', '_'))}"
    return Document(named("wikipedia", label(found)), f"{found}\n\n{extract}\n", url)


def _page(answer: Any, title: str) -> dict[str, Any]:
    """The one page of a ``formatversion=2`` answer, checked for being there."""
    try:
        page: dict[str, Any] = answer["query"]["pages"][0]
    except (KeyError, IndexError, TypeError):
        if isinstance(answer, dict) and "error" in answer:
            info = answer["error"].get("info", "error") if isinstance(answer["error"], dict) else ""
            raise SourceError(f"Wikipedia: {info}") from None
        raise SourceError("Wikipedia answered in an unexpected shape") from None
    if page.get("invalid"):
        reason = page.get("invalidreason") or "not a valid title"
        raise ArgumentError(f"'{title.strip()}' is no Wikipedia title: {reason}")
    if page.get("missing"):
        raise NotFoundError(f"no Wikipedia article '{page.get('title') or title.strip()}'")
    return page


class WikipediaSource(Source):
    """``wikipedia``: a Wikipedia article's full text, as ``wikipedia-Title``."""

    name = "wikipedia"
    help = "add a Wikipedia article"
    argument = "title"
    metavar = "TITLE"

    async def fetch(
        self, fetcher: Fetcher, argument: str, *, count: int = DEFAULT_COUNT
    ) -> Document:
        return await fetch_wikipedia(fetcher, argument)
