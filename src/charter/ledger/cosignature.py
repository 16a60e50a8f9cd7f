"""Witness cosignatures in the C2SP tlog-cosignature format (``cosignature/v1``, Ed25519).

A witness that checked a checkpoint is consistent with every one it saw
before adds one signature line to the note:
``\u2014 <witness name> base64(key id || timestamp || signature)``, where the key
id is ``SHA-256(name || '\\n' || 0x04 || public key)[:4]``, the timestamp is a
big-endian u64 of POSIX seconds, and the Ed25519 signature covers::

    cosignature/v1
    time <timestamp>
    <the checkpoint's body>

The type byte 0x04 keeps a witness's key id apart from a log's (0x01), so a
log key can never pass for a witness. Hand-written (about forty lines) because
no library in the project speaks signed notes.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from charter.ledger.checkpoint import Checkpoint, CheckpointError, parse_checkpoint

__all__ = [
    "Witness",
    "cosign",
    "cosignatures",
    "parse_witness_vkey",
    "signature_lines",
    "witness_key_id",
    "witness_vkey",
]

_ALG_COSIGNATURE_V1 = b"\x04"
_SIG_PREFIX = "\u2014 "

Witness = tuple[str, Ed25519PublicKey]
"""A configured witness: its name and public key."""


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def witness_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ALG_COSIGNATURE_V1 + _raw(public_key)).digest()[
        :4
    ]


def witness_vkey(name: str, public_key: Ed25519PublicKey) -> str:
    """The witness's verifier key: ``<name>+<hex key id>+<base64(0x04 || public key)>``."""
    encoded = base64.b64encode(_ALG_COSIGNATURE_V1 + _raw(public_key)).decode()
    return f"{name}+{witness_key_id(name, public_key).hex()}+{encoded}"


def parse_witness_vkey(text: str) -> Witness:
    name, kid_hex, encoded = [*text.split("+", 2), "", ""][:3]
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raw = b""
    if not name or any(c.isspace() for c in name) or len(raw) != 33:
        raise CheckpointError(f"malformed witness key {text!r}")
    if raw[:1] != _ALG_COSIGNATURE_V1:
        raise CheckpointError("not a witness key (cosignature/v1, type 0x04)")
    public_key = Ed25519PublicKey.from_public_bytes(raw[1:])
    if witness_key_id(name, public_key).hex() != kid_hex:
        raise CheckpointError("witness key's id does not match its key")
    return name, public_key


def _message(cp: Checkpoint, timestamp: int) -> bytes:
    return b"cosignature/v1\ntime %d\n" % timestamp + cp.body()


def cosign(note: str, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """The note with the witness's cosignature line added (the caller checked consistency)."""
    cp, _ = parse_checkpoint(note)
    if not 0 <= timestamp < 2**63:
        raise ValueError("timestamp out of range")
    kid = witness_key_id(name, private_key.public_key())
    sig = private_key.sign(_message(cp, timestamp))
    line = (
        f"{_SIG_PREFIX}{name} {base64.b64encode(kid + struct.pack('>Q', timestamp) + sig).decode()}"
    )
    return note + line + "\n"


def cosignatures(note: str, witnesses: Sequence[Witness]) -> dict[str, int]:
    """For each configured witness that cosigned `note`, its timestamp.

    Lines of other signers are ignored; a line that names a configured
    witness's key but does not verify raises CheckpointError.
    """
    cp, lines = parse_checkpoint(note)
    out: dict[str, int] = {}
    for name, public_key in witnesses:
        kid = witness_key_id(name, public_key)
        for line_name, line_kid, raw in lines:
            if (line_name, line_kid) != (name, kid):
                continue
            if len(raw) != 8 + 64:
                raise CheckpointError(f"cosignature from witness {name!r} is malformed")
            (timestamp,) = struct.unpack(">Q", raw[:8])
            try:
                public_key.verify(raw[8:], _message(cp, timestamp))
            except InvalidSignature:
                raise CheckpointError(
                    f"cosignature from witness {name!r} does not verify"
                ) from None
            out[name] = max(timestamp, out.get(name, 0))
    return out


def signature_lines(note: str) -> list[str]:
    """The note's signature lines, as written."""
    block = note[note.rfind("\n\n") + 2 :]
    return [line for line in block.split("\n") if line]
