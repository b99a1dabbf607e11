"""Full-text search of :class:`~chatthy.store.postgres.PostgresStore`: a user's query as
a ``tsquery``, and the search itself.

Messages are indexed by a GIN index over ``messages.words`` (migration ``p001_initial``:
``message_words(content)``, stored), the tsvector of their text parts, split as the ``simple``
configuration does (no stemming, no stop words), accents folded by ``unaccent``.

A query reads as SQLite's FTS5 reads it, so that a user types the same thing whichever
store the server has: words (all of them must match), ``"a phrase"``, ``prefix*``,
``AND``, ``OR``, ``NOT`` (binary: ``a NOT b``) and parentheses. :func:`tsquery_of`
translates that into ``to_tsquery`` syntax, every word or phrase quoted so that the
configuration normalises it; a query that is not valid in that syntax (``"ridge``,
``ridge AND``, ``ridge:trail``) is searched as its plain words (:func:`plain_tsquery`),
as SQLite's store does.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from chatthy.store._pg_support import PgBase, lexeme
from chatthy.store.base import SearchHit
from chatthy.store.rules import SNIPPET_MARKS

if TYPE_CHECKING:
    from psycopg import AsyncConnection


__all__ = ["PgSearchMixin", "plain_tsquery", "tsquery_of"]

SNIPPET_WORDS = 12
"""About how many words a snippet shows around its match (SQLite's snippet shows 12)."""
_OPERATORS = {"AND": "&", "OR": "|", "NOT": "NOT"}
_TOKEN = re.compile(r'\s*(?:(")((?:[^"]|"")*)("?)(\*?)|([()])|([^\s()"]+))')
_HEADLINE = (
    f'StartSel="{SNIPPET_MARKS[0]}", StopSel="{SNIPPET_MARKS[1]}",'
    f" MaxWords={SNIPPET_WORDS}, MinWords={SNIPPET_WORDS // 2}, ShortWord=0,"
    " MaxFragments=1"
)
_VECTOR = "m.words"  # message_words(content), stored and indexed


class _Invalid(Exception):
    """The query is not valid syntax: search its plain words."""


def _is_word(text: str) -> bool:
    """A bareword as FTS5 takes one: letters, digits, ``_`` and any non-ASCII."""
    return all(ch.isalnum() or ch == "_" or ord(ch) > 127 for ch in text)


def _tokens(query: str) -> list[tuple[str, str]]:
    """``(kind, text)``: ``("op", "AND")``, ``("(", "")``, ``("term", operand or "")``."""
    tokens: list[tuple[str, str]] = []
    position, end = 0, len(query.rstrip())
    while position < end:
        match = _TOKEN.match(query, position)
        if match is None:
            raise _Invalid
        position = match.end()
        quote, phrase, closed, star, paren, word = match.groups()
        if quote:
            if not closed:
                raise _Invalid  # an unterminated phrase
            text = phrase.replace('""', '"')
            if not any(ch.isalnum() for ch in text):
                tokens.append(("term", ""))  # nothing to find: no words
            else:
                tokens.append(("term", lexeme(text) + (":*" if star else "")))
        elif paren:
            tokens.append((paren, ""))
        elif word in _OPERATORS:
            tokens.append(("op", word))
        else:
            stem, star = (word[:-1], ":*") if word.endswith("*") else (word, "")
            if not stem or not _is_word(stem):
                raise _Invalid
            tokens.append(("term", lexeme(stem) + star))
    return tokens


class _Parser:
    """FTS5's grammar, precedence NOT > AND > OR, into ``to_tsquery`` text ("" for a
    part that can find nothing)."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.at += 1
        return token

    def whole(self) -> str:
        out = self.any_of()
        if self.peek()[0] != "end":
            raise _Invalid  # a stray ")"
        return out

    def any_of(self) -> str:
        parts = [self.all_of()]
        while self.peek() == ("op", "OR"):
            self.take()
            parts.append(self.all_of())
        return _joined(parts, " | ")

    def all_of(self) -> str:
        parts = [self.but_not()]
        while True:
            kind, text = self.peek()
            if kind == "op" and text == "AND":
                self.take()
            elif kind not in ("term", "("):
                return _joined(parts, " & ", every=True)
            parts.append(self.but_not())

    def but_not(self) -> str:
        kept = self.primary()
        while self.peek() == ("op", "NOT"):
            self.take()
            dropped = self.primary()
            if kept and dropped:
                kept = f"({kept}) & !({dropped})"
        return kept

    def primary(self) -> str:
        kind, text = self.take()
        if kind == "term":
            return text
        if kind == "(":
            inner = self.any_of()
            if self.take()[0] != ")":
                raise _Invalid
            return inner
        raise _Invalid  # an operator, ")" or the end where a word belongs


def _joined(parts: list[str], operator: str, *, every: bool = False) -> str:
    """The parts joined; one that finds nothing makes all of ``every`` find nothing,
    and is left out of an ``OR``."""
    if every and not all(parts):
        return ""
    kept = [p for p in parts if p]
    return operator.join(f"({p})" for p in kept) if len(kept) > 1 else "".join(kept)


def tsquery_of(query: str) -> str | None:
    """The query in ``to_tsquery`` syntax ("" when it can find nothing), or None when it
    is not valid search syntax."""
    try:
        return _Parser(_tokens(query)).whole()
    except _Invalid:
        return None


def plain_tsquery(query: str) -> str:
    """Every word of the query that has a letter or digit, each as it is (``ridge:trail``
    a phrase of two), all required; a stray ``AND``/``OR``/``NOT`` was meant as an
    operator and is dropped. "" when no word is left."""
    words = [w for w in query.split() if any(ch.isalnum() for ch in w) and w not in _OPERATORS]
    return " & ".join(lexeme(w) for w in words)


class PgSearchMixin(PgBase):
    """The search hook; the store gives the read transaction."""

    async def _search(self, profile: str, query: str, limit: int) -> list[SearchHit]:
        """Best first (``ts_rank``, then the newest), each hit's snippet marked by
        ``ts_headline``. A query not valid as search syntax is searched as plain words."""
        translated = tsquery_of(query)
        text = plain_tsquery(query) if translated is None else translated
        if not text:
            return []

        async def work(conn: AsyncConnection[Any]) -> list[SearchHit]:
            cur = await conn.execute(
                "SELECT c.name, m.id, m.role,"
                " ts_headline('chatthy_text', message_text(m.content), found.q, %s),"
                " m.created"
                " FROM (SELECT m.id, ts_rank(" + _VECTOR + ", q, 1) AS rank, q"
                "  FROM messages m JOIN chats c ON c.id = m.chat_id,"
                "  to_tsquery('chatthy_text', %s) AS q"
                "  WHERE c.profile = %s AND " + _VECTOR + " @@ q"
                "  ORDER BY rank DESC, m.id DESC LIMIT %s) AS found"
                " JOIN messages m ON m.id = found.id JOIN chats c ON c.id = m.chat_id"
                " ORDER BY found.rank DESC, m.id DESC",
                (_HEADLINE, text, profile, limit),
            )
            return [
                SearchHit(chat, message_id, role, " ".join(snippet.split()), created)
                for chat, message_id, role, snippet, created in await cur.fetchall()
            ]

        return await self._read(work)
