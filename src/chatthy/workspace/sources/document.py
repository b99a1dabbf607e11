"""What a source gives, and how its workspace file is named.

Names are built from the source and what was asked (``url-example.com-page``,
``youtube-ID``, ``arxiv-2401.01234``, ``wikipedia-Giraffe``, ``news-climate-change``):
short, without ``/`` or ``\\`` or control characters, so that every generated name is one a
workspace accepts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["MAX_NAME", "Document", "label", "named", "slug"]

MAX_NAME = 100
"""Longest generated name, in characters."""


@dataclass(frozen=True, slots=True)
class Document:
    """A fetched workspace file: its generated name, its text and where it came from."""

    name: str
    text: str
    source: str


def slug(text: str, limit: int = 60) -> str:
    """Lower-case words joined by ``-``: ``"Climate change!"`` → ``climate-change``."""
    return "-".join(re.findall(r"\w+", text.lower()))[:limit].strip("-")


def label(text: str, limit: int = 80) -> str:
    """Text kept as written but safe in a name: spaces become ``_``, characters other than
    letters, digits and ``.+()',-`` become ``-``: ``"AC/DC"`` → ``AC-DC``."""
    text = re.sub(r"\s+", "_", text.strip())
    text = re.sub(r"[^\w.+()',-]+", "-", text)
    return text[:limit].strip("-_.")


def named(prefix: str, part: str) -> str:
    """``prefix-part``, cut to :data:`MAX_NAME` characters (``prefix`` alone for no part)."""
    return f"{prefix}-{part}"[:MAX_NAME].rstrip("-_.") if part else prefix
