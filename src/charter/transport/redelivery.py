"""Redelivered envelopes: done already, or still to be decided.

At-least-once transports (MQTT QoS 1, JetStream) may hand the gate an envelope
a second time: after a crash between commit and acknowledgement, a broker
restart, or an ack that came too late. Such a copy is

* done, if the gate already stored or rejected that envelope: its readings
  (device, seq) are stored, or a decision on the envelope its device signed
  with this (device, seq) and this content digest is recorded. Acknowledged,
  not stored twice, not counted again. A refusal of a stranger's envelope
  naming the same (device, seq) is keyed to nothing and does not count;
* new, if its sequence number is still unused: the gate decides it as usual;
* late, if it was never decided but a later envelope of the same device was
  committed meanwhile (another worker went on while this copy waited): the
  gate decides it in its replay mode, which checks the signature and every
  other stage but not freshness or sequence, under a lock on the device's row
  so two late copies cannot both be stored.

A first delivery can be late too. With several workers (or several gateways
sharing a subscription) a device's envelope can be overtaken by its next one,
decided by another worker first; the gate alone would call it a replay. So a
first delivery whose sequence number is not above what this worker already
knows of the device is looked up: never decided and still fresh (its sent_at
within the gate's window), it is decided in replay mode like a late copy. Once
decided (stored or rejected), the same envelope again is a replay, as is one
too old to be an honest straggler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec
from sqlalchemy import select

from charter.domain.clock import to_ms
from charter.domain.envelope import DeviceId, Moment, Seq, envelope_digest
from charter.gate.batch import EnvelopeItem, Outcome
from charter.gate.pipeline import Gate
from charter.store import schema as s
from charter.store.base import SequenceConflict, Store
from charter.store.sql import SqlTx


class _Reading(msgspec.Struct):
    t: Moment


class _Head(msgspec.Struct):
    # Bounded as the gate bounds them: a number no store column can hold is
    # unreadable here (the gate then refuses it), never a failing query.
    device: DeviceId
    seq: Seq
    readings: list[_Reading] = []


class _Outer(msgspec.Struct):
    envelope: msgspec.Raw


_decode_outer = msgspec.json.Decoder(_Outer).decode
_decode_head = msgspec.json.Decoder(_Head).decode


class _Sent(msgspec.Struct):
    device: DeviceId
    seq: Seq
    sent_at: Moment


class _SignedSent(msgspec.Struct):
    envelope: _Sent


# The header alone (the readings are skipped, not built): cheap enough to run on
# every first delivery.
_decode_sent = msgspec.json.Decoder(_SignedSent).decode


class EnvelopeKey(NamedTuple):
    """What identifies an envelope: its device, sequence number and content."""

    device: str
    seq: int
    digest: bytes  # SHA-256 of the signed envelope bytes
    since: int | None  # earliest observation, ms


def envelope_key(body: bytes) -> EnvelopeKey | None:
    """The key of an envelope, or None if unreadable."""
    try:
        signed = bytes(_decode_outer(body).envelope)
        head = _decode_head(signed)
    except (msgspec.DecodeError, RecursionError, ValueError):
        return None
    since = min((to_ms(r.t) for r in head.readings), default=None)
    return EnvelopeKey(head.device, head.seq, envelope_digest(signed), since)


def _decided(store: Store, key: EnvelopeKey) -> bool:
    return store.was_decided(key.device, key.seq, key.digest, key.since)


def already_decided(store: Store, body: bytes) -> bool:
    """Was this very envelope, signed by its device, already stored or refused?

    A decision on a stranger's envelope naming the same (device, seq) does not
    count (see `Gate._decision`): it must not silence the genuine one.
    """
    key = envelope_key(body)
    return key is not None and _decided(store, key)


def is_late(store: Store, body: bytes) -> bool:
    """Undecided, but its sequence number is already behind the device's."""
    key = envelope_key(body)
    return key is not None and key.seq <= store.device_seq(key.device)


def decide_late(gate: Gate, body: bytes, arrived_ms: int | None = None) -> Outcome | None:
    """Decide one late envelope; None if another writer decided it meanwhile."""
    key = envelope_key(body)
    if key is None:
        return None
    store = gate.store
    # Signature first, outside the gate's lock: a stranger's envelope dressed as
    # a straggler costs a signature check, not a locked transaction.
    at = arrived_ms if arrived_ms is not None else to_ms(gate.clock.now())
    item = EnvelopeItem(body, at, replay=True)
    gate.prepare([item])
    if not item.authenticated:
        return gate.refused([item])[0]
    with gate.exclusive():
        with store.transaction() as tx:
            if isinstance(tx, SqlTx):  # serialise late copies of one device's envelopes
                tx.conn.execute(
                    select(s.devices.c.id).where(s.devices.c.id == key.device).with_for_update()
                )
            if _decided(store, key):
                return None
            outcomes, rows = gate.replay([item], tx, prepared=True)
        gate.publish(rows)
    return outcomes[0]


def split(
    store: Store, bodies: list[bytes], redelivered: list[bool]
) -> tuple[list[int], list[int], list[int]]:
    """Indexes of (new, late, done) envelopes."""
    new, late, done = [], [], []
    for i, (body, again) in enumerate(zip(bodies, redelivered, strict=True)):
        if not again:
            new.append(i)
        elif already_decided(store, body):
            done.append(i)
        elif is_late(store, body):
            late.append(i)
        else:
            new.append(i)
    return new, late, done


def overtaken(
    gate: Gate, bodies: list[bytes], new: list[int], arrived: list[int] | None = None
) -> tuple[list[int], list[int]]:
    """Split first deliveries into (new, overtaken): see the module's docstring.

    Only envelopes at or below the sequence number the gate's directory holds
    for their device are looked up in the store; in order, that is none.
    Envelopes of one device go to the gate in sequence order.
    """
    heads: dict[int, _Sent] = {}
    for i in new:
        try:
            heads[i] = _decode_sent(bodies[i]).envelope
        except (msgspec.DecodeError, RecursionError, ValueError):
            continue  # the gate says what is wrong with it
    now = to_ms(gate.clock.now())
    window = gate.sequence_stage.window
    late: list[int] = []
    for i, head in heads.items():
        # The gate looks the device up next anyway; after a sequence conflict
        # its directory was emptied and this loads the committed number.
        view = gate.directory.get(head.device)
        if view is None or head.seq > view.last_seq:
            continue
        sent = to_ms(head.sent_at)
        at = arrived[i] if arrived is not None else now
        if not at - window.max_age_ms <= sent <= at + window.max_skew_ms:
            continue  # too old (or too new) to be a straggler: the gate's verdict stands
        key = envelope_key(bodies[i])
        if key is not None and not _decided(gate.store, key):
            late.append(i)
    taken = set(late)
    rest = [i for i in new if i not in taken]
    # Stable: envelopes without a readable header keep their place at the end.
    rest.sort(key=lambda i: (0, heads[i].seq) if i in heads else (1, 0))
    return rest, late


@dataclass
class Delivered:
    outcomes: list[Outcome] = field(default_factory=list)
    done: int = 0  # redelivered copies of what was already decided
    late: int = 0  # undecided copies decided in replay mode
    conflicts: int = 0  # times another writer moved a sequence on first

    @property
    def admitted(self) -> int:
        return sum(o.admitted for o in self.outcomes)


MAX_CONFLICT_RETRIES = 20


def deliver(
    gate: Gate, bodies: list[bytes], redelivered: list[bool], arrived: list[int] | None = None
) -> Delivered:
    """Decide a batch from an at-least-once transport, with exactly-once effect.

    `arrived`: when each envelope reached the door (see `transport.arrival`);
    the gate judges rate and freshness then.
    """
    result = Delivered()
    flags = list(redelivered)
    for _ in range(MAX_CONFLICT_RETRIES):
        new, late, done = split(gate.store, bodies, flags)
        new, stragglers = overtaken(gate, bodies, new, arrived)
        late += stragglers
        at = None if arrived is None else [arrived[i] for i in new]
        try:
            outcomes = gate.ingest([bodies[i] for i in new], at) if new else []
        except SequenceConflict:
            # Another writer committed some of these devices' envelopes first:
            # decide again on fresh numbers, checking every envelope as a copy.
            result.conflicts += 1
            gate.directory.invalidate()
            flags = [True] * len(bodies)
            continue
        result.outcomes.extend(outcomes)
        result.done += len(done)
        for i in late:
            outcome = decide_late(gate, bodies[i], None if arrived is None else arrived[i])
            if outcome is None:
                result.done += 1
            else:
                result.late += 1
                result.outcomes.append(outcome)
        return result
    raise SequenceConflict("gave up after repeated sequence conflicts")
