"""Signed tree heads in the C2SP tlog-checkpoint / signed-note format.

A note is ``<body>\\n`` followed by one ``\u2014 <name> <base64(key id || sig)>``
line per signer.  Using the standard format lets off-the-shelf witnesses and
auditors (e.g. Go's ``golang.org/x/mod/sumdb/note``) verify our log heads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "CHECKPOINT_EVERY",
    "Checkpoint",
    "CheckpointError",
    "key_id",
    "parse_checkpoint",
    "parse_vkey",
    "sign_checkpoint",
    "signer_ids",
    "verify_checkpoint",
    "vkey",
]

ROOT_SIZE = 32
# The declared spacing: the ledger signs a checkpoint at every multiple of this size.
CHECKPOINT_EVERY = 64
_ALG_ED25519 = b"\x01"  # signed-note signature type byte for Ed25519
_SIG_PREFIX = "\u2014 "  # em dash + space
_DECIMAL = re.compile(r"0|[1-9][0-9]*")  # canonical: no sign, no leading zeros


class CheckpointError(ValueError):
    """A note is malformed or its signature does not verify."""


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _is_utf8(text: str) -> bool:
    # Python str may hold lone surrogates, which have no UTF-8 encoding.
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _valid_key_name(key_name: str) -> bool:
    # '+' separates vkey fields and whitespace separates signature-line fields.
    return (
        bool(key_name)
        and "+" not in key_name
        and not any(c.isspace() for c in key_name)
        and _is_utf8(key_name)
    )


def _check_key_name(key_name: str) -> None:
    if not _valid_key_name(key_name):
        raise ValueError(f"invalid key name {key_name!r}")


def key_id(key_name: str, public_key: Ed25519PublicKey) -> bytes:
    """First 4 bytes of SHA-256(name || '\\n' || 0x01 || pubkey)."""
    _check_key_name(key_name)
    data = key_name.encode() + b"\n" + _ALG_ED25519 + _raw_public(public_key)
    return hashlib.sha256(data).digest()[:4]


def vkey(key_name: str, public_key: Ed25519PublicKey) -> str:
    """Verifier key string ``<name>+<hex key id>+<base64(0x01||pubkey)>``."""
    _check_key_name(key_name)
    encoded = base64.b64encode(_ALG_ED25519 + _raw_public(public_key)).decode()
    return f"{key_name}+{key_id(key_name, public_key).hex()}+{encoded}"


def parse_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    """The name and public key of a verifier key string; its key id must match."""
    # The base64 key may itself hold '+': only the first two separate fields.
    name, kid_hex, encoded = [*text.split("+", 2), "", ""][:3]
    if not encoded or not _valid_key_name(name):
        raise CheckpointError(f"malformed verifier key {text!r}")
    raw = _b64(encoded, "verifier key")
    if len(raw) != 33 or raw[:1] != _ALG_ED25519:
        raise CheckpointError("verifier key is not an Ed25519 key")
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if key_id(name, public_key).hex() != kid_hex:
        raise CheckpointError("verifier key's id does not match its key")
    return name, public_key


def signer_ids(note: str) -> list[tuple[str, bytes]]:
    """The ``(key name, key id)`` of each signature line of a note, unverified."""
    return [(name, kid) for name, kid, _sig in parse_checkpoint(note)[1]]


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes

    def __post_init__(self) -> None:
        # Validate here so every Checkpoint has a canonical, parseable body.
        origin = self.origin
        if not origin or any(ord(c) < 0x20 or c == "\x7f" for c in origin) or not _is_utf8(origin):
            raise CheckpointError(f"invalid origin {self.origin!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 0:
            raise CheckpointError(f"invalid tree size {self.size!r}")
        if not isinstance(self.root, bytes) or len(self.root) != ROOT_SIZE:
            raise CheckpointError(f"root hash must be {ROOT_SIZE} bytes")

    def body(self) -> bytes:
        root = base64.b64encode(self.root).decode()
        return f"{self.origin}\n{self.size}\n{root}\n".encode()


def sign_checkpoint(cp: Checkpoint, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """Return the full signed note text for ``cp``."""
    _check_key_name(key_name)
    body = cp.body()
    signature = private_key.sign(body)
    kid = key_id(key_name, private_key.public_key())
    encoded = base64.b64encode(kid + signature).decode()
    return f"{body.decode()}\n{_SIG_PREFIX}{key_name} {encoded}\n"


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise CheckpointError(f"{what} is not valid base64") from exc


def _parse_body(text: str) -> Checkpoint:
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise CheckpointError("checkpoint body must be exactly origin, size and root lines")
    origin, size_text, root_text = lines[:3]
    if not _DECIMAL.fullmatch(size_text):
        raise CheckpointError(f"invalid tree size {size_text!r}")
    cp = Checkpoint(origin, int(size_text), _b64(root_text, "root hash"))
    # Reject non-canonical encodings so the signed bytes are exactly cp.body().
    if cp.body() != text.encode():
        raise CheckpointError("checkpoint body is not canonically encoded")
    return cp


def _split_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    if not isinstance(note, str):
        raise CheckpointError("note must be a string")
    if not _is_utf8(note):
        raise CheckpointError("note is not valid UTF-8")
    if not note.endswith("\n"):
        raise CheckpointError("note must end with a newline")
    sep = note.rfind("\n\n")
    if sep < 0:
        raise CheckpointError("note has no blank line before its signatures")
    text, sig_block = note[: sep + 1], note[sep + 2 :]
    if not sig_block:
        raise CheckpointError("note has no signature lines")
    signatures: list[tuple[str, bytes, bytes]] = []
    for line in sig_block[:-1].split("\n"):
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError(f"malformed signature line {line!r}")
        name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not space or not _valid_key_name(name) or " " in encoded:
            raise CheckpointError(f"malformed signature line {line!r}")
        raw = _b64(encoded, "signature")
        if len(raw) < 5:
            raise CheckpointError(f"signature from {name!r} is too short")
        signatures.append((name, raw[:4], raw[4:]))
    return text, signatures


def parse_checkpoint(note: str) -> tuple[Checkpoint, list[tuple[str, bytes, bytes]]]:
    """Parse without verifying; signatures are ``(key name, key id, sig)``."""
    text, signatures = _split_note(note)
    return _parse_body(text), signatures


def verify_checkpoint(note: str, key_name: str, public_key: Ed25519PublicKey) -> Checkpoint:
    """Return the checkpoint if ``key_name``/``public_key`` signed it."""
    cp, signatures = parse_checkpoint(note)
    if not _valid_key_name(key_name):
        raise CheckpointError(f"invalid key name {key_name!r}")
    kid = key_id(key_name, public_key)
    # Match on name *and* key id: other signers (e.g. witnesses) are ignored.
    candidates = [sig for name, k, sig in signatures if name == key_name and k == kid]
    if not candidates:
        raise CheckpointError(f"note is not signed by key {key_name!r}")
    body = cp.body()
    for sig in candidates:
        try:
            public_key.verify(sig, body)
        except InvalidSignature:
            continue
        return cp
    raise CheckpointError(f"invalid signature from key {key_name!r}")
