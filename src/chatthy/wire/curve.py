"""Transport encryption: ZeroMQ CURVE keys, and when they are required.

The server makes its key pair on first run (``curve/server.key`` and
``curve/server.key_secret`` in the data dir, ZeroMQ's certificate format). A client pins
the server's public key (``server_key`` in client.toml or ``CHATTHY_SERVER_KEY``); on the
server's own machine it can read the public key from the data dir. Encryption is required
whenever the server listens beyond loopback.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from chatthy.errors import ConfigError

__all__ = ["is_loopback", "load_public_key", "server_key_pair"]

_DIR = "curve"
_NAME = "server"


def is_loopback(address: str) -> bool:
    """True for ipc://, inproc:// and tcp:// addresses on this machine only."""
    scheme, _, rest = address.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    host = rest.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def server_key_pair(data_dir: Path) -> tuple[bytes, bytes]:
    """The server's (public, secret) CURVE keys, made on first use.

    Raises:
        ConfigError: the key files cannot be read or written.
    """
    import zmq.auth

    folder = data_dir / _DIR
    secret_file = folder / f"{_NAME}.key_secret"
    try:
        if not secret_file.exists():
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
            zmq.auth.create_certificates(folder, _NAME)
            os.chmod(secret_file, 0o600)
        public, secret = zmq.auth.load_certificate(secret_file)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot use the server key in {folder}: {exc}") from exc
    if secret is None:
        raise ConfigError(f"{secret_file} holds no secret key")
    return public, secret


def load_public_key(data_dir: Path) -> bytes | None:
    """The local server's public key, if it has made one."""
    import zmq.auth

    path = data_dir / _DIR / f"{_NAME}.key"
    try:
        public, _ = zmq.auth.load_certificate(path)
    except (OSError, ValueError):
        return None
    return public
