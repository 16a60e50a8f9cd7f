"""A redelivered envelope is done if decided, decided if new, and never stored twice."""

from __future__ import annotations

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
