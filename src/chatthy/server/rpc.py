"""The RPC registry: each RPC is an async handler of one declared call.

A handler is ``async def name(ctx: Context, args: api.Some) -> Result`` where
``api.Some`` is the RPC's ``Call[Result]`` declaration in :mod:`chatthy.wire.api`
(its ``method`` names the RPC, its docstring is the help). The registry checks at
registration that the handler answers with the declared result, converts the request's
``args`` map to the call (wrong names or types become ``bad_args``), and lists every RPC
for the ``commands`` RPC, so clients can show help and complete commands.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from chatthy.errors import ArgumentError, UnknownMethodError
from chatthy.wire.api import ArgInfo, Call, CommandInfo, HelloInfo, ServerStatus, result_type

if TYPE_CHECKING:
    from chatthy.conversation.engine import Engine
    from chatthy.conversation.turns import Turn
    from chatthy.server.uploads import Uploads

__all__ = ["Context", "Registry", "Rpc", "Transport", "registry"]


class Transport(Protocol):
    """What a handler may ask of the transport that carried the request."""

    uploads: Uploads
    """Imports under way in pieces (requests larger than one frame may be)."""

    def watch(self, conn: bytes, profile: str, chat: str) -> None:
        """The connection sees the chat's replies live from now on."""

    def resend_soon(self, conn: bytes, turn: Turn, from_seq: int) -> None:
        """Send the connection a turn's kept events, right after this request's answer."""

    def renamed(self, profile: str, old: str, new: str) -> None:
        """A chat was renamed: its watchers follow it."""

    def status(self, profile: str) -> ServerStatus:
        """The transport's address, uptime and load as the profile may see them."""

    async def hello(self, profile: str, key: bytes) -> HelloInfo:
        """The server's id and whether ``profile`` is registered with ``key``."""

    async def rekey(self, profile: str, key: bytes) -> None:
        """Make ``key`` the profile's key from now on."""

    def is_admin(self, profile: str) -> bool:
        """Whether ``profile`` is an admin: named in ``admins`` and listed with its key."""


@dataclass(slots=True)
class Context:
    """Who is asking (the authenticated profile, its connection, the request id), the
    engine that does the work and the transport that carried the request."""

    engine: Engine
    transport: Transport
    profile: str
    conn: bytes
    request_id: str
    key: bytes = b""
    """The public key the request was signed with."""

    def watch(self, chat: str) -> None:
        """This connection sees ``chat``'s replies live from now on."""
        self.transport.watch(self.conn, self.profile, chat)


Handler = Callable[[Context, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Rpc:
    name: str
    handler: Handler
    args: type[Call[Any]]
    help: str

    def describe(self) -> CommandInfo:
        """Name, help, arguments (name, type, required, default) and result of this RPC."""
        info = msgspec.inspect.type_info(self.args)
        assert isinstance(info, msgspec.inspect.StructType)
        args = [
            ArgInfo(
                name=field.name,
                type=_type_name(field.type),
                required=field.required,
                default=_default_of(field),
            )
            for field in info.fields
        ]
        return CommandInfo(
            name=self.name,
            help=self.help,
            args=args,
            result=_result_name(result_type(self.args)),
        )


def _default_of(field: msgspec.inspect.Field) -> Any:
    if field.default is not msgspec.NODEFAULT:
        return field.default
    if field.default_factory is not msgspec.NODEFAULT:
        return field.default_factory()
    return msgspec.UNSET


def _result_name(t: Any) -> str:
    args = typing.get_args(t)
    if typing.get_origin(t) is list and args:
        return f"list[{_result_name(args[0])}]"
    return getattr(t, "__name__", str(t))


def _type_name(t: msgspec.inspect.Type) -> str:
    if isinstance(t, msgspec.inspect.UnionType):
        return " | ".join(_type_name(x) for x in t.types)
    names = {
        msgspec.inspect.StrType: "str",
        msgspec.inspect.IntType: "int",
        msgspec.inspect.FloatType: "float",
        msgspec.inspect.BoolType: "bool",
        msgspec.inspect.NoneType: "null",
        msgspec.inspect.DictType: "map",
        msgspec.inspect.ListType: "list",
    }
    return names.get(type(t), "any")


class Registry:
    """Name → RPC. Built-in handlers register with :meth:`rpc` as plugins would."""

    def __init__(self) -> None:
        self._rpcs: dict[str, Rpc] = {}

    def rpc(self) -> Callable[[Handler], Handler]:
        """Decorator: register a handler of the call its second parameter declares.

        Raises:
            TypeError: the parameter is not a declared call, or the handler's return
                annotation is not the call's result.
        """

        def register(handler: Handler) -> Handler:
            hints = typing.get_type_hints(handler)
            params = list(inspect.signature(handler).parameters)
            call = hints[params[1]]
            if not (isinstance(call, type) and issubclass(call, Call) and call.method):
                raise TypeError(f"{handler.__name__}: its arguments are not a declared call")
            if hints.get("return") != result_type(call):
                raise TypeError(
                    f"{handler.__name__}: answers {hints.get('return')}, but {call.method} "
                    f"is declared to answer {result_type(call)}"
                )
            help = inspect.cleandoc(call.__doc__ or "")
            self._rpcs[call.method] = Rpc(call.method, handler, call, help)
            return handler

        return register

    def describe(self) -> list[CommandInfo]:
        return [rpc.describe() for rpc in sorted(self._rpcs.values(), key=lambda r: r.name)]

    async def call(self, ctx: Context, method: str, args: dict[str, Any]) -> Any:
        """Run ``method`` with ``args``.

        Raises:
            UnknownMethodError: no RPC of that name.
            ArgumentError: the arguments do not fit the RPC.
            ChatthyError: whatever the handler raises.
        """
        rpc = self._rpcs.get(method)
        if rpc is None:
            raise UnknownMethodError(f"unknown command '{method}' (see `commands`)")
        try:
            parsed = msgspec.convert(args, rpc.args)
        except msgspec.ValidationError as exc:
            raise ArgumentError(f"{method}: {exc}") from exc
        return await rpc.handler(ctx, parsed)


registry = Registry()
"""The registry of built-in RPCs (filled when the handler modules are imported)."""
