"""POST /ingest over HTTP: acknowledgements, and envelope-level rejections as problem+json."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.bootstrap import Platform, build
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.domain.model import urn
from charter.settings import Settings
from charter.sim.city import AIR
from tests.api.support import assert_problem, water
from tests.conftest import SampleCity, air_reading

# --- honest envelopes --------------------------------------------------------


def test_an_honest_envelope_is_acknowledged_with_its_admitted_count(
    client: TestClient, platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    now = clock.now()
    readings = [air_reading(now - timedelta(minutes=m), pm25=10.0 + m) for m in range(3)]
    r = client.post("/ingest", content=city.envelope(city.air, readings, seq=7))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {
        "device": city.air.device_id,
        "seq": 7,
        "admitted": 3,
        "rejected": {},
        "quarantined": 0,
        "dropped": 0,
    }
    # Acknowledged means committed: the readings are in the store now.
    stored = platform.store.readings(device_id=city.air.device_id)
    assert sorted(row.seq for row in stored) == [7, 7, 7]
    assert platform.store.device_seq(city.air.device_id) == 7


def test_an_envelope_with_some_bad_readings_is_acknowledged_per_reading(
    client: TestClient, platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    now = clock.now()
    readings = [air_reading(now), air_reading(now, pm25=5000.0), air_reading(now, pm25=1.0)]
    r = client.post("/ingest", content=city.envelope(city.air, readings))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["admitted"] == 2
    assert body["rejected"] == {"OUT_OF_RANGE": 1}
    assert [(x["index"], x["reason"]) for x in body["readings"]] == [(1, "OUT_OF_RANGE")]
    assert platform.store.count_readings() == 2


def test_consecutive_envelopes_from_several_devices_are_all_admitted(
    client: TestClient, platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    now = clock.now()
    traffic = SimReading("traffic.count", now, {"vehicles": 12, "mean_speed": 31.5})
    for _ in range(3):
        assert client.post("/ingest", content=city.envelope(city.air)).json()["admitted"] == 1
        r = client.post("/ingest", content=city.envelope(city.traffic, [traffic]))
        assert r.json()["admitted"] == 1
    assert platform.store.count_readings() == 6
    assert platform.store.device_seq(city.air.device_id) == 3
    assert platform.store.device_seq(city.traffic.device_id) == 3


# --- envelope-level rejections -------------------------------------------------

Build = Callable[[SampleCity], bytes]


def _tampered(city: SampleCity) -> bytes:
    body = city.envelope(city.air)
    assert b'"pm25":12.5' in body
    return body.replace(b'"pm25":12.5', b'"pm25":99.5')  # the signed bytes changed


def _signed_by_another_device(city: SampleCity) -> bytes:
    now = city.platform.clock.now()
    return city.traffic.envelope(1, now, [air_reading(now)], device_id=city.air.device_id)


def _garbage_signature(city: SampleCity) -> bytes:
    body = city.envelope(city.air)
    head, _, _ = body.rpartition(b',"sig":"')
    return head + b',"sig":"not base64 at all!"}'


def _unknown_device(city: SampleCity) -> bytes:
    now = city.platform.clock.now()
    return DeviceSigner(urn("Device", "ghost")).envelope(1, now, [air_reading(now)])


def _project_in_consultation(city: SampleCity) -> bytes:
    return city.envelope(city.flood, [water(city.platform.clock.now())])


def _untrusted_vendor(city: SampleCity) -> bytes:
    return city.envelope(city.untrusted)


def _stale(city: SampleCity) -> bytes:
    now = city.platform.clock.now()
    return city.envelope(city.air, [air_reading(now)], sent_at=now - timedelta(hours=1))


def _from_the_future(city: SampleCity) -> bytes:
    later = city.platform.clock.now() + timedelta(hours=1)
    return city.envelope(city.air, [air_reading(later)], sent_at=later)


def _empty(city: SampleCity) -> bytes:
    return city.envelope(city.air, [])


REJECTIONS: list[tuple[str, Build, int, str]] = [
    ("tampered", _tampered, 401, "BAD_SIGNATURE"),
    ("signed-by-another-device", _signed_by_another_device, 401, "BAD_SIGNATURE"),
    ("garbage-signature", _garbage_signature, 401, "BAD_SIGNATURE"),
    ("unknown-device", _unknown_device, 401, "NOT_REGISTERED"),
    ("project-not-live", _project_in_consultation, 403, "PROJECT_NOT_LIVE"),
    ("vendor-untrusted", _untrusted_vendor, 403, "VENDOR_UNTRUSTED"),
    ("stale", _stale, 422, "STALE_TIMESTAMP"),
    ("future", _from_the_future, 422, "FUTURE_TIMESTAMP"),
    ("malformed-json", lambda _c: b'{"envelope": {"v": 1, ', 400, "MALFORMED_JSON"),
    ("not-json-at-all", lambda _c: b"\xff\xfe garbage", 400, "MALFORMED_JSON"),
    ("wrong-shape", lambda _c: b'{"envelope": {"v": 1}, "sig": "AAAA"}', 400, "INVALID_ENVELOPE"),
    ("unknown-member", lambda _c: b'{"envelope": {}, "sig": "", "x": 1}', 400, "INVALID_ENVELOPE"),
    ("empty", _empty, 400, "EMPTY_ENVELOPE"),
]


@pytest.mark.parametrize(
    ("build_body", "status", "reason"),
    [pytest.param(b, s, r, id=name) for name, b, s, r in REJECTIONS],
)
def test_an_envelope_level_rejection_is_a_problem_with_the_right_status(
    client: TestClient,
    platform: Platform,
    city: SampleCity,
    build_body: Build,
    status: int,
    reason: str,
) -> None:
    r = client.post("/ingest", content=build_body(city))
    body = assert_problem(r, status, reason)
    assert body["admitted"] == 0
    assert body["rejected"] == {reason: 1}
    assert isinstance(body["stage"], str) and body["stage"]
    assert platform.store.count_readings() == 0


def test_a_replayed_sequence_number_is_a_conflict(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    first = city.envelope(city.air, seq=5)
    assert client.post("/ingest", content=first).status_code == 200
    # The very same bytes again, a fresh envelope reusing seq 5, and an older seq.
    for body in (first, city.envelope(city.air, seq=5), city.envelope(city.air, seq=3)):
        problem = assert_problem(client.post("/ingest", content=body), 409, "REPLAYED_SEQUENCE")
        assert problem["stage"] == "authenticate"
    assert platform.store.count_readings() == 1
    assert client.post("/ingest", content=city.envelope(city.air, seq=6)).status_code == 200


def test_a_rejected_envelope_does_not_use_up_its_sequence_number(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    assert client.post("/ingest", content=_tampered(city)).status_code == 401
    r = client.post("/ingest", content=city.envelope(city.air, seq=1))
    assert r.status_code == 200, r.text


def test_an_unauthenticated_envelope_is_not_kept_in_quarantine(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    client.post("/ingest", content=_unknown_device(city))
    client.post("/ingest", content=_tampered(city))
    assert platform.store.count_quarantine("held") == 0
    # An authenticated one of an untrusted vendor is kept for an operator.
    assert_problem(client.post("/ingest", content=_untrusted_vendor(city)), 403, "VENDOR_UNTRUSTED")
    assert platform.store.count_quarantine("held") == 1


def test_a_forgery_naming_a_real_envelope_changes_nothing_for_it(
    client: TestClient, platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    forger = DeviceSigner(city.air.device_id)  # the device's name, not its key
    fake = forger.envelope(5, clock.now(), [air_reading(clock.now(), pm25=666.0)])
    assert_problem(client.post("/ingest", content=fake), 401, "BAD_SIGNATURE")
    r = client.post("/ingest", content=city.envelope(city.air, seq=5))
    assert r.status_code == 200 and r.json()["admitted"] == 1, r.text
    # Counted among all refusals, but not against the project whose device it named.
    assert platform.store.rejections_by_reason() == {"BAD_SIGNATURE": 1}
    assert platform.store.rejections_by_reason_of(AIR) == {}


def test_a_strangers_huge_envelope_is_refused_on_its_header(
    client: TestClient, city: SampleCity
) -> None:
    """An unregistered device's envelope is refused without its readings being
    built: these readings (an object where a list belongs) fail the full decode."""
    ghost = DeviceSigner(urn("Device", "ghost"))
    junk = b'{"r":"%s"}' % (b"x" * 1_000_000)
    body = b'{"v":1,"device":"%s","seq":1,"sent_at":"2026-11-29T12:00:00Z","readings":%s}' % (
        ghost.device_id.encode(),
        junk,
    )
    # Past the unauthenticated read limit the door refuses it before reading the rest.
    assert_problem(client.post("/ingest", content=ghost.seal(body)), 401, "NOT_REGISTERED")
    # A registered device's name with a wrong key: refused on the signature, still unread.
    fake = body.replace(ghost.device_id.encode(), city.air.device_id.encode())
    problem = assert_problem(client.post("/ingest", content=ghost.seal(fake)), 401, "BAD_SIGNATURE")
    assert problem["stage"] == "authenticate"


# --- size limits ----------------------------------------------------------------

LIMIT = 2048


@pytest.fixture
def small(tmp_path: Path, clock: FixedClock) -> Iterator[tuple[TestClient, SampleCity]]:
    p = build(Settings(data_dir=tmp_path / "small", max_envelope_bytes=LIMIT), clock=clock)
    try:
        city = SampleCity(p)
        with TestClient(create_app(p)) as c:
            yield c, city
    finally:
        p.close()


def test_an_envelope_over_the_size_limit_is_413(small: tuple[TestClient, SampleCity]) -> None:
    client, city = small
    now = city.platform.clock.now()
    big = city.envelope(city.air, [air_reading(now, pm25=float(i)) for i in range(40)], seq=1)
    assert len(big) > LIMIT
    assert_problem(client.post("/ingest", content=big), 413, "ENVELOPE_TOO_LARGE")
    assert city.platform.store.count_readings() == 0
    # A signed envelope within the limit still gets through, with the same seq.
    fits = city.envelope(city.air, seq=1)
    assert len(fits) <= LIMIT
    assert client.post("/ingest", content=fits).status_code == 200


def test_a_streamed_body_without_content_length_is_cut_off_at_the_limit(
    small: tuple[TestClient, SampleCity],
) -> None:
    client, city = small

    def chunks() -> Iterator[bytes]:
        for _ in range(64):
            yield b"x" * 512

    r = client.post("/ingest", content=chunks())
    assert "content-length" not in r.request.headers
    assert_problem(r, 413, "ENVELOPE_TOO_LARGE")
    assert city.platform.store.count_readings() == 0


def test_the_default_limit_is_enforced_on_the_declared_length(
    client: TestClient, platform: Platform
) -> None:
    limit = platform.settings.max_envelope_bytes
    r = client.post("/ingest", content=b" " * (limit + 1))
    assert_problem(r, 413, "ENVELOPE_TOO_LARGE")


def test_too_many_readings_is_413(tmp_path: Path, clock: FixedClock) -> None:
    p = build(Settings(data_dir=tmp_path / "few", max_readings=3), clock=clock)
    try:
        city = SampleCity(p)
        now = clock.now()
        with TestClient(create_app(p)) as client:
            r = client.post("/ingest", content=city.envelope(city.air, [air_reading(now)] * 4))
            assert_problem(r, 413, "TOO_MANY_READINGS")
            r = client.post("/ingest", content=city.envelope(city.air, [air_reading(now)] * 3))
            assert r.json()["admitted"] == 3
    finally:
        p.close()
