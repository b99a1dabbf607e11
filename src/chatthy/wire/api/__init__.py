"""Every RPC the server answers, declared once: its arguments and its result.

Each RPC is a ``Call[Result]`` subclass (:mod:`._base`) in the module of its domain; the
server's handlers take and return these, and clients send and decode them. ``CALLS``
maps each RPC's name to its declaration. This package offers every name its modules
export (their ``__all__``), so a new declaration is listed once, in its module.
"""

from __future__ import annotations

from chatthy.wire.api import (
    _base,
    chats,
    images,
    info,
    prompts,
    rag,
    replies,
    templates,
    tools,
    transfer,
    workspace,
)
from chatthy.wire.api._base import *  # noqa: F403
from chatthy.wire.api.chats import *  # noqa: F403
from chatthy.wire.api.images import *  # noqa: F403
from chatthy.wire.api.info import *  # noqa: F403
from chatthy.wire.api.prompts import *  # noqa: F403
from chatthy.wire.api.rag import *  # noqa: F403
from chatthy.wire.api.replies import *  # noqa: F403
from chatthy.wire.api.templates import *  # noqa: F403
from chatthy.wire.api.tools import *  # noqa: F403
from chatthy.wire.api.transfer import *  # noqa: F403
from chatthy.wire.api.workspace import *  # noqa: F403

__all__ = [
    *_base.__all__,
    *chats.__all__,
    *images.__all__,
    *info.__all__,
    *prompts.__all__,
    *rag.__all__,
    *replies.__all__,
    *templates.__all__,
    *tools.__all__,
    *transfer.__all__,
    *workspace.__all__,
]
