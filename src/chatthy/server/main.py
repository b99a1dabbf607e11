"""Running the server as a process: logging, signals, a clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
import time

import zmq

from chatthy.config import ServerConfig
from chatthy.errors import ChatthyError, ConfigError
from chatthy.server.app import Server
from chatthy.wire.curve import fingerprint

__all__ = ["run_server"]

log = logging.getLogger("chatthy.server")


async def run_server(config: ServerConfig, listen: str | None = None) -> None:
    """Serve until SIGINT/SIGTERM; running replies are stored as interrupted.

    Raises:
        ConfigError: the address cannot be listened on (in use, malformed), or the
            server key cannot be made.
    """
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    server = await Server.open(config)
    try:
        address = _bind(server, listen or config.server.listen)
        names = ", ".join(server.engine.providers)
        print(
            f"chatthy server listening on {address} (providers: {names})",
            file=sys.stderr,
            flush=True,
        )
        if server.public_key:
            print(
                f"encrypted (CURVE), key {fingerprint(server.public_key.encode())}: clients "
                f'learn it on first contact, or set server_key = "{server.public_key}"',
                file=sys.stderr,
                flush=True,
            )
        await _ready_documents(server)
        # what start-up made (modules, the SDKs' classes: ~90,000 objects) lives as long as
        # the process; a full collection walking it held the GIL 25-45 ms, a gap in every
        # stream, each time a large import or page made enough new objects to trigger one
        gc.freeze()
        loop = asyncio.get_running_loop()
        serving = asyncio.create_task(server.serve())
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, serving.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serving
    finally:
        await server.aclose()


async def _ready_documents(server: Server) -> None:
    """Read the document store's embedder now if anyone has documents, before the first
    request is read (those that come meanwhile wait in the socket): reading it later
    would stall every stream under way for some 60 ms. One that cannot be read is a
    warning; documents then fail, each with the reason."""
    start = time.perf_counter()
    try:
        if await server.engine.rag.warm():
            log.info("document store: embedder read in %.2f s", time.perf_counter() - start)
    except ChatthyError as exc:
        log.warning("document store: %s", exc.message)


def _bind(server: Server, address: str) -> str:
    try:
        return server.bind(address)
    except zmq.ZMQError as exc:
        reason = zmq.strerror(exc.errno) if exc.errno is not None else str(exc)
        raise ConfigError(f"cannot listen on {address}: {reason}") from exc
