"""Quarantine: what was refused but is certainly not personal, and came from a device that
proved who it is, is kept minimised (declared fields only) for an operator to inspect and
replay. Nothing else is kept."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import event

from charter.bootstrap import Platform
from charter.bus.base import TOPIC_READINGS
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock, to_ms
from charter.domain.consultation import APPROVE
from charter.domain.errors import CharterError, NotFound
from charter.domain.model import DeviceStatus, ProjectStatus, urn
from charter.domain.reasons import Reason
from charter.sim import city as sample
from charter.store.base import QuarantineItem
from charter.store.sqlite import SqliteStore
from tests.conftest import COUNCIL, OPERATOR, SampleCity, air_reading

FOB = "FOB-7f3a9c-resident-2231"


def water(t: Any, level: object = 42.0) -> SimReading:
    return SimReading("water.level", t, {"level": level}, {"level": "cm"})


def crossing(t: Any, fob: str = FOB, extra: object = 10) -> SimReading:
    return SimReading("pedestrian.crossing_request", t, {"fob": fob, "extra_seconds": extra})


def make_flood_live(platform: Platform) -> None:
    platform.registry.decide(sample.FLOOD, APPROVE, COUNCIL, "approved after consultation")
    platform.registry.set_project_status(sample.FLOOD, ProjectStatus.LIVE, OPERATOR, "installed")


def warm(platform: Platform, *devices: DeviceSigner) -> None:
    """Load the gate's view of the register before a replay.

    A replay runs inside a write transaction; with a cold view the gate reads the store
    from another connection and SQLite refuses (see test_replay_right_after_a_register_
    change). Tests of what a replay decides warm the view first so they test that alone.
    """
    for d in devices:
        platform.directory.get(d.device_id)
    platform.directory.may_be_personal("air.quality")


@pytest.fixture
def fail_fast_on_lock(platform: Platform) -> None:
    """Make a lock wait fail in 0.2 s instead of 30 s (the behaviour is otherwise the same)."""
    store = platform.store
    assert isinstance(store, SqliteStore)

    def short(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=200")

    event.listen(store.engine, "connect", short)
    store.engine.dispose()


def replayed_entries(platform: Platform) -> list[dict[str, Any]]:
    return [
        msgspec.json.decode(e.data)
        for e in platform.store.iter_ledger_entries()
        if e.kind == "quarantine.replayed"
    ]


def only_held(platform: Platform) -> QuarantineItem:
    [item] = platform.quarantine.list()
    return item


# -- what is kept --------------------------------------------------------------------


def _untrusted(city: SampleCity) -> bytes:
    return city.envelope(city.untrusted)


def _suspended(city: SampleCity) -> bytes:
    city.platform.registry.set_device_status(
        city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "inspection"
    )
    return city.envelope(city.air)


def _revoked(city: SampleCity) -> bytes:
    city.platform.registry.set_device_status(
        city.air.device_id, DeviceStatus.REVOKED, OPERATOR, "stolen"
    )
    return city.envelope(city.air)


def _not_live(city: SampleCity) -> bytes:
    return city.envelope(city.flood, [water(city.platform.clock.now())])


def _stale(city: SampleCity) -> bytes:
    return city.envelope(city.air, sent_at=city.platform.clock.now() - timedelta(minutes=6))


def _future(city: SampleCity) -> bytes:
    ahead = city.platform.clock.now() + timedelta(minutes=6)
    return city.envelope(city.air, [air_reading(ahead)], sent_at=ahead)


@pytest.mark.parametrize(
    ("make", "stage", "reason"),
    [
        (_untrusted, "authorise", Reason.VENDOR_UNTRUSTED),
        (_suspended, "authorise", Reason.DEVICE_SUSPENDED),
        (_revoked, "authorise", Reason.DEVICE_REVOKED),
        (_not_live, "authorise", Reason.PROJECT_NOT_LIVE),
        (_stale, "authenticate", Reason.STALE_TIMESTAMP),
        (_future, "authenticate", Reason.FUTURE_TIMESTAMP),
    ],
    ids=["untrusted", "suspended", "revoked", "not-live", "stale", "future"],
)
def test_an_authenticated_non_personal_envelope_refused_whole_is_held_whole(
    platform: Platform,
    city: SampleCity,
    make: Callable[[SampleCity], bytes],
    stage: str,
    reason: Reason,
) -> None:
    env = make(city)
    [out] = platform.gate.ingest([env])
    assert out.rejection is not None and out.rejection.reason is reason
    assert out.quarantined == 1 and out.dropped == 0 and out.admitted == 0
    item = only_held(platform)
    signed = msgspec.json.decode(env)["envelope"]
    assert (item.kind, item.stage, item.reason, item.status) == ("envelope", stage, reason, "held")
    assert (item.device_id, item.seq) == (signed["device"], signed["seq"])
    assert item.received_at == to_ms(platform.clock.now())
    # A minimised copy: what the gate judges, and what it established at the door.
    held = msgspec.json.decode(item.payload)
    assert "sig" not in held and "envelope" not in held
    assert (held["device"], held["seq"]) == (signed["device"], signed["seq"])
    assert [r["values"] for r in held["readings"]] == [r["values"] for r in signed["readings"]]
    door = held["door"]
    assert door["signature"] == "verified"
    assert door["key"] in (
        city.air.public_key_b64,
        city.untrusted.public_key_b64,
        city.flood.public_key_b64,
    )
    assert platform.store.rejections_by_reason() == {reason.value: 1}
    assert platform.store.count_readings() == 0


def test_an_envelope_held_whole_counts_all_its_readings(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.untrusted, [air_reading(now)] * 4)])
    assert out.quarantined == 4 and out.rejected == {"VENDOR_UNTRUSTED": 4}
    assert platform.store.count_quarantine() == 1
    assert platform.store.rejections_by_reason() == {"VENDOR_UNTRUSTED": 4}


@pytest.mark.parametrize(
    ("reading", "reason"),
    [
        (lambda t: air_reading(t, pm25=True, firmware_debug="x"), Reason.WRONG_TYPE),
        (lambda t: air_reading(t, pm25=-5), Reason.OUT_OF_RANGE),
        (lambda t: SimReading("air.quality", t, {"firmware_debug": 1}), Reason.INVALID_READING),
        (lambda t: air_reading(t - timedelta(days=30)), Reason.STALE_TIMESTAMP),
    ],
    ids=["wrong-type", "out-of-range", "no-declared-field", "observed-long-ago"],
)
def test_a_refused_non_personal_reading_is_held_alone_and_minimised(
    platform: Platform,
    city: SampleCity,
    reading: Callable[[Any], SimReading],
    reason: Reason,
) -> None:
    now = platform.clock.now()
    bad = reading(now)
    [out] = platform.gate.ingest([city.envelope(city.air, [air_reading(now), bad])])
    assert out.admitted == 1 and out.quarantined == 1 and out.dropped == 0
    item = only_held(platform)
    assert (item.kind, item.reason, item.device_id, item.seq) == (
        "reading",
        reason.value,
        city.air.device_id,
        1,
    )
    held = msgspec.json.decode(item.payload)
    [kept] = held["readings"]
    assert kept["category"] == bad.category
    declared = {k: v for k, v in bad.values.items() if k != "firmware_debug"}
    assert kept["values"] == declared  # declared fields only
    assert held["door"]["dropped"]["fields"] == len(bad.values) - len(declared)
    assert platform.store.rejections_by_reason() == {reason.value: 1}


def test_a_reading_held_from_an_envelope_with_a_malformed_neighbour_keeps_its_bytes(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    no_time = {"category": "air.quality", "values": {"pm25": 1.0}}
    bad = air_reading(now, pm25=True)
    [out] = platform.gate.ingest([city.envelope(city.air, [no_time, bad, air_reading(now)])])  # type: ignore[list-item]
    assert out.admitted == 1
    assert sorted(out.rejected.items()) == [("INVALID_READING", 1), ("WRONG_TYPE", 1)]
    assert out.quarantined == 1 and out.dropped == 1
    item = only_held(platform)
    assert item.reason == "WRONG_TYPE"
    assert msgspec.json.decode(item.payload)["readings"][0]["values"]["pm25"] is True


# -- what is not kept ----------------------------------------------------------------


def test_an_unauthenticated_envelope_is_counted_not_kept(
    platform: Platform, city: SampleCity
) -> None:
    ghost = DeviceSigner(urn("Device", "ghost"))
    forged = DeviceSigner(city.air.device_id)
    tampered = city.envelope(city.air).replace(b"12.5", b"99.5")
    too_deep = b'{"envelope":' + b"[" * 10_000 + b"]" * 10_000 + b',"sig":"x"}'
    bodies = [city.envelope(ghost), city.envelope(forged), tampered, b"{", too_deep]
    outs = platform.gate.ingest(bodies)
    assert [o.quarantined for o in outs] == [0] * 5
    assert [o.dropped for o in outs] == [1] * 5
    assert platform.store.count_quarantine() == 0
    assert platform.store.rejections_by_reason() == {
        "NOT_REGISTERED": 1,
        "BAD_SIGNATURE": 2,
        "MALFORMED_JSON": 1,
        "TOO_DEEP": 1,
    }


def test_a_replayed_envelope_is_counted_not_kept(platform: Platform, city: SampleCity) -> None:
    env = city.envelope(city.untrusted)  # held the first time
    platform.gate.ingest([env])
    [again] = platform.gate.ingest([env])
    [lower] = platform.gate.ingest([city.envelope(city.untrusted, seq=0)])
    for out in (again, lower):
        assert out.rejection is not None and out.rejection.reason is Reason.REPLAYED_SEQUENCE
        assert out.quarantined == 0 and out.dropped == 1
    assert platform.store.count_quarantine() == 1
    assert platform.store.rejections_by_reason() == {"VENDOR_UNTRUSTED": 1, "REPLAYED_SEQUENCE": 2}


def test_a_captured_envelope_sent_again_later_is_not_kept(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    """Re-sending an envelope that was already admitted is a replay, however late.

    The gate judges freshness before the sequence number, so a copy re-sent after the
    five-minute window is called STALE_TIMESTAMP and, being signed, is kept: anyone who
    captured one envelope can then fill the quarantine without a key."""
    env = city.envelope(city.air)
    [first] = platform.gate.ingest([env])
    assert first.admitted == 1
    clock.advance(timedelta(minutes=10))
    for _ in range(3):
        [out] = platform.gate.ingest([env])
        assert out.admitted == 0
        assert out.quarantined == 0, out.to_json()
    assert platform.store.count_quarantine() == 0
    assert sum(platform.store.rejections_by_reason().values()) == 3


def test_a_captured_envelope_is_never_stored_twice(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    """Even if an operator replays everything in quarantine."""
    env = city.envelope(city.air)
    platform.gate.ingest([env])
    clock.advance(timedelta(minutes=10))
    platform.gate.ingest([env])
    warm(platform, city.air)
    for item in platform.quarantine.list():
        platform.quarantine.replay(item.id, OPERATOR, "replay everything held")
    assert platform.store.count_readings() == 1


def test_a_reading_in_a_category_no_project_declares_is_not_kept(
    platform: Platform, city: SampleCity
) -> None:
    # The gate cannot tell whether it is personal, so it does not keep it.
    now = platform.clock.now()
    [out] = platform.gate.ingest(
        [city.envelope(city.air, [SimReading("phone.mac", now, {"mac": "00:11:22:33:44:55"})])]
    )
    assert out.rejected == {"UNDECLARED_CATEGORY": 1} and out.dropped == 1
    assert out.reading_reasons == [(0, "UNDECLARED_CATEGORY", "")]
    assert platform.store.count_quarantine() == 0


# -- personal data is never kept -----------------------------------------------------


def all_bytes(platform: Platform) -> bytes:
    """Every byte the platform has written: the database, its WAL and anything beside it."""
    return b"".join(
        p.read_bytes() for p in sorted(platform.settings.data_dir.rglob("*")) if p.is_file()
    )


def all_rows(platform: Platform) -> str:
    conn = sqlite3.connect(platform.settings.database_path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return repr([list(conn.execute(f'SELECT * FROM "{t}"')) for t in tables])
    finally:
        conn.close()


def assert_no_trace(platform: Platform, secret: str) -> None:
    assert platform.settings.database_path.exists()
    blob = all_bytes(platform)
    for form in (secret.encode(), secret.encode("utf-16-le"), secret.encode("utf-16-be")):
        assert form not in blob
    assert secret not in all_rows(platform)


def test_a_personal_reading_without_consent_leaves_no_trace(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    count = SimReading("traffic.count", now, {"vehicles": 4})
    [out] = platform.gate.ingest([city.envelope(city.traffic, [count, crossing(now)])])
    assert out.admitted == 1 and out.rejected == {"NO_CONSENT": 1}
    assert out.dropped == 1 and out.quarantined == 0
    assert FOB not in repr(out.to_json())
    assert platform.store.count_quarantine() == 0
    assert_no_trace(platform, FOB)


def test_personal_readings_leave_no_trace_whatever_else_is_wrong(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    now = clock.now()
    reg = platform.registry
    counter = city.device("counter", sample.TRUSTED, sample.TRAFFIC, ["traffic.count"])
    count = SimReading("traffic.count", now, {"vehicles": 4})
    bodies = [
        # refused per reading, for reasons other than consent
        city.envelope(city.traffic, [crossing(now, fob=FOB + "-a", extra="ten")]),
        city.envelope(city.traffic, [crossing(now, fob=FOB + "-b", extra=99)]),
        city.envelope(city.traffic, [crossing(now - timedelta(days=9), fob=FOB + "-c")]),
        city.envelope(counter, [count, crossing(now, fob=FOB + "-d")]),
        city.envelope(city.air, [air_reading(now), crossing(now, fob=FOB + "-e")]),
        # refused whole, with a personal reading inside
        city.envelope(
            city.traffic, [count, crossing(now, fob=FOB + "-f")], sent_at=now - timedelta(minutes=6)
        ),
        city.envelope(city.traffic, [count, crossing(now, fob=FOB + "-g")], seq=1),
    ]
    platform.gate.ingest(bodies)
    reg.set_device_status(city.traffic.device_id, DeviceStatus.SUSPENDED, OPERATOR, "check")
    platform.gate.ingest([city.envelope(city.traffic, [count, crossing(now, fob=FOB + "-h")])])
    assert platform.store.count_readings() == 2  # the counter's count, the air reading
    assert platform.store.count_quarantine() == 0
    assert sum(platform.store.rejections_by_reason().values()) == 11
    assert_no_trace(platform, FOB)


def test_the_scan_would_find_the_identifier_if_it_were_stored(
    platform: Platform, city: SampleCity
) -> None:
    # The check above is not vacuous: what the gate keeps, the scan finds.
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.air, [air_reading(now, pm25=987.654321)])])
    platform.gate.ingest([city.envelope(city.air, [air_reading(now, pm25=1234.56789)])])
    assert b"987.654321" in all_bytes(platform)  # admitted
    assert b"1234.56789" in all_bytes(platform)  # held: out of range


# -- replay --------------------------------------------------------------------------


def test_replay_right_after_a_register_change(
    platform: Platform, city: SampleCity, fail_fast_on_lock: None
) -> None:
    """The flood gauge's envelope, held while its project was in consultation, is
    admitted when an operator replays it after the council approved the project."""
    env = city.envelope(city.flood, [water(platform.clock.now())])
    [out] = platform.gate.ingest([env])
    assert out.rejection is not None and out.rejection.reason is Reason.PROJECT_NOT_LIVE
    item = only_held(platform)
    make_flood_live(platform)
    result = platform.quarantine.replay(item.id, OPERATOR, "project approved")
    assert result.admitted == 1
    assert platform.store.count_readings() == 1


def test_a_held_envelope_is_admitted_once_its_project_is_live(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    env = city.envelope(city.flood, [water(clock.now(), 61.5)])
    platform.gate.ingest([env])
    arrived = to_ms(clock.now())
    item = only_held(platform)
    clock.advance(timedelta(days=3))  # the council takes its time; freshness is not rechecked
    make_flood_live(platform)
    warm(platform, city.flood)
    ledger_before = platform.ledger.size
    out = platform.quarantine.replay(item.id, OPERATOR, "project approved")
    assert out.rejection is None and out.admitted == 1
    [row] = platform.store.readings()
    assert (row.device_id, row.category, row.seq) == (city.flood.device_id, "water.level", 1)
    assert msgspec.json.decode(row.body) == {"level": 61.5}
    assert row.received_at == arrived
    # the item is marked, and the replay is on the record
    assert platform.quarantine.list() == []
    [done] = platform.quarantine.list(status="replayed")
    assert (done.id, done.reason) == (item.id, "PROJECT_NOT_LIVE")
    assert platform.ledger.size == ledger_before + 1
    [entry] = replayed_entries(platform)
    assert entry["item"] == item.id
    assert entry["device"] == city.flood.device_id
    assert entry["was"] == "PROJECT_NOT_LIVE"
    assert entry["admitted"] == 1
    assert entry["result"] == "replayed"
    assert entry["why"] == "project approved"
    assert entry["actor"] == {"name": OPERATOR.name, "role": OPERATOR.role}


def test_an_item_is_replayed_at_most_once(platform: Platform, city: SampleCity) -> None:
    platform.gate.ingest([city.envelope(city.flood, [water(platform.clock.now())])])
    item = only_held(platform)
    make_flood_live(platform)
    warm(platform, city.flood)
    platform.quarantine.replay(item.id, OPERATOR, "approved")
    with pytest.raises(CharterError) as err:
        platform.quarantine.replay(item.id, OPERATOR, "again")
    assert err.value.reason is Reason.NOT_REPLAYABLE
    assert platform.store.count_readings() == 1
    assert len(replayed_entries(platform)) == 1


def test_replaying_an_item_that_does_not_exist_is_not_found(platform: Platform) -> None:
    with pytest.raises(NotFound) as err:
        platform.quarantine.replay(12345, OPERATOR, "typo")
    assert err.value.reason is Reason.NOT_FOUND


def test_a_held_envelope_still_refused_stays_held(platform: Platform, city: SampleCity) -> None:
    platform.gate.ingest([city.envelope(city.flood, [water(platform.clock.now())])])
    item = only_held(platform)
    warm(platform, city.flood)
    decisions_before = platform.store.rejections_by_reason()
    out = platform.quarantine.replay(item.id, OPERATOR, "too early")
    assert out.admitted == 0
    assert out.rejection is not None and out.rejection.reason is Reason.PROJECT_NOT_LIVE
    again = only_held(platform)
    assert (again.id, again.status, again.reason) == (item.id, "held", "PROJECT_NOT_LIVE")
    assert platform.store.count_readings() == 0
    assert platform.store.rejections_by_reason() == decisions_before  # not counted twice
    [entry] = replayed_entries(platform)
    assert entry["result"] == "held" and entry["admitted"] == 0


def test_a_held_envelope_refused_for_a_new_reason_says_so(
    platform: Platform, city: SampleCity
) -> None:
    platform.gate.ingest([city.envelope(city.flood, [water(platform.clock.now())])])
    item = only_held(platform)
    make_flood_live(platform)
    platform.registry.set_device_status(
        city.flood.device_id, DeviceStatus.REVOKED, OPERATOR, "gauge stolen"
    )
    warm(platform, city.flood)
    out = platform.quarantine.replay(item.id, OPERATOR, "approved")
    assert out.admitted == 0
    again = only_held(platform)
    assert (again.id, again.reason) == (item.id, "DEVICE_REVOKED")


def test_a_held_reading_still_invalid_stays_held_with_its_reason(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.air, [air_reading(now, pm25=-5)])])
    item = only_held(platform)
    assert (item.kind, item.reason) == ("reading", "OUT_OF_RANGE")
    warm(platform, city.air)
    out = platform.quarantine.replay(item.id, OPERATOR, "try again")
    assert out.admitted == 0
    detail = "field 'pm25' is outside its declared range"
    assert out.reading_reasons == [(0, "OUT_OF_RANGE", detail)]
    again = only_held(platform)
    assert (again.id, again.status, again.reason, again.detail) == (
        item.id,
        "held",
        "OUT_OF_RANGE",
        detail,
    )
    assert platform.store.count_quarantine() == 1  # not held a second time
    assert platform.store.count_readings() == 0
    [entry] = replayed_entries(platform)
    assert entry["result"] == "held" and entry["was"] == "OUT_OF_RANGE"


def test_a_held_reading_of_a_device_no_longer_registered_cannot_be_replayed(
    platform: Platform, city: SampleCity
) -> None:
    # simulate a register without the device by asking for a device id that is unknown
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.air, [air_reading(now, pm25=-5)])])
    item = only_held(platform)
    store = platform.store
    assert isinstance(store, SqliteStore)
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE quarantine SET device_id = 'urn:ngsi-ld:Device:gone'")
    with pytest.raises(CharterError) as err:
        platform.quarantine.replay(item.id, OPERATOR, "try")
    assert err.value.reason is Reason.NOT_REPLAYABLE


def test_replayed_rows_are_published_only_after_they_are_committed(
    platform: Platform, city: SampleCity
) -> None:
    platform.gate.ingest([city.envelope(city.flood, [water(platform.clock.now())])])
    item = only_held(platform)
    make_flood_live(platform)
    warm(platform, city.flood)
    seen: list[tuple[int, int]] = []

    def handler(topic: str, rows: list[Any]) -> None:
        conn = sqlite3.connect(platform.settings.database_path)
        try:
            committed = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        finally:
            conn.close()
        seen.append((len(rows), committed))

    platform.bus.subscribe(TOPIC_READINGS, handler)
    platform.quarantine.replay(item.id, OPERATOR, "approved")
    assert seen == [(1, 1)]


@pytest.fixture
def held_items(platform: Platform, city: SampleCity) -> Iterator[list[QuarantineItem]]:
    now = platform.clock.now()
    platform.gate.ingest(
        [city.envelope(city.untrusted), city.envelope(city.air, [air_reading(now, pm25=-5)])]
    )
    yield platform.quarantine.list()


def test_the_operator_can_list_what_is_held(held_items: list[QuarantineItem]) -> None:
    assert [(q.kind, q.reason, q.status) for q in held_items] == [
        ("envelope", "VENDOR_UNTRUSTED", "held"),
        ("reading", "OUT_OF_RANGE", "held"),
    ]
    assert held_items[0].id < held_items[1].id


def test_listing_respects_the_limit(platform: Platform, held_items: list[QuarantineItem]) -> None:
    assert len(platform.quarantine.list(limit=1)) == 1
    assert platform.quarantine.list(status="replayed") == []
