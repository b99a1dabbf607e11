"""Typed TOML configuration and the places chatthy keeps things.

``server.toml`` and ``client.toml`` live in the platform config dir
(``$XDG_CONFIG_HOME/chatthy`` on Linux) unless ``CHATTHY_CONFIG_DIR`` or ``--config``
says otherwise; the database and keys live in the data dir (``CHATTHY_DATA_DIR``).
Nothing is read at import: callers load what they need.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from chatthy.errors import ConfigError
from chatthy.private import open_to_others, private_dir, private_file

__all__ = [
    "DEFAULT_SERVER",
    "DEFAULT_THEME",
    "ClientConfig",
    "LimitsConfig",
    "ProviderConfig",
    "RouterConfig",
    "ServerConfig",
    "ServerSection",
    "SourcesConfig",
    "ToolsConfig",
    "config_dir",
    "data_dir",
    "effective_providers",
    "load_client_config",
    "load_server_config",
    "secret_warning",
    "write_default",
    "write_defaults",
]

DEFAULT_SERVER = "tcp://127.0.0.1:23456"

DEFAULT_THEME = "textual-dark"
"""The full-screen client's theme when client.toml names none (or one Textual lacks)."""


class ProviderConfig(msgspec.Struct, forbid_unknown_fields=True):
    """One ``[providers.NAME]`` table of server.toml."""

    scheme: Annotated[str, msgspec.Meta(min_length=1)] = "openai"
    """Which kind of provider: a built-in (openai, anthropic, tabby, echo) or a plugin's
    scheme; checked when the server builds it (``chatthy.providers.registry``)."""
    base_url: str | None = None
    api_key: str | None = None
    admin_key: str | None = None
    model: str = ""
    context_length: int = 8192
    max_tokens: int = 1024
    timeout: float = 60.0
    connect_timeout: float = 10.0
    retries: int = 2
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    tools: bool = True
    """Offer this provider's models the server's tools (false for a server that refuses
    a ``tools`` parameter)."""
    vision: bool | None = None
    """Whether its models take images: None, as its scheme declares (openai, anthropic,
    tabby do); false for a model without vision, so that a message with an image is
    refused before anything is sent."""
    models: list[str] = msgspec.field(default_factory=list)
    """The models clients may choose (besides ``model``); empty: any. Others are refused."""
    max_tokens_ceiling: Annotated[int, msgspec.Meta(ge=0)] = 0
    """The largest ``max_tokens`` a client's ``params`` may ask for (0: the context
    length); above it the turn is refused, not clamped."""
    tokens_per_day: Annotated[int, msgspec.Meta(ge=0)] = 0
    """Tokens (prompt and reply) one profile may spend on this provider per UTC day;
    0: no limit."""


class ServerSection(msgspec.Struct, forbid_unknown_fields=True):
    """The ``[server]`` table of server.toml."""

    listen: str = DEFAULT_SERVER
    registration: Literal["auto", "open", "closed"] = "auto"
    """"auto": open while listening on loopback only, closed beyond it; "open": anyone
    reaching the port may register a profile (with ``invite`` when one is set)."""
    invite: str = ""
    """When set, a new profile registers only by sending this code (``invite`` in
    client.toml or ``CHATTHY_INVITE``); profiles already registered never need it."""
    encryption: Literal["auto", "on"] = "auto"
    """ZeroMQ CURVE: "auto" encrypts whenever listening beyond loopback; "on" always."""
    transport: Literal["any", "listed"] = "any"
    """"listed": only clients of profiles under ``profiles`` get through the (then always
    encrypted) transport; anyone else is refused before reaching the server (ZAP)."""
    max_body: Annotated[int, msgspec.Meta(ge=65536)] = 4 * 1024 * 1024
    max_import: Annotated[int, msgspec.Meta(gt=0)] = 64 * 1024 * 1024
    """Largest chat file ``import`` takes in pieces (``import_begin``), in bytes."""
    max_workspace_file: int = 1024 * 1024
    """Largest workspace file accepted, in bytes of UTF-8 text."""
    clock_window: float = 60.0
    checkpoint_interval: float = 1.0
    default_provider: str = ""
    default_prompt: str = "default"
    profiles: dict[str, str] = msgspec.field(default_factory=dict)
    """Profiles allowed in when registration is closed: name → hex Ed25519 public key."""
    admins: list[str] = msgspec.field(default_factory=list)
    """Profiles that may change what the server runs for everyone (load a model); each
    must be listed with its key in ``profiles`` too (a name alone gives no rights)."""


class LimitsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The ``[limits]`` table of server.toml: what one connection, profile or address
    may ask of the server. Token buckets: ``rate`` per second, up to ``burst`` at once.
    The defaults are far above what a person (or the full-screen client) sends."""

    connection_rate: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    """Requests per second one connection may send, sustained."""
    connection_burst: Annotated[int, msgspec.Meta(ge=1)] = 200
    profile_rate: Annotated[float, msgspec.Meta(gt=0)] = 40.0
    """Requests per second one profile may send over all its connections, sustained."""
    profile_burst: Annotated[int, msgspec.Meta(ge=1)] = 400
    registrations_per_hour: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """New profiles one peer address may register per hour, sustained."""
    registration_burst: Annotated[int, msgspec.Meta(ge=1)] = 5
    reply_queue: Annotated[int, msgspec.Meta(gt=0)] = 16 * 1024 * 1024
    """Bytes of answers queued to one connection that it has not taken in yet; while
    more are queued, its next large answer is refused (``rate_limited``), so a peer that
    stops reading cannot make the server hold more."""
    max_reply: Annotated[int, msgspec.Meta(ge=65536)] = 32 * 1024 * 1024
    """Largest single answer, in bytes; a larger one is refused with ``too_large``."""
    stored_bytes: Annotated[int, msgspec.Meta(ge=0)] = 1024 * 1024 * 1024
    """Bytes one profile may store (chats, workspace, prompts); 0: no limit."""


class SourcesConfig(msgspec.Struct, forbid_unknown_fields=True):
    """The ``[sources]`` table of server.toml: how the server fetches workspace sources."""

    allow_private: bool | list[str] = False
    """Fetch loopback, private and link-local addresses too: ``true`` for all of them, or a
    list of networks (``["192.168.1.0/24"]``) for only those."""
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 20.0
    """Seconds one source may take in all (every request it makes)."""
    max_bytes: Annotated[int, msgspec.Meta(gt=0)] = 10 * 1024 * 1024
    """Largest answer read from a source, in bytes (decompressed)."""
    max_redirects: Annotated[int, msgspec.Meta(ge=0)] = 5
    user_agent: str = "chatthy/0.1 (LLM chat workspace sources)"
    youtube_base: str = "https://www.youtube.com"
    youtube_languages: list[str] = msgspec.field(default_factory=lambda: ["en"])
    """Transcript languages preferred, in order (else the first transcript there is)."""
    arxiv_base: str = "https://export.arxiv.org"
    wikipedia_base: str = "https://en.wikipedia.org"
    """The wiki's language is its host: ``https://de.wikipedia.org`` for German."""
    news_base: str = "https://news.google.com"

    def __post_init__(self) -> None:
        for field in ("youtube_base", "arxiv_base", "wikipedia_base", "news_base"):
            if not getattr(self, field).startswith(("http://", "https://")):
                raise ValueError(f"{field} must be an http:// or https:// URL")
        for network in self.allow_private if isinstance(self.allow_private, list) else []:
            ipaddress.ip_network(network, strict=False)


class ToolsConfig(msgspec.Struct, forbid_unknown_fields=True):
    """``[tools]``: which tools models are offered and how their calls run."""

    enabled: list[str] | None = None
    """Tool names offered (None: every tool the server has; [] none)."""
    auto_approve: list[str] = msgspec.field(default_factory=list)
    """Tools whose calls run without asking even though they change something."""
    max_steps: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    """Steps with tool calls a reply may take; then it ends with a notice."""
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Seconds one call may run (a plugin may ask for less)."""
    max_result: Annotated[int, msgspec.Meta(ge=1000)] = 100_000
    """Characters of a result the model is given; the rest is cut, saying so."""
    approval_timeout: Annotated[float, msgspec.Meta(gt=0)] = 300.0
    """Seconds a call waits for the user's yes or no."""
    schema_budget: Annotated[int, msgspec.Meta(ge=0)] = 2000
    """Tokens the offered tools' schemas may take; past it the rest wait behind
    ``tool_search(query)`` (0: no budget, every tool offered)."""


class RagConfig(msgspec.Struct, forbid_unknown_fields=True):
    """``[rag]``: the document store (``chatthy rag``): how documents are cut and
    embedded, and how much of what a search finds a turn is given."""

    embeddings: str = ""
    """A provider of ``[providers]`` whose OpenAI-compatible ``/v1/embeddings`` makes the
    vectors; empty: the built-in offline embedder (wordllama, no network, no key)."""
    embedding_model: str = ""
    """The model asked of that provider (empty: its ``model``)."""
    chunk_tokens: Annotated[int, msgspec.Meta(ge=50, le=4000)] = 300
    """About how many tokens one chunk holds."""
    overlap_tokens: Annotated[int, msgspec.Meta(ge=0, le=1000)] = 40
    """Tokens of the end of a chunk that start the next one (within a section)."""
    top_k: Annotated[int, msgspec.Meta(ge=1, le=100)] = 5
    """Results a turn's context gets (``ask --rag``, ``/rag on``)."""
    context_tokens: Annotated[int, msgspec.Meta(ge=100)] = 2000
    """Tokens of results a turn's context may take: the winnowing budget."""
    max_document_bytes: Annotated[int, msgspec.Meta(ge=1)] = 52_428_800
    """A larger document is refused (one line), the rest of its batch goes on."""


MCP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
"""What an MCP server's name in ``[mcp_servers.NAME]`` may be: its tools are
``NAME__TOOL``, within the providers' 64-character tool names."""


class McpServerConfig(msgspec.Struct, forbid_unknown_fields=True):
    """``[mcp_servers.NAME]``: one MCP server whose tools, prompts and resources chatthy
    uses. Either ``command`` (a process spoken to over stdio) or ``url`` (streamable HTTP,
    or SSE for older servers). ``${VAR}`` in any string is taken from the server's
    environment when the server starts."""

    command: str | None = None
    args: list[str] = msgspec.field(default_factory=list)
    env: dict[str, str] = msgspec.field(default_factory=dict)
    """Added to the environment the process gets (the SDK's safe default set)."""
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    transport: Literal["stdio", "http", "sse"] | None = None
    """None: ``stdio`` with a command, ``http`` (streamable HTTP) with a url."""
    enabled: bool = True
    timeout: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    """Seconds one tool call may take; then it is cancelled and the model told so."""
    startup_timeout: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    """Seconds the server may take to start and list its tools."""

    def __post_init__(self) -> None:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server needs either a command or a url, not both")
        if self.command is not None and not self.command.strip():
            raise ValueError("an MCP server's command may not be empty")
        kind = self.kind
        if self.command is not None and kind != "stdio":
            raise ValueError(f"transport '{kind}' needs a url, not a command")
        if self.url is not None and kind == "stdio":
            raise ValueError("transport 'stdio' needs a command, not a url")

    @property
    def kind(self) -> str:
        """The transport: ``stdio``, ``http`` or ``sse``."""
        return self.transport or ("stdio" if self.command is not None else "http")


class RouterConfig(msgspec.Struct, forbid_unknown_fields=True):
    """``[router]``: ``chatthy router``, the OpenAI-compatible HTTP face of the tools."""

    listen: str = "127.0.0.1:8080"
    """HOST:PORT the router listens on (``--listen`` overrides)."""
    api_keys: list[str] | dict[str, str] = msgspec.field(default_factory=list)
    """Bearer keys clients send: a list (their tools act for ``profile``) or a table
    key → profile. None: the router serves only on loopback, to anyone there."""
    profile: str = "router"
    """The profile the tools act for when a key names none."""
    show_tools: bool = False
    """Send the tool calls the router runs, and their results, along with the answer
    (a request may ask with ``"chatthy": {"show_tools": true}``)."""

    def __post_init__(self) -> None:
        keys = self.api_keys if isinstance(self.api_keys, list) else list(self.api_keys)
        if any(not key.strip() for key in keys):
            raise ValueError("[router] api_keys: a key may not be empty")
        profiles = self.api_keys.values() if isinstance(self.api_keys, dict) else ()
        if not self.profile or any(not name for name in profiles):
            raise ValueError("[router] a profile name may not be empty")


class StoreConfig(msgspec.Struct, forbid_unknown_fields=True):
    """``[store]``: where the server keeps everything."""

    url: str = ""
    """Empty: one SQLite file in the data dir (``chatthy.db``). A ``postgresql://`` URL:
    that PostgreSQL database, which several servers may share (``CHATTHY_STORE_URL``
    overrides)."""
    pool: Annotated[int, msgspec.Meta(ge=2, le=100)] = 10
    """The most connections a server opens to PostgreSQL (besides the one that listens
    for other servers' streams)."""

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "[store] url: a postgresql://USER@HOST:PORT/DB URL, or empty for SQLite"
            )


class ServerConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Everything in server.toml, plus where it was read from."""

    server: ServerSection = msgspec.field(default_factory=ServerSection)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    sources: SourcesConfig = msgspec.field(default_factory=SourcesConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    tools: ToolsConfig = msgspec.field(default_factory=ToolsConfig)
    router: RouterConfig = msgspec.field(default_factory=RouterConfig)
    rag: RagConfig = msgspec.field(default_factory=RagConfig)
    providers: dict[str, ProviderConfig] = msgspec.field(default_factory=dict)
    mcp_servers: dict[str, McpServerConfig] = msgspec.field(default_factory=dict)
    """MCP servers by name (``[mcp_servers.NAME]``; ``chatthy mcp import`` writes them)."""
    prompts: dict[str, str] = msgspec.field(default_factory=dict)
    """Server default personalities: name → system prompt (also ``prompts/NAME.md``)."""
    config_dir: str = ""
    data_dir: str = ""

    def __post_init__(self) -> None:
        for name in self.mcp_servers:
            if not MCP_NAME.match(name):
                raise ValueError(
                    f"mcp_servers: '{name}' is not a server name (1-32 letters, digits, _ -)"
                )


class ClientConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Everything in client.toml."""

    server: str = DEFAULT_SERVER
    servers: list[str] = msgspec.field(default_factory=list)
    """Several servers on one database, tried in order: the client starts on the first
    that answers and moves to the next when the one it talks to stops answering
    (over ``server`` when not empty)."""
    profile: str = ""
    passphrase: str = ""
    provider: str = ""
    prompt: str = ""
    timeout: float = 30.0
    server_key: str = ""
    """The server's CURVE public key (Z85), as `chatthy serve` prints it."""
    invite: str = ""
    """The invite code a server asks of new profiles (only needed to register)."""
    theme: str = DEFAULT_THEME
    """The full-screen client's colours: any Textual theme name."""
    notify: str = "bell"
    """How a reply that ends in a chat not on screen is told: ``bell``, ``desktop``
    (``notify-send``, else the bell) or ``off``."""
    keys: dict[str, str | list[str]] = msgspec.field(default_factory=dict)
    """The full-screen client's keys: an action's name → its key(s), as Textual names
    them (``ctrl+o``, ``f2``, ``alt+m``; several separated by commas)."""


def chosen_profile(given: str | None, cfg: ClientConfig) -> str:
    """The profile a command acts as: ``given`` (``--profile``), else
    ``$CHATTHY_PROFILE``, else client.toml's ``profile``, else the login name."""
    import getpass

    return given or os.environ.get("CHATTHY_PROFILE") or cfg.profile or getpass.getuser()


def config_dir() -> Path:
    """The directory holding server.toml, client.toml and prompts/."""
    if env := os.environ.get("CHATTHY_CONFIG_DIR"):
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("chatthy", appauthor=False))


def data_dir() -> Path:
    """The directory holding the database and the server's keys."""
    if env := os.environ.get("CHATTHY_DATA_DIR"):
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("chatthy", appauthor=False))


def _read_toml(path: Path, *, required: bool = False) -> dict[str, Any]:
    """The file's tables; a missing file is empty unless ``required`` (named by the user)."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as exc:
        if required:
            raise ConfigError(f"no config file at {path}") from exc
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def load_server_config(path: Path | None = None) -> ServerConfig:
    """Read server.toml: ``path`` if given, else the config dir's (missing → defaults).

    Raises:
        ConfigError: the file is not TOML or holds a wrong value, or ``path`` is missing.
    """
    required = path is not None
    path = path or config_dir() / "server.toml"
    raw = _read_toml(path, required=required)
    try:
        cfg = msgspec.convert(raw, ServerConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    cfg.config_dir = str(path.parent)
    cfg.data_dir = cfg.data_dir or str(data_dir())
    if url := os.environ.get("CHATTHY_STORE_URL"):
        try:
            cfg.store = StoreConfig(url=url, pool=cfg.store.pool)
        except ValueError as exc:
            raise ConfigError(f"CHATTHY_STORE_URL: {exc}") from exc
    return cfg


def load_client_config(path: Path | None = None) -> ClientConfig:
    """Read client.toml: ``path`` if given, else the config dir's (missing → defaults).

    Raises:
        ConfigError: the file is not TOML or holds a wrong value, or ``path`` is missing.
    """
    required = path is not None
    path = path or config_dir() / "client.toml"
    raw = _read_toml(path, required=required)
    try:
        return msgspec.convert(raw, ClientConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def effective_providers(cfg: ServerConfig) -> dict[str, ProviderConfig]:
    """The providers the server offers: configured ones, plus one per API key in the
    environment whose scheme is not configured, else the offline ``echo``."""
    providers = dict(cfg.providers)
    schemes = {p.scheme for p in providers.values()}
    if os.environ.get("OPENAI_API_KEY") and "openai" not in schemes:
        providers.setdefault("openai", ProviderConfig(scheme="openai", model="gpt-4o-mini"))
    if os.environ.get("ANTHROPIC_API_KEY") and "anthropic" not in schemes:
        providers.setdefault(
            "anthropic",
            ProviderConfig(scheme="anthropic", model="claude-sonnet-4-5", context_length=200000),
        )
    if not providers:
        providers["echo"] = ProviderConfig(scheme="echo", model="echo", context_length=32000)
    return providers


SERVER_TOML = """\
# chatthy server configuration. Every value shown is the default.

[server]
# Where the server listens (tcp://HOST:PORT or ipc://PATH).
listen = "tcp://127.0.0.1:23456"
# "open": a new profile is registered with the first key it signs with (trust on first use).
# "closed": only profiles already known, or listed under [server.profiles], get in.
# "auto": open while listening on loopback only, closed beyond it.
registration = "auto"
# With "open" (or "auto" on loopback): when set, a new profile must send this code once
# (client.toml `invite`, or CHATTHY_INVITE) to register.
invite = ""
# ZeroMQ CURVE encryption: "auto" encrypts whenever listening beyond loopback (clients then
# need the server key that `chatthy serve` prints); "on" encrypts on loopback too.
encryption = "auto"
# "listed": only the profiles listed under [server.profiles] can even connect (checked by
# ZeroMQ at the encrypted handshake, so nobody else reaches the server); implies encryption.
transport = "any"
# Largest accepted message body, in bytes (clients learn it and refuse larger requests).
max_body = 4194304
# Largest chat file `chatthy import` sends in pieces, in bytes.
max_import = 67108864
# Largest workspace file (a document sent before every chat's history), in bytes.
max_workspace_file = 1048576
# Accepted clock difference between client and server, in seconds.
clock_window = 60.0
# How often a reply in flight is saved while it grows, in seconds.
checkpoint_interval = 1.0
# Provider used when a chat has none; empty means the first one below.
default_provider = ""
# Personality (system prompt) of new chats.
default_prompt = "default"

# Profiles that may load models on a provider for everyone (tabbyAPI). Each must also be
# listed with its key under [server.profiles]: a name alone gives no rights.
admins = []

# [server.profiles]
# alice = "hex Ed25519 public key"   # shown by `chatthy config profile-key` on alice's client

# Personalities every profile can use (read-only to them), besides `default` and every
# prompts/NAME.md file in this directory.
# [prompts]
# terse = "Answer in as few words as possible."

# What one connection, profile or address may ask (token buckets: a rate per second,
# up to a burst at once). Refusals are `rate_limited` with when to retry, or
# `quota_exceeded`. The defaults are far above what a person, or the full-screen
# client, sends; replies streaming are never counted.
[store]
# Empty: one SQLite file in the data dir. A postgresql://USER@HOST:PORT/DB URL: that
# PostgreSQL database, which several `chatthy serve` may share, each seeing every reply
# live (env CHATTHY_STORE_URL overrides; needs `pip install 'chatthy[postgres]'`).
url = ""
# The most connections one server opens to PostgreSQL.
pool = 10

[limits]
connection_rate = 20.0         # requests per second per connection
connection_burst = 200
profile_rate = 40.0            # requests per second per profile, all its connections
profile_burst = 400
registrations_per_hour = 30.0  # new profiles per peer address
registration_burst = 5
reply_queue = 16777216         # bytes of answers a connection has not taken in yet, at most
max_reply = 33554432           # largest single answer, bytes (larger: too_large)
stored_bytes = 1073741824      # bytes one profile may store (chats, workspace); 0: no limit

# Workspace sources (`chatthy ws url|youtube|arxiv|wikipedia|news`): the server fetches them.
[sources]
# Fetch loopback, private and link-local addresses too: true for all of them, or a list
# of networks such as ["192.168.1.0/24"]. Keep false on a shared server, so that nobody
# can make it read its own network.
allow_private = false
# Seconds one source may take in all, and the largest answer read (bytes).
timeout = 20.0
max_bytes = 10485760
max_redirects = 5
# Sent with every request; Wikipedia asks for a way to reach you in it.
user_agent = "chatthy/0.1 (LLM chat workspace sources)"
# Where each source is asked (another Wikipedia language: "https://de.wikipedia.org").
youtube_base = "https://www.youtube.com"
youtube_languages = ["en"]       # transcript languages preferred, else the first one
arxiv_base = "https://export.arxiv.org"
wikipedia_base = "https://en.wikipedia.org"
news_base = "https://news.google.com"

# Tools models may call (`chatthy tools` lists them).
[tools]
# enabled = ["workspace_read", "current_time"]   # the tools offered; unset: all of them
auto_approve = []                # tools that change something yet run without asking
max_steps = 10                   # steps with tool calls in one reply
timeout = 30.0                   # seconds one call may run
max_result = 100000              # characters of a result the model is given
approval_timeout = 300.0         # seconds a call waits for the user's yes or no
schema_budget = 2000             # tokens of tool schemas offered; the rest via tool_search

# The document store (`chatthy rag add|search …`).
[rag]
embeddings = ""                  # a [providers] name with /v1/embeddings; "": built-in, offline
embedding_model = ""             # the model asked of it ("": the provider's model)
chunk_tokens = 300               # about how many tokens a chunk holds
overlap_tokens = 40              # tokens repeated from one chunk into the next
top_k = 5                        # results a turn's context gets (ask --rag, /rag on)
context_tokens = 2000            # tokens of results a turn's context may take
max_document_bytes = 52428800    # a larger document is refused

# MCP servers (`chatthy mcp import FILE` adds the `mcpServers` of Claude Desktop,
# Cursor or oterm; `chatthy mcp list` shows them). Their tools are SERVER__TOOL.
# ${VAR} is taken from the server's environment.
#
# [mcp_servers.files]
# command = "npx"
# args = ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/notes"]
# env = { SOME_KEY = "${SOME_KEY}" }
# cwd = "/home/me"
# timeout = 60.0                 # seconds one call may take
# startup_timeout = 30.0         # seconds to start and list its tools
# [mcp_servers.remote]
# url = "https://example.com/mcp"
# headers = { Authorization = "Bearer ${REMOTE_TOKEN}" }
# transport = "http"             # http (streamable HTTP) | sse (older servers)
# enabled = true

# `chatthy router`: OpenAI-compatible HTTP (/v1/chat/completions, /v1/models) over the
# providers and the tools. Without api_keys it serves only on loopback.
[router]
listen = "127.0.0.1:8080"
# The profile whose data the tools act on, for a key that names none.
profile = "router"
# Send the tool calls the router runs and their results along with the answer.
show_tools = false
# Bearer keys clients send: a list (the tools then act for `profile`) ...
api_keys = []                    # e.g. ["sk-a-long-random-key"]
# ... or a table key = "profile" (instead of the line above):
# [router.api_keys]
# "sk-a-long-random-key" = "alice"

# With no provider, the offline `echo` provider is offered; with OPENAI_API_KEY or
# ANTHROPIC_API_KEY set, a matching provider is offered automatically.
#
# [providers.local]              # any OpenAI-compatible server
# scheme = "openai"              # openai | anthropic | tabby | echo | a plugin's scheme
# base_url = "http://127.0.0.1:5000/v1"
# api_key = "..."                # optional: OPENAI_API_KEY / ANTHROPIC_API_KEY otherwise
# model = "some-model"
# context_length = 32000         # tokens the model accepts
# max_tokens = 1024              # room kept for the reply
# timeout = 60.0                 # seconds without a byte before giving up
# retries = 2                    # retries on 429/5xx before the first token
# models = []                   # the models clients may choose; empty: any
# max_tokens_ceiling = 0         # largest max_tokens in a client's params (0: context_length)
# tokens_per_day = 0             # per profile on this provider, UTC day; 0: no limit
# [providers.local.params]       # default generation parameters
# temperature = 0.7
"""

CLIENT_TOML = """\
# chatthy client configuration. Every value shown is the default.

# The server to talk to (env CHATTHY_SERVER overrides).
server = "tcp://127.0.0.1:23456"
# Several servers sharing one database, instead of `server`: the client starts on the
# first that answers and moves to the next when the one it talks to stops answering
# (env CHATTHY_SERVER may list them too, separated by commas).
# servers = ["tcp://chat1.example.org:23456", "tcp://chat2.example.org:23456"]
# Your profile name (env CHATTHY_PROFILE overrides); empty means your login name.
profile = ""
# Your passphrase (env CHATTHY_PASSPHRASE overrides); empty means ask on the terminal.
# It never leaves this machine: it derives the key that signs your messages.
passphrase = ""
# Provider and personality for new chats; empty means the server's default.
provider = ""
prompt = ""
# Seconds to wait for the server to answer.
timeout = 30.0
# The server's public key (env CHATTHY_SERVER_KEY), printed by `chatthy serve` and
# `chatthy config key`; needed when the server is encrypted and on another machine.
server_key = ""
# The server's invite code (env CHATTHY_INVITE), when it asks new profiles for one.
invite = ""
# The full-screen client's colours, any Textual theme: textual-dark, textual-light, nord,
# gruvbox, catppuccin-mocha, dracula, tokyo-night, monokai, flexoki, solarized-light …
# (/theme in the client lists them; /theme NAME switches and saves it here).
theme = "textual-dark"
# When a reply finishes in a chat that is not on screen: "bell" (the terminal's bell),
# "desktop" (a notification by notify-send, else the bell) or "off".
notify = "bell"

# The full-screen client's keys: an action and its key(s), as Textual names them
# (ctrl+o, alt+m, f2, shift+tab …; several separated by commas). An unknown action, a
# key that cannot be read or one taken by another action is warned about at start, and
# the default kept. F1 shows the keys in use.
[keys]
# cancel = "ctrl+c"       # cancel the running reply
# chats = "ctrl+o"        # the chat picker
# models = "ctrl+p"       # the provider and model picker
# help = "f1"
# quit = "ctrl+q"
# reload = "ctrl+l"       # redraw and reload the chat
# multiline = "alt+m"     # multi-line input on/off
# focus = "shift+tab"     # focus output / input
# rag_search = "ctrl+v"   # search the documents for the input's text
"""


def save_client_value(key: str, value: str, directory: Path | None = None) -> Path:
    """Set ``key = "value"`` in client.toml (made if missing) and keep the rest of the
    file as it is, comments included: the top-level line that sets ``key``, or else a
    commented-out one, is replaced; without either the line is added before the first
    table. Returns the file's path.

    Raises:
        ConfigError: the file cannot be read or written, or is not valid TOML after.
    """
    path = ((directory or config_dir()) / "client.toml").resolve()  # a dotfiles link: its file
    setting = f"{key} = {json.dumps(value, ensure_ascii=False)}"
    try:
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        tables = next((i for i, line in enumerate(lines) if line.lstrip().startswith("[")), None)
        top = lines[:tables] if tables is not None else lines
        sets = re.compile(rf"\s*{re.escape(key)}\s*=")
        commented = re.compile(rf"\s*#\s*{re.escape(key)}\s*=")
        at = next((i for i, line in enumerate(top) if sets.match(line)), None)
        if at is None:
            at = next((i for i, line in enumerate(top) if commented.match(line)), None)
        if at is not None:
            lines[at] = setting
        else:
            lines.insert(len(top), setting)
        text = "\n".join(lines) + "\n"
        if tomllib.loads(text).get(key) != value:  # the line was inside a multi-line string
            raise ConfigError(f"cannot save {key} in {path}: no top-level line to set it")
        _replace_file(path, text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot save {key} in {path}: {exc}") from exc
    return path


def _replace_file(path: Path, text: str) -> None:
    """Write ``path`` anew, whole or not at all, keeping its permissions (client.toml may
    hold a passphrase: a file of mode 0600 stays so)."""
    private_dir(path.parent)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None  # new: mkstemp's 0600
    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        if mode is not None:
            os.chmod(partial, mode)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def write_defaults(directory: Path | None = None) -> list[Path]:
    """Write commented server.toml and client.toml where missing (0600, in a 0700 folder
    when made here); return what was written.

    Raises:
        ConfigError: the directory cannot be written.
    """
    written = [write_default(name, directory) for name in DEFAULTS]
    return [path for path in written if path is not None]


DEFAULTS = {"server.toml": SERVER_TOML, "client.toml": CLIENT_TOML}
"""The commented default of each config file, by its name."""


def write_default(name: str, directory: Path | None = None) -> Path | None:
    """Write the commented default ``name`` (``server.toml``, ``client.toml``) if there
    is no such file (0600, in a 0700 folder when made here), never over one; return its
    path when written here.

    Raises:
        ConfigError: the directory cannot be written.
    """
    path = (directory or config_dir()) / name
    try:
        if path.exists() or not private_file(path):  # 0600 in a 0700 folder: keys
            return None
        path.write_text(DEFAULTS[name], encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def secret_warning(path: Path, what: str) -> str | None:
    """One line saying that ``path``, holding ``what``, is open to other users, or None
    when only its owner can read it (or it does not exist)."""
    mode = open_to_others(path)
    if mode is None:
        return None
    return (
        f"warning: {path} holds {what} and other users can read it (mode {mode}): chmod 600 {path}"
    )
