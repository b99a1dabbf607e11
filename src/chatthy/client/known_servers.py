"""Trust on first use of an encrypted server's key, as SSH's ``known_hosts``.

A client talking to a server beyond loopback without a pinned ``server_key`` asks the
server's key port (``chatthy.wire.curve.key_address``) for its public key. On first contact
it checks that the server holds that key (a CURVE handshake with it completes, which needs
the secret key), remembers it in ``known_servers`` beside client.toml and says its
fingerprint; on every later contact the key the server offers must be the remembered one,
or the client refuses, naming the file and line to edit. A server whose key port does not
answer is used with the remembered key (CURVE itself then refuses an impostor).

``known_servers`` is text, one server a line: ``ADDRESS KEY`` (Z85), ``#`` comments.
"""

from __future__ import annotations

from pathlib import Path

import zmq
from zmq.utils.monitor import recv_monitor_message

from chatthy.errors import ConfigError, ServerKeyChangedError, ServerUnavailableError
from chatthy.private import private_file
from chatthy.wire.curve import KEY_ANSWER, KEY_REQUEST, fingerprint, key_address

__all__ = [
    "FILE_NAME",
    "KnownServers",
    "known_servers_path",
    "offered_key",
    "proves_key",
    "trusted_key",
]

FILE_NAME = "known_servers"

_HEADER = """\
# chatthy known servers: the key of each encrypted server this client has talked to,
# remembered on first contact. One server a line: ADDRESS KEY. Delete a server's line
# when its key was changed on purpose; the next contact remembers the new one.
"""

_KEY_LENGTH = 40  # a Z85 CURVE key


class KnownServers:
    """The known_servers file: address → (key, line number)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, tuple[bytes, int]]:
        """The remembered keys (a missing file remembers none).

        Raises:
            ConfigError: the file cannot be read, or a line is not ``ADDRESS KEY``.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {self.path}: {exc}") from exc
        known: dict[str, tuple[bytes, int]] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            fields = line.split()
            if len(fields) != 2 or len(fields[1]) != _KEY_LENGTH:
                raise ConfigError(
                    f"{self.path}, line {number}: expected ADDRESS KEY (a 40-character key)"
                )
            known.setdefault(fields[0], (fields[1].encode(), number))
        return known

    def remember(self, address: str, key: bytes) -> None:
        """Add ``address key`` (the file, 0600, made with its header if missing).

        Raises:
            ConfigError: the file cannot be written.
        """
        try:
            made = private_file(self.path)
            with self.path.open("a", encoding="utf-8") as out:
                if made:
                    out.write(_HEADER)
                out.write(f"{address} {key.decode()}\n")
        except OSError as exc:
            raise ConfigError(f"cannot remember the server's key in {self.path}: {exc}") from exc


def offered_key(address: str, timeout: float) -> bytes | None:
    """The key the server at ``address`` offers on its key port, or None when nothing
    answers in ``timeout`` seconds (or what answers is not a key port)."""
    where = key_address(address)
    if where is None:
        return None
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    try:
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, 128)
        sock.connect(where)
        sock.send(KEY_REQUEST)
        if not sock.poll(int(timeout * 1000)):
            return None
        answer = sock.recv()
    finally:
        sock.close(linger=0)
        ctx.term()
    key = answer.removeprefix(KEY_ANSWER)
    if not answer.startswith(KEY_ANSWER) or len(key) != _KEY_LENGTH:
        return None
    return key


_PROVEN = zmq.EVENT_HANDSHAKE_SUCCEEDED | zmq.EVENT_HANDSHAKE_FAILED_AUTH
"""Either way the server answered the handshake with the secret of the key (a gate that
refuses this client's key comes after that proof)."""


def proves_key(address: str, key: bytes, timeout: float) -> bool:
    """True when the server at ``address`` completes a CURVE handshake as ``key`` within
    ``timeout`` seconds: only the holder of its secret can."""
    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    monitor = sock.get_monitor_socket(
        _PROVEN | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    )
    try:
        sock.setsockopt(zmq.LINGER, 0)
        public, secret = zmq.curve_keypair()
        sock.curve_serverkey = key
        sock.curve_publickey = public
        sock.curve_secretkey = secret
        sock.connect(address)
        if not monitor.poll(int(timeout * 1000)):
            return False
        return bool(recv_monitor_message(monitor)["event"] & _PROVEN)
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)
        sock.close(linger=0)
        ctx.term()


def trusted_key(address: str, path: Path, timeout: float) -> tuple[bytes, str | None]:
    """The key to talk to the server at ``address`` with, and a line to show the user on
    first contact (None later).

    Raises:
        ServerKeyChangedError: the server offers another key than the one remembered.
        ServerUnavailableError: first contact, and the server's key cannot be learned or
            the server does not hold the key it offers.
        ConfigError: known_servers cannot be read or written.
    """
    known = KnownServers(path)
    remembered = known.read().get(address)
    offered = offered_key(address, timeout)
    if remembered is not None:
        key, line = remembered
        if offered is not None and offered != key:
            raise ServerKeyChangedError(
                f"the server at {address} now has key {fingerprint(offered)}, not "
                f"{fingerprint(key)} as remembered in {path} (line {line}): if its key was "
                "changed on purpose, delete that line; otherwise someone may be "
                "impersonating it"
            )
        return key, None
    if offered is None:
        raise ServerUnavailableError(
            f"cannot learn the key of the server at {address}: no answer on "
            f"{key_address(address)} within {timeout:g} s (is it running? or set "
            "server_key in client.toml to the key `chatthy serve` printed)"
        )
    if not proves_key(address, offered, timeout):
        raise ServerUnavailableError(
            f"the server at {address} did not prove it holds the key "
            f"{fingerprint(offered)} its key port offers: not trusted"
        )
    known.remember(address, offered)
    return offered, (
        f"first contact with {address}: its key is {fingerprint(offered)} "
        f"(compare with what `chatthy serve` printed), remembered in {path}"
    )


def known_servers_path(client_toml: Path | None = None) -> Path:
    """known_servers beside client.toml (the config dir's, or the one given)."""
    from chatthy.config import config_dir

    folder = client_toml.parent if client_toml is not None else config_dir()
    return folder / FILE_NAME
