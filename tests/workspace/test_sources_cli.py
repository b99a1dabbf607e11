"""``chatthy ws url|youtube|arxiv|wikipedia|news`` as a user runs them: real processes, a
real server, the local fake of the sources."""

from __future__ import annotations

import pytest

from chatthy.server.app import Server
from helpers import ServerFactory
from sources_upstream import Article, Paper, SourcesUpstream, Story
from test_cli import chatthy


@pytest.fixture
async def live(
    servers: ServerFactory, sources: SourcesUpstream, monkeypatch: pytest.MonkeyPatch
) -> Server:
    config = servers.config()
    config.sources = sources.config()
    srv = await servers.start_with(config)
    monkeypatch.setenv("CHATTHY_SERVER", srv.address)
    monkeypatch.setenv("CHATTHY_PROFILE", "cli")
    monkeypatch.setenv("CHATTHY_PASSPHRASE", "pw")
    return srv


async def test_ws_url_adds_a_page_and_says_from_where(
    live: Server, sources: SourcesUpstream
) -> None:
    sources.page("/notes.txt", "Giraffes sleep standing up.\n", "text/plain")
    code, out, err = await chatthy("ws", "url", f"{sources.base_url}/notes.txt")
    assert code == 0, err
    assert out.startswith("added url-127.0.0.1-notes.txt (")
    assert out.endswith(f" tokens) from {sources.base_url}/notes.txt\n")
    code, out, _ = await chatthy("ws", "show", "url-127.0.0.1-notes.txt")
    assert (code, out) == (0, "Giraffes sleep standing up.\n")


async def test_ws_sources_take_words_a_name_and_a_count(
    live: Server, sources: SourcesUpstream
) -> None:
    sources.articles.append(Article("Giraffe", "The giraffe is tall."))
    sources.papers.append(Paper("2401.01234v1", "Necks", "Giraffe necks.", ["A"], ["q-bio.PE"]))
    sources.news["giraffe"] = [Story(f"Story {n}", "BBC", "https://www.bbc.co.uk") for n in (1, 2)]
    code, out, err = await chatthy("ws", "wikipedia", "giraffe", "--name", "animals/giraffe")
    assert (code, out.split(" (")[0]) == (0, "added animals/giraffe"), err
    code, out, err = await chatthy("ws", "arxiv", "giraffe", "necks")
    assert (code, out.split(" (")[0]) == (0, "added arxiv-search-giraffe-necks"), err
    code, out, err = await chatthy("ws", "news", "giraffe", "news", "--count", "1")
    assert (code, out.split(" (")[0]) == (0, "added news-giraffe-news"), err
    _, text, _ = await chatthy("ws", "show", "news-giraffe-news")
    assert "Story 1" in text and "Story 2" not in text


async def test_ws_source_failure_is_one_line_and_exit_1(
    live: Server, sources: SourcesUpstream
) -> None:
    code, out, err = await chatthy("ws", "youtube", "Nonexistent")
    assert (code, out) == (1, "")
    assert err == "chatthy: no YouTube video Nonexistent (This video is unavailable)\n"
    code, out, err = await chatthy("ws", "url", "ftp://example.com/x")
    assert (code, err) == (1, "chatthy: not an http(s) URL: 'ftp://example.com/x'\n")
    _, out, _ = await chatthy("ws", "list")
    assert out == "the workspace is empty\n"


async def test_ws_sources_lists_them_and_ws_fetch_reaches_one_by_name(
    live: Server, sources: SourcesUpstream
) -> None:
    code, out, err = await chatthy("ws", "sources")
    assert code == 0, err
    lines = out.splitlines()
    assert any(line.split()[:2] == ["arxiv", "ID|URL|WORDS"] for line in lines), out
    assert any(line.startswith("wikipedia TITLE ") for line in lines), out
    sources.news["okapi"] = [Story(f"Okapi {n}", "BBC", "https://www.bbc.co.uk") for n in (1, 2)]
    code, out, err = await chatthy("ws", "fetch", "news", "okapi", "--count", "1")
    assert (code, out.split(" (")[0]) == (0, "added news-okapi"), err
    _, text, _ = await chatthy("ws", "show", "news-okapi")
    assert "Okapi 1" in text and "Okapi 2" not in text
    code, out, err = await chatthy("ws", "fetch", "telepathy", "anything")
    assert (code, out) == (1, "")
    assert err.startswith("chatthy: no source 'telepathy' (known: arxiv, news, ")
