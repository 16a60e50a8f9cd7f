"""An acknowledged backlog is judged at its arrival at the door, not when it is worked off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from charter.bootstrap import Platform
from charter.bus.nats import NatsLink, Subjects, publish_envelopes
from charter.domain.clock import FixedClock, to_ms
from charter.transport.arrival import Arrival, arrived_header
from charter.transport.worker import Worker
from tests.conftest import SampleCity, air_reading
from tests.services import need, port_open, unique


@pytest.fixture
def link() -> Iterator[NatsLink]:
    need(port_open(4222), "NATS is not running on 127.0.0.1:4222")
    ln = NatsLink("nats://127.0.0.1:4222")
    yield ln
    ln.close()


def test_a_backlog_worked_off_late_is_neither_stale_nor_rate_limited(
    platform: Platform, city: SampleCity, clock: FixedClock, link: NatsLink
) -> None:
    """The gateway acknowledged 150 envelopes of one device over 15 s (within its
    20/s, but past its burst of 100 if taken at once); the workers were away for
    400 s, past the 300 s freshness window. Every one is admitted."""
    subjects = Subjects(unique("t"))
    start = clock.now()
    bodies, arrived = [], []
    for k in range(150):
        at = start + timedelta(milliseconds=100 * k)
        bodies.append(city.air.envelope(k + 1, at, [air_reading(at)]))
        arrived.append(to_ms(at))
    worker = Worker(platform, link, subjects, batch=256, small_batch=256, ack_wait_s=5)
    worker.start()
    publish_envelopes(link, subjects, bodies, arrived)
    clock.advance(timedelta(seconds=400))
    handled = 0
    for _ in range(50):
        handled += worker.step(timeout=1.0)
        if handled >= 150:
            break
    assert handled == 150
    assert platform.store.rejections_by_reason() == {}
    assert platform.store.count_readings() == 150


def test_the_gateway_estimates_when_the_broker_took_a_message() -> None:
    t0 = 1_000_000_000_000
    arrival = Arrival(session_expiry_s=3600, started_ms=t0)
    arrival.connected(t0)
    # Sent while the gateway was connected: arrived when the gateway got it.
    assert arrival.of(_env(t0 + 5_000), t0 + 5_100) == t0 + 5_100
    arrival.disconnected(t0 + 10_000)
    arrival.connected(t0 + 50_000)
    # Sent while the gateway was away: the broker took it when it was sent.
    assert arrival.of(_env(t0 + 20_000), t0 + 50_200) == t0 + 20_000
    # A claim older than the outage is not believed: the broker took it no
    # earlier than the gateway went away (so a stale envelope stays stale).
    assert arrival.of(_env(t0 - 900_000), t0 + 50_200) == t0 + 10_000
    # Never later than the gateway got it, whatever sent_at says.
    assert arrival.of(_env(t0 + 49_000), t0 + 50_100) == t0 + 49_000
    assert arrival.of(b"not json", t0 + 50_100) == t0 + 50_100


def test_a_gateway_that_starts_bounds_its_absence_by_the_session_expiry() -> None:
    t0 = 1_000_000_000_000
    arrival = Arrival(session_expiry_s=600, started_ms=t0)
    arrival.connected(t0 + 1_000)
    assert arrival.of(_env(t0 - 3_600_000), t0 + 1_100) == t0 - 600_000


def test_a_worker_never_takes_an_arrival_later_than_the_stream_stored_it() -> None:
    assert arrived_header("2000", 1500) == 1500
    assert arrived_header("1000", 1500) == 1000
    assert arrived_header(None, 1500) == 1500
    assert arrived_header("garbage", 1500) == 1500


def _env(sent_ms: int) -> bytes:
    from charter.domain.clock import from_ms

    sent = from_ms(sent_ms).isoformat().replace("+00:00", "Z")
    return b'{"envelope":{"device":"d","seq":1,"sent_at":"' + sent.encode() + b'"},"sig":""}'
