"""Vectors for chunks and queries: the offline default, or a provider's embeddings.

An :class:`Embedder` turns texts into unit vectors, so that a dot product is the cosine
of two texts' meanings. Its ``name`` is stored beside every vector it made: vectors of
two models live in different spaces, and a search compares a query only with vectors
of the embedder's own name.

The default, :class:`WordLlamaEmbedder`, needs no network and no key: wordllama's
weights (a 32,000 × 256 token matrix) and tokenizer ship inside its wheel. A text's
vector is the mean of its tokens' rows, normalised. That is what wordllama's own
``WordLlamaInference.embed`` computes (a test holds the two together); it is done here
from the tokenizer's unpadded ids rather than through it, because wordllama pads every
batch to its longest text and multiplies the padding by a mask, which takes twice the
time. Its loader is not used either: ``WordLlama.load(disable_download=True)`` looks for
the tokenizer where the wheel does not put it, and without that flag it downloads.

:class:`OpenAIEmbedder` asks any OpenAI-compatible ``/v1/embeddings`` (OpenAI,
tabbyAPI, llama.cpp, vLLM …) through the official SDK, named by ``[rag] embeddings``.

Both embed off the event loop: wordllama in a worker thread, in batches, so a large
ingest leaves the server's other clients their loop between batches and stops at the
next batch when cancelled; the provider over the network, awaited.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import re
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol
from urllib.parse import urlsplit

import numpy as np
import numpy.typing as npt

from chatthy.config import ProviderConfig, ServerConfig
from chatthy.errors import (
    ConfigError,
    ProviderAuthError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderTimeoutError,
)

__all__ = [
    "WORDLLAMA_NAME",
    "Embedder",
    "OpenAIEmbedder",
    "Vectors",
    "WordLlamaEmbedder",
    "build_embedder",
    "normalise",
    "wordllama_dir",
]

Vectors = npt.NDArray[np.float32]
"""An (n, dim) array of float32 rows."""

WORDLLAMA_NAME = "wordllama-l2-256"
"""The name stored with the default embedder's vectors."""


class Embedder(Protocol):
    """Makes the vectors of texts."""

    name: str
    """What the vectors are made with, stored beside them: ``wordllama-l2-256``, or
    ``PROVIDER:MODEL``. Vectors of another name are never compared with these."""
    dim: int
    """The vectors' length; 0 while not yet known (a provider's, before its first
    answer)."""

    async def embed(self, texts: list[str]) -> Vectors:
        """One row per text, in order: float32, unit length (all zeros for a text with
        nothing to embed: blank, or no known token)."""
        ...

    async def ready(self) -> None:
        """Read what the first :meth:`embed` would (a model's files), off the event
        loop; a provider's embedder has nothing to read."""
        ...


def normalise(vectors: Vectors) -> Vectors:
    """``vectors`` with each row scaled to unit length, in place; rows of zeros stay
    zeros (not NaN)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    np.divide(vectors, norms, out=vectors, where=norms > 0)
    return vectors


# -- wordllama -----------------------------------------------------------------------------

_WEIGHTS = Path("weights", "l2_supercat_256.safetensors")
_TOKENIZER = Path("tokenizers", "l2_supercat_tokenizer_config.json")
_TENSOR = "embedding.weight"
_DTYPES = {"F16": "<f2", "F32": "<f4"}


class _Model(NamedTuple):
    matrix: Vectors
    """One row per token id."""
    tokenizer: Any
    """A ``tokenizers.Tokenizer`` (wordllama's dependency, reached through wordllama)."""
    words: _Words | None
    """The same ids a word at a time, remembered; None when the tokenizer is not of the
    kind that allows it."""


_SPACE = "\u2581"
"""What the tokenizer writes for a space (SentencePiece's ``▁``)."""
_WORD = re.compile(f"{_SPACE}*[^{_SPACE}]+|{_SPACE}+")
"""A word as the tokenizer sees the text: the spaces before it, then up to the next."""
_WORDS_KEPT = 50_000
"""Words whose ids are remembered (~370 bytes each, some 18 MB); past that the memory
starts again. The pages of bench/rag.py (Python's help) hold 35,000 distinct words."""
_NORMALIZER = {
    "type": "Sequence",
    "normalizers": [
        {"type": "Prepend", "prepend": _SPACE},
        {"type": "Replace", "pattern": {"String": " "}, "content": _SPACE},
    ],
}


class _Words:
    """The tokenizer's ids, found a word at a time and remembered.

    wordllama's tokenizer (LLaMA 2's) has no pre-tokenizer: it turns spaces into ``▁``
    and runs BPE over the whole text as one word, so nothing it does is reused between
    texts and it takes three quarters of the embedding time (~0.2 ms for a chunk of 120
    words). No token of its vocabulary has a ``▁`` after another character, so no merge
    ever joins across the start of a word: the text's ids are its words' ids in order,
    and a word's ids, once known, are looked up instead of made again. :meth:`of` gives
    the very ids of the whole-text encoding (a test holds the two together); embedding
    takes 40-60% of the time it took (less once the common words are known). A text
    holding one of the tokenizer's added tokens (``<s>``, ``</s>``, ``<unk>``), which it
    cuts out before anything else, is encoded whole as before.
    """

    def __init__(self, tokenizer: Any, specials: list[str], space: int) -> None:
        self.tokenizer = tokenizer
        self.specials = specials
        self.space = space
        """The id of ``▁`` alone."""
        self.known: dict[str, tuple[int, ...]] = {}
        """Tuples, not lists: tuples of ints the collector stops tracking, so a full
        collection does not walk tens of thousands of them (a pause in every stream)."""

    @classmethod
    def of_tokenizer(cls, tokenizer: Any) -> _Words | None:
        """For ``tokenizer`` if it is of the kind described above, else None. Asked of
        its parts, not of its whole configuration: serialising and parsing that (some
        2 MB of JSON) holds the GIL, and so the server's loop, for 100 ms at a time."""
        across = re.compile(f"[^{_SPACE}]{_SPACE}")
        normalizer = tokenizer.normalizer
        model = tokenizer.model
        space = tokenizer.token_to_id(_SPACE)
        if (
            normalizer is None
            or json.loads(normalizer.__getstate__()) != _NORMALIZER
            or tokenizer.pre_tokenizer is not None
            or type(model).__name__ != "BPE"
            or model.dropout is not None
            or space is None
            or any(
                across.search(tokenizer.id_to_token(i) or "")
                for i in range(tokenizer.get_vocab_size())
            )
        ):
            return None
        specials = [t.content for t in tokenizer.get_added_tokens_decoder().values()]
        return cls(tokenizer, specials, space)

    def of(self, texts: list[str]) -> list[Sequence[int]]:
        """Each text's token ids (no special tokens added). Safe on several threads: a
        batch reads the memory once and works from its own table."""
        split: list[list[str] | None] = [
            None
            if any(s in text for s in self.specials)
            else _WORD.findall(_SPACE + text.replace(" ", _SPACE))
            if text
            else []
            for text in texts
        ]
        table: dict[str, tuple[int, ...] | None] = {}
        known = self.known
        for words in split:
            for word in words or ():
                if word not in table:
                    table[word] = known.get(word)
        missing = [word for word, ids in table.items() if ids is None]
        if missing:
            # A word is "▁" and what follows; the tokenizer puts the "▁" back itself
            # (and makes "▁" of any other space). "▁" alone it would take for no text.
            encoded = self.tokenizer.encode_batch_fast(
                [word[1:].replace(_SPACE, " ") for word in missing], add_special_tokens=False
            )
            fresh = {
                word: tuple(e.ids) if word != _SPACE else (self.space,)
                for word, e in zip(missing, encoded, strict=True)
            }
            table.update(fresh)
            if len(known) + len(fresh) > _WORDS_KEPT:
                known.clear()
            known.update(fresh)
        whole = [text for text, words in zip(texts, split, strict=True) if words is None]
        encoded_whole = iter(
            self.tokenizer.encode_batch_fast(whole, add_special_tokens=False) if whole else ()
        )
        return [
            next(encoded_whole).ids
            if words is None
            else [i for word in words for i in table[word] or ()]
            for words in split
        ]


_models: dict[Path, _Model] = {}
_loading = threading.Lock()


def wordllama_dir() -> Path | None:
    """Where the wordllama package is installed (found without importing it), or None."""
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _load(root: Path) -> _Model:
    """The model whose files are under ``root``, read once per process: every embedder
    and thread shares it (16 MB of weights)."""
    with _loading:
        model = _models.get(root)
        if model is None:
            model = _models[root] = _read_model(root)
        return model


def _read_model(root: Path) -> _Model:
    weights, tokenizer_file = root / _WEIGHTS, root / _TOKENIZER
    try:
        matrix = _read_tensor(weights, _TENSOR)
    except (OSError, ValueError, KeyError, struct.error) as exc:
        raise ConfigError(f"wordllama's weights {weights} cannot be read: {exc}") from exc
    word_llama = _import_wordllama()
    try:
        # With no model id to fall back on, this reads the file and never downloads.
        tokenizer = word_llama.load_tokenizer(tokenizer_file, hf_model_id=None)
    except Exception as exc:
        raise ConfigError(f"wordllama's tokenizer {tokenizer_file} cannot be read: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return _Model(matrix, tokenizer, _Words.of_tokenizer(tokenizer))


def _read_tensor(path: Path, key: str) -> Vectors:
    """One tensor of a safetensors file, as float32: the format is an 8-byte header
    length, a JSON header (dtype, shape, byte offsets) and the raw data. Read here
    because chatthy does not otherwise depend on the safetensors package."""
    with path.open("rb") as file:
        (size,) = struct.unpack("<Q", file.read(8))
        entry = json.loads(file.read(size))[key]
        dtype = _DTYPES.get(entry["dtype"])
        if dtype is None:
            raise ValueError(f"tensor type {entry['dtype']} is not one chatthy reads")
        begin, end = entry["data_offsets"]
        file.seek(8 + size + begin)
        data = file.read(end - begin)
    return np.frombuffer(data, dtype=dtype).reshape(entry["shape"]).astype(np.float32)


def _import_wordllama() -> Any:
    """wordllama's ``WordLlama`` class. Importing the package calls
    ``logging.basicConfig(level=INFO)``, which would give a server that has not set up
    logging a root handler and level it never asked for; both are put back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        from wordllama.wordllama import WordLlama
    except ImportError as exc:
        raise ConfigError(f"wordllama cannot be imported: {exc}") from exc
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
    return WordLlama


def _embed_batch(model: _Model, texts: list[str]) -> Vectors:
    """The unit vectors of ``texts``: each the normalised sum of its tokens' rows (the
    mean, scaled); zeros for a blank text, as a provider's (whose tokenizer would give
    it the space token's direction). Runs in a worker thread."""
    if model.words is not None:
        token_ids = model.words.of(texts)
    else:
        encodings = model.tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        token_ids = [encoding.ids for encoding in encodings]
    out = np.zeros((len(texts), model.matrix.shape[1]), dtype=np.float32)
    for row, (text, ids) in enumerate(zip(texts, token_ids, strict=True)):
        if ids and not text.isspace():
            np.take(model.matrix, ids, axis=0, mode="clip").sum(axis=0, out=out[row])
    return normalise(out)


class WordLlamaEmbedder:
    """The offline default: wordllama's 256-dimensional static token embeddings.

    Constructing one checks that its files are there (a ConfigError says which is
    missing: chatthy never downloads them); the model is read on the first
    :meth:`embed`, in a worker thread, once per process. ``root`` is where the
    package's ``weights/`` and ``tokenizers/`` are (default: the installed wordllama).
    """

    name = WORDLLAMA_NAME
    dim = 256

    def __init__(self, root: Path | None = None, *, batch: int = 256) -> None:
        found = root or wordllama_dir()
        if found is None:
            raise ConfigError("the offline embedder needs the wordllama package: pip install it")
        missing = [str(found / p) for p in (_WEIGHTS, _TOKENIZER) if not (found / p).is_file()]
        if missing:
            raise ConfigError(
                f"the offline embedder's files are missing ({', '.join(missing)}): "
                "reinstall wordllama (chatthy never downloads them)"
            )
        self.root = found
        self.batch = batch
        """Texts embedded per step in the worker thread: ~40 ms of work at 256."""

    async def ready(self) -> None:
        await self._model()

    async def _model(self) -> _Model:
        model = _models.get(self.root)
        if model is None:
            model = await asyncio.to_thread(_load, self.root)
        return model

    async def embed(self, texts: list[str]) -> Vectors:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        model = await self._model()
        if model.matrix.shape[1] != self.dim:
            raise ConfigError(f"wordllama's weights under {self.root} are not {self.dim}-wide")
        for at in range(0, len(texts), self.batch):
            part = texts[at : at + self.batch]
            out[at : at + len(part)] = await asyncio.to_thread(_embed_batch, model, part)
        return out


# -- OpenAI-compatible ---------------------------------------------------------------------

OPENAI_URL = "https://api.openai.com/v1"
_DEFAULT_URLS = {"openai": OPENAI_URL, "tabby": "http://127.0.0.1:5000/v1"}
"""The providers' schemes that speak OpenAI's /v1/embeddings, and their default URLs
(those of chatthy.providers.openai and .tabby)."""
_MAX_REASON = 200


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible ``/v1/embeddings``, through the official
    ``openai`` SDK with the provider's URL, key, timeouts and retries.

    Texts go in requests of at most ``batch`` (256: what every such server takes);
    blank ones are not sent (servers refuse them) and get zero rows. Vectors are
    normalised here, as not every server does it. ``dim`` is known after the first
    answer; a model whose vectors change length is an error, not a mixed store.
    """

    def __init__(self, provider: str, cfg: ProviderConfig, model: str, *, batch: int = 256) -> None:
        self.provider = provider
        self.cfg = cfg
        self.model = model
        self.batch = batch
        self.name = f"{provider}:{model}"
        self.dim = 0
        self.base_url = cfg.base_url or _DEFAULT_URLS.get(cfg.scheme, OPENAI_URL)
        self.prefix = f"provider '{provider}': embeddings"

    async def ready(self) -> None:
        return

    async def embed(self, texts: list[str]) -> Vectors:
        sent = [at for at, text in enumerate(texts) if text.strip()]
        if not sent:
            return np.zeros((len(texts), self.dim), dtype=np.float32)
        import httpx2
        import openai

        rows: list[Vectors] = []
        # A client per call: an embedder has no life of its own to close a pool at the
        # end of, and one call is a whole document's chunks (or one query).
        async with openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=_api_key(self.cfg, self.base_url),
            max_retries=self.cfg.retries,
            timeout=httpx2.Timeout(self.cfg.timeout, connect=self.cfg.connect_timeout),
        ) as client:
            for at in range(0, len(sent), self.batch):
                part = [texts[i] for i in sent[at : at + self.batch]]
                try:
                    answer = await client.embeddings.create(model=self.model, input=part)
                except Exception as exc:
                    raise self._failure(exc) from exc
                rows.append(self._vectors(answer.data, len(part)))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[sent] = np.concatenate(rows)
        return normalise(out)

    def _vectors(self, data: Sequence[Any], expected: int) -> Vectors:
        """One answer's vectors in the order of its texts, checked."""
        ordered = sorted(data, key=lambda item: item.index)
        if [item.index for item in ordered] != list(range(expected)):
            raise ProviderError(
                f"{self.prefix}: answered {len(ordered)} vectors for {expected} texts"
            )
        try:
            vectors = np.array([item.embedding for item in ordered], dtype=np.float32)
        except ValueError as exc:
            raise ProviderError(f"{self.prefix}: vectors of different lengths") from exc
        width = vectors.shape[1] if vectors.ndim == 2 else 0
        if width == 0:
            raise ProviderError(f"{self.prefix}: empty vectors")
        if self.dim and width != self.dim:
            raise ProviderError(
                f"{self.prefix}: vectors of {width} dimensions where it gave {self.dim}"
            )
        self.dim = width
        return vectors

    def _failure(self, exc: Exception) -> ProviderError:
        """The SDK's exception as one line: the provider, what happened, the status and
        the upstream's reason. Keys never appear: only what the upstream said."""
        import openai

        if isinstance(exc, openai.APIStatusError):
            code = exc.status_code
            reason = _reason(exc.body) or exc.response.reason_phrase or "no reason given"
            kind: type[ProviderError] = ProviderError
            if code in (401, 403):
                kind = ProviderAuthError
            elif code == 429:
                kind = ProviderRateLimitError
            return kind(f"{self.prefix} failed: {code} {reason}")
        if isinstance(exc, openai.APITimeoutError):
            return ProviderTimeoutError(f"{self.prefix}: no answer in {self.cfg.timeout:g}s")
        if isinstance(exc, openai.APIConnectionError):
            return ProviderConnectionError(f"{self.prefix}: cannot reach {self.base_url}")
        detail = _one_line(str(exc)) or type(exc).__name__
        return ProviderError(f"{self.prefix}: unexpected answer: {detail}")


def _api_key(cfg: ProviderConfig, base_url: str) -> str:
    """The configured key; else ``OPENAI_API_KEY``, but only for OpenAI's own endpoint,
    never for a server another URL names (the rule of chatthy's openai provider); else a
    placeholder, as the SDK insists on some key and local servers ignore it."""
    if cfg.api_key:
        return cfg.api_key
    parts = urlsplit(base_url)
    official = parts.scheme == "https" and parts.hostname == "api.openai.com"
    env_key = os.environ.get("OPENAI_API_KEY")
    return env_key if env_key and official else "no-key"


def _reason(body: object) -> str:
    """The human part of an error body ({"error": {"message": …}} and the like)."""
    if isinstance(body, str):
        return _one_line(body)
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            if found := _reason(body.get(key)):
                return found
    return ""


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_REASON else line[: _MAX_REASON - 1] + "…"


# -- choosing ------------------------------------------------------------------------------


def build_embedder(config: ServerConfig, providers: dict[str, ProviderConfig]) -> Embedder:
    """The embedder ``[rag]`` asks for: the provider named by ``embeddings`` with
    ``embedding_model`` (else the provider's ``model``), or wordllama when it is empty.

    Raises:
        ConfigError: an unknown provider, one whose scheme has no OpenAI-compatible
            embeddings, no model to ask for, or wordllama's files missing.
    """
    rag = config.rag
    if not rag.embeddings:
        return WordLlamaEmbedder()
    cfg = providers.get(rag.embeddings)
    if cfg is None:
        known = ", ".join(sorted(providers)) or "none"
        raise ConfigError(
            f"[rag] embeddings: no provider '{rag.embeddings}' in [providers] (known: {known})"
        )
    if cfg.scheme not in _DEFAULT_URLS:
        raise ConfigError(
            f"[rag] embeddings: provider '{rag.embeddings}' has scheme '{cfg.scheme}', which "
            "has no OpenAI-compatible /v1/embeddings; name a provider of scheme openai "
            "(with the server's base_url) instead"
        )
    model = rag.embedding_model or cfg.model
    if not model:
        raise ConfigError(
            f"[rag] embeddings: provider '{rag.embeddings}' has no model; set [rag] embedding_model"
        )
    return OpenAIEmbedder(rag.embeddings, cfg, model)
