"""The store's rules, apart from any database: what a name, a status or a message may be,
and the words every backend uses for "not found" and "taken".

Pure functions, no I/O. :class:`~chatthy.store.front.StoreFront` applies the checks to
every argument before a backend sees it, so a backend (SQLite, PostgreSQL …) receives
only checked, normalised values: names stripped, statuses known, a message's content and
usage already encoded as JSON text. A backend raises the errors built here
(:func:`no_chat`, :func:`chat_taken` …) so that a user reads the same sentence whichever
database holds the data.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, NamedTuple, TypedDict, cast

import msgspec

from chatthy.errors import ArgumentError, ConflictError, NotFoundError
from chatthy.store.base import STATUSES, ImageIn, Status

__all__ = [
    "NAME_MAX",
    "SNIPPET_MARKS",
    "ChatChanges",
    "MessageChanges",
    "NewMessage",
    "chat_changes",
    "chat_taken",
    "imported_message",
    "key",
    "message_changes",
    "new_message",
    "new_message_of",
    "no_chat",
    "no_message",
    "no_prompt",
    "no_workspace_file",
    "profile_taken",
    "prompt_taken",
    "searchable",
    "to_json",
    "usage_json",
    "valid_key",
    "valid_limit",
    "valid_list",
    "valid_name",
    "valid_profile_name",
    "valid_role",
    "valid_status",
    "valid_text",
    "valid_workspace_name",
    "workspace_file_taken",
]

NAME_MAX = 200
"""The longest chat, prompt, profile or workspace file name, in characters."""
SNIPPET_MARKS = ("**", "**")
"""What a search puts around each matched word of a snippet, in every backend."""
_encode = msgspec.json.Encoder().encode


# names --------------------------------------------------------------------------------
def valid_name(kind: str, name: object) -> str:
    """The stripped name, or ArgumentError saying why it cannot name a ``kind``."""
    if not isinstance(name, str):
        raise ArgumentError(f"{kind} name must be text")
    name = name.strip()
    if not name:
        raise ArgumentError(f"{kind} name is empty")
    if len(name) > NAME_MAX:
        raise ArgumentError(f"{kind} name is longer than {NAME_MAX} characters")
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        raise ArgumentError(f"{kind} name contains a control character")
    return name


def valid_profile_name(name: object) -> str:
    """A profile name exactly as given: it salts the client's key, so it is never
    altered, and one with spaces around it is refused rather than stripped."""
    checked = valid_name("profile", name)
    if checked != name:
        raise ArgumentError("profile name has spaces at its start or end")
    return checked


def valid_workspace_name(name: object) -> str:
    """The stripped name, or ArgumentError saying why it cannot name a workspace file.

    A name is a label, ``/``-separated like a relative POSIX path (``docs/sub/colour.md``),
    that no store or client may mistake for a way out of the profile's workspace: no
    leading ``/``, no backslash, no ``.``, ``..`` or empty segment.
    """
    name = valid_name("workspace file", name)
    if name.startswith("/"):
        raise ArgumentError(f"workspace file name {name!r} starts with '/'")
    if "\\" in name:
        raise ArgumentError(f"workspace file name {name!r} contains a backslash")
    if any(segment in ("", ".", "..") for segment in name.split("/")):
        raise ArgumentError(
            f"workspace file name {name!r} has an empty, '.' or '..' part between '/'s"
        )
    return name


def key(name: object) -> str:
    """A name as given to a lookup, normalised as :func:`valid_name` stores it."""
    if not isinstance(name, str):
        raise ArgumentError("name must be text")
    return name.strip()


def valid_key(public_key: object) -> bytes:
    """A profile's public key as ``bytes``, or ArgumentError."""
    if not isinstance(public_key, bytes | bytearray | memoryview):
        raise ArgumentError("public key must be bytes")
    return bytes(public_key)


# values -------------------------------------------------------------------------------
def valid_status(status: object) -> Status:
    """A message status of :data:`~chatthy.store.base.STATUSES`, or ArgumentError."""
    if status not in STATUSES:
        raise ArgumentError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    return cast(Status, status)


def valid_role(role: object) -> str:
    """A message role: any non-empty text (``user``, ``assistant``, ``tool`` …)."""
    if not isinstance(role, str) or not role.strip():
        raise ArgumentError("message role must be non-empty text")
    return role


def valid_text(what: str, value: object) -> str:
    """``value`` if it is text (empty text included), else ArgumentError naming ``what``."""
    if not isinstance(value, str):
        raise ArgumentError(f"{what} must be text")
    return value


def valid_list(what: str, value: object) -> list[Any]:
    """``value`` if it is a list, else ArgumentError naming ``what``."""
    if not isinstance(value, list):
        raise ArgumentError(f"{what} must be a list")
    return value


def valid_limit(limit: int | None) -> int | None:
    """A page size: None (no limit) or a count that is not negative."""
    if limit is not None and limit < 0:
        raise ArgumentError("limit must not be negative")
    return limit


def valid_tokens(tokens: object) -> int | None:
    """A token count: None (not counted) or a whole number that is not negative."""
    if tokens is None or (isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0):
        return tokens
    raise ArgumentError(f"tokens must be a count, not {tokens!r}")


def searchable(query: object, limit: int) -> bool:
    """Whether a search can find anything at all; when not, it finds nothing (no error)."""
    return isinstance(query, str) and bool(query.strip()) and limit > 0


def to_json(what: str, value: object) -> str:
    """``value`` as JSON text, or ArgumentError if it cannot be stored as JSON."""
    try:
        return _encode(value).decode()
    except (TypeError, ValueError, msgspec.EncodeError) as exc:
        raise ArgumentError(f"{what} cannot be stored as JSON: {exc}") from None


def usage_json(usage: object) -> str | None:
    """Token usage (a mapping of names to counts) as JSON text; None stays None."""
    if usage is None:
        return None
    if not isinstance(usage, dict):
        raise ArgumentError("usage must be a mapping of names to token counts")
    return to_json("usage", usage)


# messages -----------------------------------------------------------------------------
class NewMessage(NamedTuple):
    """A message checked and ready to persist. ``content`` and ``usage`` are JSON text;
    ``created`` is None for "now" (it is set only by an import)."""

    role: str
    content: str
    status: Status
    provider: str
    model: str
    usage: str | None
    error: str
    created: float | None = None
    tokens: int | None = None
    """Its token count as the context counts it, when the caller knows it."""
    images: tuple[ImageIn, ...] = ()
    """The images its content names, kept with it."""


class ChatChanges(TypedDict, total=False):
    """What :meth:`update_chat` changes; a key that is absent is left alone."""

    personality: str
    provider: str
    model: str


class MessageChanges(TypedDict, total=False):
    """What :meth:`update_message` changes (``content``, ``usage`` as JSON text)."""

    content: str
    status: Status
    usage: str
    error: str
    tokens: int | None
    """None: not counted (a change of content without a count makes it so)."""


_NEW_MESSAGE_FIELDS = frozenset(
    {"role", "content", "status", "provider", "model", "usage", "error", "tokens", "images"}
)


def new_message(
    role: object,
    content: object,
    status: object = "complete",
    provider: object = "",
    model: object = "",
    usage: object = None,
    error: object = "",
    tokens: object = None,
    images: object = (),
) -> NewMessage:
    """A message to append (the arguments of :meth:`add_message`), checked."""
    return NewMessage(
        valid_role(role),
        to_json("content", content),
        valid_status(status),
        valid_text("provider", provider),
        valid_text("model", model),
        usage_json(usage),
        valid_text("error", error),
        tokens=valid_tokens(tokens),
        images=valid_images(images),
    )


_DIGEST = re.compile(r"[0-9a-f]{64}", re.ASCII)


def is_digest(text: str) -> bool:
    """Whether ``text`` is a sha256 in lower-case hex."""
    return _DIGEST.fullmatch(text) is not None


def valid_images(images: object) -> tuple[ImageIn, ...]:
    """Images to keep with a message: each an :class:`ImageIn` with a sha256 digest in
    hex, a media type, positive sizes and bytes. Raises ArgumentError."""
    if not isinstance(images, list | tuple):
        raise ArgumentError("images must be a list")
    for image in images:
        if not (
            isinstance(image, ImageIn)
            and isinstance(image.digest, str)
            and _DIGEST.fullmatch(image.digest)
            and isinstance(image.media_type, str)
            and image.media_type.startswith("image/")
            and isinstance(image.data, bytes)
            and all(isinstance(n, int) and n > 0 for n in (image.width, image.height))
        ):
            raise ArgumentError("an image to keep must be its digest, type, size and bytes")
    return tuple(images)


def new_message_of(message: object) -> NewMessage:
    """One dict of :meth:`add_messages` as :func:`new_message`; unknown keys are refused."""
    if not isinstance(message, dict):
        raise ArgumentError("each message to add must be a mapping")
    if "role" not in message or "content" not in message:
        raise ArgumentError("a message to add needs a role and content")
    unknown = sorted(str(k) for k in message if k not in _NEW_MESSAGE_FIELDS)
    if unknown:
        raise ArgumentError(f"unknown message field(s): {', '.join(unknown)}")
    return new_message(**message)


def imported_message(message: object, now: float) -> NewMessage:
    """One dict of :meth:`import_chat`, checked. A reply that was ``streaming`` when it
    was exported arrives ``interrupted``: nothing will complete it here."""
    if not isinstance(message, dict):
        raise ArgumentError("each imported message must be a mapping")
    if "content" not in message:
        raise ArgumentError("an imported message has no content")
    status = valid_status(message.get("status", "complete"))
    created = message.get("created", now)
    if not isinstance(created, int | float) or isinstance(created, bool):
        raise ArgumentError("an imported message's created time must be a number")
    return NewMessage(
        valid_role(message.get("role")),
        to_json("content", message["content"]),
        "interrupted" if status == "streaming" else status,
        valid_text("provider", message.get("provider", "")),
        valid_text("model", message.get("model", "")),
        usage_json(message.get("usage")),
        valid_text("error", message.get("error", "")),
        float(created),
        images=valid_images(message.get("images", ())),
    )


def chat_changes(personality: str | None, provider: str | None, model: str | None) -> ChatChanges:
    """The settings :meth:`update_chat` was given, checked; None means "leave alone"."""
    changes = ChatChanges()
    if personality is not None:
        changes["personality"] = valid_text("personality", personality)
    if provider is not None:
        changes["provider"] = valid_text("provider", provider)
    if model is not None:
        changes["model"] = valid_text("model", model)
    return changes


def message_changes(
    content: object, status: object, usage: object, error: object, tokens: object = None
) -> MessageChanges:
    """The fields :meth:`update_message` was given, checked; None means "leave alone"."""
    changes = MessageChanges()
    if content is not None:
        changes["content"] = to_json("content", content)
    if tokens is not None:
        changes["tokens"] = valid_tokens(tokens)
    if status is not None:
        changes["status"] = valid_status(status)
    if usage is not None:
        changes["usage"] = cast(str, usage_json(usage))
    if error is not None:
        changes["error"] = valid_text("error", error)
    return changes


# the words of "not found" and "taken", raised by every backend ------------------------
def no_chat(name: str) -> NotFoundError:
    return NotFoundError(f"no chat named {name!r}")


def no_message(message_id: int, *, in_chat: bool = False) -> NotFoundError:
    return NotFoundError(f"no message {message_id}" + (" in this chat" if in_chat else ""))


def no_prompt(name: str) -> NotFoundError:
    return NotFoundError(f"no prompt named {name!r}")


def no_workspace_file(name: str) -> NotFoundError:
    return NotFoundError(f"no workspace file named {name!r}")


def profile_taken(name: str) -> ConflictError:
    return ConflictError(f"profile {name!r} is already registered")


def chat_taken(name: str) -> ConflictError:
    return ConflictError(f"a chat named {name!r} already exists")


def prompt_taken(name: str) -> ConflictError:
    return ConflictError(f"a prompt named {name!r} already exists")


def workspace_file_taken(name: str) -> ConflictError:
    return ConflictError(f"a workspace file named {name!r} already exists")
