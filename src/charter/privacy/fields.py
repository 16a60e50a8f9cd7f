"""Personal fields encrypted at rest with the resident's own AES-GCM key.

The stored body stays JSON: `{"enc": "v1.<base64 nonce+ciphertext>"}`. The
associated data binds a ciphertext to its resident and category, so a body
cannot be moved to another resident's row and still decrypt.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag

from charter.privacy.keystore import KeyStore

PREFIX = '{"enc":"v1.'


class FieldCipher:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def encrypt(self, resident_id: str, category: str, plaintext: bytes) -> str | None:
        """The stored body, or None if the resident has no key (erased)."""
        aes = self.keys.cipher(resident_id)
        if aes is None:
            return None
        nonce = os.urandom(12)
        ct = aes.encrypt(nonce, plaintext, f"{resident_id}|{category}".encode())
        return PREFIX + base64.b64encode(nonce + ct).decode() + '"}'

    def decrypt(self, resident_id: str, category: str, body: str) -> bytes | None:
        """The plaintext, or None when the key is gone or the body was tampered with."""
        if not body.startswith(PREFIX):
            return None
        aes = self.keys.cipher(resident_id)
        if aes is None:
            return None
        blob = base64.b64decode(body[len(PREFIX) : -2])
        try:
            return aes.decrypt(blob[:12], blob[12:], f"{resident_id}|{category}".encode())
        except (InvalidTag, ValueError):
            return None
