"""The guarded fetcher against the local fake: what it sends along redirects, how it reads
what it gets."""

from __future__ import annotations

import httpx2

from chatthy.workspace.sources import Fetcher, fetch_page
from chatthy.workspace.sources.fetch import _GuardedTransport
from chatthy.workspace.sources.guard import AddressPolicy
from sources_upstream import SourcesUpstream


async def test_headers_follow_a_redirect_on_the_same_host_only(sources: SourcesUpstream) -> None:
    sources.page("/end", "done", "text/plain")
    sources.redirect("/same", "/end")
    sources.redirect("/other", f"http://localhost:{sources.port}/end")
    async with Fetcher(sources.config()) as fetcher:
        await fetcher.get(f"{sources.base_url}/same", headers={"cookie": "CONSENT=YES+1"})
        fetched = await fetcher.get(
            f"{sources.base_url}/other", headers={"cookie": "CONSENT=YES+1"}
        )
    cookies = [(r.path, r.headers.get("cookie")) for r in sources.requests]
    assert cookies == [
        ("/same", "CONSENT=YES+1"),
        ("/end", "CONSENT=YES+1"),
        ("/other", "CONSENT=YES+1"),
        ("/end", None),
    ]
    assert fetched.url == f"http://localhost:{sources.port}/end"
    assert sources.requests[-1].headers["host"] == f"localhost:{sources.port}"
    assert sources.requests[0].headers["user-agent"].startswith("chatthy/")


async def test_a_page_is_decoded_by_its_meta_charset(sources: SourcesUpstream) -> None:
    body = (
        '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><body><article>'
        + "<p>Le caf\xe9 est une boisson tr\xe8s appr\xe9ci\xe9e dans le monde entier.</p>" * 5
        + "</article></body></html>"
    ).encode("latin-1")
    sources.page("/fr", body, "text/html")
    async with Fetcher(sources.config()) as fetcher:
        document = await fetch_page(fetcher, f"{sources.base_url}/fr")
    assert "Le café est une boisson très appréciée" in document.text


class _NothingThenTheFake(AddressPolicy):
    """Resolves every host to an address where nothing listens, then to the fake's."""

    async def resolve(self, host: str, port: int) -> list[str]:
        return ["127.0.0.2", "127.0.0.1"]


async def test_the_next_address_is_tried_when_one_cannot_be_reached(
    sources: SourcesUpstream,
) -> None:
    sources.page("/end", "done", "text/plain")
    transport = _GuardedTransport(_NothingThenTheFake(True))
    async with httpx2.AsyncClient(transport=transport) as client:
        response = await client.get(f"http://example.test:{sources.port}/end")
    assert response.text == "done"
    assert sources.requests[-1].headers["host"] == f"example.test:{sources.port}"
