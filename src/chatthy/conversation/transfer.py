"""A chat as a file: JSON (ours, or the OpenAI messages format) and Markdown; and the
conversation exports of ChatGPT and claude.ai.

Export writes what a person or another tool can read: our JSON, our Markdown, or the
OpenAI messages list. Import accepts those, ``{"messages": […]}``, and a
``conversations.json`` of ChatGPT or claude.ai, whose every conversation becomes a chat
(:mod:`chatthy.conversation.vendors`).

In Markdown a message starts at a ``## ROLE`` line. A line of a message's text that
would read as one is written with a backslash before it (``\\## assistant``), and read
back without it, so such a message stays one message; exports from before kept no such
lines apart, and import as they did.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import msgspec

from chatthy.conversation import vendors
from chatthy.conversation.content import content_of, image_maps, parts_of, url_images_as_text
from chatthy.conversation.model import IMAGE_REF
from chatthy.errors import ArgumentError
from chatthy.store.base import ChatRecord, MessageRecord

__all__ = [
    "FORMATS",
    "Imported",
    "image_file",
    "image_files",
    "parse_chat",
    "parse_chats",
    "to_json",
    "to_markdown",
    "to_openai_json",
]

ROLES = ("system", "user", "assistant", "tool")
_HEADER = re.compile(r"^## (system|user|assistant|tool)(?: · .*)?$")
_HEADER_LIKE = re.compile(r"^\\*## (?:system|user|assistant|tool)(?: · .*)?$")
"""A header, or a header escaped once or more: what a message's own lines escape."""
_PERSONALITY = re.compile(r"^- personality: (.+)$")
FORMATS = (
    "chatthy JSON or Markdown, an OpenAI messages list, or a ChatGPT or Claude "
    "conversations.json export"
)
"""What import reads, as an error names it."""


class Imported(msgspec.Struct):
    """A parsed chat file: a suggested name, personality and the messages."""

    name: str | None
    personality: str | None
    messages: list[dict[str, Any]]


def to_json(chat: ChatRecord, messages: list[MessageRecord]) -> str:
    doc = {
        "format": "chatthy-chat",
        "version": 1,
        "name": chat.name,
        "personality": chat.personality,
        "provider": chat.provider,
        "model": chat.model,
        "created": chat.created,
        "messages": [
            {
                "role": m.role,
                "content": m.content,
                "status": m.status,
                "provider": m.provider,
                "model": m.model,
                "created": m.created,
            }
            for m in messages
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        kind = part.get("type")
        if kind == "text":
            parts.append(part.get("text", ""))
        elif kind == "tool_call":
            parts.append(f"⚙ `{part.get('name', '?')}({part.get('arguments', '')})`")
        elif kind == "image_url":
            parts.append(_image_link(part))
        elif kind == "tool_result":
            said = "error" if part.get("is_error") else "result"
            body = str(part.get("content", ""))
            cut = body[:TOOL_RESULT_SHOWN] + ("\n…" if len(body) > TOOL_RESULT_SHOWN else "")
            fenced = cut.replace("```", "`\u200b``")  # a fence inside cannot end the block
            parts.append(f"↳ {said}:\n\n```text\n{fenced}\n```")
            parts.extend(_image_link(i) for i in image_maps([part]))
        else:
            parts.append(f"[{kind or 'part'}]")
    return "\n\n".join(parts)


_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


def image_file(part: Any) -> tuple[str, str] | None:
    """Where a Markdown export puts an image part's bytes (``images/DIGEST16.EXT``,
    beside the ``.md``) and the digest the client fetches them by; None for an image
    the store does not keep (an old ``data:`` or URL one)."""
    url = (part.get("image_url") or {}).get("url") if isinstance(part, dict) else None
    if not isinstance(url, str) or not url.startswith(IMAGE_REF):
        return None
    digest = url[len(IMAGE_REF) :]
    extension = _EXTENSIONS.get(str(part.get("media_type", "")), "png")
    return f"images/{digest[:16]}.{extension}", digest


def image_files(messages: list[MessageRecord]) -> dict[str, str]:
    """Every image file a Markdown export of ``messages`` links to, by path: its digest."""
    found: dict[str, str] = {}
    for m in messages:
        for part in image_maps(m.content):
            where = image_file(part)
            if where is not None:
                found[where[0]] = where[1]
    return found


def _image_link(part: dict[str, Any]) -> str:
    name = str(part.get("name") or "image").replace("]", ")").replace("[", "(")
    where = image_file(part)
    return f"![{name}]({where[0]})" if where is not None else f"[image {name}]"


TOOL_RESULT_SHOWN = 2000
"""Characters of a tool's result a Markdown export shows (the JSON export keeps all)."""


def to_markdown(chat: ChatRecord, messages: list[MessageRecord]) -> str:
    lines = [
        f"# {chat.name}",
        "",
        f"- personality: {chat.personality}",
        f"- provider: {chat.provider}",
        "",
    ]
    for m in messages:
        header = f"## {m.role}"
        if m.role == "assistant" and (m.provider or m.model):
            header += f" · {m.provider}/{m.model}"
        if m.status != "complete":
            header += f" · {m.status}" if " · " in header else f" · ({m.status})"
        lines += [header, "", _escaped(_text_of(m.content).rstrip()), ""]
    return "\n".join(lines)


def _escaped(text: str) -> str:
    """``text`` with each line that would start a message one backslash further away
    (lines as import splits them: at ``\\r`` and the other line ends too)."""
    if "## " not in text:
        return text
    return "".join(
        "\\" + line if _HEADER_LIKE.match(line.splitlines()[0]) else line
        for line in text.splitlines(keepends=True)
    )


def to_openai_json(messages: list[MessageRecord]) -> str:
    """The chat as the OpenAI messages list, as ``/v1/chat/completions`` takes it: text
    as a string, images as ``image_url`` parts, tool calls and results as that API has
    them; replies left empty (an error before any text) are left out."""
    from chatthy.conversation.content import message_of
    from chatthy.providers.openai import to_openai

    typed = [message_of(m.role, m.content) for m in messages if m.content]
    return json.dumps(to_openai(typed), ensure_ascii=False, indent=2) + "\n"


def _check_messages(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise ArgumentError("import: 'messages' must be a list")
    out = []
    for i, m in enumerate(raw):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            formats = "" if i else f" (a file of {FORMATS}?)"
            raise ArgumentError(f"import: message {i + 1} has no valid role{formats}")
        content = m.get("content")
        if content is None:
            content = ""
        if isinstance(content, list):
            try:
                content = content_of(url_images_as_text(parts_of(content))) if content else ""
            except ArgumentError as exc:
                raise ArgumentError(f"import: message {i + 1}: {exc.message}") from None
        elif not isinstance(content, str):
            raise ArgumentError(f"import: message {i + 1} has content of the wrong type")
        entry = {"role": m["role"], "content": content}
        for key in ("status", "provider", "model"):
            if isinstance(m.get(key), str):
                entry[key] = m[key]
        created = m.get("created")
        if isinstance(created, int | float) and math.isfinite(created) and created >= 0:
            entry["created"] = created
        out.append(entry)
    return out


def _parse_markdown(text: str) -> Imported:
    name = personality = None
    messages: list[dict[str, Any]] = []
    body: list[str] = []
    for line in text.splitlines():
        match = _HEADER.match(line)
        if match:
            if messages:
                messages[-1]["content"] = "\n".join(body).strip()
            messages.append({"role": match.group(1), "content": ""})
            body = []
        elif messages:
            body.append(line[1:] if line.startswith("\\") and _HEADER_LIKE.match(line) else line)
        elif line.startswith("# ") and name is None:
            name = line[2:].strip() or None
        elif (found := _PERSONALITY.match(line)) and personality is None:
            personality = found.group(1).strip() or None
    if not messages:
        raise ArgumentError(f"import: no messages found (expected {FORMATS})")
    messages[-1]["content"] = "\n".join(body).strip()
    for message in messages:
        message["content"] = _with_images(message["content"])
    return Imported(name, personality, messages)


_IMAGE_LINK = re.compile(r"!\[([^\]\n]*)\]\((data:image/[\w.+-]+;base64,[A-Za-z0-9+/=\s]+)\)")
"""An image inlined in Markdown, as the client inlines the files a Markdown export wrote
beside it (``images/…``) when it imports the file."""


def _with_images(text: str) -> Any:
    """A message's Markdown as content: the text alone, or text and image parts in order
    where it inlines images."""
    if "](data:image/" not in text:
        return text
    parts: list[dict[str, Any]] = []
    at = 0
    for found in _IMAGE_LINK.finditer(text):
        before = text[at : found.start()].strip()
        if before:
            parts.append({"type": "text", "text": before})
        image: dict[str, Any] = {
            "type": "image_url",
            "image_url": {"url": "".join(found[2].split())},
        }
        if found[1] and found[1] != "image":
            image["name"] = found[1]
        parts.append(image)
        at = found.end()
    after = text[at:].strip()
    if after:
        parts.append({"type": "text", "text": after})
    return parts if any(p["type"] == "image_url" for p in parts) else text


def _json_of(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArgumentError(f"import: not valid JSON: {exc}") from exc
    except RecursionError:
        raise ArgumentError("import: JSON nested too deeply") from None


def parse_chat(data: str) -> Imported:
    """Read a file of one chat (the first, of an export holding several).

    Raises:
        ArgumentError: as :func:`parse_chats`.
    """
    return parse_chats(data)[0]


def parse_chats(data: str) -> list[Imported]:
    """Read a chat file: one chat, or, from a ChatGPT or Claude export, one per
    conversation that holds any message.

    Raises:
        ArgumentError: the file is none of :data:`FORMATS`, or a message in it is
            malformed.
    """
    stripped = data.lstrip()
    if not stripped.startswith(("{", "[")):
        return [_parse_markdown(data)]
    try:
        # msgspec holds the GIL 8 ms for 4 MB where json holds it 40 ms (the server parses
        # in a thread, but the event loop waits for the GIL); json reads what it refuses
        # (numbers out of range, NaN) and words the errors
        doc = msgspec.json.decode(stripped)
    except (msgspec.DecodeError, RecursionError):
        doc = _json_of(stripped)
    if vendor := vendors.conversations(doc):
        return [Imported(c.name, None, _check_messages(c.messages)) for c in vendor]
    if isinstance(doc, list):
        return [Imported(None, None, _check_messages(doc))]
    if isinstance(doc, dict) and "messages" in doc:
        name = doc.get("name") if isinstance(doc.get("name"), str) else None
        personality = doc.get("personality") if isinstance(doc.get("personality"), str) else None
        return [Imported(name, personality, _check_messages(doc["messages"]))]
    raise ArgumentError(f"import: not a chat file this reads: expected {FORMATS}")
