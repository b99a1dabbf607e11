"""Transport encryption: ZeroMQ CURVE keys, and when they are required.

The server makes its key pair on first run (``curve/server.key`` and
``curve/server.key_secret`` in the data dir, ZeroMQ's certificate format, 0600 in a 0700
folder). A client pins the server's public key (``server_key`` in client.toml or
``CHATTHY_SERVER_KEY``), or learns it on first contact (trust on first use,
``chatthy.client.known_servers``) from the server's **key port**: the port after the
server's own (``tcp://HOST:PORT+1``; ``ipc://PATH.key``), where a plain socket answers
``KEY_REQUEST`` with ``KEY_ANSWER`` + the Z85 public key and nothing else. Encryption is
required whenever the server listens beyond loopback.

A client's own CURVE key is derived from its signing key (Ed25519 → X25519, as libsodium
converts), so a server can let in, at the transport, only the profiles whose signing keys
server.toml lists (``transport = "listed"``).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import os
import re
from pathlib import Path
from struct import error as struct_error

from chatthy.errors import ConfigError
from chatthy.private import FILE_MODE, FOLDER_MODE, private_dir
from chatthy.wire.signing import SigningKey

__all__ = [
    "KEY_ANSWER",
    "KEY_REQUEST",
    "client_key_pair",
    "fingerprint",
    "is_loopback",
    "key_address",
    "load_public_key",
    "server_key_pair",
    "transport_key",
]

KEY_REQUEST = b"chatthy-key?"
KEY_ANSWER = b"chatthy-key/1 "
"""The key port's answer: these bytes, then the server's 40-character Z85 public key."""

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
            private_dir(data_dir)
            private_dir(folder)
            os.chmod(folder, FOLDER_MODE)
            public_file, _ = zmq.auth.create_certificates(folder, _NAME)
            for made in (secret_file, Path(public_file)):
                os.chmod(made, FILE_MODE)
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


_TCP = re.compile(r"(tcp://.+):(\d{1,5})")
_P = 2**255 - 19


def key_address(address: str) -> str | None:
    """Where the server at ``address`` (as bound or connected to) answers with its public
    key: the next port, or ``PATH.key`` beside an ipc socket; None when there is no next
    port."""
    if address.startswith("ipc://"):
        return address + ".key"
    tcp = _TCP.fullmatch(address)
    if tcp is None or int(tcp.group(2)) >= 65535:
        return None
    return f"{tcp.group(1)}:{int(tcp.group(2)) + 1}"


def fingerprint(public_key: bytes) -> str:
    """``SHA256:…`` of a Z85 public key, as SSH shows host keys: short enough to compare
    by eye with what the server printed. A key that is not Z85 is shown as it is."""
    from zmq.utils import z85

    try:
        raw = z85.decode(public_key)
    except (ValueError, KeyError, struct_error):
        return public_key.decode(errors="replace")
    digest = hashlib.sha256(raw).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def client_key_pair(key: SigningKey) -> tuple[bytes, bytes]:
    """The client's CURVE (public, secret) keys, Z85, derived from its signing key: the
    X25519 form of the Ed25519 key, so that a server knowing the profile's public key
    knows this one too (:func:`transport_key`)."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from zmq.utils import z85

    scalar = bytearray(hashlib.sha512(key.seed()).digest()[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    secret = bytes(scalar)
    public = X25519PrivateKey.from_private_bytes(secret).public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return z85.encode(raw), z85.encode(secret)


def transport_key(signing_public: bytes) -> bytes:
    """The Z85 CURVE public key of the client whose Ed25519 public key is
    ``signing_public`` (u = (1 + y) / (1 - y) mod 2^255 - 19).

    Raises:
        ValueError: it is not 32 bytes, or not a point's encoding.
    """
    from zmq.utils import z85

    if len(signing_public) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    y = int.from_bytes(signing_public, "little") & ((1 << 255) - 1)
    if y >= _P or y == 1:
        raise ValueError("not an Ed25519 public key")
    u = (1 + y) * pow(1 - y, _P - 2, _P) % _P
    return z85.encode(u.to_bytes(32, "little"))
