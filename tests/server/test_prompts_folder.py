"""The server's prompts/*.md folder is seen as it is now, not as it was at start."""

from __future__ import annotations

import os
from pathlib import Path

from chatthy.client.core import Client
from chatthy.wire import api
from helpers import ClientMaker, ServerFactory, openai_provider, turn
from upstream import Upstream


async def prompts(client: Client) -> dict[str, str]:
    return {p.name: p.text for p in await client.rpc(api.Prompts())}


async def test_prompt_files_count_when_changed_without_a_restart(
    servers: ServerFactory, upstream: Upstream, connect: ClientMaker, isolated_env: Path
) -> None:
    client = connect(await servers.start({"up": openai_provider(upstream)}))
    assert list(await prompts(client)) == ["default"]
    folder = isolated_env / "config" / "prompts"
    folder.mkdir(parents=True)
    (folder / "terse.md").write_text("Answer in one word.\n", encoding="utf-8")
    assert (await prompts(client))["terse"] == "Answer in one word."

    (folder / "terse.md").write_text("Answer in two words.\n", encoding="utf-8")
    os.utime(folder / "terse.md", ns=(1, 1))  # an older time than before: still a change
    assert (await client.rpc(api.Prompt(name="terse"))).text == "Answer in two words."
    await turn(client, "c", "hi", prompt="terse")
    system = upstream.requests[-1].body["messages"][0]
    assert system == {"role": "system", "content": "Answer in two words."}

    (folder / "terse.md").unlink()
    assert "terse" not in await prompts(client)
