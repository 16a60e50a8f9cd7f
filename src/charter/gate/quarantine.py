"""Quarantine: what the gate rejected but may keep, for an operator to inspect and replay.

What is kept is a minimised copy (gate/hold.py), until its retention ends (the
retention job purges it). A replay is the gate's stages again on the copy, from
where the signature was checked: the copy cannot be signature-checked, so the
replay checks instead that the key that verified it at the door was not revoked
or replaced since. Every other rule is applied again, the time rules judged at
the item's arrival (received_at), except the one rule the operator names as an
override (gate/batch.py OVERRIDES); a time in the future and the floor are never
overridden. The sequence number is not checked again: it was used when the item
was held, and an item is replayed at most once. The replay, its override, its
result and who asked for it go on the ledger.
"""

from __future__ import annotations

from typing import Any

import msgspec

from charter.domain.clock import from_ms, to_ms
from charter.domain.envelope import ENVELOPE_VERSION, Envelope, ReadingIn
from charter.domain.errors import CharterError, Invalid, NotFound
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.gate import hold
from charter.gate.authenticate import STAGE as AUTHENTICATE
from charter.gate.batch import FRESHNESS, OVERRIDES, Batch, EnvelopeItem, Outcome
from charter.gate.directory import DeviceView
from charter.gate.pipeline import Gate
from charter.ledger.log import Ledger
from charter.store.base import QuarantineItem, Store

_reading = msgspec.json.Decoder(ReadingIn)


class Quarantine:
    def __init__(self, store: Store, gate: Gate, ledger: Ledger) -> None:
        self.store, self.gate, self.ledger = store, gate, ledger

    def list(self, *, status: str = "held", limit: int = 100) -> list[QuarantineItem]:
        return self.store.quarantine(status=status, limit=limit)

    @staticmethod
    def shown(item: QuarantineItem) -> Any:
        """The payload as operators and auditors see it: the minimised copy, or None
        for an envelope kept whole before minimisation (purged by retention)."""
        return msgspec.json.decode(item.payload) if hold.decode(item.payload) else None

    def replay(self, item_id: int, actor: Actor, why: str, override: str | None = None) -> Outcome:
        if override is not None and override not in OVERRIDES:
            raise Invalid(f"override must be one of: {', '.join(sorted(OVERRIDES))}")
        with self.gate.exclusive():
            held = self.store.get_quarantine(item_id)
            if held is None:
                raise NotFound(f"quarantine item {item_id}")
            if held.status != "held":
                raise CharterError(Reason.NOT_REPLAYABLE, f"item {item_id} is {held.status}")
            item = self._item(held, override)
            with self.ledger.write() as w:
                outcomes, rows = self.gate.replay([item], w.tx, authenticated=True)
                outcome = outcomes[0]
                if outcome.rejection is None and (outcome.admitted or held.kind == "envelope"):
                    status, reason, detail = "replayed", held.reason, held.detail
                else:
                    status = "held"
                    reason, detail = _first_reason(outcome, held)
                w.tx.set_quarantine_status(item_id, status, reason, detail)
                w.record(
                    "quarantine.replayed",
                    actor,
                    item=item_id,
                    device=held.device_id,
                    was=held.reason,
                    override=override,
                    admitted=outcome.admitted,
                    result=status,
                    why=why,
                )
            self.gate.publish(rows)  # committed now
            return outcome

    def _item(self, held: QuarantineItem, override: str | None) -> EnvelopeItem:
        """The held item, authenticated as it was at the door, with the door's checks redone."""
        now_ms = to_ms(self.gate.clock.now())
        self.gate.directory.refresh()  # the device as the register says now, in any process
        doc = hold.decode(held.payload)
        if doc is None:
            return self._whole(held, override, now_ms)
        device = self._device(held)
        readings: list[ReadingIn | None] = [
            ReadingIn(r.category, r.t, r.values, r.units) for r in doc.readings
        ]
        item = EnvelopeItem(
            held.payload,
            held.received_at,
            envelope=Envelope(ENVELOPE_VERSION, doc.device, doc.seq, doc.sent_at, []),
            readings=readings,
            device=device,
            authenticated=True,
            reading_rejections=[None] * len(readings),
            replay=True,
            requarantine=held.kind == "envelope",
            override=override,
            door_key=doc.door.key,
        )
        self._door(item, now_ms, check_key=True)
        return item

    def _whole(self, held: QuarantineItem, override: str | None, now_ms: int) -> EnvelopeItem:
        """An item kept whole before minimisation (revision 0009)."""
        if held.kind == "envelope":
            # The signature can still be checked: decode and authenticate it again.
            item = EnvelopeItem(held.payload, held.received_at, replay=True, override=override)
            stages = self.gate.stages
            batch = Batch([item], now_ms)
            for stage in stages[: stages.index(self.gate.authenticate_stage) + 1]:
                stage(batch)
            if item.rejection is None:
                self._door(item, now_ms, check_key=False)
            return item
        device = self._device(held)
        reading = _reading.decode(held.payload)
        env = Envelope(
            ENVELOPE_VERSION, device.id, held.seq or 0, from_ms(held.received_at), [reading]
        )
        return EnvelopeItem(
            held.payload,
            held.received_at,
            envelope=env,
            readings=[reading],
            device=device,
            authenticated=True,
            reading_rejections=[None],
            replay=True,
            requarantine=False,
            override=override,
        )

    def _device(self, held: QuarantineItem) -> DeviceView:
        device = self.gate.directory.get(held.device_id or "")
        if device is None:
            raise CharterError(Reason.NOT_REPLAYABLE, f"{held.device_id} is no longer registered")
        return device

    def _door(self, item: EnvelopeItem, now_ms: int, *, check_key: bool) -> None:
        """What authenticate checked at arrival, redone without the signature."""
        view, env = item.device, item.envelope
        assert view is not None and env is not None
        if check_key:
            refusal = _key_refusal(item, now_ms)
            if refusal is not None:
                return item.reject(AUTHENTICATE, *refusal)
        problem = self.gate.sequence_stage.window.problem(to_ms(env.sent_at), item.received_at)
        if problem is not None:
            if problem[0] is Reason.STALE_TIMESTAMP and item.override == FRESHNESS:
                return None
            return item.reject(AUTHENTICATE, *problem)
        return None


def _key_refusal(item: EnvelopeItem, now_ms: int) -> tuple[Reason, str] | None:
    """Judge the key that verified the item at the door as authenticate would: by its
    state at arrival, except that a revocation since then counts."""
    view = item.device
    assert view is not None
    if not view.keys:
        if item.door_key == hold.key_b64(view.public_key):
            return None
        return Reason.KEY_REVOKED, "the key that signed it is no longer the device's"
    for k in view.keys:
        if hold.key_b64(k.public_key) == item.door_key:
            state = k.state(item.received_at)  # revoked since counts: revocation is a state
            if state == "valid":
                return None
            if state == "revoked":
                return Reason.KEY_REVOKED, f"key {k.key_id} was revoked"
            return Reason.KEY_EXPIRED, f"key {k.key_id} is {state}"
    return Reason.KEY_REVOKED, "the key that signed it is no longer the device's"


def _first_reason(outcome: Outcome, held: QuarantineItem) -> tuple[str, str]:
    if outcome.rejection is not None:
        return outcome.rejection.reason.value, outcome.rejection.detail
    if outcome.reading_reasons:
        _, reason, detail = outcome.reading_reasons[0]
        return reason, detail
    return held.reason, held.detail
