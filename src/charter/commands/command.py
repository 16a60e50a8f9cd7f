"""A command to one actuator, and its signed wire form."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import msgspec

DOMAIN = b"charter-command-v1\n"  # signatures over commands never verify as anything else
_encode = msgspec.json.Encoder(order="sorted").encode
MAX_WIRE_BYTES = 16 * 1024


class Command(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    target: str  # the actuator's device URN
    action: str  # e.g. "signal.preempt", "heater.set", "alert.broadcast"
    params: dict[str, Any]
    seq: int  # strictly increasing per target
    issued_at_ms: int
    expires_at_ms: int

    def signing_bytes(self) -> bytes:
        return DOMAIN + _encode(self)


class SignedCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    command: Command
    sig: str  # base64 Ed25519 over command.signing_bytes()

    def to_wire(self) -> bytes:
        return _encode(self)

    def signature(self) -> bytes:
        try:
            return base64.b64decode(self.sig, validate=True)
        except (binascii.Error, ValueError):
            return b""


_decoder = msgspec.json.Decoder(SignedCommand)


def from_wire(data: bytes) -> SignedCommand:
    """Strict decoding; raises msgspec.DecodeError (or ValueError) on anything else."""
    if len(data) > MAX_WIRE_BYTES:
        raise ValueError("command too large")
    return _decoder.decode(data)


@dataclass(frozen=True)
class Refusal:
    code: str  # malformed | bad_signature | wrong_target | expired | not_yet_valid | replayed
    detail: str
