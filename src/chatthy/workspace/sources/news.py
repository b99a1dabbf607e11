"""``news``: the top headlines of a news search, from Google News' RSS search
(``{news_base}/rss/search?q=…``, US English edition), parsed with the standard library.

Each headline keeps its outlet, date, link and summary; Google's links lead to the
article through news.google.com.
"""

from __future__ import annotations

import email.utils
import html
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from chatthy.errors import ArgumentError, NotFoundError
from chatthy.workspace.sources.base import DEFAULT_COUNT, Source
from chatthy.workspace.sources.document import Document, named, slug
from chatthy.workspace.sources.fetch import Fetcher

__all__ = ["Headline", "NewsSource", "fetch_news"]

_EDITION = {"hl": "en-US", "gl": "US", "ceid": "US:en"}
_BREAKS = re.compile(r"<\s*(?:br|/li|/p|/div)\b[^>]*>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]*>")


@dataclass(frozen=True, slots=True)
class Headline:
    """One RSS item."""

    title: str
    outlet: str
    date: str
    link: str
    summary: str

    def describe(self, number: int) -> str:
        byline = " · ".join(part for part in (self.outlet, self.date) if part)
        lines = [f"{number}. {self.title}", byline, self.link, self.summary]
        return "\n   ".join(line for line in lines if line)


async def fetch_news(fetcher: Fetcher, query: str, count: int = 5) -> Document:
    """The top ``count`` headlines for ``query`` as ``news-<words>``; the source recorded
    is the search's feed URL.

    Raises:
        ArgumentError: an empty query.
        NotFoundError: the search finds no news.
        SourceError: any fetch failure, or an answer that is not RSS.
    """
    query = query.strip()
    if not query:
        raise ArgumentError("give words to search the news for")
    url = f"{fetcher.config.news_base.rstrip('/')}/rss/search"
    fetched = await fetcher.get(url, params={"q": query, **_EDITION})
    headlines = [_headline(item) for item in fetched.xml().iter("item")][:count]
    if not headlines:
        raise NotFoundError(f"no news found for '{query}'")
    head = f"News for '{query}' ({len(headlines)} headlines)"
    parts = [head, *(h.describe(n) for n, h in enumerate(headlines, 1))]
    return Document(named("news", slug(query)), "\n\n".join(parts) + "\n", fetched.url)


def _headline(item: ET.Element) -> Headline:
    outlet = _clean(item.findtext("source") or "")
    title = _clean(item.findtext("title") or "")
    if outlet and title.endswith(f" - {outlet}"):
        title = title.removesuffix(f" - {outlet}")
    summary = _clean(_BREAKS.sub("\n", item.findtext("description") or ""))
    if summary.replace(outlet, "").strip() == title:
        summary = ""
    return Headline(
        title,
        outlet,
        _date(item.findtext("pubDate") or ""),
        _clean(item.findtext("link") or ""),
        summary,
    )


def _clean(text: str) -> str:
    """HTML made plain text on one line per paragraph."""
    text = html.unescape(_TAGS.sub("", text)).replace("\xa0", " ")
    return "\n   ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def _date(value: str) -> str:
    """RFC 822 ``Mon, 24 Nov 2025 08:00:00 GMT`` → ``2025-11-24 08:00 UTC``."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return value.strip()
    return when.strftime("%Y-%m-%d %H:%M %Z").strip()


class NewsSource(Source):
    """``news``: the top headlines of a news search, as ``news-WORDS``."""

    name = "news"
    help = "add the top news headlines for a search"
    argument = "query"
    metavar = "WORDS"
    counted = True

    async def fetch(
        self, fetcher: Fetcher, argument: str, *, count: int = DEFAULT_COUNT
    ) -> Document:
        return await fetch_news(fetcher, argument, count)
