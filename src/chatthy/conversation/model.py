"""A message as chatthy holds it: a role and a list of typed parts.

Parts are text, images (a media type and where the bytes are), tool calls (id, name,
JSON arguments) and tool results (the call's id, its content, whether it failed, the
images the tool returned).
Reasoning is a part too, but only while a reply streams: it is never stored or sent back
to a model. A :class:`ToolSpec` describes a tool a model may be offered (not a part: it
travels in a request's options, never in a message). Stored and wire content keeps its
old shape (:mod:`chatthy.conversation.content` converts at the edges): a plain string for
text, a list of part maps otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import msgspec

__all__ = [
    "IMAGE_REF",
    "ImagePart",
    "Message",
    "Part",
    "ReasoningPart",
    "Role",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "ToolSpec",
    "images_of",
    "split_steps",
]

Role = Literal["system", "user", "assistant", "tool"]


class TextPart(msgspec.Struct, frozen=True, tag="text", tag_field="type"):
    """Text a person or a model wrote."""

    text: str


IMAGE_REF = "chatthy-image:"
"""How an image part names bytes the store keeps once per profile: this, then their
sha256 in hex."""


class ImagePart(msgspec.Struct, frozen=True, tag="image", tag_field="type"):
    """An image: its media type and where its bytes are — a ``data:`` URL as a client
    sends it, or :data:`IMAGE_REF` and the digest of bytes the store keeps (how a stored
    message holds it) — with its file name and size in pixels when known (0: not)."""

    media_type: str
    url: str
    name: str = ""
    width: int = 0
    height: int = 0

    @property
    def digest(self) -> str | None:
        """The sha256 of bytes the store keeps, or None for a ``data:`` or other URL."""
        return self.url[len(IMAGE_REF) :] if self.url.startswith(IMAGE_REF) else None


class ToolCallPart(msgspec.Struct, frozen=True, tag="tool_call", tag_field="type"):
    """A model's request to run tool ``name`` with ``arguments`` (a JSON object's text)."""

    id: str
    name: str
    arguments: str = "{}"


class ToolResultPart(msgspec.Struct, frozen=True, tag="tool_result", tag_field="type"):
    """What running call ``call_id`` gave; ``is_error`` when the tool failed; the
    ``images`` it returned besides its text (an MCP server's screenshot …)."""

    call_id: str
    content: str
    is_error: bool = False
    images: tuple[ImagePart, ...] = ()

    def with_images(
        self, images: tuple[ImagePart, ...], lines: Sequence[str] = ()
    ) -> ToolResultPart:
        """This result with ``images`` instead of its own, and ``lines`` (what became of
        those left out) under its text."""
        content = "\n".join([self.content, *lines]) if lines else self.content
        return msgspec.structs.replace(self, content=content, images=images)


class ReasoningPart(msgspec.Struct, frozen=True, tag="reasoning", tag_field="type"):
    """A model's reasoning: shown while it streams, never stored nor sent back."""

    text: str


class ToolSpec(msgspec.Struct, frozen=True):
    """A tool a model may call: its ``name``, what it is for (the model reads
    ``description`` to decide when to call it) and ``parameters``, the JSON schema its
    arguments must fit. Every provider converts it to its API's shape at its edge."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


Part = TextPart | ImagePart | ToolCallPart | ToolResultPart | ReasoningPart


class Message(msgspec.Struct, frozen=True):
    """One message of a conversation. ``tokens`` is its count as the context counts it,
    when already known (kept with stored messages so long chats are not recounted)."""

    role: Role
    parts: tuple[Part, ...]
    tokens: int | None = None

    @classmethod
    def of_text(cls, role: Role, text: str, tokens: int | None = None) -> Message:
        return cls(role, (TextPart(text),), tokens)

    @property
    def text(self) -> str:
        """The text parts joined (what a text-only model or a search sees)."""
        parts = self.parts
        if len(parts) == 1 and type(parts[0]) is TextPart:
            return parts[0].text
        return "".join(p.text for p in parts if isinstance(p, TextPart))


def images_of(parts: Iterable[Part]) -> Iterator[ImagePart]:
    """Every image of ``parts``, those tool results returned included, in order."""
    for part in parts:
        if type(part) is ImagePart:
            yield part
        elif type(part) is ToolResultPart and part.images:
            yield from part.images


def split_steps(messages: list[Message]) -> list[Message]:
    """Messages as the model APIs take them: a stored reply that ran tools holds its
    steps in one message (text and calls, their results, the next step's text …); it
    becomes an assistant message per step, each followed by a ``tool`` message with
    that step's results. Other messages are as they were."""
    out: list[Message] = []
    for message in messages:
        if message.role != "assistant" or not any(type(p) is ToolResultPart for p in message.parts):
            out.append(message)
            continue
        said: list[Part] = []
        answers: list[Part] = []
        for part in message.parts:
            if type(part) is ToolResultPart:
                answers.append(part)
                continue
            if answers:
                out.append(Message("assistant", tuple(said)))
                out.append(Message("tool", tuple(answers)))
                said, answers = [], []
            said.append(part)
        if said:
            out.append(Message("assistant", tuple(said)))
        if answers:
            out.append(Message("tool", tuple(answers)))
    return out
