"""Workspace sources end to end: a real server fetching from the local fake of each source,
a real client calling ``ws_url``, ``ws_youtube``, ``ws_arxiv``, ``ws_wikipedia``,
``ws_news`` and ``ws_fetch`` (any source by name); what is stored, and that a failure
stores nothing."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from chatthy.client.core import Client
from chatthy.errors import (
    ArgumentError,
    ChatthyError,
    NotFoundError,
    SourceBlockedError,
    SourceConnectionError,
    SourceError,
    SourceTimeoutError,
)
from chatthy.server.app import Server
from helpers import ClientMaker, ServerFactory, make_pdf
from sources_upstream import Article, Paper, SourcesUpstream, Story, Video

Start = Callable[..., Awaitable[Server]]

ARTICLE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Why giraffes have long necks | Zoo News</title>
<meta property="og:title" content="Why giraffes have long necks"></head>
<body>
<header><nav><a href="/">Home</a> <a href="/animals">Animals</a>
<a href="/shop">Shop</a></nav></header>
<main><article>
<h1>Why giraffes have long necks</h1>
<p>Giraffes are the tallest land animals on Earth, and their necks alone can be two metres
long. Biologists have argued for more than a century about how such a neck evolved.</p>
<p>The classic explanation is competition for food: a longer neck reaches leaves that other
browsers cannot, which matters most in the dry season when food is scarce.</p>
<p>Another explanation is sexual selection. Males fight by swinging their necks like
hammers, and the males with the heaviest necks win more of these contests.</p>
<p>Most researchers now think both pressures played a part, and that the café-au-lait
coloured coat has nothing to do with it.</p>
</article></main>
<aside><h2>Subscribe to our newsletter</h2><p>Get zoo news every week.</p></aside>
<footer><p>Copyright 2025 Zoo News. All rights reserved.</p></footer>
</body></html>
"""


@pytest.fixture
def fake(sources: SourcesUpstream) -> SourcesUpstream:
    """The fake sources with a page, videos, papers, articles and news to find."""
    sources.page("/articles/giraffes", ARTICLE)
    sources.redirect("/old/giraffes", "/articles/giraffes", status=301)
    sources.videos["dQw4w9WgXcQ"] = Video(
        "Giraffes explained",
        "Zoo Channel",
        tracks=[
            ("de", "", ["Hallo"]),
            ("en", "asr", ["generated words"]),
            ("en", "", ["Hey there, this is about giraffes", "they're tall & graceful"]),
        ],
    )
    sources.videos["NoCaptions0"] = Video("A silent film", "Zoo Channel")
    sources.videos["OnlyGerman0"] = Video("Giraffen", "Zoo", tracks=[("de", "asr", ["Hallo"])])
    sources.papers += [
        Paper(
            "2401.01234v2",
            "Giraffe Necks as\n  Optimal Transport",
            "We model the giraffe neck as a transport\n  problem and find it optimal.",
            ["Ada Lovelace", "Alan Turing"],
            ["q-bio.PE", "math.OC"],
        ),
        Paper(
            "2402.00001v1",
            "Necks of giraffes and okapis",
            "A comparison of giraffe necks with okapi necks.",
            ["Grace Hopper"],
            ["q-bio.PE"],
        ),
        Paper("hep-th/9901001v1", "Strings", "Old strings.", ["Ed Witten"], ["hep-th"]),
    ]
    sources.articles += [
        Article(
            "Giraffe",
            "The giraffe is a large African hoofed mammal.\n\n== Etymology ==\nThe name...",
            aliases=["Camelopard"],
        ),
        Article("Okapi johnstoni", "The okapi is a relative of the giraffe."),
    ]
    sources.news["giraffe"] = [
        Story("Giraffe numbers rise in Kenya", "BBC", "https://www.bbc.co.uk"),
        Story(
            "Zoo welcomes a baby giraffe",
            "The Guardian",
            "https://www.theguardian.com",
            date="Sun, 23 Nov 2025 17:30:00 GMT",
        ),
        Story("Third story", "AP", "https://apnews.com"),
    ]
    return sources


@pytest.fixture
def start(servers: ServerFactory, fake: SourcesUpstream) -> Start:
    """Start a server whose [sources] point at the fake (overrides: its fields)."""

    async def start(max_workspace_file: int = 1024 * 1024, **overrides: Any) -> Server:
        config = servers.config(max_workspace_file=max_workspace_file)
        config.sources = fake.config(**overrides)
        return await servers.start_with(config)

    return start


@pytest.fixture
async def client(start: Start, connect: ClientMaker) -> Client:
    return connect(await start())


async def refused(
    client: Client, error: type[ChatthyError], match: str | None, method: str, **args: Any
) -> str:
    """Call a source RPC that must fail with ``error``: one line, nothing stored."""
    with pytest.raises(error, match=match) as caught:
        await client.call(method, **args)
    assert "\n" not in caught.value.message
    assert await client.call("ws_list") == []
    return caught.value.message


# -- url -----------------------------------------------------------------------------


async def test_url_stores_the_main_text_named_after_host_and_path(
    client: Client, fake: SourcesUpstream
) -> None:
    added = await client.call("ws_url", url=f"{fake.base_url}/old/giraffes")
    assert added.name == "url-127.0.0.1-articles-giraffes"
    assert added.source == f"{fake.base_url}/articles/giraffes"
    assert added.tokens > 50
    text = (await client.call("ws_show", name=added.name)).text
    assert text.startswith("Why giraffes have long necks\n")
    assert "swinging their necks like hammers" in text
    assert "café-au-lait" in text
    for chrome in ("Shop", "Subscribe to our newsletter", "All rights reserved"):
        assert chrome not in text
    assert [f.name for f in await client.call("ws_list")] == [added.name]


async def test_url_keeps_plain_text_as_sent_and_takes_a_name(
    client: Client, fake: SourcesUpstream
) -> None:
    fake.page("/notes.txt", "line one\n  line two\n", "text/plain; charset=utf-8")
    added = await client.call("ws_url", url=f"{fake.base_url}/notes.txt", name="zoo/notes")
    assert (added.name, added.source) == ("zoo/notes", f"{fake.base_url}/notes.txt")
    assert (await client.call("ws_show", name="zoo/notes")).text == "line one\n  line two\n"


async def test_url_of_a_pdf_stores_its_text(client: Client, fake: SourcesUpstream) -> None:
    pdf = make_pdf([["Giraffes are tall.", "They eat (acacia) leaves."], ["Page two."]])
    fake.page("/papers/giraffes.pdf", pdf, "application/octet-stream")
    added = await client.call("ws_url", url=f"{fake.base_url}/papers/giraffes.pdf")
    assert added.name == "url-127.0.0.1-papers-giraffes.pdf"
    text = (await client.call("ws_show", name=added.name)).text
    assert text == "Giraffes are tall.\nThey eat (acacia) leaves.\n\nPage two.\n"


@pytest.mark.parametrize(
    ("path", "page", "error", "match"),
    [
        (
            "/logo.png",
            {"body": b"\x89PNG\r\n\x1a\n\x00\x00", "content_type": "image/png"},
            SourceError,
            r"/logo.png is image/png: only web pages, PDFs and text can be added",
        ),
        (
            "/broken.pdf",
            {"body": b"%PDF-1.7\x00\x01", "content_type": "application/pdf"},
            SourceError,
            r"/broken.pdf is not a readable PDF \(\w+\)$",
        ),
        (
            "/scanned.pdf",
            {"body": make_pdf([[]]), "content_type": "application/pdf"},
            SourceError,
            r"/scanned.pdf is a PDF without text \(scanned pages need OCR first\)$",
        ),
        (
            "/empty",
            {"body": "<html><body><script>var a = 1;</script></body></html>"},
            SourceError,
            r"no readable text at http://127.0.0.1:\d+/empty",
        ),
        (
            "/broken",
            {"body": "oops", "status": 500},
            SourceError,
            r"127.0.0.1 answered HTTP 500 Error for http://127.0.0.1:\d+/broken",
        ),
        (
            "/huge",
            {"body": "x" * 20_000, "content_type": "text/plain"},
            SourceError,
            r"/huge is larger than 10,000 bytes \(max_bytes under \[sources\]",
        ),
        (
            "/huge-chunked",
            {"body": "x" * 50_000, "content_type": "text/plain", "chunked": True},
            SourceError,
            r"/huge-chunked is larger than 10,000 bytes",
        ),
    ],
)
async def test_url_failures_are_one_line_and_store_nothing(
    start: Start,
    connect: ClientMaker,
    fake: SourcesUpstream,
    path: str,
    page: dict[str, Any],
    error: type[ChatthyError],
    match: str,
) -> None:
    body = page.pop("body")
    fake.page(path, body, **page)
    client = connect(await start(max_bytes=10_000))
    await refused(client, error, match, "ws_url", url=f"{fake.base_url}{path}")


async def test_url_of_a_missing_page_is_not_found(client: Client, fake: SourcesUpstream) -> None:
    url = f"{fake.base_url}/nowhere"
    message = await refused(client, NotFoundError, "nothing at", "ws_url", url=url)
    assert message == f"nothing at {url} (HTTP 404)"


@pytest.mark.parametrize("url", ["ftp://example.com/file", "example", "http://", ""])
async def test_url_that_is_no_http_url_is_refused(client: Client, url: str) -> None:
    await refused(client, ArgumentError, r"not (a|an http\(s\)) URL", "ws_url", url=url)


async def test_a_page_over_the_workspace_limit_is_refused(
    start: Start, connect: ClientMaker, fake: SourcesUpstream
) -> None:
    fake.page("/long.txt", "y" * 3000, "text/plain")
    client = connect(await start(max_workspace_file=2000))
    await refused(
        client,
        ArgumentError,
        r"workspace file 'url-127.0.0.1-long.txt' is 2.9 KiB; the server accepts at most",
        "ws_url",
        url=f"{fake.base_url}/long.txt",
    )


async def test_a_stalled_source_times_out(
    start: Start, connect: ClientMaker, fake: SourcesUpstream
) -> None:
    fake.page("/slow", ARTICLE, stall=30)
    client = connect(await start(timeout=0.5))
    message = await refused(client, SourceTimeoutError, None, "ws_url", url=f"{fake.base_url}/slow")
    assert message == (
        "127.0.0.1 did not answer within 0.5 s (timeout under [sources] in server.toml)"
    )


async def test_an_unreachable_source_is_reported(client: Client) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = await refused(
        client, SourceConnectionError, None, "ws_url", url=f"http://127.0.0.1:{port}/page"
    )
    assert message == "cannot connect to 127.0.0.1: connection refused"


async def test_redirects_that_loop_or_go_on_are_given_up(
    client: Client, fake: SourcesUpstream
) -> None:
    fake.redirect("/loop/a", "/loop/b")
    fake.redirect("/loop/b", f"{fake.base_url}/loop/a")
    await refused(
        client,
        SourceError,
        "/loop/b redirects round in a loop",
        "ws_url",
        url=f"{fake.base_url}/loop/a",
    )
    for n in range(7):
        fake.redirect(f"/chain/{n}", f"/chain/{n + 1}")
    await refused(
        client,
        SourceError,
        r"more than 5 redirects, the last to http://127.0.0.1:\d+/chain/6",
        "ws_url",
        url=f"{fake.base_url}/chain/0",
    )
    assert fake.paths().count("/chain/6") == 0


# -- the address guard ---------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]"])
async def test_loopback_is_refused_without_allow_private(
    start: Start, connect: ClientMaker, fake: SourcesUpstream, host: str
) -> None:
    client = connect(await start(allow_private=False))
    url = f"http://{host}:{fake.port}/articles/giraffes"
    message = await refused(client, SourceBlockedError, "refused to fetch from", "ws_url", url=url)
    assert message.endswith(
        "is a loopback address (allow_private under [sources] in server.toml permits it)"
    )
    assert fake.requests == []


async def test_every_source_is_guarded(
    start: Start, connect: ClientMaker, fake: SourcesUpstream
) -> None:
    client = connect(await start(allow_private=False))
    calls = [
        ("ws_youtube", {"video": "dQw4w9WgXcQ"}),
        ("ws_arxiv", {"query": "2401.01234"}),
        ("ws_wikipedia", {"title": "Giraffe"}),
        ("ws_news", {"query": "giraffe"}),
    ]
    for method, args in calls:
        await refused(client, SourceBlockedError, "127.0.0.1 is a loopback address", method, **args)
    assert fake.requests == []


async def test_a_redirect_to_a_private_address_is_refused(
    start: Start, connect: ClientMaker, fake: SourcesUpstream
) -> None:
    fake.redirect("/away", f"http://127.0.0.2:{fake.port}/articles/giraffes")
    client = connect(await start(allow_private=["127.0.0.1/32"]))
    added = await client.call("ws_url", url=f"{fake.base_url}/articles/giraffes")
    await client.call("ws_drop", name=added.name)
    await refused(
        client,
        SourceBlockedError,
        r"^refused to fetch from 127.0.0.2: 127.0.0.2 is a loopback address",
        "ws_url",
        url=f"{fake.base_url}/away",
    )
    assert fake.paths() == ["/articles/giraffes", "/away"]


async def test_a_redirect_to_another_scheme_is_refused(
    client: Client, fake: SourcesUpstream
) -> None:
    fake.redirect("/file", "file:///etc/passwd")
    await refused(
        client,
        SourceBlockedError,
        "only http and https are fetched",
        "ws_url",
        url=f"{fake.base_url}/file",
    )


# -- youtube -------------------------------------------------------------------------


async def test_youtube_stores_the_transcript_with_title_and_channel(
    client: Client, fake: SourcesUpstream
) -> None:
    added = await client.call("ws_youtube", video="https://youtu.be/dQw4w9WgXcQ")
    assert added.name == "youtube-dQw4w9WgXcQ"
    assert added.source == f"{fake.base_url}/watch?v=dQw4w9WgXcQ"
    text = (await client.call("ws_show", name="youtube-dQw4w9WgXcQ")).text
    assert text == (
        "Giraffes explained\nZoo Channel\n\n"
        "Hey there, this is about giraffes\nthey're tall & graceful\n"
    )
    timed = [p for p in fake.paths() if p.startswith("/api/timedtext")]
    assert len(timed) == 1 and timed[0].endswith("&lang=en&kind=")


async def test_youtube_falls_back_to_the_only_transcript_there_is(client: Client) -> None:
    added = await client.call("ws_youtube", video="OnlyGerman0", name="film")
    assert (await client.call("ws_show", name=added.name)).text.endswith("\n\nHallo\n")


async def test_youtube_tells_no_video_from_no_transcript(client: Client) -> None:
    message = await refused(client, NotFoundError, None, "ws_youtube", video="Nonexistent")
    assert message == "no YouTube video Nonexistent (This video is unavailable)"
    message = await refused(client, NotFoundError, None, "ws_youtube", video="NoCaptions0")
    assert message == "YouTube video NoCaptions0 has no transcript"
    await refused(
        client, ArgumentError, "not a YouTube video ID or URL", "ws_youtube", video="nope"
    )


async def test_youtube_without_a_player_api_reads_the_answer_in_the_watch_page(
    client: Client, fake: SourcesUpstream
) -> None:
    fake.youtube_page_only = True
    added = await client.call("ws_youtube", video="dQw4w9WgXcQ")
    text = (await client.call("ws_show", name=added.name)).text
    assert text.startswith("Giraffes explained\nZoo Channel\n\nHey there, this is about")
    assert not any(p.startswith("/youtubei/") for p in fake.paths())
    await client.call("ws_drop", name=added.name)
    message = await refused(client, NotFoundError, None, "ws_youtube", video="Nonexistent")
    assert message == "no YouTube video Nonexistent (This video is unavailable)"
    message = await refused(client, NotFoundError, None, "ws_youtube", video="NoCaptions0")
    assert message == "YouTube video NoCaptions0 has no transcript"
    deep = "var ytInitialPlayerResponse = null; var ytInitialPlayerResponse = " + "[" * 100_000
    fake.page("/watch?v=DeepNesting", f"<script>{deep}</script>")
    message = await refused(client, SourceError, None, "ws_youtube", video="DeepNesting")
    assert message == "YouTube's page for video DeepNesting could not be read"


# -- arxiv ---------------------------------------------------------------------------


async def test_arxiv_id_stores_the_papers_metadata_and_abstract(client: Client) -> None:
    added = await client.call("ws_arxiv", query="https://arxiv.org/abs/2401.01234")
    assert (added.name, added.source) == (
        "arxiv-2401.01234",
        "http://arxiv.org/abs/2401.01234v2",
    )
    text = (await client.call("ws_show", name="arxiv-2401.01234")).text
    assert text.splitlines()[:5] == [
        "Giraffe Necks as Optimal Transport",
        "Authors: Ada Lovelace, Alan Turing",
        "Published: 2024-01-03 (updated 2024-02-01)",
        "Categories: q-bio.PE, math.OC",
        "arXiv: 2401.01234v2  http://arxiv.org/abs/2401.01234v2  "
        "PDF: http://arxiv.org/pdf/2401.01234v2",
    ]
    assert "Comment: 12 pages, 3 figures" in text
    assert text.endswith(
        "\nWe model the giraffe neck as a transport problem and find it optimal.\n"
    )


async def test_arxiv_old_style_id(client: Client) -> None:
    added = await client.call("ws_arxiv", query="hep-th/9901001")
    assert added.name == "arxiv-hep-th-9901001"


async def test_arxiv_search_stores_the_top_abstracts(client: Client, fake: SourcesUpstream) -> None:
    added = await client.call("ws_arxiv", query="giraffe necks", count=5)
    assert added.name == "arxiv-search-giraffe-necks"
    assert "search_query=all%3Agiraffe+AND+all%3Anecks" in added.source
    text = (await client.call("ws_show", name=added.name)).text
    assert text.startswith("arXiv papers for 'giraffe necks' (2 of 80 found)\n\n[1] Giraffe Necks")
    assert "\n\n[2] Necks of giraffes and okapis\nAuthors: Grace Hopper\n" in text
    one = await client.call("ws_arxiv", query="giraffe necks", count=1, name="one")
    assert "[2]" not in (await client.call("ws_show", name=one.name)).text


async def test_arxiv_not_found(client: Client) -> None:
    await refused(
        client, NotFoundError, "^no arXiv paper 2401.99999$", "ws_arxiv", query="2401.99999"
    )
    await refused(
        client,
        NotFoundError,
        "^no arXiv papers found for 'zebra stripes'$",
        "ws_arxiv",
        query="zebra stripes",
    )


# -- wikipedia -----------------------------------------------------------------------


async def test_wikipedia_stores_the_article_after_redirects(
    client: Client, fake: SourcesUpstream
) -> None:
    added = await client.call("ws_wikipedia", title="camelopard")
    assert (added.name, added.source) == (
        "wikipedia-Giraffe",
        f"{fake.base_url}/wiki/Giraffe",
    )
    text = (await client.call("ws_show", name="wikipedia-Giraffe")).text
    assert text.startswith("Giraffe\n\nThe giraffe is a large African hoofed mammal.\n\n== Etym")
    added = await client.call("ws_wikipedia", title="Okapi johnstoni")
    assert added.name == "wikipedia-Okapi_johnstoni"


async def test_wikipedia_missing_and_invalid_titles(client: Client) -> None:
    message = await refused(client, NotFoundError, None, "ws_wikipedia", title="no such thing")
    assert message == "no Wikipedia article 'No such thing'"
    await refused(client, ArgumentError, "is no Wikipedia title", "ws_wikipedia", title="a<b")


async def test_wikipedia_without_the_action_api_takes_the_rest_summary(
    client: Client, fake: SourcesUpstream
) -> None:
    fake.wiki_rest_only = True
    added = await client.call("ws_wikipedia", title="camelopard")
    assert (added.name, added.source) == (
        "wikipedia-Giraffe",
        f"{fake.base_url}/wiki/Giraffe",
    )
    text = (await client.call("ws_show", name="wikipedia-Giraffe")).text
    assert text == "Giraffe\n\nThe giraffe is a large African hoofed mammal.\n"
    await client.call("ws_drop", name="wikipedia-Giraffe")
    message = await refused(client, NotFoundError, None, "ws_wikipedia", title="no such thing")
    assert message == (
        f"no Wikipedia article 'no such thing' (asked the REST API: {fake.base_url} has no "
        "/w/api.php)"
    )


# -- news ----------------------------------------------------------------------------


async def test_news_stores_the_top_headlines(client: Client) -> None:
    added = await client.call("ws_news", query="Giraffe conservation", count=2)
    assert added.name == "news-giraffe-conservation"
    assert "/rss/search?q=Giraffe+conservation&hl=en-US&gl=US&ceid=US%3Aen" in added.source
    text = (await client.call("ws_show", name=added.name)).text
    assert text == (
        "News for 'Giraffe conservation' (2 headlines)\n\n"
        "1. Giraffe numbers rise in Kenya\n"
        "   BBC · 2025-11-24 08:00 UTC\n"
        "   https://news.google.com/rss/articles/CBMiStory0?oc=5\n\n"
        "2. Zoo welcomes a baby giraffe\n"
        "   The Guardian · 2025-11-23 17:30 UTC\n"
        "   https://news.google.com/rss/articles/CBMiStory1?oc=5\n"
    )


async def test_news_with_no_results(client: Client) -> None:
    message = await refused(client, NotFoundError, None, "ws_news", query="zebra")
    assert message == "no news found for 'zebra'"


# -- any source by name: ws_sources, ws_fetch -----------------------------------------


async def test_sources_lists_the_built_ins_as_their_rpcs_take_them(client: Client) -> None:
    listed = {s.name: s for s in await client.call("ws_sources")}
    described = {n: (s.argument, s.metavar, s.counted) for n, s in listed.items()}
    assert (
        described.items()
        >= {
            "url": ("url", "URL", False),
            "youtube": ("video", "ID|URL", False),
            "arxiv": ("query", "ID|URL|WORDS", True),
            "wikipedia": ("title", "TITLE", False),
            "news": ("query", "WORDS", True),
        }.items()
    )
    assert listed["wikipedia"].help == "add a Wikipedia article"


async def test_fetch_by_name_adds_what_the_source_rpc_adds(client: Client) -> None:
    by_rpc = await client.call("ws_news", query="giraffe", count=2, name="by-rpc")
    by_name = await client.call("ws_fetch", source="news", argument="giraffe", count=2)
    assert (by_rpc.source, by_name.name) == (by_name.source, "news-giraffe")
    texts = [(await client.call("ws_show", name=n)).text for n in ("by-rpc", "news-giraffe")]
    assert texts[0] == texts[1] and texts[0].count("\n\n") == 2
    wiki = await client.call("ws_fetch", source="wikipedia", argument="Okapi johnstoni")
    assert wiki.name == "wikipedia-Okapi_johnstoni"


async def test_fetch_refuses_an_unknown_source_and_a_count_it_does_not_take(
    client: Client, fake: SourcesUpstream
) -> None:
    message = await refused(
        client, ArgumentError, None, "ws_fetch", source="telepathy", argument="x"
    )
    assert message.startswith("no source 'telepathy' (known: arxiv, news, ")
    assert all(f" {name}" in message for name in ("url", "wikipedia", "youtube"))
    url = f"{fake.base_url}/articles/giraffes"
    await refused(
        client, ArgumentError, "^source 'url' takes no count$", "ws_fetch",
        source="url", argument=url, count=2,
    )  # fmt: skip
    await refused(client, ArgumentError, "count", "ws_fetch", source="news", argument="g", count=0)
    assert fake.paths() == []


# -- the server while it fetches -----------------------------------------------------


async def test_other_clients_are_served_while_a_source_is_fetched(
    client: Client, connect: ClientMaker, fake: SourcesUpstream, servers: ServerFactory
) -> None:
    release = threading.Event()
    fake.page("/held", ARTICLE, hold=release)
    fetching = asyncio.create_task(client.call("ws_url", url=f"{fake.base_url}/held"))
    while "/held" not in fake.paths():
        await asyncio.sleep(0.01)
    other = connect(servers.servers[0][0], profile="bob")
    assert (await other.call("ws_add", name="n", text="t")).name == "n"
    assert await client.call("ws_list") == []
    assert not fetching.done()
    release.set()
    assert (await fetching).name == "url-127.0.0.1-held"
