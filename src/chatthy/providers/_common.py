"""What the SDK-backed providers share: API-key choice and error translation.

Every SDK or transport exception becomes one of :mod:`chatthy.errors`' provider errors
here, with a one-line message prefixed by the provider's name. Keys never appear in
messages: only status codes, the model, the URL and the upstream's own message do.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from chatthy.config import ProviderConfig
from chatthy.errors import (
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
)
from chatthy.providers.base import Provider

__all__ = ["NO_KEY", "Failure", "SDKErrors", "is_json", "resolve_key", "upstream_message"]

NO_KEY = "no-key"
"""Sent to keyless local servers: the SDKs insist on some key."""

_MAX_MESSAGE = 200


def resolve_key(cfg: ProviderConfig, env_var: str, official_host: str) -> str:
    """The key to send: the configured one, else ``env_var`` — but the environment's key
    only goes to the vendor's own endpoint, never to another server named by base_url."""
    if cfg.api_key:
        return cfg.api_key
    env_key = os.environ.get(env_var)
    if env_key and is_official(cfg.base_url, official_host):
        return env_key
    return NO_KEY


def is_json(content_type: str) -> bool:
    """Whether an answer is one JSON document rather than an event stream: some servers
    and proxies answer a streaming request with a whole completion."""
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


def is_official(base_url: str | None, official_host: str) -> bool:
    """True when ``base_url`` is unset or the vendor's https endpoint."""
    if not base_url:
        return True
    parts = urlsplit(base_url)
    return parts.scheme == "https" and parts.hostname == official_host


def upstream_message(body: object, fallback: str = "") -> str:
    """The human part of an error body (OpenAI, Anthropic or FastAPI shape), one line."""
    text = _find_message(body) or fallback
    line = " ".join(str(text).split())
    return line if len(line) <= _MAX_MESSAGE else line[: _MAX_MESSAGE - 1] + "…"


def _find_message(body: object) -> str:
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value: Any = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict | list):
                found = _find_message(value)
                if found:
                    return found
    if isinstance(body, list) and body:
        return _find_message(body[0])
    if isinstance(body, str | bytes):
        return body.decode(errors="replace") if isinstance(body, bytes) else body
    return ""


class SDKErrors(NamedTuple):
    """One SDK's exception classes (both SDKs share the shape, not the classes)."""

    status: type[Exception]
    timeout: type[Exception]
    connection: type[Exception]


class Failure:
    """Builds the user-facing errors of one provider; knows its name, URL and limits."""

    def __init__(self, name: str, cfg: ProviderConfig, base_url: str, keyless: bool) -> None:
        self.prefix = f"provider '{name}'"
        self.cfg = cfg
        self.base_url = base_url
        self.keyless = keyless

    def status(self, code: int, body: object, model: str) -> ProviderError:
        """The error for an HTTP status the SDK gave up on (after its retries)."""
        if code in (401, 403):
            if self.keyless:
                return ProviderAuthError(f"{self.prefix}: missing API key")
            return ProviderAuthError(f"{self.prefix}: invalid API key")
        if code == 429:
            return ProviderRateLimitError(
                f"{self.prefix}: rate limited (429) after {self.cfg.retries} retries"
            )
        if code == 404:
            return ProviderError(f"{self.prefix}: model '{model}' not found")
        detail = upstream_message(body)
        suffix = f": {detail}" if detail else ""
        return ProviderError(f"{self.prefix}: upstream error {code}{suffix}")

    def timeout(self, connecting: bool = False) -> ProviderTimeoutError:
        """No answer (or no next byte) within the configured time."""
        seconds = self.cfg.connect_timeout if connecting else self.cfg.timeout
        return ProviderTimeoutError(f"{self.prefix}: timed out after {seconds:g}s")

    def unreachable(self) -> ProviderConnectionError:
        """The request never got an answer: refused, reset or no route."""
        return ProviderConnectionError(f"{self.prefix}: cannot reach {self.base_url}")

    def lost(self) -> ProviderConnectionError:
        """The answer began and was then cut off."""
        return ProviderConnectionError(f"{self.prefix}: connection lost mid-stream")

    def stream_error(self, body: object) -> ProviderError:
        """An error the upstream reported inside the stream itself."""
        detail = upstream_message(body, "unknown error")
        return ProviderError(f"{self.prefix}: upstream error mid-stream: {detail}")

    def transport(self, exc: BaseException, started: bool) -> ProviderError:
        """A bare ``httpx2`` transport failure, raised while reading a raw stream."""
        import httpx2

        if isinstance(exc, httpx2.TimeoutException):
            return self.timeout(connecting=isinstance(exc, httpx2.ConnectTimeout))
        if started or isinstance(exc, httpx2.RemoteProtocolError | httpx2.ReadError):
            return self.lost()
        return self.unreachable()

    def translate(self, exc: Exception, model: str, sdk: SDKErrors, started: bool) -> ProviderError:
        """Any exception met while talking to the upstream, as one of ours."""
        import httpx2

        if isinstance(exc, sdk.status):
            return self.status(getattr(exc, "status_code", 0), getattr(exc, "body", None), model)
        if isinstance(exc, sdk.timeout):
            return self.timeout(connecting=isinstance(exc.__cause__, httpx2.ConnectTimeout))
        if isinstance(exc, sdk.connection):
            return self.lost() if started else self.unreachable()
        if isinstance(exc, httpx2.TransportError):
            return self.transport(exc, started)
        detail = upstream_message(str(exc), type(exc).__name__)
        return ProviderError(f"{self.prefix}: unexpected error: {detail}")


class SDKProvider(Provider):
    """What the SDK-backed providers share: config, endpoint, key choice, failure wording."""

    env_var: str
    official_host: str

    def _configure(self, name: str, cfg: ProviderConfig, official_url: str) -> str:
        """Set the attributes every provider has; return the key to give the SDK."""
        self.name = name
        self.model = cfg.model
        self.context_length = cfg.context_length
        self.max_tokens = cfg.max_tokens
        self.cfg = cfg
        self.base_url = cfg.base_url or official_url
        key = resolve_key(cfg, self.env_var, self.official_host)
        self.fail = Failure(name, cfg, self.base_url, keyless=key == NO_KEY)
        return key
