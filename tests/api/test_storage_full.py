"""A full disk: 503 problem+json with Retry-After, counted; reads keep working; it recovers.

The store is the real SQLite database, made to hit its real "database or disk
is full" (SQLITE_FULL) by capping its size at what it holds now
(`PRAGMA max_page_count`): the same error a full file system gives, without
needing to mount one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from charter.bootstrap import Platform
from tests.conftest import SampleCity, air_reading


def fill_the_disk(platform: Platform) -> Callable[[], None]:
    """Cap the database at its present size; returns what frees the disk again."""
    engine = platform.store.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()

    def cap(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    event.listen(engine, "connect", cap)
    engine.dispose()

    def free() -> None:
        event.remove(engine, "connect", cap)
        engine.dispose()

    return free


def _readings(city: SampleCity, n: int) -> list[Any]:
    now = city.platform.clock.now()
    return [air_reading(now, pm25=float(i), note="x" * 200) for i in range(n)]


def test_a_full_disk_answers_503_problem_json_and_recovers(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    free = fill_the_disk(platform)
    refused = None
    for _ in range(200):
        r = client.post("/ingest", content=city.envelope(city.air, _readings(city, 50)))
        if r.status_code != 200:
            refused = r
            break
    assert refused is not None, "the capped database never filled"
    assert refused.status_code == 503
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["retry-after"] == "5"
    assert refused.json()["reason"] == "STORAGE_UNAVAILABLE"
    assert "charter_storage_errors_total" in client.get("/metrics").text
    # Reads that need no write keep working, the signed checkpoint included.
    assert client.get("/health").status_code == 200
    checkpoint = client.get("/ledger/checkpoint")
    assert checkpoint.status_code == 200
    assert checkpoint.text.startswith(platform.ledger.origin)
    # The refused envelope was not stored; sent again once there is room, it is.
    free()
    again = client.post("/ingest", content=city.envelope(city.air, _readings(city, 5)))
    assert again.status_code == 200, again.text
    assert again.json()["admitted"] == 5
