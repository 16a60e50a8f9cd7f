"""Compact JWS (RFC 7515) signed with the platform's Ed25519 key (alg EdDSA, RFC 8037).

PyJWT's JWS layer does the encoding, the header checks and the signature; this
module adds only what is Charter's: the payload is serialised canonically
(sorted keys, no spaces) so the bytes of a receipt are reproducible, the header
must name the expected `typ`, and only EdDSA is accepted when verifying (no
"alg" confusion). Any token that is not such a JWS, however it is malformed (a
header that is a list, a string, a number or null, nesting too deep for the
JSON decoder, bad base64), verifies as None: it never raises.

The wire format is the one of the hand-written version this replaced, byte for
byte (header `{"alg","kid","typ"}` in sorted order, Ed25519 is deterministic),
so receipts and grants issued before still verify.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.keys import SigningKey

ALGORITHM = "EdDSA"
_JWS = jwt.PyJWS(algorithms=[ALGORITHM])


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def sign(payload: dict[str, Any], key: SigningKey, typ: str) -> str:
    return _JWS.encode(
        canonical(payload),
        key.private_key,
        algorithm=ALGORITHM,
        headers={"kid": key.name, "typ": typ},
        sort_headers=True,
    )


def verify(token: str, public_key: Ed25519PublicKey, typ: str) -> dict[str, Any] | None:
    """The payload if the token is a well-formed EdDSA JWS of this type by this key."""
    try:
        signed = _JWS.decode_complete(token, public_key, algorithms=[ALGORITHM])
        if signed["header"].get("typ") != typ:
            return None
        payload = json.loads(signed["payload"])
    # RecursionError: JSON nested deeper than the decoder goes is malformed input too.
    except (jwt.PyJWTError, ValueError, RecursionError):
        return None
    return payload if isinstance(payload, dict) else None
