"""What flows through the gate: a batch of envelopes and the decisions made on them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from charter.domain.envelope import Envelope, ReadingIn
from charter.domain.reasons import Reason
from charter.gate.directory import DeviceView
from charter.store.base import PersonalRow, ReadingRow

# Rules an operator may name when replaying a quarantined item, each with what it skips.
# Everything else is checked again; a future time and the floor are never overridden.
FRESHNESS = "freshness"
OVERRIDES = {
    FRESHNESS: "the age limits: sent_at older than the window when it arrived, "
    "a reading observed longer before sent_at than the reading window allows",
}


@dataclass(slots=True)
class Rejection:
    stage: str
    reason: Reason
    detail: str = ""


@dataclass(slots=True)
class EnvelopeItem:
    raw: bytes
    received_at: int
    # what the device claimed and, after authenticate, who it is
    envelope: Envelope | None = None
    signed: bytes = b""
    sig: str = ""
    readings: list[ReadingIn | None] = field(default_factory=list)
    device: DeviceView | None = None
    authenticated: bool = False
    # verdicts: for the whole envelope, or one per reading (None = still admitted)
    rejection: Rejection | None = None
    reading_rejections: list[Rejection | None] = field(default_factory=list)
    raw_readings: list[bytes] = field(default_factory=list)
    observed: list[int] = field(default_factory=list)  # observation times, ms
    rows: list[ReadingRow] = field(default_factory=list)
    # personal readings: the resident each is about (set by consent), and their rows
    subjects: dict[int, str] = field(default_factory=dict)
    personal_rows: list[PersonalRow] = field(default_factory=list)
    # An operator's replay: freshness and sequence are not checked again, and a
    # rejection leaves the original quarantine entry in place instead of a new one.
    replay: bool = False
    requarantine: bool = True
    # A quarantine replay: the one rule the operator chose not to apply again
    # (see gate/quarantine.py OVERRIDES), and the key that verified it at the door.
    override: str | None = None
    door_key: str = ""
    # Readings of a device that presented a credential the platform issued it (a device
    # token) instead of signing an envelope (`Gate.ingest_credentialed`): nothing signed
    # to keep, so never quarantined, and no sequence number used.
    credential: bool = False

    def fresh(self) -> EnvelopeItem:
        """A copy as decoded and authenticated, without what later stages decided.

        The gate decides a batch again (consent changed under it) from these.
        """
        return replace(
            self,
            readings=list(self.readings),
            reading_rejections=list(self.reading_rejections),
            observed=[],
            rows=[],
            subjects={},
            personal_rows=[],
        )

    def reject(self, stage: str, reason: Reason, detail: str = "") -> None:
        self.rejection = Rejection(stage, reason, detail)

    def reject_reading(self, i: int, stage: str, reason: Reason, detail: str = "") -> None:
        self.reading_rejections[i] = Rejection(stage, reason, detail)

    def open_readings(self) -> list[int]:
        rr = self.reading_rejections
        return [i for i in range(len(rr)) if rr[i] is None]


@dataclass(slots=True)
class Batch:
    items: list[EnvelopeItem]
    now_ms: int
    # sequence numbers accepted in this batch, not yet committed
    pending_seqs: dict[str, int] = field(default_factory=dict)
    # whether the consent stage was asked about a personal reading
    consent_asked: bool = False

    def live(self) -> list[EnvelopeItem]:
        return [it for it in self.items if it.rejection is None]


@dataclass(slots=True)
class Outcome:
    """What the gate did with one envelope: the device's acknowledgement."""

    device_id: str | None
    seq: int | None
    admitted: int = 0
    quarantined: int = 0
    dropped: int = 0
    rejection: Rejection | None = None
    rejected: Counter[str] = field(default_factory=Counter)
    reading_reasons: list[tuple[int, str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "device": self.device_id,
            "seq": self.seq,
            "admitted": self.admitted,
            "rejected": dict(self.rejected),
            "quarantined": self.quarantined,
            "dropped": self.dropped,
        }
        if self.rejection is not None:
            out["reason"] = self.rejection.reason.value
            out["stage"] = self.rejection.stage
        if self.reading_reasons:
            out["readings"] = [
                {"index": i, "reason": r, "detail": d} for i, r, d in self.reading_reasons
            ]
        return out
