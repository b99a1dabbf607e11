"""A local fake of the sources the server fetches: web pages, YouTube, arXiv, Wikipedia and
Google News, answering in the shapes the real ones do (HTML, the player API's JSON and
timed-text XML, Atom, the action API's JSON, RSS).

It is :class:`upstream.Upstream` (the same HTTP/1.1 server in a thread, on a free
loopback port, recording every request) with other routes. Web pages are scripted with
:meth:`SourcesUpstream.page` and :meth:`SourcesUpstream.redirect`; the other sources
answer from the data given to them (``videos``, ``papers``, ``articles``, ``news``).
"""

from __future__ import annotations

import asyncio
import threading
import urllib.parse
from dataclasses import dataclass, field
from html import escape
from typing import Any

import msgspec

from chatthy.config import SourcesConfig
from upstream import Upstream, _Conn, _Request

__all__ = ["Article", "Page", "Paper", "SourcesUpstream", "Story", "Video"]

_REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 404: "Not Found", 500: "Error"}
API_KEY = "AIzaSyFakeKeyForTests_0123456789"
_OPENSEARCH = 'xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"'


@dataclass
class Page:
    """One scripted answer to a GET of a path."""

    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunked: bool = False
    """Sent without content-length, in chunks (the size is learnt only by reading)."""
    stall: float = 0.0
    """Seconds to wait before answering."""
    hold: threading.Event | None = None
    """Answer only once this is set."""


@dataclass
class Video:
    """A YouTube video: tracks are (language code, kind "" or "asr", caption lines)."""

    title: str
    author: str
    tracks: list[tuple[str, str, list[str]]] = field(default_factory=list)


@dataclass
class Paper:
    arxiv_id: str
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    published: str = "2024-01-03T18:59:59Z"
    updated: str = "2024-02-01T10:00:00Z"


@dataclass
class Article:
    title: str
    extract: str
    aliases: list[str] = field(default_factory=list)
    """Other titles that redirect to this one."""


@dataclass
class Story:
    title: str
    outlet: str
    outlet_url: str
    date: str = "Mon, 24 Nov 2025 08:00:00 GMT"


class SourcesUpstream(Upstream):
    """The fake sources. Start it like :class:`Upstream`; point ``[sources]`` at
    ``base_url``."""

    def __init__(self) -> None:
        super().__init__()
        self.pages: dict[str, Page] = {}
        self.videos: dict[str, Video] = {}
        self.papers: list[Paper] = []
        self.articles: list[Article] = []
        self.news: dict[str, list[Story]] = {}
        """Search words → the stories found (a query matches a key it contains)."""
        self.wiki_rest_only = False
        """Play a wiki that answers only its REST API (``/w/api.php`` is not there)."""
        self.youtube_page_only = False
        """Play a YouTube whose watch pages carry the player answer but name no API key,
        and which has no player API."""

    def page(
        self,
        path: str,
        body: str | bytes,
        content_type: str = "text/html; charset=utf-8",
        **kw: Any,
    ) -> None:
        """Serve ``body`` at ``path`` (path and query, as requested)."""
        data = body.encode() if isinstance(body, str) else body
        self.pages[path] = Page(data, content_type, **kw)

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.pages[path] = Page(status=status, headers={"location": location})

    def config(self, **overrides: Any) -> SourcesConfig:
        """``[sources]`` asking this fake for everything, private addresses allowed."""
        fields: dict[str, Any] = {
            "allow_private": True,
            "timeout": 10.0,
            "youtube_base": self.base_url,
            "arxiv_base": self.base_url,
            "wikipedia_base": self.base_url,
            "news_base": self.base_url,
        }
        return SourcesConfig(**{**fields, **overrides})

    def paths(self) -> list[str]:
        """The paths requested so far, in order."""
        return [r.path for r in self.requests]

    async def _route(self, request: _Request, conn: _Conn) -> bool:
        split = urllib.parse.urlsplit(request.path)
        query = {k: v[0] for k, v in urllib.parse.parse_qs(split.query).items()}
        writer = conn.writer
        if request.path in self.pages:
            await _send_page(writer, self.pages[request.path])
        elif split.path == "/watch":
            _send(writer, 200, self._watch(query.get("v", "")).encode(), "text/html; charset=utf-8")
        elif split.path == "/youtubei/v1/player" and not self.youtube_page_only:
            _send(writer, *self._player(request, query))
        elif split.path == "/api/timedtext":
            _send(writer, *self._timedtext(query))
        elif split.path == "/api/query":
            _send(writer, 200, self._atom(query).encode(), "application/atom+xml; charset=utf-8")
        elif split.path.startswith("/api/rest_v1/page/summary/"):
            title = urllib.parse.unquote(split.path.rsplit("/", 1)[1])
            _send(writer, *self._wiki_summary(title))
        elif split.path == "/w/api.php" and not self.wiki_rest_only:
            _send(
                writer,
                200,
                msgspec.json.encode(self._wiki(query)),
                "application/json; charset=utf-8",
            )
        elif split.path == "/rss/search":
            _send(
                writer,
                200,
                self._rss(query.get("q", "")).encode(),
                "application/xml; charset=utf-8",
            )
        else:
            _send(writer, 404, b"<html><body>Not Found</body></html>", "text/html")
        return True

    # -- YouTube -----------------------------------------------------------------

    def _player(self, request: _Request, query: dict[str, str]) -> tuple[int, bytes, str]:
        if query.get("key") != API_KEY:
            return (
                400,
                b'{"error": {"code": 400, "message": "API key not valid"}}',
                "application/json",
            )
        vid = (request.body or {}).get("videoId", "")
        return 200, msgspec.json.encode(self._player_answer(vid)), "application/json; charset=UTF-8"

    def _watch(self, vid: str) -> str:
        if not self.youtube_page_only:
            return _watch_page(vid)
        answer = msgspec.json.encode(self._player_answer(vid)).decode()
        return (
            '<!DOCTYPE html><html lang="en"><head><title>YouTube</title></head><body>'
            f"<script>var ytInitialPlayerResponse = {answer};var meta = {{}};</script>"
            "</body></html>"
        )

    def _player_answer(self, vid: str) -> dict[str, Any]:
        video = self.videos.get(vid)
        answer: dict[str, Any] = {"responseContext": {"visitorData": "Cgt4"}}
        if video is None:
            answer["playabilityStatus"] = {
                "status": "ERROR",
                "reason": "This video is unavailable",
                "contextParams": "Q0FBU0FnZ0E=",
            }
        else:
            answer["playabilityStatus"] = {"status": "OK", "playableInEmbed": True}
            answer["videoDetails"] = {
                "videoId": vid,
                "title": video.title,
                "lengthSeconds": "212",
                "channelId": "UCfake",
                "author": video.author,
                "isPrivate": False,
            }
            if video.tracks:
                answer["captions"] = {"playerCaptionsTracklistRenderer": self._tracks(vid, video)}
        return answer

    def _tracks(self, vid: str, video: Video) -> dict[str, Any]:
        tracks = []
        for code, kind, _lines in video.tracks:
            url = (
                f"{self.base_url}/api/timedtext?v={vid}&ei=abc&caps=asr&opi=112496729&xoaf=5"
                f"&hl=en&ip=0.0.0.0&ipbits=0&expire=1900000000&sparams=ip,ipbits,expire,v"
                f"&signature=ABC.DEF&key=yt8&lang={code}&kind={kind}&fmt=srv3"
            )
            track: dict[str, Any] = {
                "baseUrl": url,
                "name": {"runs": [{"text": code}]},
                "vssId": f"{'a' if kind else ''}.{code}",
                "languageCode": code,
                "isTranslatable": True,
                "trackName": "",
            }
            if kind:
                track["kind"] = kind
            tracks.append(track)
        return {
            "captionTracks": tracks,
            "audioTracks": [{"captionTrackIndices": [0]}],
            "translationLanguages": [
                {"languageCode": "de", "languageName": {"runs": [{"text": "German"}]}}
            ],
            "defaultAudioTrackIndex": 0,
        }

    def _timedtext(self, query: dict[str, str]) -> tuple[int, bytes, str]:
        video = self.videos.get(query.get("v", ""))
        for code, kind, lines in video.tracks if video else []:
            if code == query.get("lang") and kind == query.get("kind", ""):
                if query.get("fmt") == "srv3":
                    body = "".join(
                        f'<p t="{n * 1000}" d="900">{escape(escape(line))}</p>'
                        for n, line in enumerate(lines)
                    )
                    xml = (
                        '<?xml version="1.0" encoding="utf-8" ?><timedtext format="3">'
                        f"<body>{body}</body></timedtext>"
                    )
                else:
                    body = "".join(
                        f'<text start="{n}.5" dur="0.9">{escape(escape(line))}</text>'
                        for n, line in enumerate(lines)
                    )
                    xml = f'<?xml version="1.0" encoding="utf-8" ?><transcript>{body}</transcript>'
                return 200, xml.encode(), "text/xml; charset=UTF-8"
        return 404, b"", "text/html"

    # -- arXiv -------------------------------------------------------------------

    def _atom(self, query: dict[str, str]) -> str:
        if "id_list" in query:
            wanted = query["id_list"]
            found = [p for p in self.papers if p.arxiv_id.split("v")[0] == wanted.split("v")[0]]
        else:
            words = [
                w.split(":", 1)[-1].lower() for w in query.get("search_query", "").split(" AND ")
            ]
            found = [
                p for p in self.papers if all(w in f"{p.title} {p.abstract}".lower() for w in words)
            ]
            found = found[: int(query.get("max_results", "10"))]
        entries = "".join(_atom_entry(p) for p in found)
        total = len(found) * 40 if "search_query" in query else len(found)
        asked = escape(urllib.parse.urlencode(query))
        return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?{asked}" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: {asked}</title>
  <id>http://arxiv.org/api/cHxbiOdZaP56ODnBPIenZhzg5f8</id>
  <updated>2024-02-02T00:00:00-05:00</updated>
  <opensearch:totalResults {_OPENSEARCH}>{total}</opensearch:totalResults>
  <opensearch:startIndex {_OPENSEARCH}>0</opensearch:startIndex>
  <opensearch:itemsPerPage {_OPENSEARCH}>{len(found)}</opensearch:itemsPerPage>
{entries}</feed>
"""

    # -- Wikipedia ---------------------------------------------------------------

    def _wiki(self, query: dict[str, str]) -> dict[str, Any]:
        asked = query.get("titles", "")
        if any(ch in asked for ch in "<>[]{}|#"):
            page: dict[str, Any] = {
                "title": asked,
                "invalidreason": 'The requested page title contains invalid characters: "<".',
                "invalid": True,
            }
            return {"batchcomplete": True, "query": {"pages": [page]}}
        normal = asked[:1].upper() + asked[1:].replace("_", " ")
        result: dict[str, Any] = {}
        if normal != asked:
            result["normalized"] = [{"fromencoded": False, "from": asked, "to": normal}]
        article = next((a for a in self.articles if normal in (a.title, *a.aliases)), None)
        if article is None:
            page = {
                "ns": 0,
                "title": normal,
                "missing": True,
                "contentmodel": "wikitext",
                "pagelanguage": "en",
                "fullurl": f"{self.base_url}/wiki/{normal.replace(' ', '_')}",
            }
        else:
            if article.title != normal:
                result["redirects"] = [{"from": normal, "to": article.title}]
            url = f"{self.base_url}/wiki/{urllib.parse.quote(article.title.replace(' ', '_'))}"
            page = {
                "pageid": 12345,
                "ns": 0,
                "title": article.title,
                "contentmodel": "wikitext",
                "pagelanguage": "en",
                "touched": "2025-11-20T08:00:00Z",
                "lastrevid": 1,
                "length": len(article.extract),
                "fullurl": url,
                "canonicalurl": url,
                "editurl": f"{url}?action=edit",
                "extract": article.extract,
            }
        result["pages"] = [page]
        return {"batchcomplete": True, "query": result}

    def _wiki_summary(self, title: str) -> tuple[int, bytes, str]:
        """The REST API's ``page/summary``: a redirect to the article's own title, 404
        (a problem document) when there is none."""
        normal = title[:1].upper() + title[1:].replace(" ", "_")
        named = normal.replace("_", " ")
        article = next((a for a in self.articles if named in (a.title, *a.aliases)), None)
        if article is None:
            problem = {
                "type": "https://mediawiki.org/wiki/HyperSwitch/errors/not_found",
                "title": "Not found.",
                "method": "get",
                "detail": "Page or revision not found.",
                "uri": f"/en.wikipedia.org/v1/page/summary/{normal}",
            }
            return 404, msgspec.json.encode(problem), "application/problem+json"
        own = article.title.replace(" ", "_")
        url = f"{self.base_url}/wiki/{urllib.parse.quote(own)}"
        summary = {
            "type": "standard",
            "title": own,
            "displaytitle": f'<span class="mw-page-title-main">{article.title}</span>',
            "titles": {"canonical": own, "normalized": article.title},
            "pageid": 12345,
            "lang": "en",
            "dir": "ltr",
            "description": "a test article",
            "content_urls": {"desktop": {"page": url}, "mobile": {"page": url}},
            "extract": article.extract.split("\n\n", 1)[0],
            "extract_html": "<p>…</p>",
        }
        return 200, msgspec.json.encode(summary), "application/json; charset=utf-8"

    # -- Google News -------------------------------------------------------------

    def _rss(self, q: str) -> str:
        stories = next((s for key, s in self.news.items() if key in q.lower()), [])
        items = "".join(_rss_item(n, story) for n, story in enumerate(stories))
        link = escape(
            f"https://news.google.com/search?q={urllib.parse.quote(q)}&hl=en-US&gl=US&ceid=US:en"
        )
        return (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
            f'<generator>NFE/5.0</generator><title>"{escape(q)}" - Google News</title>'
            f"<link>{link}</link><language>en-US</language>"
            "<webMaster>news-webmaster@google.com</webMaster>"
            "<copyright>2025 Google Inc.</copyright>"
            "<lastBuildDate>Mon, 24 Nov 2025 10:00:00 GMT</lastBuildDate>"
            f"<description>Google News</description>{items}</channel></rss>"
        )


def _send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> None:
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    kind = f"content-type: {content_type}\r\n" if content_type else ""
    head = (
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
        f"{kind}content-length: {len(body)}\r\n{extra}\r\n"
    )
    writer.write(head.encode() + body)


async def _send_page(writer: asyncio.StreamWriter, page: Page) -> None:
    if page.stall:
        await asyncio.sleep(page.stall)
    while page.hold is not None and not page.hold.is_set():
        await asyncio.sleep(0.01)
    if not page.chunked:
        _send(writer, page.status, page.body, page.content_type, page.headers)
        return
    kind = f"content-type: {page.content_type}\r\n" if page.content_type else ""
    writer.write(f"HTTP/1.1 {page.status} OK\r\n{kind}transfer-encoding: chunked\r\n\r\n".encode())
    for start in range(0, len(page.body), 16384):
        piece = page.body[start : start + 16384]
        writer.write(b"%x\r\n%b\r\n" % (len(piece), piece))
        await writer.drain()
    writer.write(b"0\r\n\r\n")


def _watch_page(vid: str) -> str:
    config = {"INNERTUBE_API_KEY": API_KEY, "INNERTUBE_CLIENT_NAME": "WEB", "VISITOR_DATA": "Cgt4"}
    return (
        '<!DOCTYPE html><html lang="en"><head><title>YouTube</title></head><body>'
        f"<script>ytcfg.set({msgspec.json.encode(config).decode()});</script>"
        f'<script>var ytInitialPlayerResponse = {{"videoDetails":{{"videoId":"{vid}"}}}};</script>'
        "</body></html>"
    )


def _atom_entry(paper: Paper) -> str:
    ns = 'xmlns:arxiv="http://arxiv.org/schemas/atom"'
    authors = "".join(
        f"\n    <author>\n      <name>{escape(a)}</name>\n    </author>" for a in paper.authors
    )
    categories = "".join(
        f'\n    <category term="{c}" scheme="http://arxiv.org/schemas/atom"/>'
        for c in paper.categories
    )
    return f"""  <entry>
    <id>http://arxiv.org/abs/{paper.arxiv_id}</id>
    <updated>{paper.updated}</updated>
    <published>{paper.published}</published>
    <title>{escape(paper.title)}</title>
    <summary>  {escape(paper.abstract)}
</summary>{authors}
    <arxiv:doi {ns}>10.1234/fake.{paper.arxiv_id.replace("/", ".")}</arxiv:doi>
    <link title="doi" href="http://dx.doi.org/10.1234/fake" rel="related"/>
    <arxiv:comment {ns}>12 pages, 3 figures</arxiv:comment>
    <link href="http://arxiv.org/abs/{paper.arxiv_id}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{paper.arxiv_id}" rel="related" \
type="application/pdf"/>
    <arxiv:primary_category {ns} term="{paper.categories[0]}" \
scheme="http://arxiv.org/schemas/atom"/>{categories}
  </entry>
"""


def _rss_item(n: int, story: Story) -> str:
    link = f"https://news.google.com/rss/articles/CBMiStory{n}?oc=5"
    description = escape(
        f'<a href="{link}" target="_blank">{escape(story.title)}</a>&nbsp;&nbsp;'
        f'<font color="#6f6f6f">{escape(story.outlet)}</font>'
    )
    return (
        f"<item><title>{escape(story.title)} - {escape(story.outlet)}</title><link>{link}</link>"
        f'<guid isPermaLink="false">CBMiStory{n}</guid><pubDate>{story.date}</pubDate>'
        f"<description>{description}</description>"
        f'<source url="{story.outlet_url}">{escape(story.outlet)}</source></item>'
    )
