"""RPCs of the document store (RAG): add (text from the client, one document or a
batch, or fetched by the server), has, list, show, drop, search. Each acts on the asking
profile's documents only; what fails stores nothing."""

from __future__ import annotations

from chatthy.errors import ChatthyError
from chatthy.rag.index import Hit
from chatthy.rag.service import Text
from chatthy.server.handlers.common import as_wire
from chatthy.server.rpc import Context, registry
from chatthy.store.base import RagDocumentRecord
from chatthy.wire import api

__all__: list[str] = []


def describe(record: RagDocumentRecord, headings: list[str] | None = None) -> api.RagDocumentInfo:
    info = as_wire(record, api.RagDocumentInfo)
    info.headings = headings or []
    return info


def hit_result(hit: Hit) -> api.RagHit:
    return api.RagHit(
        document=hit.document,
        source=hit.source,
        chunk=hit.ordinal,
        heading=hit.heading,
        text=hit.text,
        score=round(hit.score, 6),
        ranked_by=sorted(hit.ranks),
    )


@registry.rpc()
async def rag_add(ctx: Context, args: api.RagAdd) -> api.RagAdded:
    record, skipped = await ctx.engine.rag.add(
        ctx.profile, args.name, args.text, args.source, args.kind
    )
    return api.RagAdded(document=describe(record), skipped=skipped)


@registry.rpc()
async def rag_add_many(ctx: Context, args: api.RagAddMany) -> list[api.RagOutcome]:
    texts = [Text(d.name, d.text, d.source, d.kind) for d in args.documents]
    outcomes = await ctx.engine.rag.add_many(ctx.profile, texts)
    return [
        api.RagOutcome(error=one.message, code=one.code)
        if isinstance(one, ChatthyError)
        else api.RagOutcome(document=describe(one[0]), skipped=one[1])
        for one in outcomes
    ]


@registry.rpc()
async def rag_has_many(ctx: Context, args: api.RagHasMany) -> list[bool]:
    pairs = [(d.name, d.digest) for d in args.documents]
    return await ctx.engine.rag.has_many(ctx.profile, pairs)


@registry.rpc()
async def rag_has(ctx: Context, args: api.RagHas) -> api.RagHave:
    return api.RagHave(stored=await ctx.engine.rag.has(ctx.profile, args.name, args.digest))


@registry.rpc()
async def rag_fetch(ctx: Context, args: api.RagFetch) -> api.RagAdded:
    record, skipped = await ctx.engine.rag.fetch(ctx.profile, args.target, args.name)
    return api.RagAdded(document=describe(record), skipped=skipped)


@registry.rpc()
async def rag_list(ctx: Context, args: api.RagList) -> list[api.RagDocumentInfo]:
    return [describe(record) for record in await ctx.engine.rag.documents(ctx.profile)]


@registry.rpc()
async def rag_show(ctx: Context, args: api.RagShow) -> api.RagDocumentInfo:
    detail = await ctx.engine.rag.document(ctx.profile, args.name)
    return describe(detail.document, [chunk.heading for chunk in detail.chunks])


@registry.rpc()
async def rag_drop(ctx: Context, args: api.RagDrop) -> api.RagDropped:
    record = await ctx.engine.rag.drop(ctx.profile, args.name)
    return api.RagDropped(name=record.name)


@registry.rpc()
async def rag_search(ctx: Context, args: api.RagSearch) -> list[api.RagHit]:
    provider = ctx.engine.provider(args.provider) if args.provider else None
    hits = await ctx.engine.rag.search(ctx.profile, args.query, args.limit, args.mode, provider)
    return [hit_result(hit) for hit in hits]
