"""Keys and signatures: Ed25519 over the exact body bytes.

The private key is derived on the client from the passphrase with scrypt, salted with the
profile name, so the same passphrase gives each profile its own key and the passphrase
never leaves the client. The server only ever sees public keys.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from chatthy.errors import SignatureError

__all__ = ["SigningKey", "derive_key", "fingerprint", "verify"]

SCRYPT_N = 2**17
"""The cost of new keys: 128 MiB and about a second's work for each guess."""
SCRYPT_N_LEGACY = 2**14
"""The cost of keys made before it was raised: still accepted (the client tries the new
key first, then this one, and moves a profile that answers to it onto the new one)."""
SCRYPT_R = 8
SCRYPT_P = 1


class SigningKey:
    """A profile's private key, able to sign bodies and tell its public key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_key: bytes = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """The key made from its 32 secret bytes (as :meth:`seed` gives them)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, body: bytes) -> bytes:
        return self._private.sign(body)

    def seed(self) -> bytes:
        """The 32 secret bytes the key is made from (its CURVE key derives from them)."""
        return self._private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())


def derive_key(passphrase: str, profile: str, *, legacy: bool = False) -> SigningKey:
    """The signing key of ``profile`` for ``passphrase`` (scrypt, N=2^17: ~0.3 s and
    128 MiB; ``legacy``: the cheaper N=2^14 keys made before)."""
    n = SCRYPT_N_LEGACY if legacy else SCRYPT_N
    seed = hashlib.scrypt(
        passphrase.encode(),
        salt=b"chatthy/profile/" + profile.encode(),
        n=n,
        r=SCRYPT_R,
        p=SCRYPT_P,
        dklen=32,
        maxmem=129 * n * SCRYPT_R * SCRYPT_P + 2**20,
    )
    return SigningKey.from_seed(seed)


def fingerprint(public_key: bytes) -> str:
    """A short, stable name of a public key to compare by eye, as SSH shows them:
    ``SHA256:`` and the base64 of its SHA-256."""
    digest = hashlib.sha256(public_key).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def verify(public_key: bytes, body: bytes, signature: bytes) -> None:
    """Check ``signature`` over ``body``.

    Raises:
        SignatureError: the key is malformed or the signature does not verify.
    """
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, body)
    except (InvalidSignature, ValueError) as exc:
        raise SignatureError("bad signature: message not signed by its key") from exc
