"""RPCs about the server and the caller: status, commands, account, providers, load."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from chatthy.wire.api._base import Call, Result

__all__ = [
    "Account",
    "AccountInfo",
    "ArgInfo",
    "CommandInfo",
    "Commands",
    "Hello",
    "HelloInfo",
    "Load",
    "Loaded",
    "ProviderCapabilities",
    "ProviderInfo",
    "Providers",
    "Register",
    "Rekey",
    "Rekeyed",
    "ServerStatus",
    "Status",
]


class ServerStatus(Result):
    """The server as the asking profile may see it: nothing of other profiles' activity."""

    profile: str
    address: str
    uptime: float
    providers: list[str]
    encrypted: bool
    replies_running: int = 0
    max_body: int = 0
    """The largest request body the server accepts, in bytes (0: not said; an older
    server). Clients refuse a larger request before sending it."""
    max_import: int = 0
    """The largest file ``import_begin`` accepts, in bytes."""


class ArgInfo(Result):
    """One argument of an RPC: its name, type (``str``, ``int | null``, …), whether it
    must be given, and its default (absent when required)."""

    name: str
    type: str
    required: bool
    default: Any | msgspec.UnsetType = msgspec.UNSET


class CommandInfo(Result):
    """One RPC: its name, one-paragraph help, arguments and result type's name."""

    name: str
    help: str
    args: list[ArgInfo]
    result: str = ""


class AccountInfo(Result):
    """Your profile: when it was registered, its public key (hex), its chats and messages."""

    profile: str
    created: float
    public_key: str
    chats: int
    messages: int


class ProviderCapabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What a provider can do beyond streaming text."""

    tools: bool = False
    vision: bool = False
    reasoning: bool = False
    model_loading: bool = False


class ProviderInfo(Result):
    """One provider: its default model, context length and reply cap, whether it is the
    server's default, what it can do, and (when asked for) its models or why they could
    not be listed."""

    name: str
    model: str
    context_length: int
    max_tokens: int
    default: bool = False
    capabilities: ProviderCapabilities = ProviderCapabilities()
    models: list[str] | None = None
    error: str | None = None


class Loaded(Result):
    provider: str
    model: str
    loaded: bool = True


class HelloInfo(Result):
    """Who the server is and what it makes of the asking profile and key: ``server`` is
    the id every other request names; ``registered`` is False for a profile its first
    request would register with this key (a client asks a new passphrase twice)."""

    server: str
    profile: str
    registered: bool


class Rekeyed(Result):
    """The profile's new key, as its fingerprint."""

    profile: str
    fingerprint: str


class Hello(Call[HelloInfo]):
    """The server's id, and whether your profile is registered with your key (nothing is
    registered by asking). The one request that need not name the server."""

    method = "hello"


class Rekey(Call[Rekeyed]):
    """Change your passphrase: the new public key (32 bytes) replaces the one this
    request is signed with."""

    method = "rekey"
    key: Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]


class Status(Call[ServerStatus]):
    """The server's address, uptime, providers and how busy it is."""

    method = "status"


class Commands(Call[list[CommandInfo]]):
    """Every command the server answers: name, help and arguments."""

    method = "commands"


class Account(Call[AccountInfo]):
    """Your profile: when it was registered, its key, how many chats and messages."""

    method = "account"


class Register(Call[AccountInfo]):
    """Register your profile with the server's invite code (servers with an invite code
    take new profiles only so; elsewhere any first request registers). Answers your
    profile, as ``account`` does."""

    method = "register"
    invite: str = ""


class Providers(Call[list[ProviderInfo]]):
    """The providers this server offers, with their models."""

    method = "providers"
    models: bool = True
    """Ask each provider for its model list (``/v1/models`` where it has one)."""


class Load(Call[Loaded]):
    """Load a model on a provider that switches models itself (tabbyAPI's admin API)."""

    method = "load"
    provider: str
    model: str
