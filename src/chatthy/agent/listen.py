"""What chatthy's two HTTP servers (``chatthy router``, ``chatthy mcp serve``) share to
listen: the socket, and uvicorn kept from handling signals itself."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from chatthy.errors import ConfigError

__all__ = ["leave_signals_alone", "tcp_socket"]


def tcp_socket(host: str, port: int, who: str) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv6 when the host has a colon), for uvicorn
    to serve on. ``IPPROTO_TCP`` is named, not left 0: asyncio sets ``TCP_NODELAY`` only
    on sockets that say they are TCP, and without it each streamed chunk after the first
    waited ~40 ms (Nagle against the client's delayed ACK).

    Raises:
        ConfigError: the address cannot be bound (``who`` names the command).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{who}: cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def leave_signals_alone(server: Any) -> None:
    """Keep a ``uvicorn.Server`` from installing its signal handlers: once stopped, they
    raise the signal again, which ends the process before its ``finally`` blocks close
    the store and stop the MCP servers. The caller's own handlers set
    ``server.should_exit`` instead."""
    server.capture_signals = _untouched


@contextlib.contextmanager
def _untouched() -> Iterator[None]:
    yield
