"""Compact JWS (RFC 7515) signed with the platform's Ed25519 key (alg EdDSA, RFC 8037).

Hand-written because it is twenty lines over `cryptography`, which Charter
already uses for every signature; a JOSE library would add a dependency for
one algorithm. Only EdDSA is accepted when verifying (no "alg" confusion).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.keys import SigningKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], key: SigningKey, typ: str) -> str:
    header = {"alg": "EdDSA", "kid": key.name, "typ": typ}
    signing_input = (
        _b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    )
    return signing_input + "." + _b64(key.sign(signing_input.encode()))


def verify(token: str, public_key: Ed25519PublicKey, typ: str) -> dict[str, Any] | None:
    """The payload if the token is a well-formed EdDSA JWS of this type by this key."""
    try:
        head, body, sig = token.split(".")
        header = json.loads(_unb64(head))
        if header.get("alg") != "EdDSA" or header.get("typ") != typ:
            return None
        public_key.verify(_unb64(sig), f"{head}.{body}".encode())
        payload = json.loads(_unb64(body))
    except (ValueError, InvalidSignature, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None
