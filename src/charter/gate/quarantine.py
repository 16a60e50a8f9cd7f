"""Quarantine: what the gate rejected but may keep, for an operator to inspect and replay.

A replay runs the item through the same stages again (the signature is checked
again; freshness and sequence are not, since the item was on time when it
arrived). The replay, its result and who asked for it go on the ledger.
"""

from __future__ import annotations

import msgspec

from charter.domain.clock import from_ms
from charter.domain.envelope import ENVELOPE_VERSION, Envelope, ReadingIn
from charter.domain.errors import CharterError, NotFound
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.gate.batch import EnvelopeItem, Outcome
from charter.gate.pipeline import Gate
from charter.ledger.log import Ledger
from charter.store.base import QuarantineItem, Store

_reading = msgspec.json.Decoder(ReadingIn)


class Quarantine:
    def __init__(self, store: Store, gate: Gate, ledger: Ledger) -> None:
        self.store, self.gate, self.ledger = store, gate, ledger

    def list(self, *, status: str = "held", limit: int = 100) -> list[QuarantineItem]:
        return self.store.quarantine(status=status, limit=limit)

    def replay(self, item_id: int, actor: Actor, why: str) -> Outcome:
        with self.gate.exclusive():
            held = self.store.get_quarantine(item_id)
            if held is None:
                raise NotFound(f"quarantine item {item_id}")
            if held.status != "held":
                raise CharterError(Reason.NOT_REPLAYABLE, f"item {item_id} is {held.status}")
            item = self._item(held)
            with self.ledger.write() as w:
                outcomes, rows = self.gate.replay(
                    [item], w.tx, authenticated=held.kind == "reading"
                )
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
                    admitted=outcome.admitted,
                    result=status,
                    why=why,
                )
            self.gate.publish(rows)  # committed now
            return outcome

    def _item(self, held: QuarantineItem) -> EnvelopeItem:
        if held.kind == "envelope":
            return EnvelopeItem(held.payload, held.received_at, replay=True)
        device = self.gate.directory.get(held.device_id or "")
        if device is None:
            raise CharterError(Reason.NOT_REPLAYABLE, f"{held.device_id} is no longer registered")
        reading = _reading.decode(held.payload)
        env = Envelope(
            ENVELOPE_VERSION, device.id, held.seq or 0, from_ms(held.received_at), [reading]
        )
        item = EnvelopeItem(
            held.payload,
            held.received_at,
            envelope=env,
            readings=[reading],
            device=device,
            authenticated=True,
            reading_rejections=[None],
            replay=True,
            requarantine=False,
        )
        return item


def _first_reason(outcome: Outcome, held: QuarantineItem) -> tuple[str, str]:
    if outcome.rejection is not None:
        return outcome.rejection.reason.value, outcome.rejection.detail
    if outcome.reading_reasons:
        _, reason, detail = outcome.reading_reasons[0]
        return reason, detail
    return held.reason, held.detail
