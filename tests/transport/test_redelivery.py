"""A redelivered envelope is done if decided, decided if new, and never stored twice."""

from __future__ import annotations

from datetime import timedelta

from charter.bootstrap import Platform
from charter.transport.redelivery import already_decided, deliver, envelope_key, is_late
from tests.conftest import SampleCity, air_reading


def test_a_redelivered_copy_of_a_stored_envelope_is_done_not_a_replay(
    platform: Platform, city: SampleCity
) -> None:
    body = city.envelope(city.air)
    first = deliver(platform.gate, [body], [False])
    assert first.admitted == 1 and first.done == 0
    again = deliver(platform.gate, [body], [True])
    assert again.done == 1 and again.outcomes == []
    assert platform.store.count_readings() == 1
    assert platform.store.rejections_by_reason() == {}


def test_the_same_copy_not_marked_redelivered_is_a_replay(
    platform: Platform, city: SampleCity
) -> None:
    body = city.envelope(city.air)
    deliver(platform.gate, [body], [False])
    again = deliver(platform.gate, [body], [False])
    assert again.outcomes[0].rejection is not None
    assert platform.store.rejections_by_reason() == {"REPLAYED_SEQUENCE": 1}


def test_a_rejected_envelope_counts_as_decided(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    stale = city.envelope(city.air, sent_at=now.replace(year=2025))
    deliver(platform.gate, [stale], [False])
    assert already_decided(platform.store, stale)
    again = deliver(platform.gate, [stale], [True])
    assert again.done == 1
    assert sum(platform.store.rejections_by_reason().values()) == 1


def test_a_late_copy_that_was_never_decided_is_stored_once(
    platform: Platform, city: SampleCity
) -> None:
    # seq 1 is lost in a crashed worker while seq 2 is committed by another.
    one = city.envelope(city.air, [air_reading(platform.clock.now(), pm25=1.0)])
    two = city.envelope(city.air, [air_reading(platform.clock.now(), pm25=2.0)])
    deliver(platform.gate, [two], [False])
    assert is_late(platform.store, one) and not already_decided(platform.store, one)
    got = deliver(platform.gate, [one], [True])
    assert got.late == 1 and got.admitted == 1
    assert sorted(r.seq for r in platform.store.readings()) == [1, 2]
    # A further copy of it is now done.
    assert deliver(platform.gate, [one], [True]).done == 1
    assert platform.store.count_readings() == 2
    assert platform.store.device_seq(city.air.device_id) == 2


def test_an_unreadable_body_has_no_key_and_goes_to_the_gate(platform: Platform) -> None:
    assert envelope_key(b"not json") is None
    got = deliver(platform.gate, [b"not json"], [True])
    assert got.outcomes[0].rejection is not None


def test_a_first_delivery_overtaken_by_the_next_envelope_is_stored_once(
    platform: Platform, city: SampleCity
) -> None:
    # Two workers: seq 2 is committed by one while seq 1 waits in the other's batch.
    one = city.envelope(city.air, [air_reading(platform.clock.now(), pm25=1.0)])
    two = city.envelope(city.air, [air_reading(platform.clock.now(), pm25=2.0)])
    deliver(platform.gate, [two], [False])
    got = deliver(platform.gate, [one], [False])
    assert got.late == 1 and got.admitted == 1
    assert sorted(r.seq for r in platform.store.readings()) == [1, 2]
    assert platform.store.device_seq(city.air.device_id) == 2
    # Decided now: the same envelope sent again is a replay, and not stored.
    again = deliver(platform.gate, [one], [False])
    assert again.outcomes[0].rejection is not None
    assert again.outcomes[0].rejection.reason.value == "REPLAYED_SEQUENCE"
    assert platform.store.count_readings() == 2


def test_a_straggler_is_recognised_by_a_worker_that_never_saw_its_device(
    platform: Platform, city: SampleCity
) -> None:
    # Another worker committed seq 2; this one's directory is empty (a fresh
    # start, or emptied after a sequence conflict) and loads seq 2 from the store.
    one = city.envelope(city.air)
    two = city.envelope(city.air)
    deliver(platform.gate, [two], [False])
    platform.directory.invalidate()
    got = deliver(platform.gate, [one], [False])
    assert got.late == 1 and got.admitted == 1
    assert sorted(r.seq for r in platform.store.readings()) == [1, 2]


def test_an_overtaken_envelope_too_old_to_be_a_straggler_is_a_replay(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    old = city.envelope(city.air, sent_at=now - timedelta(minutes=10))
    deliver(platform.gate, [city.envelope(city.air)], [False])
    got = deliver(platform.gate, [old], [False])
    assert got.late == 0 and got.admitted == 0
    assert got.outcomes[0].rejection is not None
    assert got.outcomes[0].rejection.reason.value == "REPLAYED_SEQUENCE"
    assert platform.store.count_readings() == 1


def test_envelopes_of_one_device_out_of_order_in_one_batch_are_all_stored(
    platform: Platform, city: SampleCity
) -> None:
    one, two, three = (city.envelope(city.air) for _ in range(3))
    got = deliver(platform.gate, [three, one, two], [False, False, False])
    assert got.admitted == 3 and got.late == 0
    assert platform.store.rejections_by_reason() == {}
    assert platform.store.device_seq(city.air.device_id) == 3
