"""Vectors for the document store: the offline wordllama embedder (its real weights)
and an OpenAI-compatible provider's /v1/embeddings (the real openai SDK against the
local fake upstream)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from chatthy.config import ProviderConfig, RagConfig, ServerConfig
from chatthy.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
)
from chatthy.rag import embed as embed_module
from chatthy.rag.embed import (
    WORDLLAMA_NAME,
    Embedder,
    OpenAIEmbedder,
    Vectors,
    WordLlamaEmbedder,
    build_embedder,
    wordllama_dir,
)
from upstream import Upstream, embedding_of


def cosine(a: Vectors, b: Vectors) -> float:
    return float(np.dot(a, b))


def assert_unit_rows(vectors: Vectors, dim: int) -> None:
    assert vectors.dtype == np.float32 and vectors.shape[1] == dim
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


# -- wordllama -----------------------------------------------------------------------------


async def test_wordllama_puts_similar_sentences_closer_than_unrelated_ones() -> None:
    embedder: Embedder = WordLlamaEmbedder()
    vectors = await embedder.embed(
        [
            "How do I install the server on Linux?",
            "Installing the server on a Linux machine",
            "The recipe needs three eggs and a cup of flour.",
        ]
    )
    assert (embedder.name, embedder.dim) == (WORDLLAMA_NAME, 256)
    assert vectors.shape == (3, 256)
    assert_unit_rows(vectors, 256)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[1], vectors[2]) + 0.2


async def test_wordllama_gives_what_wordllama_itself_computes() -> None:
    """Our pooling over unpadded ids is wordllama's embed(norm=True), made faster."""
    from wordllama.inference import WordLlamaInference
    from wordllama.wordllama import WordLlama

    root = wordllama_dir()
    assert root is not None
    texts = ["short", "a somewhat longer sentence about servers and clients " * 5, "ünïcödé ✓"]
    theirs = WordLlamaInference(
        embed_module._read_tensor(root / embed_module._WEIGHTS, "embedding.weight"),
        WordLlama.load_tokenizer(root / embed_module._TOKENIZER),
    ).embed(texts, norm=True)
    ours = await WordLlamaEmbedder().embed(texts)
    assert np.allclose(ours, theirs, atol=1e-5)


def test_wordllama_word_at_a_time_ids_are_the_whole_texts_ids() -> None:
    """The remembered words give the tokenizer's own ids for prose, code (indented runs
    of spaces), unicode, empty text and text holding the added tokens, on first sight
    and again from memory."""
    import inspect
    import itertools

    root = wordllama_dir()
    assert root is not None
    model = embed_module._load(root)
    assert model.words is not None
    texts = [
        inspect.getdoc(itertools) or "",
        inspect.getsource(cosine),
        "  two  spaces   and\n\n    def f():\n\treturn 1  ",
        "",
        " ",
        "x" * 300,
        "ünïcödé 字 🙂 ✓  tab\tz",
        "a <s> b </s> c <unk>",
        "\u2581\u2581 already\u2581marked",
    ]
    theirs = [e.ids for e in model.tokenizer.encode_batch_fast(texts, add_special_tokens=False)]
    assert model.words.of(texts) == theirs
    assert model.words.of(texts) == theirs


async def test_wordllama_batches_give_the_same_vectors_in_order() -> None:
    texts = [f"document number {n} talks about topic {n % 7} and item {n * 13}" for n in range(700)]
    whole = await WordLlamaEmbedder().embed(texts)
    batched = await WordLlamaEmbedder(batch=64).embed(texts)
    assert whole.shape == (700, 256)
    assert_unit_rows(whole, 256)
    assert np.allclose(whole, batched, atol=1e-6)
    alone = await WordLlamaEmbedder().embed([texts[321]])
    assert np.allclose(alone[0], whole[321], atol=1e-6)


async def test_wordllama_empty_list_and_blank_texts() -> None:
    embedder = WordLlamaEmbedder()
    empty = await embedder.embed([])
    assert empty.shape == (0, 256) and empty.dtype == np.float32
    vectors = await embedder.embed(["", "words here", "   "])
    assert not np.isnan(vectors).any()
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0, abs=1e-5)
    assert not vectors[0].any() and not vectors[2].any()


def test_wordllama_files_missing_is_a_config_error_saying_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing .*l2_supercat_256\.safetensors.*never down"):
        WordLlamaEmbedder(root=tmp_path)


def test_wordllama_is_read_once_however_many_threads_ask(tmp_path: Path) -> None:
    root = wordllama_dir()
    assert root is not None
    for part in (embed_module._WEIGHTS, embed_module._TOKENIZER):
        (tmp_path / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / part, tmp_path / part)
    loaded: list[object] = []
    threads = [
        threading.Thread(target=lambda: loaded.append(embed_module._load(tmp_path)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(loaded) == 8 and all(model is loaded[0] for model in loaded)
    embed_module._models.pop(tmp_path)


def test_loading_wordllama_leaves_the_servers_logging_alone() -> None:
    """wordllama calls logging.basicConfig(INFO) when imported; a server that set up no
    logging must not start printing INFO lines to stderr."""
    program = (
        "import asyncio, logging\n"
        "from chatthy.rag.embed import WordLlamaEmbedder\n"
        "asyncio.run(WordLlamaEmbedder().embed(['hello']))\n"
        "import wordllama\n"
        "root = logging.getLogger()\n"
        "print(len(root.handlers), root.level)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=30,
        check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["0", str(30)]  # no handler, WARNING as before


# -- OpenAI-compatible ---------------------------------------------------------------------


def provider(upstream: Upstream, **fields: object) -> ProviderConfig:
    settings: dict[str, object] = {"base_url": upstream.openai_url, "model": "chat-model"}
    settings.update(fields)
    return ProviderConfig(**settings)  # type: ignore[arg-type]


def embedding_requests(upstream: Upstream) -> list[list[str]]:
    return [r.body["input"] for r in upstream.requests if r.path == "/v1/embeddings"]


async def test_openai_embedder_sends_batches_of_256_and_normalises(upstream: Upstream) -> None:
    embedder: Embedder = OpenAIEmbedder("up", provider(upstream), "embed-model")
    texts = [f"text {n}" for n in range(600)]
    vectors = await embedder.embed(texts)
    assert [len(batch) for batch in embedding_requests(upstream)] == [256, 256, 88]
    assert [text for batch in embedding_requests(upstream) for text in batch] == texts
    assert (embedder.name, embedder.dim) == ("up:embed-model", 8)
    assert_unit_rows(vectors, 8)
    for n in (0, 255, 256, 599):
        raw = np.array(embedding_of(texts[n]), dtype=np.float32)
        assert np.allclose(vectors[n], raw / np.linalg.norm(raw), atol=1e-6)
    assert {r.body["model"] for r in upstream.requests} == {"embed-model"}


async def test_openai_embedder_does_not_send_blank_texts(upstream: Upstream) -> None:
    embedder = OpenAIEmbedder("up", provider(upstream), "m")
    assert (await embedder.embed([])).shape == (0, 0)
    vectors = await embedder.embed(["", "one", "  ", "two"])
    assert embedding_requests(upstream) == [["one", "two"]]
    assert vectors.shape == (4, 8)
    assert not vectors[0].any() and not vectors[2].any()
    assert_unit_rows(vectors[[1, 3]], 8)


async def test_an_upstream_error_is_one_line_with_provider_status_and_reason(
    upstream: Upstream,
) -> None:
    upstream.fail_embeddings(500, "the embedding model\nis not loaded")
    embedder = OpenAIEmbedder("local", provider(upstream, retries=0), "m")
    with pytest.raises(ProviderError) as caught:
        await embedder.embed(["hello"])
    assert caught.value.message == (
        "provider 'local': embeddings failed: 500 the embedding model is not loaded"
    )
    upstream.fail_embeddings(401, "bad key")
    with pytest.raises(ProviderAuthError, match=r"^provider 'local': embeddings failed: 401 bad"):
        await embedder.embed(["hello"])


async def test_an_error_after_retries_and_then_success(upstream: Upstream) -> None:
    upstream.fail_embeddings(503, "busy", times=2)
    embedder = OpenAIEmbedder("local", provider(upstream, retries=2), "m")
    vectors = await embedder.embed(["hello"])
    assert_unit_rows(vectors, 8)
    assert len(embedding_requests(upstream)) == 3


async def test_an_unreachable_provider_is_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = ProviderConfig(base_url=f"http://127.0.0.1:{port}/v1", retries=0)
    with pytest.raises(ProviderConnectionError, match=rf"^provider 'gone': .*127.0.0.1:{port}"):
        await OpenAIEmbedder("gone", cfg, "m").embed(["hello"])


async def test_the_environments_openai_key_never_goes_to_another_server(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-of-the-user")
    await OpenAIEmbedder("up", provider(upstream), "m").embed(["a"])
    await OpenAIEmbedder("up", provider(upstream, api_key="sk-configured"), "m").embed(["b"])
    keys = [r.headers["authorization"] for r in upstream.requests]
    assert keys == ["Bearer no-key", "Bearer sk-configured"]


# -- choosing ------------------------------------------------------------------------------


def configured(embeddings: str = "", model: str = "") -> ServerConfig:
    return ServerConfig(rag=RagConfig(embeddings=embeddings, embedding_model=model))


def test_build_embedder_default_is_wordllama() -> None:
    embedder = build_embedder(configured(), {})
    assert isinstance(embedder, WordLlamaEmbedder) and embedder.name == WORDLLAMA_NAME


def test_build_embedder_names_the_provider_and_model(upstream: Upstream) -> None:
    providers = {"local": provider(upstream), "tabby": ProviderConfig(scheme="tabby", model="t")}
    chosen = build_embedder(configured("local", "nomic-embed"), providers)
    assert isinstance(chosen, OpenAIEmbedder) and chosen.name == "local:nomic-embed"
    fallback = build_embedder(configured("local"), providers)
    assert fallback.name == "local:chat-model"
    tabby = build_embedder(configured("tabby"), providers)
    assert isinstance(tabby, OpenAIEmbedder) and tabby.base_url == "http://127.0.0.1:5000/v1"


@pytest.mark.parametrize(
    ("embeddings", "providers", "message"),
    [
        ("nope", {"local": ProviderConfig(model="m")}, r"no provider 'nope'.*known: local"),
        ("claude", {"claude": ProviderConfig(scheme="anthropic", model="m")}, r"'anthropic'"),
        ("local", {"local": ProviderConfig()}, r"'local' has no model.*embedding_model"),
    ],
    ids=["unknown", "no-embeddings-api", "no-model"],
)
def test_build_embedder_refuses_what_cannot_embed(
    embeddings: str, providers: dict[str, ProviderConfig], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build_embedder(configured(embeddings), providers)
