"""The platform's side: sign a command for one actuator, valid for a short time."""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

from charter.commands.command import Command, SignedCommand
from charter.domain.clock import Clock, to_ms
from charter.keys import SigningKey


class CommandSigner:
    def __init__(self, key: Callable[[], SigningKey], clock: Clock, ttl_s: int) -> None:
        # Loaded on first use: a platform that never commands an actuator makes no key.
        self._load, self.clock, self.ttl_ms = key, clock, ttl_s * 1000
        self._key: SigningKey | None = None
        self._seqs: dict[str, int] = {}
        self._lock = threading.Lock()

    @property
    def public_key_b64(self) -> str:
        """What actuators are provisioned with to verify commands."""
        return self.key().public_key_b64()

    def key(self) -> SigningKey:
        if self._key is None:
            self._key = self._load()
        return self._key

    def sign(self, target: str, action: str, params: dict[str, Any]) -> SignedCommand:
        now = to_ms(self.clock.now())
        with self._lock:
            # Time-based so that it keeps increasing across restarts of the platform.
            seq = max(self._seqs.get(target, 0) + 1, now * 1000)
            self._seqs[target] = seq
        cmd = Command(target, action, params, seq, now, now + self.ttl_ms)
        sig = base64.b64encode(self.key().sign(cmd.signing_bytes())).decode()
        return SignedCommand(cmd, sig)
