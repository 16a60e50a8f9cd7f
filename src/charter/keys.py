"""The platform's own keys, kept in the data directory with owner-only permissions.

Private keys are wrapped so that their repr never shows the material.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class SigningKey:
    """An Ed25519 private key with a name; its repr hides the key."""

    __slots__ = ("_key", "name")

    def __init__(self, name: str, key: Ed25519PrivateKey) -> None:
        self.name = name
        self._key = key

    def __repr__(self) -> str:
        return f"SigningKey(name={self.name!r}, key=<hidden>)"

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)

    @property
    def private_key(self) -> Ed25519PrivateKey:
        return self._key

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def public_key_b64(self) -> str:
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()


def load(path: Path, name: str) -> SigningKey:
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return SigningKey(name, loaded)


def _private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_or_create(path: Path, name: str) -> SigningKey:
    """Load the key at `path`, or create it (mode 0600) on first start."""
    if path.exists():
        return load(path, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(_private_pem(key))
    return SigningKey(name, key)


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write `data` to `path` so a crash leaves the old file or the new one, never neither.

    The bytes go to a temporary file beside it, which is fsynced and renamed over
    `path`; then the directory is fsynced so the rename itself survives.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_private(path: Path, key: SigningKey) -> None:
    """Write a private key (mode 0600), atomically."""
    write_atomic(path, _private_pem(key.private_key), 0o600)


def write_public(path: Path, public_key: Ed25519PublicKey) -> None:
    """Write a public key as PEM (mode 0644), atomically."""
    pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    write_atomic(path, pem, 0o644)


def load_public(path: Path) -> Ed25519PublicKey:
    loaded = serialization.load_pem_public_key(path.read_bytes())
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError(f"{path} does not hold an Ed25519 public key")
    return loaded
