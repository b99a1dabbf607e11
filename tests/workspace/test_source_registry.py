"""The source registry: built-ins registered as a plugin's source is, one found by name,
an unknown name refused with the names there are, a registered source used by the server."""

from __future__ import annotations

import pytest

from chatthy.errors import ArgumentError
from chatthy.wire import api
from chatthy.workspace.sources import (
    DEFAULT_COUNT,
    Document,
    Fetcher,
    Source,
    get_source,
    register_source,
    sources,
)
from helpers import ClientMaker, ServerFactory


class Backwards(Source):
    """A source that fetches nothing: the argument reversed, ``count`` times."""

    name = "test-backwards"
    help = "add the words backwards"
    metavar = "WORDS"
    counted = True

    async def fetch(
        self, fetcher: Fetcher, argument: str, *, count: int = DEFAULT_COUNT
    ) -> Document:
        text = "\n".join([argument[::-1]] * count) + "\n"
        return Document(f"backwards-{len(argument)}", text, f"backwards:{argument}")


def test_the_built_ins_are_registered_by_name() -> None:
    names = [source.name for source in sources()]
    assert {"url", "youtube", "arxiv", "wikipedia", "news"} <= set(names)
    assert names == sorted(names)
    for name in ("url", "youtube", "arxiv", "wikipedia", "news"):
        source = get_source(name)
        assert isinstance(source, Source) and source.name == name
        assert source.help.startswith("add ") and "\n" not in source.help
    assert [get_source(n).counted for n in ("url", "arxiv", "news")] == [False, True, True]


def test_an_unknown_source_is_refused_with_the_names_there_are() -> None:
    with pytest.raises(ArgumentError) as caught:
        get_source("telepathy")
    message = caught.value.message
    assert message.startswith("no source 'telepathy' (known: arxiv, news, ")
    assert all(f" {name}" in message for name in ("url", "wikipedia", "youtube"))


def test_a_source_must_implement_fetch() -> None:
    class Lazy(Source):
        name = "lazy"
        help = "nothing"

    with pytest.raises(TypeError, match="abstract"):
        Lazy()  # type: ignore[abstract]


async def test_a_registered_source_is_offered_and_used_by_the_server(
    servers: ServerFactory, connect: ClientMaker
) -> None:
    register_source(Backwards())
    assert get_source("test-backwards").help == "add the words backwards"
    client = connect(await servers.start())
    listed = {s.name: s for s in await client.call("ws_sources")}
    assert listed["test-backwards"] == api.SourceInfo(
        name="test-backwards",
        help="add the words backwards",
        argument="argument",
        metavar="WORDS",
        counted=True,
    )
    added = await client.call("ws_fetch", source="test-backwards", argument="okapi", count=2)
    assert (added.name, added.source) == ("backwards-5", "backwards:okapi")
    assert (await client.call("ws_show", name="backwards-5")).text == "ipako\nipako\n"
