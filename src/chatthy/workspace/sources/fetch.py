"""The guarded HTTP client every source fetches with.

One :class:`Fetcher` serves one source request: every request it sends goes to an
address the :class:`~chatthy.workspace.sources.guard.AddressPolicy` checked (the host is
resolved and checked first, then the request is sent to that very address, with the
host still in the ``Host`` header and in TLS's SNI and certificate check), redirects are
followed here hop by hop so that each hop is checked the same way, bodies are read up to
``max_bytes`` and no further, and all of it must end within ``timeout`` seconds. httpx2's
errors become chatthy's ``Source…`` errors here, each one line.
"""

from __future__ import annotations

import asyncio
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx2
import msgspec

from chatthy.config import SourcesConfig
from chatthy.errors import (
    ArgumentError,
    NotFoundError,
    SourceBlockedError,
    SourceConnectionError,
    SourceError,
    SourceTimeoutError,
)
from chatthy.workspace.sources.guard import AddressPolicy

__all__ = ["Fetched", "Fetcher"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


@dataclass(frozen=True, slots=True)
class Fetched:
    """A successful answer: the final URL (after redirects), media type and body."""

    url: str
    media_type: str
    charset: str | None
    body: bytes

    def text(self) -> str:
        """The body decoded: by the declared charset, else an HTML ``<meta charset>``,
        else UTF-8 (undecodable bytes replaced)."""
        meta = _META_CHARSET.search(self.body[:4096])
        declared = meta.group(1).decode("ascii") if meta else None
        for encoding in (self.charset, declared, "utf-8"):
            if not encoding:
                continue
            try:
                return self.body.decode(encoding)
            except (LookupError, UnicodeDecodeError):
                continue
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Raises SourceError when the body is not JSON."""
        try:
            return msgspec.json.decode(self.body)
        except msgspec.DecodeError as exc:
            raise SourceError(f"{self.url} did not answer with JSON") from exc

    def xml(self) -> ET.Element:
        """The parsed XML (expat refuses entity-expansion bombs; no external entities are
        fetched). Raises SourceError when the body is not XML."""
        try:
            return ET.fromstring(self.body)
        except ET.ParseError as exc:
            raise SourceError(f"{self.url} did not answer with valid XML ({exc})") from exc


class _GuardedTransport(httpx2.AsyncBaseTransport):
    """Sends each request to the address the policy checked for its host."""

    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy
        # No kept-alive connections: a TLS connection made for one host must never carry
        # a request for another host that happens to share its address.
        self.inner = httpx2.AsyncHTTPTransport(limits=httpx2.Limits(max_keepalive_connections=0))

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if url.scheme not in ("http", "https"):
            raise SourceBlockedError(f"refused to fetch {url}: only http and https are fetched")
        host = url.raw_host.decode("ascii")
        addresses = await self.policy.resolve(
            host, url.port or (443 if url.scheme == "https" else 80)
        )
        if url.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": host}
        # Each checked address in turn, as a browser would: a host with an IPv6 address
        # first is still reached from a server without IPv6.
        for address in addresses[:-1]:
            request.url = url.copy_with(host=address)
            try:
                return await self.inner.handle_async_request(request)
            except httpx2.ConnectError:
                continue
        request.url = url.copy_with(host=addresses[-1])
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _media_type(header: str) -> tuple[str, str | None]:
    """``text/html; charset=UTF-8`` → (``text/html``, ``UTF-8``)."""
    kind, *params = header.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'") or None
    return kind.strip().lower(), charset


def _parse_url(url: str) -> httpx2.URL:
    """Raises ArgumentError for anything but an http(s) URL with a host."""
    try:
        parsed = httpx2.URL(url)
    except (httpx2.InvalidURL, TypeError) as exc:
        raise ArgumentError(f"not a URL: {url!r}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ArgumentError(f"not an http(s) URL: {url!r}")
    return parsed


class Fetcher:
    """The requests of one source; use as ``async with Fetcher(config) as fetcher``."""

    def __init__(self, config: SourcesConfig) -> None:
        self.config = config
        self._client = httpx2.AsyncClient(
            transport=_GuardedTransport(AddressPolicy(config.allow_private)),
            timeout=httpx2.Timeout(config.timeout),
            follow_redirects=False,
            trust_env=False,
            headers={"user-agent": config.user_agent, "accept-language": "en-US,en;q=0.8"},
        )
        self._deadline = 0.0

    async def __aenter__(self) -> Fetcher:
        self._deadline = asyncio.get_running_loop().time() + self.config.timeout
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._client.aclose()

    async def get(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Fetched:
        """GET ``url`` (following redirects).

        Raises:
            ArgumentError: ``url`` is not an http(s) URL.
            NotFoundError: the answer is 404 or 410.
            SourceError: another error status, too many redirects, or a body over
                ``max_bytes`` (and its subclasses: timeout, unreachable, address refused).
        """
        target = _parse_url(url)
        if params:
            target = target.copy_merge_params(params)
        return await self._request("GET", target, headers=headers)

    async def post_json(self, url: str, payload: Any) -> Fetched:
        """POST ``payload`` as JSON to ``url``; raises as :meth:`get`."""
        return await self._request("POST", _parse_url(url), json=payload)

    async def _request(self, method: str, url: httpx2.URL, **kwargs: Any) -> Fetched:
        seen = {str(url)}
        try:
            async with asyncio.timeout_at(self._deadline):
                for _hop in range(self.config.max_redirects + 1):
                    result = await self._send(method, url, **kwargs)
                    if isinstance(result, Fetched):
                        return result
                    target = result.target
                    if target.scheme not in ("http", "https"):
                        raise SourceBlockedError(
                            f"refused to follow {url} to {target}: only http and https are fetched"
                        )
                    if str(target) in seen:
                        raise SourceError(f"{url} redirects round in a loop")
                    seen.add(str(target))
                    method, kwargs = _follow(method, kwargs, url, result)
                    url = target
        except TimeoutError:
            raise SourceTimeoutError(
                f"{url.host} did not answer within {self.config.timeout:g} s "
                "(timeout under [sources] in server.toml)"
            ) from None
        raise SourceError(f"more than {self.config.max_redirects} redirects, the last to {url}")

    async def _send(self, method: str, url: httpx2.URL, **kwargs: Any) -> Fetched | _Redirect:
        """One hop: the answer, or where it redirects to."""
        try:
            async with self._client.stream(method, url, **kwargs) as response:
                location = response.headers.get("location")
                if response.status_code in _REDIRECTS and location:
                    try:
                        return _Redirect(response.status_code, url.join(location))
                    except httpx2.InvalidURL as exc:
                        raise SourceError(f"{url} redirects to a bad URL") from exc
                _check_status(response, url)
                body = await self._read(response, url)
        except httpx2.TimeoutException as exc:
            raise TimeoutError from exc
        except httpx2.ConnectError as exc:
            raise SourceConnectionError(f"cannot connect to {url.host}: {_reason(exc)}") from exc
        except httpx2.HTTPError as exc:
            raise SourceConnectionError(f"{url.host} broke off the answer: {_reason(exc)}") from exc
        media_type, charset = _media_type(response.headers.get("content-type", ""))
        return Fetched(str(url), media_type, charset, body)

    async def _read(self, response: httpx2.Response, url: httpx2.URL) -> bytes:
        """The body, refused as soon as it grows past ``max_bytes``."""
        limit = self.config.max_bytes
        too_big = SourceError(
            f"{url} is larger than {limit:,} bytes (max_bytes under [sources] in server.toml)"
        )
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise too_big
            chunks.append(chunk)
        return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class _Redirect:
    status: int
    target: httpx2.URL


def _follow(
    method: str, kwargs: dict[str, Any], url: httpx2.URL, redirect: _Redirect
) -> tuple[str, dict[str, Any]]:
    """The next hop's method and arguments: a POST becomes a GET (but on 307 and 308), and
    headers set for one host are not sent to another."""
    kwargs = dict(kwargs)
    if method == "POST" and redirect.status not in (307, 308):
        method = "GET"
        kwargs.pop("json", None)
    if redirect.target.host != url.host:
        kwargs.pop("headers", None)
    return method, kwargs


def _check_status(response: httpx2.Response, url: httpx2.URL) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status in (404, 410):
        raise NotFoundError(f"nothing at {url} (HTTP {status})")
    if status == 429:
        raise SourceError(f"{url.host} refuses more requests for now (HTTP 429)")
    raise SourceError(f"{url.host} answered HTTP {status} {response.reason_phrase} for {url}")


def _reason(exc: Exception) -> str:
    """The innermost OS reason (``Connection refused``), else the error's own words."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and (cause.errno or cause.strerror):
            return (os.strerror(cause.errno) if cause.errno else str(cause.strerror)).lower()
        cause = cause.__cause__ or cause.__context__
    return str(exc) or type(exc).__name__
