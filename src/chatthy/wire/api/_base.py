"""What every RPC declaration shares: the :class:`Call` base and the table of calls.

An RPC is declared once, as a subclass of ``Call[Result]`` whose fields are the RPC's
arguments and whose ``method`` is its name. The server converts a request's ``args`` to
that class and answers with a ``Result``; the client sends an instance and decodes the
answer into ``Result`` (:func:`result_type`). Results may gain fields over time: clients
ignore fields they do not know, servers refuse arguments they do not know.
"""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import msgspec

__all__ = ["CALLS", "Call", "Count", "Id", "Result", "call_class", "result_type"]

Id = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
"""A message id or sequence number as clients may send it (bounded so no store overflows)."""

Count = Annotated[int, msgspec.Meta(ge=1, le=50)]
"""How many items a searching source fetches."""

R = TypeVar("R")

CALLS: dict[str, type[Call[Any]]] = {}
"""Every declared RPC by name (filled as the declaring modules are imported)."""


class Result(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of RPC results: a map on the wire (fields at their default left out);
    unknown fields are ignored when decoding."""


class Call(msgspec.Struct, Generic[R], forbid_unknown_fields=True, omit_defaults=True):
    """The arguments of one RPC whose answer is an ``R``.

    Subclasses set ``method`` (the RPC's name) and declare the arguments as fields.
    """

    method: ClassVar[str] = ""
    names_new_chat: ClassVar[bool] = False
    """Its ``chat`` names a chat to make (so a client's open chat is no default for it)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        method = cls.__dict__.get("method")
        if method:
            if method in CALLS:
                raise TypeError(f"RPC {method!r} is declared twice")
            CALLS[method] = cls


def call_class(method: str) -> type[Call[Any]] | None:
    """The declaration of RPC ``method``, if the wire package declares it."""
    return CALLS.get(method)


@functools.cache
def result_type(call: type[Call[Any]]) -> Any:
    """The type RPC ``call`` answers with (the ``R`` of its ``Call[R]`` base)."""
    for klass in call.__mro__:
        for base in getattr(klass, "__orig_bases__", ()):
            if typing.get_origin(base) is Call:
                return typing.get_args(base)[0]
    raise TypeError(f"{call.__name__} does not declare its result (subclass Call[Result])")
