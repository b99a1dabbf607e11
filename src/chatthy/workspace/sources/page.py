"""``url``: a web page's main text, a PDF's text, or a text document as it is.

HTML goes through trafilatura, which keeps the article and drops menus, footers and
adverts; it runs in a worker thread (extraction is CPU work) and is imported on first use
(it takes a fifth of a second to import). A PDF's pages are read by pypdf in a process
of its own (see :mod:`chatthy.workspace.pdf`). Plain text, Markdown, JSON, XML and the
like are kept as sent; anything else (images, archives) is refused.
"""

from __future__ import annotations

import asyncio
import re

import httpx2

from chatthy.errors import SourceError
from chatthy.workspace.pdf import UnreadablePdf, is_pdf, pdf_text_apart
from chatthy.workspace.sources.base import DEFAULT_COUNT, Source
from chatthy.workspace.sources.document import Document, named
from chatthy.workspace.sources.fetch import Fetched, Fetcher

__all__ = ["PageSource", "fetch_page", "page_name"]

_HTML = frozenset({"text/html", "application/xhtml+xml"})
_TEXTUAL = frozenset(
    {"application/json", "application/xml", "application/yaml", "application/x-yaml",
     "application/javascript", "application/x-sh", "application/toml"}
)  # fmt: skip


async def fetch_page(fetcher: Fetcher, url: str) -> Document:
    """The page at ``url`` as a workspace file named after its host and path; the source
    recorded is the URL it was finally read from (after redirects).

    Raises:
        SourceError: not a web page or text, no readable text, or any fetch failure.
    """
    fetched = await fetcher.get(url)
    if is_pdf(fetched.body):
        try:
            text = await pdf_text_apart(fetched.body, fetcher.config.timeout)
        except UnreadablePdf as exc:
            raise SourceError(f"{fetched.url} is {exc}") from None
    elif _is_html(fetched):
        text = await asyncio.to_thread(_main_text, fetched.text(), fetched.url)
    elif _is_text(fetched):
        text = fetched.text()
    else:
        kind = fetched.media_type or "binary data"
        raise SourceError(f"{fetched.url} is {kind}: only web pages, PDFs and text can be added")
    if not text.strip():
        raise SourceError(f"no readable text at {fetched.url}")
    return Document(page_name(fetched.url), text, fetched.url)


def page_name(url: str) -> str:
    """``url-<host>-<path>``: ``https://example.com/a/page?x=1`` → ``url-example.com-a-page-x-1``
    (at most :data:`~chatthy.workspace.sources.document.MAX_NAME` characters)."""
    parsed = httpx2.URL(url)
    path = parsed.path.strip("/")
    if parsed.query:
        path += "-" + parsed.query.decode("ascii", "replace")
    words = (word.strip("._") for word in re.split(r"[^\w.]+", f"{parsed.host} {path}"))
    return named("url", "-".join(word for word in words if word))


def _is_html(fetched: Fetched) -> bool:
    if fetched.media_type:
        return fetched.media_type in _HTML
    return fetched.body.lstrip()[:1] == b"<"


def _is_text(fetched: Fetched) -> bool:
    kind = fetched.media_type
    if b"\0" in fetched.body[:8192]:
        return False
    return (
        not kind or kind.startswith("text/") or kind in _TEXTUAL or kind.endswith(("+json", "+xml"))
    )


def _main_text(html: str, url: str) -> str:
    """The article of ``html`` with its title first ("" when there is none)."""
    import trafilatura

    extracted = trafilatura.bare_extraction(
        html, url=url, include_comments=False, with_metadata=True
    )
    text = str(getattr(extracted, "text", "") or "").strip()
    if not text:
        return ""
    title = str(getattr(extracted, "title", "") or "").strip()
    return text if not title or text.startswith(title) else f"{title}\n\n{text}"


class PageSource(Source):
    """``url``: a web page's main text, a PDF's text or a text file, as ``url-HOST-PATH``."""

    name = "url"
    help = "add a web page's main text (or a text file)"
    argument = "url"
    metavar = "URL"

    async def fetch(
        self, fetcher: Fetcher, argument: str, *, count: int = DEFAULT_COUNT
    ) -> Document:
        return await fetch_page(fetcher, argument)
