"""``youtube``: a video's transcript, fetched the way YouTube's own player does.

The public flow (the one youtube-transcript-api follows): the watch page gives the
player API key; the player API (``/youtubei/v1/player``, as the Android client) gives the
video's playability, title and caption tracks; a track's ``baseUrl`` gives the timed
text as XML. Where there is no player API (a mirror, or a page without the key), the
player answer the watch page carries (``ytInitialPlayerResponse``) stands in for it.

It is done here with the guarded fetcher rather than with youtube-transcript-api
because that library is synchronous (requests), has its ``youtube.com`` URLs fixed in
module constants, and would read bodies without our size cap or address guard; pointing
it elsewhere would mean rewriting its requests behind its back.
"""

from __future__ import annotations

import html
import json
import re
import urllib.parse
import xml.etree.ElementTree as ET
from typing import Any

from chatthy.errors import ArgumentError, NotFoundError, SourceError
from chatthy.workspace.sources.base import DEFAULT_COUNT, Source
from chatthy.workspace.sources.document import Document
from chatthy.workspace.sources.fetch import Fetcher

__all__ = ["YoutubeSource", "fetch_youtube", "video_id"]

_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_HOSTS = frozenset(
    {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com",
     "youtube-nocookie.com", "www.youtube-nocookie.com"}
)  # fmt: skip
_PATH_FORMS = frozenset({"shorts", "embed", "live", "v", "e"})
_API_KEY = re.compile(r'"INNERTUBE_API_KEY":\s*"([A-Za-z0-9_-]+)"')
_EMBEDDED = re.compile(r"ytInitialPlayerResponse\s*=\s*")
_CONSENT = 'action="https://consent.youtube.com/s"'
_CLIENT = {"client": {"clientName": "ANDROID", "clientVersion": "20.10.38"}}
_TAGS = re.compile(r"<[^>]*>")


def video_id(ref: str) -> str:
    """The 11-character ID of ``ref``: an ID, or a ``watch?v=``, ``youtu.be/``,
    ``shorts/``, ``embed/`` or ``live/`` URL (with or without ``https://``).

    Raises:
        ArgumentError: ``ref`` is neither.
    """
    ref = ref.strip()
    if _ID.fullmatch(ref):
        return ref
    parsed = urllib.parse.urlsplit(ref if "://" in ref else f"https://{ref}")
    host = (parsed.hostname or "").lower()
    parts = [p for p in parsed.path.split("/") if p]
    candidate = ""
    if host == "youtu.be" and parts:
        candidate = parts[0]
    elif host in _HOSTS and parts == ["watch"]:
        candidate = urllib.parse.parse_qs(parsed.query).get("v", [""])[0]
    elif host in _HOSTS and len(parts) >= 2 and parts[0] in _PATH_FORMS:
        candidate = parts[1]
    if _ID.fullmatch(candidate):
        return candidate
    raise ArgumentError(f"not a YouTube video ID or URL: {ref!r}")


async def fetch_youtube(fetcher: Fetcher, ref: str) -> Document:
    """The transcript of the video ``ref`` (ID or URL), its title and channel first, as
    ``youtube-ID``; the source recorded is the video's watch URL.

    Raises:
        ArgumentError: ``ref`` is no video ID or URL.
        NotFoundError: there is no such video, or it has no transcript.
        SourceError: YouTube refused (captcha, sign-in) or any fetch failure.
    """
    base = fetcher.config.youtube_base.rstrip("/")
    vid = video_id(ref)
    watch_url = f"{base}/watch?v={vid}"
    page = await _watch_page(fetcher, watch_url)
    embedded = _embedded_player(page)
    if _API_KEY.search(page) or embedded is None:
        key = _api_key(page, vid)
        player = await _player(fetcher, f"{base}/youtubei/v1/player?key={key}", vid, embedded)
    else:
        player = _playable(embedded, vid)
    lines = await _transcript(fetcher, player, vid)
    details = player.get("videoDetails") or {}
    head = [str(details.get("title") or ""), str(details.get("author") or "")]
    text = "\n".join([*(h for h in head if h), "", *lines]).lstrip("\n")
    return Document(f"youtube-{vid}", text + "\n", watch_url)


async def _player(
    fetcher: Fetcher, url: str, vid: str, embedded: dict[str, Any] | None
) -> dict[str, Any]:
    """The player API's answer for a video that can be played; the ``embedded`` one if
    the API is not there."""
    try:
        player = (await fetcher.post_json(url, {"context": _CLIENT, "videoId": vid})).json()
    except NotFoundError:
        if embedded is None:
            raise
        player = embedded
    return _playable(player, vid)


def _playable(player: Any, vid: str) -> dict[str, Any]:
    """``player`` if it is a player answer for a video that can be played.

    Raises:
        NotFoundError: no such video.
        SourceError: not a player answer, or YouTube withholds the video.
    """
    if not isinstance(player, dict):
        raise SourceError(f"YouTube's player answer for {vid} is not what was expected")
    _check_playable(player.get("playabilityStatus") or {}, vid)
    return player


def _embedded_player(page: str) -> dict[str, Any] | None:
    """The player answer a watch page carries (``ytInitialPlayerResponse``), if any: the
    first assignment of an object to it that decodes (a page of any shape gives None)."""
    decoder = json.JSONDecoder()
    for match in _EMBEDDED.finditer(page):
        try:
            found, _ = decoder.raw_decode(page, match.end())
        except (ValueError, RecursionError):
            continue
        if isinstance(found, dict):
            return found
    return None


async def _transcript(fetcher: Fetcher, player: dict[str, Any], vid: str) -> list[str]:
    """The caption lines of the track chosen among the video's."""
    renderer = (player.get("captions") or {}).get("playerCaptionsTracklistRenderer") or {}
    tracks = renderer.get("captionTracks") or []
    if not tracks:
        raise NotFoundError(f"YouTube video {vid} has no transcript")
    track_url = str(_choose(tracks, fetcher.config.youtube_languages).get("baseUrl") or "")
    if not track_url:
        raise SourceError(f"YouTube gave no address for the transcript of {vid}")
    timed = await fetcher.get(track_url.replace("&fmt=srv3", ""))
    if not timed.body.strip():
        raise SourceError(f"YouTube sent an empty transcript for video {vid}; try again later")
    lines = _lines(timed.xml())
    if not lines:
        raise NotFoundError(f"YouTube video {vid} has no transcript")
    return lines


async def _watch_page(fetcher: Fetcher, url: str) -> str:
    """The watch page, past the cookie consent page some countries get."""
    page = (await fetcher.get(url)).text()
    if _CONSENT in page and (match := re.search(r'name="v" value="([^"]*)"', page)):
        page = (await fetcher.get(url, headers={"cookie": f"CONSENT=YES+{match[1]}"})).text()
    return page


def _api_key(page: str, vid: str) -> str:
    if match := _API_KEY.search(page):
        return match[1]
    if 'class="g-recaptcha"' in page:
        raise SourceError("YouTube wants a captcha solved: too many requests from this server")
    raise SourceError(f"YouTube's page for video {vid} could not be read")


def _check_playable(status: dict[str, Any], vid: str) -> None:
    """Raises NotFoundError for a missing video, SourceError for one YouTube withholds."""
    state, reason = status.get("status", "OK"), str(status.get("reason") or "").strip()
    if state == "OK":
        return
    if state == "ERROR":
        raise NotFoundError(f"no YouTube video {vid}" + (f" ({reason})" if reason else ""))
    if state == "LOGIN_REQUIRED" and "bot" in reason.lower():
        raise SourceError("YouTube wants a sign-in to prove this server is not a bot")
    raise SourceError(f"YouTube video {vid} cannot be fetched: {reason or state}")


def _choose(tracks: list[dict[str, Any]], languages: list[str]) -> dict[str, Any]:
    """The first preferred language, a manual track before a generated one; else the
    first manual track; else the first there is."""
    manual = [t for t in tracks if t.get("kind") != "asr"]
    generated = [t for t in tracks if t.get("kind") == "asr"]
    for language in languages:
        for track in (*manual, *generated):
            code = str(track.get("languageCode", ""))
            if code == language or code.startswith(f"{language}-"):
                return track
    return (manual or generated)[0]


def _lines(root: ET.Element) -> list[str]:
    """The caption lines of timed text (``<text>`` of format 1, ``<p>`` of format 3)."""
    lines = []
    for element in root.iter():
        if element.tag not in ("text", "p"):
            continue
        line = _TAGS.sub("", html.unescape("".join(element.itertext()))).strip()
        if line:
            lines.append(line)
    return lines


class YoutubeSource(Source):
    """``youtube``: a YouTube video's transcript, as ``youtube-ID``."""

    name = "youtube"
    help = "add a YouTube video's transcript"
    argument = "video"
    metavar = "ID|URL"

    async def fetch(
        self, fetcher: Fetcher, argument: str, *, count: int = DEFAULT_COUNT
    ) -> Document:
        return await fetch_youtube(fetcher, argument)
