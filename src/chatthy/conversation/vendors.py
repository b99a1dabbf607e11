"""The conversation exports of ChatGPT and claude.ai, read as chats.

Both give a ``conversations.json``: a list of conversations (one alone is read too).

- ChatGPT: each has a ``title``, a ``mapping`` of nodes (``id``, ``parent``,
  ``children``, ``message``) and a ``current_node``. Editing a message or regenerating a
  reply branches the tree; the path from ``current_node`` up to the root is the branch the
  user last saw, and that is what is kept. A message has ``author.role``, ``content``
  (``content_type`` and ``parts``), ``create_time`` and ``recipient``.
- claude.ai: each has a ``name`` and ``chat_messages``, each with ``sender`` (``human``
  or ``assistant``), ``text`` and/or ``content`` blocks, ``created_at``, and the
  ``attachments`` (with their ``extracted_content``) and ``files`` sent with it. Where
  messages name a ``parent_message_uuid`` and the conversation branches, the branch of
  its last message is kept.

What a chat cannot hold is left out: tool calls and their results, reasoning, messages
hidden from the conversation; an image becomes a text part naming it. Messages of one
role in a row (a reply written around a tool run) are joined into one.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, NamedTuple

from chatthy.errors import ArgumentError

__all__ = ["Conversation", "conversations"]


class Conversation(NamedTuple):
    """One conversation of an export: its title and its messages (role, content as
    text, created; provider and model where known)."""

    name: str | None
    messages: list[dict[str, Any]]


def conversations(doc: Any) -> list[Conversation] | None:
    """The conversations of a ChatGPT or claude.ai export that hold any message; None
    when ``doc`` is neither.

    Raises:
        ArgumentError: it is such an export, but no conversation in it has a message.
    """
    items = doc if isinstance(doc, list) else [doc]
    first = items[0] if items else None
    if not isinstance(first, dict):
        return None
    if "mapping" in first:
        kind, read = "ChatGPT", _chatgpt
    elif "chat_messages" in first:
        kind, read = "Claude", _claude
    else:
        return None
    found = [c for c in (read(item) for item in items if isinstance(item, dict)) if c.messages]
    if not found:
        raise ArgumentError(f"import: no conversation of this {kind} export has a message")
    return found


def _joined(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages of one role in a row made one."""
    out: list[dict[str, Any]] = []
    for message in messages:
        if out and out[-1]["role"] == message["role"]:
            out[-1]["content"] += "\n\n" + message["content"]
        else:
            out.append(message)
    return out


def _title(value: Any) -> str | None:
    """A conversation's title as a chat name: on one line, at most 100 characters."""
    if not isinstance(value, str):
        return None
    return " ".join(value.split())[:100].strip() or None


def _time(value: Any) -> float | None:
    """Seconds since the epoch from a number or an ISO 8601 date (``…Z`` included)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    if isinstance(value, int | float) and math.isfinite(value) and value >= 0:
        return float(value)
    return None


def _message(role: str, text: str, created: Any, **known: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": role, "content": text, **known}
    if (when := _time(created)) is not None:
        entry["created"] = when
    return entry


# ChatGPT ------------------------------------------------------------------------------
_CHATGPT_TEXT = ("text", "multimodal_text", "code")
"""Content types that are the conversation; the rest (thoughts, reasoning recaps, tool
output, browsing, custom instructions) are the model's own working or settings."""


def _chatgpt(conversation: dict[str, Any]) -> Conversation:
    mapping = conversation.get("mapping")
    if not isinstance(mapping, dict):
        return Conversation(_title(conversation.get("title")), [])
    messages = []
    for node in _branch(mapping, conversation.get("current_node")):
        entry = _chatgpt_message(node.get("message"))
        if entry is not None:
            messages.append(entry)
    return Conversation(_title(conversation.get("title")), _joined(messages))


def _branch(mapping: dict[str, Any], leaf: Any) -> list[dict[str, Any]]:
    """The nodes from the root down to ``leaf`` (without one, the last node that has no
    children), each met once however the parents loop."""
    if not isinstance(leaf, str) or leaf not in mapping:
        leaves = [k for k, n in mapping.items() if isinstance(n, dict) and not n.get("children")]
        leaf = leaves[-1] if leaves else None
    path: list[dict[str, Any]] = []
    seen: set[str] = set()
    while isinstance(leaf, str) and leaf not in seen and isinstance(mapping.get(leaf), dict):
        seen.add(leaf)
        path.append(mapping[leaf])
        leaf = mapping[leaf].get("parent")
    return path[::-1]


def _chatgpt_message(message: Any) -> dict[str, Any] | None:
    if not isinstance(message, dict):
        return None
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    metadata = message.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    if role not in ("system", "user", "assistant"):
        return None  # tool results
    if message.get("recipient", "all") != "all":
        return None  # a call to a tool
    if metadata.get("is_visually_hidden_from_conversation"):
        return None
    text = _chatgpt_text(message.get("content"))
    if not text:
        return None
    known: dict[str, str] = {}
    if role == "assistant":
        known["provider"] = "chatgpt"
        if isinstance(slug := metadata.get("model_slug"), str):
            known["model"] = slug
    return _message(role, text, message.get("create_time"), **known)


def _chatgpt_text(content: Any) -> str:
    if not isinstance(content, dict) or content.get("content_type") not in _CHATGPT_TEXT:
        return ""
    if content.get("content_type") == "code":
        return str(content.get("text") or "").strip()
    pieces = []
    for part in content.get("parts") or []:
        if isinstance(part, str):
            pieces.append(part)
        elif isinstance(part, dict):
            pieces.append(_chatgpt_part(part))
    return "\n".join(p for p in pieces if p).strip()


def _chatgpt_part(part: dict[str, Any]) -> str:
    kind = part.get("content_type")
    if kind == "audio_transcription":
        return str(part.get("text") or "")
    if kind == "image_asset_pointer":
        return "[image]"
    return f"[{kind}]" if isinstance(kind, str) else ""


# claude.ai ----------------------------------------------------------------------------
_CLAUDE_ROLES = {"human": "user", "assistant": "assistant"}


def _claude(conversation: dict[str, Any]) -> Conversation:
    raw = conversation.get("chat_messages")
    listed = [m for m in raw if isinstance(m, dict)] if isinstance(raw, list) else []
    messages = []
    for message in _claude_branch(listed):
        entry = _claude_message(message)
        if entry is not None:
            messages.append(entry)
    return Conversation(_title(conversation.get("name")), _joined(messages))


def _claude_branch(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages in order; where they branch (two with one parent), the path from
    the root to the last one."""
    named = [p for m in messages if isinstance(p := m.get("parent_message_uuid"), str)]
    if not messages or len(named) == len(set(named)):
        return messages
    by_id = {m.get("uuid"): m for m in messages if isinstance(m.get("uuid"), str)}
    path: list[dict[str, Any]] = []
    seen: set[int] = set()
    current: dict[str, Any] | None = messages[-1]
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        path.append(current)
        current = by_id.get(current.get("parent_message_uuid"))
    return path[::-1]


def _claude_message(message: dict[str, Any]) -> dict[str, Any] | None:
    role = _CLAUDE_ROLES.get(message.get("sender"))  # type: ignore[arg-type]
    if role is None:
        return None
    text = _claude_text(message)
    extras = _claude_attachments(message)
    text = "\n\n".join(p for p in (text, *extras) if p)
    if not text:
        return None
    known = {"provider": "claude.ai"} if role == "assistant" else {}
    return _message(role, text, message.get("created_at"), **known)


def _claude_text(message: dict[str, Any]) -> str:
    """The text blocks of ``content`` (thinking and tool blocks left out), else ``text``."""
    blocks = message.get("content")
    if isinstance(blocks, list):
        texts = [
            b["text"]
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "text" and isinstance(b.get("text"), str)
        ]
        if texts:
            return "\n\n".join(t.strip() for t in texts if t.strip())
    text = message.get("text")
    return text.strip() if isinstance(text, str) else ""


def _claude_attachments(message: dict[str, Any]) -> list[str]:
    """Each attached document with the text claude.ai took out of it, and each file
    sent (an image) by its name."""
    out = []
    for attachment in message.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        name = attachment.get("file_name") or "attachment"
        body = attachment.get("extracted_content")
        out.append(f"[attached: {name}]\n{body}" if isinstance(body, str) else f"[file: {name}]")
    for file in message.get("files") or []:
        if isinstance(file, dict) and (name := file.get("file_name")):
            out.append(f"[file: {name}]")
    return out
