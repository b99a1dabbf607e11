"""One client's long requests do not stall the others (bench/abuse.py ``stalls`` has the
figures; these bounds are loose on purpose): ``status`` and a stream go on while a large
import and a search over many messages run, and the pages a client may ask are capped."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from chatthy.errors import ArgumentError
from chatthy.server.app import Server
from chatthy.wire import api
from helpers import ClientMaker, collect


def _export(n: int) -> str:
    return json.dumps(
        [
            {"role": ("user", "assistant")[i % 2], "content": f"needle {i} " + "lorem ipsum " * 8}
            for i in range(n)
        ]
    )


async def test_status_and_a_stream_answer_while_an_import_and_a_search_run(
    server: Server, connect: ClientMaker
) -> None:
    heavy, other = connect(server, "heavy"), connect(server, "other")
    await heavy.rpc(api.Import(data=_export(20_000), chat="hay"))
    await other.call("status")
    importing = asyncio.create_task(heavy.rpc(api.Import(data=_export(20_000), chat="more")))
    searching = asyncio.create_task(heavy.rpc(api.Search(query="needle", limit=api.SEARCH_MAX)))
    await asyncio.sleep(0.1)  # both are under way
    waits = []
    for _ in range(5):
        start = time.monotonic()
        await other.call("status")
        waits.append(time.monotonic() - start)
    stream, _ = await other.start("chat", "meanwhile", text="still here?")
    seen = await collect(stream)
    assert not importing.done(), "the import ended before the others were measured"
    assert max(waits) < 0.5, waits  # inline SQLite: the whole import (seconds)
    assert (seen.status, seen.text) == ("complete", "echo: still here?")
    assert (await importing).messages == 20_000
    assert len(await searching) == api.SEARCH_MAX


async def test_pages_and_searches_are_capped(server: Server, connect: ClientMaker) -> None:
    client = connect(server)
    await client.rpc(api.Import(data=_export(api.PAGE_MAX + 10), chat="long"))
    page = await client.rpc(api.Messages(chat="long", limit=api.PAGE_MAX))
    assert len(page.messages) == api.PAGE_MAX
    with pytest.raises(ArgumentError, match="limit"):
        await client.call("messages", chat="long", limit=api.PAGE_MAX + 1)
    with pytest.raises(ArgumentError, match="limit"):
        await client.call("search", query="needle", limit=api.SEARCH_MAX + 1)
