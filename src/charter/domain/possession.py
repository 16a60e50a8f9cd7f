"""Proof that a resident holds the identifier they link (a fob, a tag, an app).

An identifier that proves itself is derived from an Ed25519 public key: the fob
keeps the private key and sends `identifier_for(public key)` to the readers it
meets. To link it, the resident asks the platform for a challenge (signed by
the platform, naming the resident, valid a few minutes) and has the fob sign
`answer_message(challenge)`. Whoever only saw the identifier on the air, or
read it off a reader, cannot answer: that needs the fob's private key. The
challenge names the resident, so an answer links the fob to that resident only.

Identifiers that carry no key (a legacy fob, a printed vehicle tag) are linked
only after an operator verified that the resident holds them; both ways are
on the ledger (`identifier.linked`, with `proof`).
"""

from __future__ import annotations

import base64
import hashlib

PREFIX = "K1-"  # marks an identifier derived from a key
ANSWER_CONTEXT = b"charter-link-answer/1\n"
CHALLENGE_CONTEXT = b"charter-link-challenge/1\n"


def identifier_for(public_key: bytes) -> str:
    """The identifier a keyed fob sends: its public key's SHA-256, base32, 26 characters."""
    digest = hashlib.sha256(public_key).digest()
    return PREFIX + base64.b32encode(digest).decode()[:26]


def answer_message(challenge: str) -> bytes:
    """What the fob signs to answer a challenge."""
    return ANSWER_CONTEXT + challenge.encode()
