"""kill -9 mid-reply: every chat readable after restart, the cut-off reply kept as far as
its last checkpoint and marked interrupted."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

from helpers import ClientMaker, collect, serve_process, turn
from upstream import Reply, Upstream


def write_config(home: Path, upstream: Upstream) -> None:
    conf = home / "config"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "server.toml").write_text(
        "[server]\ncheckpoint_interval = 0.1\n\n"
        '[providers.up]\nscheme = "openai"\n'
        f'base_url = "{upstream.openai_url}"\napi_key = "k"\nmodel = "m"\n'
        "retries = 0\n",
        encoding="utf-8",
    )


async def test_sigkill_mid_stream_keeps_everything(
    isolated_env: Path, upstream: Upstream, connect: ClientMaker, unused_tcp_port: int
) -> None:
    write_config(isolated_env, upstream)
    address = f"tcp://127.0.0.1:{unused_tcp_port}"
    proc = await serve_process(address)
    try:
        client = connect(address, connect_timeout=1, timeout=2)
        upstream.push(Reply(chunks=["finished ", "before"]))
        assert (await turn(client, "safe", "first")).text == "finished before"
        upstream.push(Reply(chunks=[f"c{i} " for i in range(400)], delay=0.01))
        stream, _ = await client.start("chat", "cut", text="long one")
        received = ""
        async for event in stream.events():
            received += event.text
            if received.count("c") >= 40:
                break
        await asyncio.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
    ended = await asyncio.wait_for(collect(stream), 20)
    assert ended.status == "error"
    assert ended.error is not None and ended.error["code"] == "unavailable"
    assert ended.error["message"].startswith("lost the server at")
    proc = await serve_process(address)
    try:
        client = connect(address, timeout=10)
        safe = (await client.call("messages", chat="safe")).messages
        assert [m.status for m in safe] == ["complete", "complete"]
        assert safe[1].content == "finished before"
        cut = (await client.call("messages", chat="cut")).messages
        assert cut[0].content == "long one"
        reply = cut[1]
        assert reply.status == "interrupted"
        assert reply.content.startswith("c0 c1 c2")
        assert len(reply.content) >= len(received) * 0.5
        upstream.push(Reply(chunks=["back"]))
        assert (await turn(client, "cut", "still there?")).text == "back"
    finally:
        proc.terminate()
        await proc.wait()
