"""The wire format devices send: a signed envelope of 1 to 10 000 readings.

    {"envelope": {"v": 1, "device": "urn:ngsi-ld:Device:x", "seq": 7,
                  "sent_at": "2026-11-29T20:00:00Z",
                  "readings": [{"category": "air.quality", "t": "2026-11-29T19:59:58Z",
                                "values": {"pm25": 12.5}, "units": {"pm25": "ug/m3"}}]},
     "sig": "<base64 Ed25519 signature>"}

The signature covers SIGNING_CONTEXT followed by the exact bytes of the
"envelope" member as sent. The gate never re-serialises before verifying, so
there is no canonicalisation to get wrong; the device's bytes are the canonical
bytes. The context prefix keeps these signatures from being valid for anything else.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

import msgspec

SIGNING_CONTEXT = b"charter-envelope-v1\n"
ENVELOPE_VERSION = 1

DeviceId = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Category = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**62)]
Moment = Annotated[datetime, msgspec.Meta(tz=True)]


class SignedEnvelope(msgspec.Struct, forbid_unknown_fields=True):
    envelope: msgspec.Raw
    sig: Annotated[str, msgspec.Meta(max_length=128)]


class ReadingIn(msgspec.Struct):
    category: Category
    t: Moment
    values: dict[str, Any]
    units: dict[str, str] | None = None


class Envelope(msgspec.Struct):
    v: int
    device: DeviceId
    seq: Seq
    sent_at: Moment
    readings: list[ReadingIn]


class EnvelopeHead(msgspec.Struct):
    """The envelope's header alone: its readings are skipped, not built.

    What the gate reads before it knows who sent the envelope, so that a
    stranger's envelope costs a scan and a look-up, not a full decode.
    """

    v: int
    device: DeviceId
    seq: Seq
    sent_at: Moment


class EnvelopeReadings(msgspec.Struct):
    """The envelope's readings alone (the header was read already)."""

    readings: list[ReadingIn]


class EnvelopeRawReadings(msgspec.Struct):
    """The readings left undecoded: to find which reading is bad."""

    readings: list[msgspec.Raw]


def signing_bytes(envelope_bytes: bytes) -> bytes:
    return SIGNING_CONTEXT + envelope_bytes


def envelope_digest(envelope_bytes: bytes) -> bytes:
    """What identifies an envelope's content: SHA-256 of the signed bytes.

    The signed bytes, not the whole body: the same envelope re-wrapped (other
    whitespace, another encoding of the signature) is still the same envelope.
    """
    return hashlib.sha256(envelope_bytes).digest()
