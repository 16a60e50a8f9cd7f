"""The actuator's side: verify before acting, every time.

A command is acted on only if it is signed by the platform's command key, is
addressed to this actuator, is within its validity window, and carries a
sequence number higher than any this actuator accepted before (so a captured
command cannot be played again, even within its window).
"""

from __future__ import annotations

import base64

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.commands.command import Command, Refusal, from_wire
from charter.domain.clock import Clock, to_ms


class CommandRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.code}: {refusal.detail}")
        self.refusal = refusal


class CommandVerifier:
    def __init__(
        self,
        target: str,
        platform_key_b64: str,
        clock: Clock,
        *,
        max_skew_ms: int = 5_000,
        last_seq: int = 0,
    ) -> None:
        self.target, self.clock, self.max_skew_ms = target, clock, max_skew_ms
        self._key = Ed25519PublicKey.from_public_bytes(base64.b64decode(platform_key_b64))
        self.last_seq = last_seq  # an actuator persists this across its own restarts

    def verify(self, wire: bytes) -> Command:
        try:
            signed = from_wire(wire)
        except (msgspec.DecodeError, ValueError):
            raise CommandRefused(Refusal("malformed", "not a signed command")) from None
        cmd = signed.command
        try:
            self._key.verify(signed.signature(), cmd.signing_bytes())
        except (InvalidSignature, ValueError):
            raise CommandRefused(Refusal("bad_signature", "not signed by the platform")) from None
        if cmd.target != self.target:
            raise CommandRefused(Refusal("wrong_target", "addressed to another actuator"))
        now = to_ms(self.clock.now())
        if now >= cmd.expires_at_ms:
            raise CommandRefused(Refusal("expired", "the command's validity has ended"))
        if cmd.issued_at_ms > now + self.max_skew_ms:
            raise CommandRefused(Refusal("not_yet_valid", "issued in the future"))
        if cmd.seq <= self.last_seq:
            raise CommandRefused(Refusal("replayed", f"sequence {cmd.seq} was already used"))
        self.last_seq = cmd.seq
        return cmd
