"""SSE payload splitting, as any server may cut its bytes."""

from __future__ import annotations

from chatthy.providers._sse import SSESplitter


def test_payloads_split_across_reads_and_line_endings() -> None:
    splitter = SSESplitter()
    stream = (
        b'event: x\r\ndata: {"a":1}\r\n\r\n: comment\n\ndata:{"b":2}\n\ndata: one\ndata: two\n\n'
    )
    out = []
    for i in range(0, len(stream), 3):
        out += splitter.feed(stream[i : i + 3])
    assert out == [b'{"a":1}', b'{"b":2}', b"one\ntwo"]


def test_a_last_event_without_blank_line_is_kept() -> None:
    splitter = SSESplitter()
    assert splitter.feed(b"data: [DONE]") == []
    assert splitter.finish() == [b"[DONE]"]
