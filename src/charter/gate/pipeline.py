"""The gate: stages in order over a batch, then one commit, then publish.

The order of the stages is the policy. Nothing reaches the store or the bus
without passing every stage, and a device is acknowledged only after commit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import msgspec

from charter.bus.base import TOPIC_READINGS, Bus
from charter.domain.clock import Clock, to_ms
from charter.domain.envelope import ENVELOPE_VERSION, Envelope, ReadingIn, envelope_digest
from charter.domain.reasons import Reason
from charter.gate import hold
from charter.gate.authenticate import STAGE as AUTHENTICATE
from charter.gate.authenticate import Authenticate, SequenceCheck, Window
from charter.gate.authorise import Authorise
from charter.gate.batch import Batch, EnvelopeItem, Outcome, Rejection
from charter.gate.consent import Consent, ConsentPolicy, NoConsentRecorded, StaleConsent
from charter.gate.decode import STAGE as DECODE
from charter.gate.decode import Decode, DecodeReadings, Limits
from charter.gate.directory import DeviceDirectory
from charter.gate.minimise import Minimise, PersonalData
from charter.gate.purpose import Purpose
from charter.gate.validate import ReadingWindow, Validate
from charter.security.ratelimit import RateLimiter, retry_detail
from charter.store.base import (
    DecisionRecord,
    PersonalRow,
    QuarantineItem,
    ReadingRow,
    Store,
    Tx,
)

Stage = Callable[[Batch], None]
_encode = msgspec.json.Encoder().encode
# A duplicate, or a flood the device will send again: never worth keeping.
_NOT_KEPT = frozenset({Reason.REPLAYED_SEQUENCE, Reason.RATE_LIMITED})
# Refusals that settle nothing: the device is asked to send the envelope again,
# so its decision must not make a later copy look "already decided".
_RETRYABLE = frozenset({Reason.RATE_LIMITED})


@dataclass(frozen=True)
class GateConfig:
    limits: Limits = field(default_factory=Limits)
    window: Window = field(default_factory=Window)
    reading_window: ReadingWindow = field(default_factory=ReadingWindow)
    device_limiter: RateLimiter | None = None


@dataclass(slots=True)
class Settlement:
    """Everything one batch writes, in a single transaction."""

    rows: list[ReadingRow] = field(default_factory=list)
    personal: list[PersonalRow] = field(default_factory=list)
    held: list[QuarantineItem] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    seqs: dict[str, int] = field(default_factory=dict)  # device -> newest sequence used

    def write(self, tx: Tx) -> None:
        tx.insert_readings(self.rows)
        tx.insert_personal_readings(self.personal)
        tx.insert_quarantine(self.held)
        tx.insert_decisions(self.decisions)
        tx.advance_device_seqs(self.seqs)


class GateObserver:
    """Receives the counts of each batch (metrics); the default ignores them."""

    def observed(self, outcomes: Sequence[Outcome], seconds: float) -> None:
        return None


class Gate:
    # How often a batch is decided again when consent changed under it.
    CONSENT_RETRIES = 5
    # Stages before the commit lock: decode, authenticate, the readings' decode.
    UNLOCKED = 3

    def __init__(
        self,
        store: Store,
        bus: Bus,
        clock: Clock,
        directory: DeviceDirectory,
        *,
        config: GateConfig | None = None,
        consent: ConsentPolicy | None = None,
        personal: PersonalData | None = None,
        observer: GateObserver | None = None,
    ) -> None:
        self.store, self.bus, self.clock, self.directory = store, bus, clock, directory
        cfg = config or GateConfig()
        self.consent_stage = Consent(consent or NoConsentRecorded())
        self.authenticate_stage = Authenticate(directory, cfg.device_limiter)
        self.sequence_stage = SequenceCheck(self.authenticate_stage, cfg.window)
        # The first UNLOCKED stages read no committed state (header, signature,
        # readings): they run outside the commit lock, so a stranger's big
        # envelope delays no one else's batch. Sequence numbers and everything
        # after them are decided under the lock.
        self.stages: list[Stage] = [
            Decode(cfg.limits),
            self.authenticate_stage,
            DecodeReadings(cfg.limits),
            self.sequence_stage,
            Authorise(),
            Purpose(),
            Validate(cfg.reading_window),
            self.consent_stage,
            Minimise(personal),
        ]
        self.observer = observer or GateObserver()
        # One batch at a time: sequence numbers are checked against what is committed.
        self._lock = threading.Lock()

    def ingest(
        self, bodies: Sequence[bytes], arrived: Sequence[int] | None = None
    ) -> list[Outcome]:
        """Run envelopes through every stage and commit. Returns after the commit.

        `arrived` (ms, one per envelope) is when each envelope reached the
        platform's door, for a transport that acknowledged it then and hands it
        on later (MQTT, JetStream): rate limit and freshness are judged at that
        time, not at the moment a backlog is worked off. Default: now.
        """
        started = time.perf_counter()
        received_ms = to_ms(self.clock.now())
        at = arrived if arrived is not None else [received_ms] * len(bodies)
        early = self.prepare([EnvelopeItem(b, a) for b, a in zip(bodies, at, strict=True)])
        outcomes = self._commit(early, self.stages[self.UNLOCKED :])
        self.observer.observed(outcomes, time.perf_counter() - started)
        return outcomes

    def ingest_credentialed(self, device_id: str, readings: Sequence[ReadingIn]) -> Outcome:
        """Readings of a device that proved who it is with a credential the platform issued
        it (a device token, `charter device token`; the NGSI-LD door), not a signature.

        The register's device stands in for the signature's; then every stage after the
        sequence check, as for an envelope: authorise (live project, active device,
        trusted vendor), purpose, validate, consent, minimise; one commit, published like
        any batch. Nothing was signed, so nothing is quarantined and no sequence number is
        used (the rows carry seq -1); each refusal is recorded as a decision.
        """
        started = time.perf_counter()
        now = self.clock.now()
        item = EnvelopeItem(b"", to_ms(now), credential=True)
        item.envelope = Envelope(ENVELOPE_VERSION, device_id, -1, now, list(readings))
        item.signed = _encode(item.envelope)
        item.readings = list(readings)
        item.reading_rejections = [None] * len(item.readings)
        if not item.readings:
            item.reject(DECODE, Reason.EMPTY_ENVELOPE)
        stages = [self._credential, *self.stages[self.UNLOCKED + 1 :]]
        outcomes = self._commit([item], stages)
        self.observer.observed(outcomes, time.perf_counter() - started)
        return outcomes[0]

    def _credential(self, batch: Batch) -> None:
        """The register's device for a credentialed item (its token was checked at the door)."""
        for item in batch.live():
            if not item.credential or item.device is not None:
                continue
            assert item.envelope is not None
            view = self.directory.get(item.envelope.device)
            if view is None:
                item.reject(AUTHENTICATE, Reason.NOT_REGISTERED)
                continue
            limiter = self.authenticate_stage.limiter
            wait_s = limiter.take(view.id) if limiter is not None else 0
            if wait_s:
                item.reject(AUTHENTICATE, Reason.RATE_LIMITED, retry_detail(wait_s))
                continue
            item.device, item.authenticated = view, True

    def _commit(self, early: list[EnvelopeItem], stages: Sequence[Stage]) -> list[Outcome]:
        """Decide `early` (prepared items) under the lock with `stages`, commit, publish."""
        with self._lock:
            for attempt in range(self.CONSENT_RETRIES + 1):
                # One read per batch: a change to the register committed by any
                # process since the last batch empties the directory first.
                self.directory.refresh()
                now_ms = to_ms(self.clock.now())
                batch = Batch([item.fresh() for item in early], now_ms)
                outcomes, settlement = self._decide(batch, stages)
                try:
                    with self.store.transaction() as tx:
                        if settlement.personal or batch.consent_asked:
                            # Race-free consent: re-checked in the transaction that
                            # stores the personal rows (see gate/consent.py).
                            self.consent_stage.policy.confirm(tx)
                        settlement.write(tx)
                except StaleConsent:
                    if attempt == self.CONSENT_RETRIES:
                        raise
                    continue
                break
            self.directory.committed(settlement.seqs)
            self.publish(settlement.rows + [row for row, _ in settlement.personal])
        return outcomes

    def prepare(self, items: list[EnvelopeItem]) -> list[EnvelopeItem]:
        """Run the stages that need no lock (decode, authenticate, readings) on items."""
        # The register as it is now, in any process: a key changed elsewhere counts.
        self.directory.refresh()
        batch = Batch(items, to_ms(self.clock.now()))
        for stage in self.stages[: self.UNLOCKED]:
            stage(batch)
        return items

    def refused(self, items: list[EnvelopeItem]) -> list[Outcome]:
        """The acknowledgements of replayed items refused already (by `prepare`)."""
        outcomes, _ = self._decide(Batch(items, to_ms(self.clock.now())), [])
        return outcomes

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the gate between batches (take it before the ledger's lock)."""
        with self._lock:
            yield

    def replay(
        self,
        items: list[EnvelopeItem],
        tx: Tx,
        *,
        authenticated: bool = False,
        prepared: bool = False,
    ) -> tuple[list[Outcome], list[ReadingRow]]:
        """Run an operator's replay through the stages into the caller's transaction.

        The caller holds `exclusive()`, and calls `publish(rows)` once its
        transaction has committed. Items that were authenticated when they
        arrived (`authenticated`, device set; gate/quarantine.py redoes what
        authenticate checked) resume after the sequence stage; items already
        `prepare`d, at the sequence stage.
        """
        self.directory.refresh()
        batch = Batch(items, to_ms(self.clock.now()))
        stages = self.stages
        if authenticated:
            stages = stages[self.UNLOCKED + 1 :]
        elif prepared:
            stages = stages[self.UNLOCKED :]
        outcomes, settlement = self._decide(batch, stages)
        if settlement.personal or batch.consent_asked:
            self.consent_stage.policy.confirm(tx)
        settlement.write(tx)
        return outcomes, settlement.rows + [row for row, _ in settlement.personal]

    def publish(self, rows: list[ReadingRow]) -> None:
        """Announce committed rows to the services."""
        if rows and self.bus.has_subscribers(TOPIC_READINGS):
            self.bus.publish(TOPIC_READINGS, rows)

    def _decide(self, batch: Batch, stages: Sequence[Stage]) -> tuple[list[Outcome], Settlement]:
        for stage in stages:
            stage(batch)
        settlement = Settlement()
        outcomes = [self._settle(item, batch.now_ms, settlement) for item in batch.items]
        return outcomes, settlement

    def _settle(self, item: EnvelopeItem, now_ms: int, settlement: Settlement) -> Outcome:
        """Turn an item's verdicts into rows, quarantine entries and decision records."""
        rows, held, decisions = settlement.rows, settlement.held, settlement.decisions
        env = item.envelope
        device_id = item.device.id if item.device else (env.device if env else None)
        seq = env.seq if env else None
        out = Outcome(device_id, seq)
        rej = item.rejection
        if rej is not None and item.replay:
            out.rejection = rej
            out.rejected[rej.reason.value] = max(1, len(item.readings))
            return out
        if rej is not None:
            n = max(1, len(item.readings))
            # Kept only if authenticated (so no stranger can fill the quarantine),
            # decoded within the limits, not a duplicate, and then only a minimised
            # copy (gate/hold.py).
            kept = (
                hold.keep_envelope(item, self.directory)
                if item.authenticated
                and not item.credential
                and rej.stage != DECODE
                and rej.reason not in _NOT_KEPT
                else None
            )
            keep = kept is not None
            if kept is not None:
                held.append(self._held(item, "envelope", rej, kept))
                self._use_seq(item, settlement)
            out.rejection = rej
            out.rejected[rej.reason.value] = n
            out.quarantined, out.dropped = (n, 0) if keep else (0, n)
            decisions.append(self._decision(item, now_ms, rej.stage, rej.reason, n, keep))
            return out
        rows.extend(item.rows)
        settlement.personal.extend(item.personal_rows)
        out.admitted = len(item.rows) + len(item.personal_rows)
        counts: dict[tuple[str, Reason, bool], int] = {}
        for i, r in enumerate(item.reading_rejections):
            if r is None:
                continue
            kept = None if item.credential else hold.keep_reading(item, i, self.directory)
            keep = kept is not None
            if kept is not None and item.requarantine:
                held.append(self._held(item, "reading", r, kept))
                out.quarantined += 1
            elif not keep:
                out.dropped += 1
            out.rejected[r.reason.value] += 1
            # The detail of a reading that may be personal could describe personal
            # data: not echoed (details name declared fields and categories only).
            echo = keep or self._not_personal(item, i)
            out.reading_reasons.append((i, r.reason.value, r.detail if echo else ""))
            if item.requarantine:  # a re-rejected replay was counted when it arrived
                key = (r.stage, r.reason, keep)
                counts[key] = counts.get(key, 0) + 1
        for (stage, reason, was_kept), n in counts.items():
            decisions.append(self._decision(item, now_ms, stage, reason, n, was_kept))
        if out.admitted or out.quarantined:
            self._use_seq(item, settlement)
        return out

    @staticmethod
    def _use_seq(item: EnvelopeItem, settlement: Settlement) -> None:
        """Only an admitted or quarantined envelope uses up its sequence number."""
        env, view = item.envelope, item.device
        if item.replay or item.credential or not item.authenticated or env is None or view is None:
            return
        seqs = settlement.seqs
        if env.seq > seqs.get(view.id, -1):
            seqs[view.id] = env.seq

    @staticmethod
    def _decision(
        item: EnvelopeItem,
        now_ms: int,
        stage: str,
        reason: Reason,
        n: int,
        kept: bool,
    ) -> DecisionRecord:
        """A decision, keyed to its envelope only if a device's own key signed it.

        A stranger's envelope names a device and a sequence number of its
        choosing: its decision is counted, with that claim kept apart
        (`claimed_device`), so that it can never make a genuine envelope of that
        device look decided, nor count against that device's project.
        """
        outcome = "quarantined" if kept else "dropped"
        env = item.envelope
        if not item.authenticated or item.device is None or env is None:
            claimed = env.device if env is not None else None
            return DecisionRecord(
                now_ms, None, None, stage, reason.value, n, outcome, None, claimed
            )
        digest = None if reason in _RETRYABLE else envelope_digest(item.signed)
        return DecisionRecord(
            now_ms, item.device.id, env.seq, stage, reason.value, n, outcome, digest
        )

    def _not_personal(self, item: EnvelopeItem, i: int) -> bool:
        reading = item.readings[i] if i < len(item.readings) else None
        return reading is not None and not self.directory.may_be_personal(reading.category)

    @staticmethod
    def _held(item: EnvelopeItem, kind: str, rej: Rejection, kept: hold.Kept) -> QuarantineItem:
        env = item.envelope
        return QuarantineItem(
            item.received_at,  # when it arrived, also when a replay holds it again
            item.device.id if item.device else None,
            env.seq if env else None,
            kind,
            rej.stage,
            rej.reason.value,
            rej.detail,
            kept.payload,
            expires_at=kept.expires_at,
        )
