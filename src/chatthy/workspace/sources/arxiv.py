"""``arxiv``: one paper's metadata and abstract, or the abstracts a search finds, from the
arXiv Atom API (``{arxiv_base}/api/query``), parsed with the standard library.

An ID (``2401.01234``, ``2401.01234v2``, ``hep-th/9901001``, ``arXiv:…`` or an
``arxiv.org/abs|pdf/…`` URL) asks for that paper (``id_list``); anything else is a search
(``search_query``): plain words must all appear (``all:w1 AND all:w2``), while a query
already in arXiv's syntax (``ti:``, ``au:``, ``cat:``, ``AND`` …) is passed as it is.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from chatthy.errors import ArgumentError, NotFoundError
from chatthy.workspace.sources.base import DEFAULT_COUNT, Source
from chatthy.workspace.sources.document import Document, named, slug
from chatthy.workspace.sources.fetch import Fetcher

__all__ = ["ArxivSource", "Paper", "arxiv_id", "fetch_arxiv"]

_ID_FORMS = r"\d{4}\.\d{4,5}(?:v\d+)?|[a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?"
_ID = re.compile(rf"(?:arxiv:)?({_ID_FORMS})", re.IGNORECASE)
_URL = re.compile(
    rf"(?:https?://)?(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/({_ID_FORMS})(?:\.pdf)?/?"
)
_SYNTAX = re.compile(r"\b(?:ti|au|abs|co|jr|cat|rn|id|all):|\b(?:AND|OR|ANDNOT)\b")
_NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}


@dataclass(frozen=True, slots=True)
class Paper:
    """One Atom entry of the arXiv API."""

    arxiv_id: str
    title: str
    authors: list[str]
    published: str
    updated: str
    categories: list[str]
    abstract: str
    link: str
    pdf: str
    extra: list[str]
    """``DOI: …``, ``Journal: …``, ``Comment: …`` where given."""

    def describe(self) -> str:
        """Title, authors, dates, categories, links, then the abstract."""
        dates = self.published + (
            f" (updated {self.updated})" if self.updated and self.updated != self.published else ""
        )
        lines = [
            self.title,
            f"Authors: {', '.join(self.authors)}",
            f"Published: {dates}",
            f"Categories: {', '.join(self.categories)}",
            f"arXiv: {self.arxiv_id}  {self.link}" + (f"  PDF: {self.pdf}" if self.pdf else ""),
            *self.extra,
            "",
            self.abstract,
        ]
        return "\n".join(lines)


def arxiv_id(query: str) -> str | None:
    """The arXiv ID ``query`` names (an ID or an abs/pdf URL), or None for a search."""
    query = query.strip()
    match = _ID.fullmatch(query) or _URL.fullmatch(query)
    return match[1] if match else None


async def fetch_arxiv(fetcher: Fetcher, query: str, count: int = 5) -> Document:
    """One paper (``arxiv-ID``) or the top ``count`` papers of a search
    (``arxiv-search-<words>``); the source recorded is the paper's page, or the search.

    Raises:
        ArgumentError: an empty query, or an ID arXiv calls malformed.
        NotFoundError: no paper has that ID, or the search finds nothing.
        SourceError: any fetch failure, or an answer that is not Atom.
    """
    if not query.strip():
        raise ArgumentError("give an arXiv ID, URL or search words")
    api = f"{fetcher.config.arxiv_base.rstrip('/')}/api/query"
    ident = arxiv_id(query)
    if ident is not None:
        feed = (await fetcher.get(api, params={"id_list": ident, "max_results": "1"})).xml()
        papers = _papers(feed)
        if not papers:
            raise NotFoundError(f"no arXiv paper {ident}")
        paper = papers[0]
        return Document(
            named("arxiv", ident.replace("/", "-")), paper.describe() + "\n", paper.link
        )
    search = query.strip() if _SYNTAX.search(query) else _all_words(query)
    params = {"search_query": search, "start": "0", "max_results": str(count)}
    fetched = await fetcher.get(api, params={**params, "sortBy": "relevance"})
    feed = fetched.xml()
    papers = _papers(feed)
    if not papers:
        raise NotFoundError(f"no arXiv papers found for '{query.strip()}'")
    total = feed.findtext("opensearch:totalResults", "", _NS).strip()
    head = f"arXiv papers for '{query.strip()}' ({len(papers)} of {total or len(papers)} found)"
    parts = [head, *(f"[{n}] {p.describe()}" for n, p in enumerate(papers, 1))]
    return Document(named("arxiv-search", slug(query)), "\n\n".join(parts) + "\n", fetched.url)


def _all_words(query: str) -> str:
    return " AND ".join(f"all:{word}" for word in re.findall(r"[\w.+-]+", query)) or "all:*"


def _papers(feed: ET.Element) -> list[Paper]:
    """The feed's papers. Raises ArgumentError for arXiv's error entry (a bad ID)."""
    papers = []
    for entry in feed.findall("atom:entry", _NS):
        entry_id = _text(entry, "atom:id")
        if "/api/errors" in entry_id:
            raise ArgumentError(f"arXiv: {_text(entry, 'atom:summary') or 'bad request'}")
        if not _text(entry, "atom:title"):
            continue  # an ID arXiv does not know comes back as an empty entry
        papers.append(_paper(entry, entry_id))
    return papers


def _paper(entry: ET.Element, entry_id: str) -> Paper:
    links = {
        link.get("title") or link.get("rel") or "": link.get("href", "")
        for link in entry.findall("atom:link", _NS)
    }
    primary = entry.find("arxiv:primary_category", _NS)
    first = primary.get("term", "") if primary is not None else ""
    terms = [c.get("term", "") for c in entry.findall("atom:category", _NS)]
    categories = [first, *(term for term in terms if term != first)]
    extra = [
        f"{label}: {value}"
        for label, tag in (
            ("DOI", "arxiv:doi"),
            ("Journal", "arxiv:journal_ref"),
            ("Comment", "arxiv:comment"),
        )
        if (value := _text(entry, tag))
    ]
    return Paper(
        arxiv_id=entry_id.rsplit("/abs/", 1)[-1],
        title=_text(entry, "atom:title"),
        authors=[_text(a, "atom:name") for a in entry.findall("atom:author", _NS)],
        published=_text(entry, "atom:published")[:10],
        updated=_text(entry, "atom:updated")[:10],
        categories=[c for c in categories if c],
        abstract=_text(entry, "atom:summary"),
        link=links.get("alternate") or entry_id,
        pdf=links.get("pdf", ""),
        extra=extra,
    )


def _text(element: ET.Element, path: str) -> str:
    """The element's text with its whitespace runs (arXiv wraps lines) made single spaces."""
    return " ".join((element.findtext(path, "", _NS) or "").split())


class ArxivSource(Source):
    """``arxiv``: an arXiv paper, or the papers a search finds."""

    name = "arxiv"
    help = "add an arXiv paper's abstract and metadata, or the abstracts a search finds"
    argument = "query"
    metavar = "ID|URL|WORDS"
    counted = True

    async def fetch(
        self, fetcher: Fetcher, argument: str, *, count: int = DEFAULT_COUNT
    ) -> Document:
        return await fetch_arxiv(fetcher, argument, count)
