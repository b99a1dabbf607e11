"""Instruction templates as clients type them: ``/template NAME [FILE] key=value…``,
``/summarise [FILE|chat] [paragraph|bullets|topics]``, and the ``/templates`` list.

The words become the arguments of the server's ``template`` RPC; ``chat`` (or no FILE)
runs the template on the chat so far.
"""

from __future__ import annotations

from typing import Any

from chatthy.errors import ArgumentError
from chatthy.wire import api

__all__ = [
    "STYLES",
    "SUMMARISE_USAGE",
    "TEMPLATE_USAGE",
    "format_templates",
    "summarise_request",
    "template_request",
]

STYLES = ("paragraph", "bullets", "topics")
SUMMARISE_USAGE = "usage: /summarise [FILE|chat] [paragraph|bullets|topics]"
TEMPLATE_USAGE = "usage: /template NAME [FILE|chat] [key=value …]"
_CHAT = "chat"


def _document(file: str | None) -> str | None:
    return None if file in (None, _CHAT) else file


def template_request(words: list[str]) -> dict[str, Any]:
    """``NAME [FILE|chat] key=value…`` as ``template`` arguments (values stay text).

    Raises:
        ArgumentError: no NAME, or more than one FILE.
    """
    if not words or "=" in words[0]:
        raise ArgumentError(TEMPLATE_USAGE)
    name, file, args = words[0], None, {}
    for word in words[1:]:
        key, equals, value = word.partition("=")
        if equals:
            args[key] = value
        elif file is None:
            file = word
        else:
            raise ArgumentError(f"one FILE at most ({file!r}, then {word!r}); {TEMPLATE_USAGE}")
    return {"name": name, "file": _document(file), "args": args}


def summarise_request(words: list[str]) -> dict[str, Any]:
    """``[FILE|chat] [paragraph|bullets|topics]`` as ``template`` arguments.

    Raises:
        ArgumentError: more words than that.
    """
    file: str | None = None
    style: str | None = None
    for word in words:
        if word in STYLES and style is None:
            style = word
        elif file is None:
            file = word
        else:
            raise ArgumentError(SUMMARISE_USAGE)
    return {"name": "summarise", "file": _document(file), "args": {"style": style} if style else {}}


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def format_templates(templates: list[api.TemplateInfo]) -> str:
    """One line per template: name, description, then its placeholders (``name=default``
    for those that have one)."""
    if not templates:
        return "no templates"
    width = max(len(t.name) for t in templates)
    lines = []
    for t in templates:
        if t.error:
            lines.append(f"{t.name:<{width}}  cannot be used: {t.error}")
            continue
        defaults = t.defaults
        shown = [f"{p}={_shorten(defaults[p])!r}" if p in defaults else p for p in t.placeholders]
        extra = f"  [{'; '.join(shown)}]" if shown else ""
        lines.append(f"{t.name:<{width}}  {t.description}{extra}")
    return "\n".join(lines)
