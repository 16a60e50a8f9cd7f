"""Stage 2, authenticate: the registered device signed this (`Authenticate`), once,
recently (`SequenceCheck`)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.domain.clock import to_ms
from charter.domain.envelope import signing_bytes
from charter.domain.reasons import Reason
from charter.gate.batch import Batch, EnvelopeItem
from charter.gate.directory import DeviceDirectory, KeyView
from charter.security.ratelimit import RateLimiter, retry_detail

STAGE = "authenticate"


@dataclass(frozen=True)
class Window:
    """How far an envelope's sent_at may lie from the gate's clock, in milliseconds."""

    max_age_ms: int = 5 * 60 * 1000
    max_skew_ms: int = 60 * 1000

    def problem(self, sent_ms: int, at_ms: int) -> tuple[Reason, str] | None:
        """Why a sent_at is out of the window around at_ms (arrival), or None."""
        if sent_ms < at_ms - self.max_age_ms:
            return Reason.STALE_TIMESTAMP, "sent_at is too old"
        if sent_ms > at_ms + self.max_skew_ms:
            return Reason.FUTURE_TIMESTAMP, "sent_at is in the future"
        return None


class Authenticate:
    """The signature: a registered device's current key made it.

    Reads the register (through the directory) but no committed sequence
    number, so it runs outside the gate's commit lock, before the readings are
    decoded: a stranger's envelope costs a look-up, a forged one a signature check.
    """

    def __init__(self, directory: DeviceDirectory, limiter: RateLimiter | None = None) -> None:
        self.directory = directory
        # Per-device rate limit: only peeked at here; spent by `SequenceCheck`, after
        # the signature and the replay check (so nobody can spend another
        # device's allowance).
        self.limiter = limiter

    def __call__(self, batch: Batch) -> None:
        for item in batch.live():
            self.one(item, batch.now_ms)

    def one(self, item: EnvelopeItem, now_ms: int) -> None:
        env = item.envelope
        assert env is not None
        view = self.directory.get(env.device)
        if view is None:
            return item.reject(STAGE, Reason.NOT_REGISTERED)
        if self.limiter is not None and not item.replay:
            # A device whose allowance is spent is refused before the costly
            # signature check: a flood costs the gate little more than decoding.
            # Only the device itself can spend its allowance (see SequenceCheck), so
            # this cannot be used to silence it.
            wait_s = self.limiter.peek(view.id, late_ms=now_ms - item.received_at)
            if wait_s:
                return item.reject(STAGE, Reason.RATE_LIMITED, retry_detail(wait_s))
        try:
            sig = base64.b64decode(item.sig, validate=True)
        except (binascii.Error, ValueError):
            return item.reject(STAGE, Reason.BAD_SIGNATURE)
        if not view.keys:
            if not _verifies(view.public_key, sig, item.signed):
                return item.reject(STAGE, Reason.BAD_SIGNATURE)
        else:
            # A replayed quarantine item is judged by the overlaps as they were when
            # it arrived; a revocation counts whenever it was made (a revoked key
            # may have been stolen before it was revoked).
            at = item.received_at if item.replay else now_ms
            refusal = _check_keys(view.keys, sig, item.signed, at)
            if refusal is not None:
                return item.reject(STAGE, *refusal)
        item.device = view
        item.authenticated = True
        return None


class SequenceCheck:
    """Once and recently: the sequence number, the rate limit, the time window.

    Reads the committed sequence number, so it runs under the gate's commit
    lock. Using a sequence number here is only tentative (for the rest of the
    batch); it is committed only for an envelope that is admitted or
    quarantined (`Gate._settle`).
    """

    def __init__(self, auth: Authenticate, window: Window) -> None:
        self.auth, self.window = auth, window

    def __call__(self, batch: Batch) -> None:
        for item in batch.live():
            self.one(item, batch)

    def one(self, item: EnvelopeItem, batch: Batch) -> None:
        env, view = item.envelope, item.device
        assert env is not None and view is not None
        if self.auth.directory.get(view.id) is not view:
            # The register changed since the signature was checked (outside this
            # lock): judge the envelope by the register as it is now.
            self.auth.one(item, batch.now_ms)
            if item.rejection is not None:
                return None
            view = item.device
            assert view is not None
        if item.replay:
            # An operator re-admits what was already authenticated once; the
            # signature is still checked, freshness and sequence are not.
            return None
        # Sequence first: a captured envelope sent again is a replay whatever
        # its age, and is never kept.
        last = batch.pending_seqs.get(view.id, view.last_seq)
        if env.seq <= last:
            return item.reject(STAGE, Reason.REPLAYED_SEQUENCE, f"last accepted seq is {last}")
        # The rate limit comes after the replay check, so that someone replaying
        # captured envelopes cannot spend the device's allowance, and before the
        # sequence number is used, so the device can resend after Retry-After.
        limiter = self.auth.limiter
        if limiter is not None:
            wait_s = limiter.take(view.id, late_ms=batch.now_ms - item.received_at)
            if wait_s:
                return item.reject(STAGE, Reason.RATE_LIMITED, retry_detail(wait_s))
        # The sequence number is held for the rest of the batch even if the
        # envelope is out of its time window (a second copy of it in the batch
        # is a replay); it is committed only if the envelope is admitted or
        # quarantined, so a refused envelope does not use it up.
        batch.pending_seqs[view.id] = env.seq
        # Rate and freshness are judged at the envelope's arrival at the door
        # (`received_at`: now over HTTP; for a transport that acknowledged it
        # then, when the broker took it), so a backlog worked off late is not
        # refused for being late.
        problem = self.window.problem(to_ms(env.sent_at), item.received_at)
        if problem is not None:
            return item.reject(STAGE, *problem)
        return None


def _verifies(key: Ed25519PublicKey, sig: bytes, signed: bytes) -> bool:
    try:
        key.verify(sig, signing_bytes(signed))
    except (InvalidSignature, ValueError):
        return False
    return True


def _check_keys(
    keys: tuple[KeyView, ...], sig: bytes, signed: bytes, at_ms: int
) -> tuple[Reason, str] | None:
    """None if a key valid at at_ms made the signature; else why the envelope is refused."""
    for k in keys:
        if k.state(at_ms) == "valid" and _verifies(k.public_key, sig, signed):
            return None
    # Only on the refusal path: name the key's state so the device's owner knows what to fix.
    for k in keys:
        if _verifies(k.public_key, sig, signed):
            state = k.state(at_ms)
            if state == "revoked":
                return Reason.KEY_REVOKED, f"key {k.key_id} was revoked"
            return Reason.KEY_EXPIRED, f"key {k.key_id} is {state}"
    return Reason.BAD_SIGNATURE, ""
