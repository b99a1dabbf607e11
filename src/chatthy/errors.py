"""The one error tree of chatthy.

Every failure a user can see is one of these; foreign exceptions (SDK, sqlite3, zmq,
msgspec) are translated at the edge of the layer that meets them, with ``raise … from``.
Over the wire an error travels as ``{code, message}``; ``code`` is stable, ``message`` is
one line meant for a person.

    ChatthyError
    ├── ConfigError            a config file or value is wrong
    ├── DecodeError            undecodable body                         (bad_message)
    ├── TooLargeError          body above the configured limit          (too_large)
    ├── VersionError           another protocol version                 (version)
    ├── UnknownMethodError     no RPC of that name                      (unknown_method)
    ├── ArgumentError          arguments of the wrong name or type      (bad_args)
    ├── AuthError              the sender could not be trusted          (auth)
    │   ├── SignatureError     signature does not verify / wrong key    (bad_signature)
    │   ├── ClockError         timestamp outside the window             (stale)
    │   ├── ReplayError        nonce already seen                       (replay)
    │   ├── WrongServerError   signed for another server, or before
    │   │                      this one started                         (wrong_server)
    │   ├── DeniedError        closed server: unknown profile or wrong
    │   │                      passphrase, told apart for no one        (denied)
    │   └── RegistrationError  unknown profile on a closed server       (unregistered)
    ├── NotFoundError          a chat, prompt or message does not exist (not_found)
    ├── ConflictError          the name is taken / a reply is running   (conflict)
    ├── RateLimitedError       too many requests; says when to retry     (rate_limited)
    ├── QuotaExceededError     a profile's stored bytes or tokens spent  (quota_exceeded)
    ├── ProviderError          a model provider failed                  (provider)
    │   ├── ProviderAuthError      invalid or missing API key           (provider_auth)
    │   ├── ProviderRateLimitError 429 after retries                    (provider_rate_limit)
    │   ├── ProviderTimeoutError   no answer in time / stalled          (provider_timeout)
    │   └── ProviderConnectionError unreachable or died mid-stream      (provider_connection)
    │       └── ProviderIncompleteError the stream ended without its end mark (provider_incomplete)
    ├── StoreError             the database failed                      (store)
    │   └── DiskFullError      the disk is full (deletes still work)    (disk_full)
    ├── ToolError              a tool failed                            (tool)
    ├── SourceError            a workspace source could not be fetched  (source)
    │   ├── SourceTimeoutError     no answer in time                    (source_timeout)
    │   ├── SourceConnectionError  unreachable or dropped               (source_connection)
    │   └── SourceBlockedError     an address the server may not fetch  (source_blocked)
    ├── ServerUnavailableError the client could not reach the server    (unavailable)
    └── ServerKeyChangedError  the server's key is not the one remembered (server_key_changed)
"""

from __future__ import annotations

import re

__all__ = [
    "ArgumentError",
    "AuthError",
    "ChatthyError",
    "ClockError",
    "ConfigError",
    "ConflictError",
    "DecodeError",
    "DeniedError",
    "DiskFullError",
    "NotFoundError",
    "ProviderAuthError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderIncompleteError",
    "ProviderRateLimitError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitedError",
    "RegistrationError",
    "RemoteError",
    "ReplayError",
    "ServerKeyChangedError",
    "ServerUnavailableError",
    "SignatureError",
    "SourceBlockedError",
    "SourceConnectionError",
    "SourceError",
    "SourceTimeoutError",
    "StoreError",
    "TooLargeError",
    "ToolError",
    "UnknownMethodError",
    "VersionError",
    "WrongServerError",
    "from_code",
]


class ChatthyError(Exception):
    """Raised for any failure chatthy reports to a user."""

    code = "error"

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class ConfigError(ChatthyError):
    """Raised when a config file cannot be read or holds a wrong value."""

    code = "config"


class DecodeError(ChatthyError):
    """Raised when a body is not msgpack of a known message."""

    code = "bad_message"


class TooLargeError(ChatthyError):
    """Raised when a body is larger than the server accepts."""

    code = "too_large"


class VersionError(ChatthyError):
    """Raised when a client speaks another protocol version."""

    code = "version"


class UnknownMethodError(ChatthyError):
    """Raised when no RPC has the requested name."""

    code = "unknown_method"


class ArgumentError(ChatthyError):
    """Raised when an RPC gets arguments of the wrong name, type or value."""

    code = "bad_args"


class AuthError(ChatthyError):
    """Raised when the sender of a message cannot be trusted."""

    code = "auth"


class SignatureError(AuthError):
    """Raised when a signature does not verify or the key is not the profile's."""

    code = "bad_signature"


class ClockError(AuthError):
    """Raised when a message's timestamp is outside the accepted window."""

    code = "stale"


class ReplayError(AuthError):
    """Raised when a message's nonce was seen before."""

    code = "replay"


class WrongServerError(AuthError):
    """Raised when a request is signed for another server (or names none), or for this
    one before it started: the client asks the server's id (``hello``) again and
    resends the request, signed anew."""

    code = "wrong_server"


class DeniedError(AuthError):
    """Raised when a closed server does not let a key in as a profile. A wrong passphrase
    and an unknown profile get the same answer, so that a stranger cannot tell which
    profiles exist."""

    code = "denied"


class RegistrationError(AuthError):
    """Raised when an unknown profile tries a server with closed registration."""

    code = "unregistered"


class NotFoundError(ChatthyError):
    """Raised when a chat, prompt or message does not exist for this profile."""

    code = "not_found"


class ConflictError(ChatthyError):
    """Raised when a name is already taken or a reply is already running."""

    code = "conflict"


class RateLimitedError(ChatthyError):
    """Raised when a connection, profile or address sends faster than the server allows.
    The message ends with when to retry ("retry in 2.5 s"), also in ``retry_after``."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        if retry_after is not None:
            message = f"{message} (retry in {max(retry_after, 0.1):.1f} s)"
        elif found := re.search(r"\(retry in ([0-9.]+) s\)$", message):
            retry_after = float(found.group(1))  # as a client rebuilds it from the wire
        super().__init__(message)
        self.retry_after = retry_after


class QuotaExceededError(ChatthyError):
    """Raised when a profile would store more bytes, or spend more tokens a day, than
    the server allows it."""

    code = "quota_exceeded"


class ProviderError(ChatthyError):
    """Raised when a model provider fails."""

    code = "provider"


class ProviderAuthError(ProviderError):
    """Raised when a provider refuses the API key."""

    code = "provider_auth"


class ProviderRateLimitError(ProviderError):
    """Raised when a provider keeps answering 429 after the retries."""

    code = "provider_rate_limit"


class ProviderTimeoutError(ProviderError):
    """Raised when a provider does not answer, or stalls, beyond the timeout."""

    code = "provider_timeout"


class ProviderConnectionError(ProviderError):
    """Raised when a provider cannot be reached or drops the stream."""

    code = "provider_connection"


class ProviderIncompleteError(ProviderConnectionError):
    """Raised when a provider's stream ends without its end mark (``[DONE]``,
    ``message_stop``): the reply was cut off, and is stored ``interrupted``."""

    code = "provider_incomplete"


class StoreError(ChatthyError):
    """Raised when the database fails (disk full, corrupt, locked)."""

    code = "store"


class DiskFullError(StoreError):
    """Raised when a write needs space the disk does not have; deletes still work (the
    store keeps a reserve it releases for them), so a user can free space."""

    code = "disk_full"


class ToolError(ChatthyError):
    """A tool failed in a way it can say (a missing file, a bad argument): the model is
    given the message as the call's result (``chatthy.agent.ToolError``)."""

    code = "tool"


class SourceError(ChatthyError):
    """Raised when a workspace source (web page, YouTube, arXiv …) gives nothing usable:
    an error status, an unsupported or oversized answer, one that cannot be parsed."""

    code = "source"


class SourceTimeoutError(SourceError):
    """Raised when a source does not answer within the configured time."""

    code = "source_timeout"


class SourceConnectionError(SourceError):
    """Raised when a source's host cannot be resolved or reached, or drops the answer."""

    code = "source_connection"


class SourceBlockedError(SourceError):
    """Raised when a URL leads to an address the server may not fetch (loopback, private,
    link-local …) or to a scheme other than http(s)."""

    code = "source_blocked"


class ServerUnavailableError(ChatthyError):
    """Raised on the client when the server does not answer."""

    code = "unavailable"


class ServerKeyChangedError(ChatthyError):
    """Raised on the client when a server offers another key than the one remembered for
    its address in known_servers (trust on first use): it may be an impostor."""

    code = "server_key_changed"


class RemoteError(ChatthyError):
    """Raised on the client for a server error whose code this client does not know."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _all_codes() -> dict[str, type[ChatthyError]]:
    found: dict[str, type[ChatthyError]] = {}
    stack: list[type[ChatthyError]] = [ChatthyError]
    while stack:
        cls = stack.pop()
        found.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return found


def from_code(code: str, message: str) -> ChatthyError:
    """Rebuild the error a server sent as ``{code, message}``."""
    cls = _all_codes().get(code)
    if cls is None or cls is RemoteError:
        return RemoteError(code, message)
    return cls(message)
