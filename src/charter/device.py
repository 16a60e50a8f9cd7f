"""The device side: what a sensor does to send readings. Used by the simulator,
the benchmarks and the tests, and a reference for vendors writing firmware."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.domain import possession
from charter.domain.envelope import ENVELOPE_VERSION, signing_bytes

_encode = msgspec.json.Encoder().encode


@dataclass
class SimReading:
    category: str
    t: datetime
    values: Mapping[str, Any]
    units: Mapping[str, str] | None = None

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"category": self.category, "t": self.t, "values": self.values}
        if self.units:
            wire["units"] = self.units
        return wire


class DeviceSigner:
    """Holds a device's private key (made on the device) and signs its envelopes."""

    def __init__(self, device_id: str, key: Ed25519PrivateKey | None = None) -> None:
        self.device_id = device_id
        self._key = key or Ed25519PrivateKey.generate()

    def __repr__(self) -> str:
        return f"DeviceSigner({self.device_id!r}, key=<hidden>)"

    @property
    def public_key_b64(self) -> str:
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode()

    def private_bytes(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @classmethod
    def from_private_bytes(cls, device_id: str, raw: bytes) -> DeviceSigner:
        return cls(device_id, Ed25519PrivateKey.from_private_bytes(raw))

    def seal(self, envelope_bytes: bytes) -> bytes:
        """Wrap already-encoded envelope bytes with their signature."""
        sig = base64.b64encode(self._key.sign(signing_bytes(envelope_bytes)))
        return b'{"envelope":' + envelope_bytes + b',"sig":"' + sig + b'"}'

    def envelope(
        self,
        seq: int,
        sent_at: datetime,
        readings: Iterable[SimReading | Mapping[str, Any]],
        *,
        device_id: str | None = None,
    ) -> bytes:
        body = {
            "v": ENVELOPE_VERSION,
            "device": device_id or self.device_id,
            "seq": seq,
            "sent_at": sent_at,
            "readings": [r.to_wire() if isinstance(r, SimReading) else r for r in readings],
        }
        return self.seal(_encode(body))


class FobKey:
    """A resident's fob (or tag) that can prove it is held: its own Ed25519 key.

    The fob sends `identifier` to the readers it meets and answers the
    platform's link challenge with `answer` (see `charter.domain.possession`).
    """

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self._key = key or Ed25519PrivateKey.generate()

    def __repr__(self) -> str:
        return f"FobKey({self.identifier!r}, key=<hidden>)"

    @property
    def public_key(self) -> bytes:
        return self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key).decode()

    @property
    def identifier(self) -> str:
        return possession.identifier_for(self.public_key)

    def answer(self, challenge: str) -> str:
        """The fob's signature over the challenge, base64."""
        return base64.b64encode(self._key.sign(possession.answer_message(challenge))).decode()
