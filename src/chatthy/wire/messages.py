"""Every message that crosses the wire, declared once.

Client → server: multipart ``[body, signature]``; ``body`` is msgpack of a
:class:`Request` (a map with string keys), ``signature`` is Ed25519 over the exact body
bytes. Server → client: one frame, msgpack of a :class:`Reply` (the answer to one request),
an :class:`Event` (one numbered piece of a reply stream) or :class:`News` (one of the
profile's chats changed), told apart by ``type``. A client that meets a ``type`` it does not
know skips the frame, so the server may add kinds of message without breaking old clients.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from chatthy.errors import ChatthyError, DecodeError

__all__ = [
    "EVENT_KINDS",
    "NEWS_KINDS",
    "NONCE_SIZE",
    "PROTOCOL_VERSION",
    "ErrorInfo",
    "Event",
    "News",
    "Reply",
    "Request",
    "ServerMessage",
    "decode_request",
    "decode_server_message",
    "encode",
    "error_reply",
]

PROTOCOL_VERSION = 1

NONCE_SIZE = 16
"""Bytes of every request's nonce: exactly this many, or the request does not decode."""

EVENT_KINDS = ("text", "reasoning", "usage", "info", "end")
"""``text``/``reasoning`` carry ``text``; ``usage`` and ``info`` carry ``data``; ``end`` is
the last event of a stream: ``total`` events in all, ``data`` holds ``status``
(complete | cancelled | error), ``message_id`` and, on error, ``error`` {code, message}."""


NEWS_KINDS = ("created", "renamed", "destroyed", "updated", "replied")
"""What :class:`News` can say of a chat."""


class Request(msgspec.Struct, omit_defaults=True):
    """One client request. ``key`` is the sender's Ed25519 public key (32 bytes);
    ``server`` the id of the server it is meant for (its ``hello`` tells it), so that a
    captured request cannot be replayed on another server."""

    v: int
    id: str
    profile: str
    ts: float
    nonce: Annotated[bytes, msgspec.Meta(min_length=NONCE_SIZE, max_length=NONCE_SIZE)]
    key: bytes
    method: str
    args: dict[str, Any] = {}
    server: str = ""


class ErrorInfo(msgspec.Struct):
    """A failure as the user sees it: a stable code and one line of text."""

    code: str
    message: str


class Reply(msgspec.Struct, tag_field="type", tag="reply", omit_defaults=True):
    """The answer to request ``id``: ``result`` when ``ok``, else ``error``."""

    id: str
    ok: bool = True
    result: Any = None
    error: ErrorInfo | None = None


class Event(msgspec.Struct, tag_field="type", tag="event", omit_defaults=True):
    """Event number ``seq`` (from 0) of the reply stream started by request ``id``."""

    id: str
    chat: str
    seq: int
    kind: str
    text: str = ""
    data: dict[str, Any] | None = None
    total: int | None = None


class News(msgspec.Struct, tag_field="type", tag="news", omit_defaults=True):
    """One of the profile's chats changed, by any client's request: ``created``,
    ``renamed`` (``chat`` is its old name, ``new`` the new one), ``destroyed``, or
    ``updated`` (its personality, provider or model, or messages removed or replaced:
    read it again), or ``replied`` (a reply in it ended; ``status`` says how: complete,
    truncated, cancelled, interrupted, error). Sent to every connection of the profile,
    the one that made the change too, after the answer to that request; a reply's own
    progress is not news (only its end). Front ends take news idempotently (a chat
    already renamed here is renamed again to no effect)."""

    kind: str
    chat: str
    new: str = ""
    status: str = ""


ServerMessage = Reply | Event | News

_encoder = msgspec.msgpack.Encoder()
_request_decoder = msgspec.msgpack.Decoder(Request)
_server_decoder = msgspec.msgpack.Decoder(ServerMessage)


def encode(message: msgspec.Struct) -> bytes:
    """msgpack bytes of any wire message."""
    return _encoder.encode(message)


def decode_request(body: bytes) -> Request:
    """Decode a client body.

    Raises:
        DecodeError: not msgpack, or not a well-typed Request.
    """
    try:
        return _request_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed request: {exc}") from exc
    except RecursionError:
        raise DecodeError("malformed request: nested too deeply") from None


def decode_server_message(body: bytes) -> Reply | Event | News:
    """Decode a server frame.

    Raises:
        DecodeError: not a well-typed Reply, Event or News (a kind of message this
            client does not know, too).
    """
    try:
        return _server_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise DecodeError(f"malformed server message: {exc}") from exc


def error_reply(request_id: str, exc: ChatthyError) -> Reply:
    """The reply that reports ``exc`` for request ``request_id``."""
    return Reply(id=request_id, ok=False, error=ErrorInfo(exc.code, exc.message))
