"""Signed commands to devices, sent on `<root>/<device-id>/down`.

A command is signed like an envelope, the other way round: the platform's
command key signs COMMAND_CONTEXT followed by the exact bytes of the "command"
member. A device verifies with the key it was given when it was enrolled and
ignores anything else, so a stranger with access to the broker cannot steer it.
The command names its device and carries a sequence number and a time, so a
captured command is useless for another device or a later replay.

    {"command": {"device": "urn:ngsi-ld:Device:x", "seq": 3,
                 "issued_at": "2026-11-29T20:00:00Z", "action": "set_period",
                 "args": {"seconds": 60}},
     "sig": "<base64 Ed25519 signature>"}
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.keys import SigningKey

COMMAND_CONTEXT = b"charter-command-v1\n"
_encode = msgspec.json.Encoder().encode


class Command(msgspec.Struct):
    device: str
    seq: int
    issued_at: datetime
    action: str
    args: dict[str, Any] = {}


class _Signed(msgspec.Struct):
    command: msgspec.Raw
    sig: str


def sign_command(key: SigningKey, command: Command) -> bytes:
    body = _encode(command)
    sig = base64.b64encode(key.sign(COMMAND_CONTEXT + body))
    return b'{"command":' + body + b',"sig":"' + sig + b'"}'


class BadCommand(ValueError):
    """Not a command this device should obey."""


def verify_command(public_key: Ed25519PublicKey, device_id: str, raw: bytes) -> Command:
    """What a device does with what arrives on its down topic."""
    try:
        signed = msgspec.json.decode(raw, type=_Signed)
        public_key.verify(
            base64.b64decode(signed.sig, validate=True), COMMAND_CONTEXT + signed.command
        )
        command = msgspec.json.decode(signed.command, type=Command)
    except (msgspec.DecodeError, InvalidSignature, ValueError) as e:
        raise BadCommand("not a validly signed command") from e
    if command.device != device_id:
        raise BadCommand("the command is for another device")
    return command
