"""Keyed pseudonyms of identifiers devices see (a fob, an app token, a vehicle tag).

HMAC-SHA256 under a platform key held in the key store. Without the key, a
digest cannot be tested against guessed identifiers (unlike a plain hash). The
key is rotated on a schedule: a new version takes over, the previous one stays
usable for a grace period (links made under it are re-made under the new key
when the identifier is next seen), then it is destroyed with its links.
"""

from __future__ import annotations

import hmac
import threading
from datetime import timedelta

from charter.domain.clock import Clock, to_ms
from charter.privacy.keystore import KeyStore

DAY_MS = 24 * 3600 * 1000


class Pseudonymiser:
    def __init__(self, keys: KeyStore, clock: Clock) -> None:
        self.keys, self.clock = keys, clock
        self._lock = threading.Lock()
        self._active: list[tuple[int, bytes]] = []
        self.reload()

    def __repr__(self) -> str:
        return "Pseudonymiser(keys=<hidden>)"

    # HMAC-SHA256 through hmac.digest: the one-shot C path, several times faster
    # than hmac.new(...).hexdigest() on short identifiers.

    def reload(self) -> None:
        stored = self.keys.pseudonym_keys()
        if not stored:
            self.keys.add_pseudonym_key(to_ms(self.clock.now()))
            stored = self.keys.pseudonym_keys()
        with self._lock:
            self._active = [(v, k) for v, k, _c, retired in stored if retired is None]

    @property
    def current_version(self) -> int:
        return self._active[0][0]

    def digest(self, identifier: str) -> tuple[int, str]:
        """The identifier's pseudonym under the current key."""
        version, key = self._active[0]
        return version, hmac.digest(key, identifier.encode(), "sha256").hex()

    def digests(self, identifier: str) -> list[tuple[int, str]]:
        """Its pseudonyms under every active key, newest first."""
        raw = identifier.encode()
        return [(v, hmac.digest(k, raw, "sha256").hex()) for v, k in self._active]

    @property
    def active(self) -> list[tuple[int, bytes]]:
        """The active keys, newest first (for the gate's hot path)."""
        return self._active

    def rotate(self) -> int:
        """Start a new key version; the old ones stay active for their grace period."""
        version = self.keys.add_pseudonym_key(to_ms(self.clock.now()))
        self.reload()
        return version

    def due(self, every_days: int) -> bool:
        stored = self.keys.pseudonym_keys()
        newest_created = stored[0][2] if stored else 0
        return to_ms(self.clock.now()) - newest_created >= every_days * DAY_MS

    def expired_versions(self, grace: timedelta) -> list[int]:
        """Versions older than the current one whose grace period has run out."""
        stored = self.keys.pseudonym_keys()
        if len(stored) < 2:
            return []
        successor_created = {stored[i + 1][0]: stored[i][2] for i in range(len(stored) - 1)}
        cut = to_ms(self.clock.now()) - int(grace.total_seconds() * 1000)
        return [v for v, created in successor_created.items() if created <= cut]
