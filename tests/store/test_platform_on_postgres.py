"""The gate, the quarantine, the ledger and the API on PostgreSQL, as on SQLite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.ledger.verify import verify
from charter.settings import Settings
from tests.api.support import bearer
from tests.conftest import OPERATOR, SampleCity, air_reading
from tests.services import pg_database


@pytest.fixture
def pg(tmp_path: Path, clock: FixedClock) -> Iterator[Platform]:
    with pg_database() as url:
        p = build(Settings(data_dir=tmp_path / "data", database_url=url), clock=clock)
        yield p
        p.close()


def test_the_gate_decides_the_same_on_postgresql(pg: Platform) -> None:
    city = SampleCity(pg)
    now = pg.clock.now()
    body = city.envelope(city.air, [air_reading(now), air_reading(now, pm25=9999.0)])
    [out] = pg.gate.ingest([body])
    assert out.admitted == 1 and out.quarantined == 1
    [again] = pg.gate.ingest([body])
    assert again.rejection is not None and again.rejection.reason.value == "REPLAYED_SEQUENCE"
    [shady] = pg.gate.ingest([city.envelope(city.untrusted)])
    assert shady.admitted == 0
    assert pg.store.count_readings() == 1
    held = pg.quarantine.list()
    assert sorted(q.kind for q in held) == ["envelope", "reading"]
    assert "REPLAYED_SEQUENCE" in pg.store.rejections_by_reason()
    reading = next(q for q in held if q.kind == "reading")
    pg.quarantine.replay(reading.id, OPERATOR, "checked")
    report = verify(pg.store, pg.ledger.key.name, pg.ledger.key.public_key)
    assert report.ok, report.problems


def test_the_api_reads_from_postgresql(pg: Platform) -> None:
    city = SampleCity(pg)
    pg.gate.ingest([city.envelope(city.air), city.envelope(city.air)])
    with TestClient(create_app(pg)) as client:
        stats = client.get("/stats").json()
        assert stats["admitted"] == 2
        got = client.get(
            "/readings", params={"device": city.air.device_id}, headers=bearer(pg, Role.AUDITOR)
        )
        assert got.status_code == 200, got.text
        assert len(got.json()["readings"]) == 2
