"""Witness cosignatures byte for byte as C2SP tlog-cosignature (cosignature/v1) defines them."""

from __future__ import annotations

import base64
import hashlib
import struct

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.ledger.checkpoint import Checkpoint, CheckpointError, key_id, sign_checkpoint
from charter.ledger.cosignature import (
    cosign,
    cosignatures,
    parse_witness_vkey,
    witness_key_id,
    witness_vkey,
)

LOG = Ed25519PrivateKey.generate()
W = Ed25519PrivateKey.generate()
NOTE = sign_checkpoint(Checkpoint("example.com/log", 20852163, b"\x07" * 32), "example.com", LOG)


def test_the_line_the_key_id_and_the_signed_message_follow_the_spec() -> None:
    cosigned = cosign(NOTE, "witness.example.com/w1", W, 1679315147)
    assert cosigned.startswith(NOTE)
    line = cosigned[len(NOTE) :]
    assert line.startswith("\u2014 witness.example.com/w1 ") and line.endswith("\n")
    raw = base64.b64decode(line.split(" ")[2])
    public = W.public_key().public_bytes_raw()
    assert raw[:4] == hashlib.sha256(b"witness.example.com/w1\n\x04" + public).digest()[:4]
    assert struct.unpack(">Q", raw[4:12]) == (1679315147,)
    message = (
        b"cosignature/v1\ntime 1679315147\nexample.com/log\n20852163\n"
        + base64.b64encode(b"\x07" * 32)
        + b"\n"
    )
    W.public_key().verify(raw[12:], message)  # raises if the message differs
    assert len(raw) == 4 + 8 + 64


def test_a_witness_key_is_never_a_log_key() -> None:
    assert witness_key_id("w", W.public_key()) != key_id("w", W.public_key())
    name, key = parse_witness_vkey(witness_vkey("w", W.public_key()))
    assert name == "w" and key.public_bytes_raw() == W.public_key().public_bytes_raw()
    with pytest.raises(CheckpointError, match="not a witness key"):
        parse_witness_vkey("w+" + key_id("w", W.public_key()).hex() + "+" + base64.b64encode(
            b"\x01" + W.public_key().public_bytes_raw()).decode())  # fmt: skip


def test_cosignatures_are_checked_only_for_configured_witnesses() -> None:
    other = Ed25519PrivateKey.generate()
    note = cosign(cosign(NOTE, "w1", W, 10), "w2", other, 11)
    assert cosignatures(note, [("w1", W.public_key())]) == {"w1": 10}
    assert cosignatures(note, []) == {}
    # The same name with another key does not match its key id: ignored, not trusted.
    assert cosignatures(note, [("w1", other.public_key())]) == {}
    tampered = note.replace("20852163", "20852164")
    with pytest.raises(CheckpointError, match="does not verify"):
        cosignatures(tampered, [("w1", W.public_key())])
