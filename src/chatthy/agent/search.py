"""Many tools, a small context: the tools a turn offers past ``[tools] schema_budget``
wait behind ``tool_search(query)``.

Every tool offered costs its schema's tokens in every request of a turn, used or not:
seven MCP servers can take 70,000 tokens before the user has said a word. When the
offered tools' schemas together exceed the budget, :func:`split_tools` offers them in
order while they fit in the budget less ``tool_search``'s own size, and holds back
every one from the first that does not fit on (a plain cut, not a packing: what comes
first stays first, and a turn offers the same tools as the last one did, so a
provider's prompt cache keeps). The order is the one :func:`~chatthy.agent.registry.offered`
gives: the built-ins, then the rest by name — or ``[tools] enabled`` as listed, so a
user who names the tools says which matter most.

The model finds the held-back tools with ``tool_search``: a :class:`ToolSearch` scores
them against the query's words and returns the best ones' names, descriptions and
parameter schemas; the loop offers those from its next step on (see
:func:`chatthy.agent.loop.run_agent`).

Scoring is BM25 over the words of each tool: its name (split at ``_``, ``__``, ``-``,
digits and camelCase, so ``github__createIssue`` is *github create issue*) counts three
times as much as its description and its parameters' names and descriptions. Words are
lowercased, a plural ``s`` is taken off, a few English stop words are left out. A query
that is exactly a held-back tool's name returns that tool first.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec

from chatthy.agent.tools import Tool, ToolContext, ToolError
from chatthy.context.tokens import count_tokens
from chatthy.conversation.model import ToolSpec

__all__ = ["MAX_LIMIT", "SEARCH_NAME", "ToolSearch", "schema_tokens", "split_tools", "words"]

SEARCH_NAME = "tool_search"
"""The search tool's name; a tool of the same name is left out when tools are held back
(the loop's own takes the name)."""

MAX_LIMIT = 20
"""Tools one search returns at most, whatever ``limit`` asks."""

_SHOWN = 10
"""Held-back names an empty search lists, to give the model words to try."""

_NAME_WEIGHT = 3
_K1 = 1.2
_B = 0.75

_STOP = frozenset(
    {"a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it"}
    | {"of", "on", "or", "that", "the", "this", "to", "with"}
)
_PIECE = re.compile(r"[^\W_]+")
_ASCII_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def schema_tokens(spec: ToolSpec) -> int:
    """Tokens a tool costs a request: its name, description and parameter schema as one
    JSON object, counted as the project counts text (:func:`~chatthy.context.tokens.
    count_tokens`: tiktoken when an encoding is on disk, else its estimate). The APIs
    wrap it a little differently (OpenAI in ``{"type": "function", "function": …}``,
    Anthropic with ``input_schema``), a few tokens either way."""
    return _counted(msgspec.json.encode(spec).decode())


@functools.lru_cache(maxsize=4096)
def _counted(text: str) -> int:
    # the same tools are measured every turn; their JSON is the key, not the object
    # (a plugin reloaded with another schema is counted again)
    return count_tokens(text)


def split_tools(tools: Sequence[Tool], budget: int) -> tuple[list[Tool], list[Tool]]:
    """The tools the first request of a turn offers, and those held back.

    All are offered when ``budget`` is 0 or their schemas fit in it together. Else they
    are offered in the order given while they fit in ``budget`` less the search tool's
    size; from the first that does not fit on, all are held back, and the offered end
    with a ``tool_search`` over them (a :class:`ToolSearch`; a tool of that name among
    ``tools`` is dropped)."""
    if budget <= 0:
        return list(tools), []
    sizes = [schema_tokens(tool.spec) for tool in tools]
    if sum(sizes) <= budget:
        return list(tools), []
    room = budget - schema_tokens(_SPEC)
    offered: list[Tool] = []
    held: list[Tool] = []
    for tool, size in zip(tools, sizes, strict=True):
        if tool.name == SEARCH_NAME:
            continue
        if not held and size <= room:
            offered.append(tool)
            room -= size
        else:
            held.append(tool)
    if not held:  # only a tool named tool_search went over: no search, nothing dropped
        return list(tools), []
    return [*offered, ToolSearch(held).tool()], held


def words(text: str) -> list[str]:
    """The words of ``text`` as a search counts them: split at anything not a letter or
    digit, ASCII runs also at camelCase and digits; lowercased, a plural ``s`` off
    (``ies`` → ``y``), stop words left out."""
    found: list[str] = []
    for piece in _PIECE.findall(text):
        found.extend(_ASCII_WORD.findall(piece) if piece.isascii() else (piece,))
    return [w for w in map(_stem, found) if w not in _STOP]


def _stem(word: str) -> str:
    word = word.lower()
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _document(spec: ToolSpec) -> Counter[str]:
    """A tool's words, weighted: its name's count :data:`_NAME_WEIGHT` times."""
    counts: Counter[str] = Counter()
    for word in words(spec.name):
        counts[word] += _NAME_WEIGHT
    body = [spec.description]
    properties = spec.parameters.get("properties")
    if isinstance(properties, dict):
        for key, value in properties.items():
            body.append(str(key))
            if isinstance(value, dict) and isinstance(value.get("description"), str):
                body.append(value["description"])
    counts.update(words(" ".join(body)))
    return counts


class ToolSearch:
    """``tool_search`` over the tools a turn holds back. It remembers the tools it has
    returned (:attr:`found`, in the order returned), which the loop then offers; make
    one per run of the loop."""

    def __init__(self, held: Iterable[Tool]) -> None:
        self.held = list(held)
        self.found: list[Tool] = []
        self._index: tuple[list[Counter[str]], list[int], float, Counter[str]] | None = None

    def tool(self) -> Tool:
        """The ``tool_search`` tool: reads only, runs on the event loop (it is quick)."""
        return Tool(
            _SPEC,
            self._run,
            changes=False,
            timeout=10.0,
            validate=_PROTOTYPE.validate,
            thread=False,
        )

    def _run(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        return self.answer(arguments["query"], arguments["limit"])

    def answer(self, query: str, limit: int = 5) -> str:
        """What the model reads: the best tools for ``query`` as a JSON list of their
        specs, remembered in :attr:`found`; or, when none matches, a line saying so
        with some of the held-back names.

        Raises:
            ToolError: the query has no words.
        """
        if not query.strip():
            raise ToolError("give a few words of what the tool should do")
        best = self.search(query, max(1, min(limit, MAX_LIMIT)))
        if not best:
            shown = ", ".join(tool.name for tool in self.held[:_SHOWN])
            more = len(self.held) - _SHOWN
            tail = f", … ({more} more)" if more > 0 else ""
            return (
                f"no tool matched '{query.strip()}'; try other words. "
                f"The {len(self.held)} tools to search include: {shown}{tail}"
            )
        known = {tool.name for tool in self.found}
        self.found.extend(tool for tool in best if tool.name not in known)
        return msgspec.json.encode([tool.spec for tool in best]).decode()

    def search(self, query: str, limit: int = 5) -> list[Tool]:
        """The held-back tools that match ``query``, best first, at most ``limit``: the
        one named exactly ``query`` first, then by BM25 score (see the module's
        docstring); ties keep the held-back order."""
        exact = [tool for tool in self.held if tool.name == query.strip()]
        documents, lengths, average, frequency = self._indexed()
        terms = set(words(query))
        total = len(documents)
        scored: list[tuple[float, int]] = []
        for position, (counts, length) in enumerate(zip(documents, lengths, strict=True)):
            score = 0.0
            norm = _K1 * (1 - _B + _B * length / average)
            for term in terms:
                tf = counts.get(term, 0)
                if tf:
                    n = frequency[term]
                    idf = math.log(1 + (total - n + 0.5) / (n + 0.5))
                    score += idf * tf * (_K1 + 1) / (tf + norm)
            if score > 0:
                scored.append((-score, position))
        scored.sort()
        ranked = exact + [self.held[p] for _, p in scored if self.held[p] not in exact]
        return ranked[:limit]

    def _indexed(self) -> tuple[list[Counter[str]], list[int], float, Counter[str]]:
        """Each held-back tool's weighted words, their lengths, the average length and
        in how many tools each word occurs; made on the first search (most turns
        never search)."""
        if self._index is None:
            documents = [_document(tool.spec) for tool in self.held]
            lengths = [sum(counts.values()) for counts in documents]
            average = (sum(lengths) / len(lengths) if lengths else 0.0) or 1.0
            frequency: Counter[str] = Counter()
            for counts in documents:
                frequency.update(counts.keys())
            self._index = documents, lengths, average, frequency
        return self._index


async def tool_search(query: str, limit: int = 5) -> str:
    """Find more tools: some are held back to save context.

    Describe what you need in a few words (e.g. "weather forecast", "create github
    issue"); you get the best matching tools' names, descriptions and parameters, and
    you can call them from then on.

    Args:
        query: words of what the tool should do, or a tool's exact name.
        limit: how many tools at most (1 to 20).
    """
    raise ToolError("tool_search runs only inside the tool loop")  # the spec's source


_PROTOTYPE = Tool.from_function(tool_search)
"""Made once: its schema and argument check serve every :class:`ToolSearch`."""
_SPEC = _PROTOTYPE.spec
