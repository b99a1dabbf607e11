"""Reranking and winnowing by the RAG provider: a model the client chose reads the fused
candidates and scores each for the query; those it scores too low are dropped, the rest
ordered by its scores and kept while they fit the token budget.

The model is asked for a JSON object ``{"1": 7, "2": 0, …}`` (0–10 per passage). An
answer that cannot be read, or a provider that fails, leaves the fused order as it was
(the search still answers): a reranker is an improvement, never a new way to fail.
"""

from __future__ import annotations

import logging
import re

import msgspec

from chatthy.conversation.events import TextDelta
from chatthy.conversation.model import Message
from chatthy.errors import ChatthyError
from chatthy.providers.base import Options, Provider
from chatthy.rag.chunk import estimate_tokens
from chatthy.rag.index import Hit

__all__ = ["KEEP_FROM", "rerank"]

log = logging.getLogger("chatthy.rag")

KEEP_FROM = 3
"""The lowest score (of 0–10) a passage keeps its place with."""

PASSAGE_CHARS = 700
"""Of each passage, what the model is shown (its start)."""

_INSTRUCTIONS = (
    "You judge search results. For the question below, rate how useful each numbered "
    "passage is for answering it, from 0 (useless) to 10 (answers it). Answer with one "
    'JSON object mapping each passage number to its score, e.g. {"1": 7, "2": 0}, and '
    "nothing else."
)

_OBJECT = re.compile(r"\{[^{}]*\}", re.S)


async def rerank(provider: Provider, query: str, hits: list[Hit], budget: int) -> list[Hit]:
    """``hits`` rescored by ``provider`` (see the module's docstring), each marked
    ``rerank`` in its ranks, kept while their text fits ``budget`` tokens."""
    passages = "\n\n".join(
        f"[{number}] {hit.text.strip()[:PASSAGE_CHARS]}" for number, hit in enumerate(hits, 1)
    )
    prompt = f"{_INSTRUCTIONS}\n\nQuestion: {query}\n\nPassages:\n\n{passages}"
    try:
        answer = await _ask(provider, prompt, 12 * len(hits) + 20)
    except ChatthyError as exc:
        log.info("the RAG provider %s failed (%s); the fused order stands", provider.name, exc)
        return hits
    scores = _scores(answer, len(hits))
    if scores is None:
        log.info("the RAG provider %s answered no scores; the fused order stands", provider.name)
        return hits
    ranked = sorted(
        ((scores.get(number, 0.0), number, hit) for number, hit in enumerate(hits, 1)),
        key=lambda item: (-item[0], item[1]),
    )
    kept: list[Hit] = []
    used = 0
    for score, _number, hit in ranked:
        if score < KEEP_FROM:
            break
        cost = estimate_tokens(hit.text)
        if kept and used + cost > budget:
            break
        used += cost
        kept.append(
            msgspec.structs.replace(hit, score=score, ranks={**hit.ranks, "rerank": len(kept) + 1})
        )
    return kept


async def _ask(provider: Provider, prompt: str, max_tokens: int) -> str:
    parts: list[str] = []
    options = Options(max_tokens=max_tokens, params={"temperature": 0})
    async for event in provider.stream([Message.of_text("user", prompt)], options):
        if type(event) is TextDelta:
            parts.append(event.text)
    return "".join(parts)


def _scores(answer: str, count: int) -> dict[int, float] | None:
    """The scores of a model's answer (the last JSON object in it), by passage number;
    None when there is none."""
    for found in reversed(_OBJECT.findall(answer)):
        try:
            raw = msgspec.json.decode(found)
        except msgspec.DecodeError:
            continue
        if not isinstance(raw, dict):
            continue
        scores: dict[int, float] = {}
        for key, value in raw.items():
            try:
                number, score = int(str(key).strip("[] ")), float(value)
            except (TypeError, ValueError):
                continue
            if 1 <= number <= count:
                scores[number] = max(0.0, min(10.0, score))
        if scores:
            return scores
    return None
