"""Stage 2, authenticate: the registered device signed this, once, recently."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature

from charter.domain.clock import to_ms
from charter.domain.envelope import signing_bytes
from charter.domain.reasons import Reason
from charter.gate.batch import Batch, EnvelopeItem
from charter.gate.directory import DeviceDirectory

STAGE = "authenticate"


@dataclass(frozen=True)
class Window:
    """How far an envelope's sent_at may lie from the gate's clock, in milliseconds."""

    max_age_ms: int = 5 * 60 * 1000
    max_skew_ms: int = 60 * 1000


class Authenticate:
    def __init__(self, directory: DeviceDirectory, window: Window) -> None:
        self.directory = directory
        self.window = window

    def __call__(self, batch: Batch) -> None:
        for item in batch.live():
            self.one(item, batch)

    def one(self, item: EnvelopeItem, batch: Batch) -> None:
        env = item.envelope
        assert env is not None
        view = self.directory.get(env.device)
        if view is None:
            return item.reject(STAGE, Reason.NOT_REGISTERED)
        try:
            sig = base64.b64decode(item.sig, validate=True)
            view.public_key.verify(sig, signing_bytes(item.signed))
        except (InvalidSignature, binascii.Error, ValueError):
            return item.reject(STAGE, Reason.BAD_SIGNATURE)
        item.device = view
        item.authenticated = True
        if item.replay:
            # An operator re-admits what was already authenticated once; the
            # signature is still checked, freshness and sequence are not.
            return None
        # Sequence first: a captured envelope sent again is a replay whatever
        # its age, and is never kept.
        last = batch.pending_seqs.get(view.id, view.last_seq)
        if env.seq <= last:
            return item.reject(STAGE, Reason.REPLAYED_SEQUENCE, f"last accepted seq is {last}")
        # The sequence number is used from here on, even if the envelope is out
        # of its time window: a second copy of it is then a replay too.
        batch.pending_seqs[view.id] = env.seq
        sent = to_ms(env.sent_at)
        if sent < batch.now_ms - self.window.max_age_ms:
            return item.reject(STAGE, Reason.STALE_TIMESTAMP, "sent_at is too old")
        if sent > batch.now_ms + self.window.max_skew_ms:
            return item.reject(STAGE, Reason.FUTURE_TIMESTAMP, "sent_at is in the future")
        return None
