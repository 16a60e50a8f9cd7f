"""What the quarantine keeps of a rejected envelope: a minimised copy, never the bytes sent.

The same rules as admission: only readings of categories the device's project
declares and that are certainly not personal (every project that declares the
category calls it non-personal), only their declared fields; unknown envelope
and reading members and undeclared fields are dropped. A reading is kept only
if minimising it loses nothing a stage judges, so replaying the copy decides
what replaying the original would: a value is kept as sent if it is a number or
a boolean, or a string where the category declares a string (within its
length); a unit is kept if it is the declared one. Anything else (a string in a
numeric field, a nested object, a unit that is free text) is where personal data
could hide: such a reading is not kept, only its decision is.

The copy can no longer be signature-checked, so it says that the signature was
verified at the door, by which of the device's public keys, and how many members,
fields and units were dropped (counts, never names: a name can carry data too).
A replay checks that this key was not revoked since (see gate/quarantine.py).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.domain.envelope import signing_bytes
from charter.gate.batch import EnvelopeItem
from charter.gate.directory import CategoryRule, DeviceDirectory, DeviceView

DAY_MS = 24 * 3600 * 1000
_ENVELOPE_MEMBERS = frozenset({"v", "device", "seq", "sent_at", "readings"})
_READING_MEMBERS = frozenset({"category", "t", "values", "units"})


class HeldReading(msgspec.Struct, forbid_unknown_fields=True):
    category: str
    t: datetime  # as the device sent it, offset included
    values: dict[str, Any]
    units: dict[str, str] | None = None


class Door(msgspec.Struct, forbid_unknown_fields=True):
    """What the gate established when the envelope arrived."""

    signature: str  # "verified": by the key below, at received_at
    key: str  # the device's public key that verified it (base64, raw Ed25519)
    dropped: dict[str, int]  # counts of envelope_members, reading_members, fields, units


class Held(msgspec.Struct, forbid_unknown_fields=True):
    """A quarantine item's payload."""

    device: str
    seq: int
    sent_at: datetime
    readings: list[HeldReading]
    door: Door


@dataclass(frozen=True, slots=True)
class Kept:
    payload: bytes
    expires_at: int  # received_at + the shortest retention its project declares


_encode = msgspec.json.Encoder().encode
_decode_held = msgspec.json.Decoder(Held).decode
_members = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode


def decode(payload: bytes) -> Held | None:
    """A quarantine payload, or None if it is a whole envelope kept before minimisation."""
    try:
        return _decode_held(payload)
    except msgspec.DecodeError:
        return None


def key_b64(key: Ed25519PublicKey) -> str:
    return base64.b64encode(key.public_bytes_raw()).decode()


def keep_envelope(item: EnvelopeItem, directory: DeviceDirectory) -> Kept | None:
    """The minimised envelope, or None if any of its readings may not be kept."""
    return _keep(item, range(len(item.readings)), directory)


def keep_reading(item: EnvelopeItem, i: int, directory: DeviceDirectory) -> Kept | None:
    """One minimised reading in its envelope's header, or None if it may not be kept."""
    return _keep(item, (i,), directory)


def _keep(item: EnvelopeItem, indices: Sequence[int], directory: DeviceDirectory) -> Kept | None:
    env, view = item.envelope, item.device
    if env is None or view is None or not item.authenticated or not indices:
        return None
    dropped = {"envelope_members": 0, "reading_members": 0, "fields": 0, "units": 0}
    readings: list[HeldReading] = []
    retention_days: list[int] = []
    for i in indices:
        reading = item.readings[i] if i < len(item.readings) else None
        if reading is None:
            return None
        rule = view.declared.get(reading.category)
        if rule is None or rule.personal or directory.may_be_personal(reading.category):
            return None
        kept = _minimise(rule, reading.values, reading.units, dropped)
        if kept is None:
            return None
        readings.append(HeldReading(reading.category, reading.t, *kept))
        retention_days.append(rule.retention_days)
    key = door_key(item, view)
    if not key:
        return None
    _count_members(item, indices, dropped)
    held = Held(env.device, env.seq, env.sent_at, readings, Door("verified", key, dropped))
    return Kept(_encode(held), item.received_at + min(retention_days) * DAY_MS)


def _minimise(
    rule: CategoryRule,
    values: dict[str, Any],
    units: dict[str, str] | None,
    dropped: dict[str, int],
) -> tuple[dict[str, Any], dict[str, str] | None] | None:
    fields = rule.fields
    kept: dict[str, Any] = {}
    for name, value in values.items():
        spec = fields.get(name)
        if spec is None:
            dropped["fields"] += 1
            continue
        if type(value) in (int, float, bool) or (
            type(value) is str and str in spec.types and len(value) <= spec.max_length
        ):
            kept[name] = value
        else:
            return None
    if units is None:
        return kept, None
    kept_units: dict[str, str] = {}
    for name, unit in units.items():
        spec = fields.get(name)
        if spec is None or spec.unit is None or (name not in kept and unit != spec.unit):
            dropped["units"] += 1  # not judged by any stage
        elif unit == spec.unit:
            kept_units[name] = unit
        else:
            return None
    return kept, kept_units


def door_key(item: EnvelopeItem, view: DeviceView) -> str:
    """The public key that verified the item's signature (found once per item)."""
    if item.door_key:
        return item.door_key
    try:
        sig = base64.b64decode(item.sig, validate=True)
    except (binascii.Error, ValueError):
        return ""
    for key in [k.public_key for k in view.keys] or [view.public_key]:
        try:
            key.verify(sig, signing_bytes(item.signed))
        except (InvalidSignature, ValueError):
            continue
        item.door_key = key_b64(key)
        return item.door_key
    return ""


def _count_members(item: EnvelopeItem, indices: Sequence[int], dropped: dict[str, int]) -> None:
    if not item.signed:
        return  # a replayed copy: minimised already
    try:
        members = _members(item.signed)
        raw = item.raw_readings or msgspec.json.decode(members["readings"], type=list[msgspec.Raw])
        dropped["envelope_members"] = len(members.keys() - _ENVELOPE_MEMBERS)
        for i in indices:
            dropped["reading_members"] += len(_members(raw[i]).keys() - _READING_MEMBERS)
    except (msgspec.DecodeError, KeyError, IndexError):
        return  # decoded once by the gate already; counts are a courtesy
