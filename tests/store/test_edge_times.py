"""Observation times at the edges the gate allows are stored and read back exactly, on
SQLite and on PostgreSQL; a reader never fails on an odd stored time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock, iso, to_ms
from charter.settings import Settings
from tests.api.support import bearer
from tests.conftest import OPERATOR, SampleCity, air_reading
from tests.services import pg_database

WEST = timezone(-timedelta(hours=23, minutes=59))
EAST = timezone(timedelta(hours=23, minutes=59))
FLOOR = datetime(2000, 1, 1, tzinfo=UTC)
LAST = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_platform(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock
) -> Iterator[Platform]:
    if request.param == "sqlite":
        p = build(Settings(data_dir=tmp_path / "data"), clock=clock)
        yield p
        p.close()
        return
    with pg_database() as url:
        p = build(Settings(data_dir=tmp_path / "data", database_url=url), clock=clock)
        yield p
        p.close()


def served(p: Platform, device: str) -> list[str]:
    with TestClient(create_app(p)) as client:
        got = client.get("/readings", params={"device": device}, headers=bearer(p, Role.AUDITOR))
        assert got.status_code == 200, got.text
        return [r["observed_at"] for r in got.json()["readings"]]


def test_edge_observation_times_are_stored_and_read_back(store_platform: Platform) -> None:
    p = store_platform
    city = SampleCity(p)
    now = p.clock.now()
    latest = (now + timedelta(seconds=60)).astimezone(WEST)  # the skew, spelled far west
    oldest = (now - timedelta(days=7)).astimezone(EAST)  # the reading window, far east
    [out] = p.gate.ingest([city.envelope(city.air, [air_reading(latest), air_reading(oldest)])])
    assert out.admitted == 2
    # The floor itself, reached only by a replay that overrides freshness.
    p.gate.ingest([city.envelope(city.air, [air_reading(FLOOR.astimezone(EAST))])])
    [held] = p.quarantine.list()
    assert p.quarantine.replay(held.id, OPERATOR, "buffered", "freshness").admitted == 1
    expected = sorted(to_ms(t) for t in (latest, oldest, FLOOR))
    assert sorted(r.observed_at for r in p.store.readings()) == expected
    assert sorted(served(p, city.air.device_id)) == [iso(t) for t in expected]
    assert iso(to_ms(FLOOR)) == "2000-01-01T00:00:00.000Z"


def test_the_last_representable_millisecond_is_stored_and_served(store_platform: Platform) -> None:
    p = store_platform
    city = SampleCity(p)
    row = (
        city.air.device_id,
        "urn:ngsi-ld:Project:clean-air",
        "air.quality",
        to_ms(LAST),
        0,
        1,
        "{}",
    )
    with p.store.transaction() as tx:
        tx.insert_readings([row])
    [stored] = p.store.readings()
    assert stored.observed_at == to_ms(LAST)
    assert served(p, city.air.device_id) == ["9999-12-31T23:59:59.999Z"]


def test_a_time_no_datetime_can_hold_does_not_break_the_readings_api(platform: Platform) -> None:
    """Rows stored before the gate bounded observation times (SQLite: PostgreSQL's daily
    partitions could not even be made for them)."""
    city = SampleCity(platform)
    beyond = datetime(9999, 12, 31, 23, 59, 59, tzinfo=WEST)
    rows = [
        (city.air.device_id, "p", "air.quality", to_ms(beyond), 0, 1, "{}"),
        (city.air.device_id, "p", "air.quality", to_ms(datetime(1, 1, 1, tzinfo=EAST)), 0, 2, "{}"),
    ]
    with platform.store.transaction() as tx:
        tx.insert_readings(rows)
    assert sorted(served(platform, city.air.device_id)) == [
        "+0000-12-31T00:01:00.000Z",
        "+10000-01-01T23:58:59.000Z",
    ]
