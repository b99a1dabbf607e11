"""What users type to name a source, and the addresses a shared server refuses to fetch."""

from __future__ import annotations

import ipaddress

import pytest

from chatthy.errors import ArgumentError, SourceBlockedError
from chatthy.workspace.sources.arxiv import arxiv_id
from chatthy.workspace.sources.guard import AddressPolicy
from chatthy.workspace.sources.page import page_name
from chatthy.workspace.sources.youtube import video_id


@pytest.mark.parametrize(
    "ref",
    [
        "dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42s&list=PL123",
        "youtube.com/watch?v=dQw4w9WgXcQ",
        "https://m.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://youtu.be/dQw4w9WgXcQ?si=abc",
        "https://www.youtube.com/shorts/dQw4w9WgXcQ",
        "https://www.youtube.com/embed/dQw4w9WgXcQ",
        "https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ?start=3",
        "https://www.youtube.com/live/dQw4w9WgXcQ",
    ],
)
def test_youtube_accepts_an_id_or_any_usual_url(ref: str) -> None:
    assert video_id(ref) == "dQw4w9WgXcQ"


@pytest.mark.parametrize(
    "ref", ["short", "https://vimeo.com/dQw4w9WgXcQ", "https://www.youtube.com/@channel", ""]
)
def test_youtube_refuses_what_names_no_video(ref: str) -> None:
    with pytest.raises(ArgumentError, match="not a YouTube video ID or URL"):
        video_id(ref)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("2401.01234", "2401.01234"),
        ("2401.01234v2", "2401.01234v2"),
        ("arXiv:2401.01234", "2401.01234"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("math.GT/0309136", "math.GT/0309136"),
        ("https://arxiv.org/abs/2401.01234v2", "2401.01234v2"),
        ("https://arxiv.org/pdf/2401.01234.pdf", "2401.01234"),
        ("arxiv.org/abs/hep-th/9901001", "hep-th/9901001"),
        ("giraffe necks", None),
        ("ti:giraffe AND au:lovelace", None),
    ],
)
def test_arxiv_tells_an_id_from_a_search(query: str, expected: str | None) -> None:
    assert arxiv_id(query) == expected


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://example.com/page", "url-example.com-page"),
        ("https://example.com/", "url-example.com"),
        ("https://example.com/docs/a b/intro.html", "url-example.com-docs-a-b-intro.html"),
        ("https://example.com/search?q=giraffe&page=2", "url-example.com-search-q-giraffe-page-2"),
        ("https://example.com/../..\\x/%00", "url-example.com-x"),
        (
            "https://en.wikipedia.org/wiki/Giraffe_(animal)",
            "url-en.wikipedia.org-wiki-Giraffe-animal",
        ),
    ],
)
def test_a_page_is_named_after_its_host_and_path(url: str, name: str) -> None:
    assert page_name(url) == name


def test_a_page_name_is_bounded() -> None:
    name = page_name("https://example.com/" + "very-long-segment/" * 40)
    assert name.startswith("url-example.com-very-long-segment-")
    assert len(name) <= 100 and not name.endswith("-")


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "non-public"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:7f00:1::", "loopback"),
    ],
)
def test_addresses_that_are_not_public_are_refused(address: str, kind: str) -> None:
    ip = ipaddress.ip_address(address)
    assert AddressPolicy(False).refusal(ip) == f"{ip} is a {kind} address"
    assert AddressPolicy(True).refusal(ip) == ""


@pytest.mark.parametrize("address", ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy(False).refusal(ipaddress.ip_address(address)) == ""


def test_listed_networks_are_allowed_and_nothing_else() -> None:
    policy = AddressPolicy(["192.168.1.0/24", "127.0.0.1/32"])
    allowed = ["192.168.1.20", "127.0.0.1", "::ffff:192.168.1.20"]
    assert all(policy.refusal(ipaddress.ip_address(a)) == "" for a in allowed)
    for refused in ("192.168.2.1", "127.0.0.2", "10.0.0.1", "169.254.169.254"):
        assert policy.refusal(ipaddress.ip_address(refused)) != ""


async def test_a_name_is_resolved_before_it_is_judged() -> None:
    with pytest.raises(SourceBlockedError, match=r"localhost: .* is a loopback address"):
        await AddressPolicy(False).resolve("localhost", 80)
    assert await AddressPolicy(True).resolve("127.0.0.1", 80) == ["127.0.0.1"]
