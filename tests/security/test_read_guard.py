"""One guard for every read of personal data, and one issuer for every token.

Over the API (the doors a caller uses) and over two platforms sharing one store
(two processes): a purpose-bound token reads only for its purposes on every
route, a consumer sees only its own requests, a grant's constraints are checked
when granted, the bulk-read budget is the reader's whatever it names and
wherever it reads, and every door issues tokens the configured tenant accepts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role, issue_token
from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.settings import Settings
from charter.sim import city as sample
from tests.api.support import assert_problem
from tests.conftest import COUNCIL, SampleCity
from tests.rights.support import CROSSING, PURPOSE, crossing, resident
from tests.services import pg_database

APP_ID = "urn:ngsi-ld:Consumer:crossing-app"
APP = Actor(name="crossing-app", role="consumer", subject=APP_ID)
THRESHOLD = 3


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", bulk_read_threshold=THRESHOLD, **kw)  # type: ignore[arg-type]


@pytest.fixture
def platform(tmp_path: Path, clock: FixedClock) -> Iterator[Platform]:
    p = build(_settings(tmp_path), clock=clock)
    yield p
    p.close()


def _auth(platform: Platform, role: Role, **kw: object) -> dict[str, str]:
    token = platform.security.issuer.issue(f"{role.value}-ann", role, **kw)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def _grant(platform: Platform, purpose: str = PURPOSE, **constraints: object) -> str:
    access = platform.rights.access
    req = access.request(
        APP, dataset=sample.TRAFFIC, categories=[CROSSING], purpose=purpose, why="study"
    )
    done = access.decide(
        req.id,
        COUNCIL,
        grant=True,
        why="approved",
        expires_at=platform.clock.now() + timedelta(days=7),
        constraints=constraints,
    )
    assert done.grant is not None
    return done.grant


def _residents(platform: Platform, city: SampleCity, n: int, tag: str = "g") -> None:
    fobs = [f"FOB-{tag}-{i:04d}" for i in range(n)]
    for fob in fobs:
        resident(platform, fob)
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.traffic, [crossing(now, f) for f in fobs])])


def test_a_purpose_bound_token_reads_personal_data_only_for_its_purposes(
    platform: Platform, city: SampleCity
) -> None:
    _residents(platform, city, 1)
    grant = _grant(platform)  # for crossing-assistance
    stats_only = _auth(platform, Role.CONSUMER, subject=APP_ID, purposes=["statistics"])
    with TestClient(create_app(platform)) as http:
        r = http.get(
            "/personal-data",
            params={"category": CROSSING, "purpose": PURPOSE},
            headers={**stats_only, "X-Charter-Grant": grant},
        )
        assert_problem(r, 403, "PURPOSE_NOT_GRANTED")
        kinds = [e.kind for e in platform.store.iter_ledger_entries()]
        assert "personal.read" not in kinds  # refused before anything was read
        crossing_app = _auth(platform, Role.CONSUMER, subject=APP_ID, purposes=[PURPOSE])
        r = http.get(
            "/personal-data",
            params={"category": CROSSING, "purpose": PURPOSE},
            headers={**crossing_app, "X-Charter-Grant": grant},
        )
        assert r.status_code == 200 and len(r.json()["readings"]) == 1, r.text
        # The same rule on /readings, in the same service.
        bound = _auth(platform, Role.AUDITOR, purposes=["audit"])
        assert_problem(http.get("/readings", headers=bound), 403, "PURPOSE_NOT_GRANTED")
        ok = http.get("/readings", params={"purpose": "audit"}, headers=bound)
        assert ok.status_code == 200, ok.text


def test_a_consumer_sees_only_its_own_access_requests(platform: Platform, city: SampleCity) -> None:
    _grant(platform)
    other = Actor(name="ad-broker", role="consumer", subject="urn:ngsi-ld:Consumer:ad-broker")
    platform.rights.access.request(
        other, dataset=sample.TRAFFIC, categories=[CROSSING], purpose="statistics", why="ads"
    )
    with TestClient(create_app(platform)) as http:
        nobody = _auth(platform, Role.CONSUMER)  # a consumer token that names no consumer
        assert_problem(http.get("/access-requests", headers=nobody), 403, "FORBIDDEN")
        mine = http.get("/access-requests", headers=_auth(platform, Role.CONSUMER, subject=APP_ID))
        assert [r["consumer"] for r in mine.json()] == [APP_ID]
        every = http.get("/access-requests", headers=_auth(platform, Role.AUDITOR))
        assert len(every.json()) == 2


@pytest.mark.parametrize(
    "constraints",
    [
        {"max_readings": -1},
        {"max_readings": 0},
        {"max_readings": "5"},
        {"max_readings": True},
        {"max_readings": 10**9},
        {"fields": "extra_seconds"},
        {"fields": ["fob"]},  # the identifier is never served
        {"fields": ["no_such_field"]},
        {"fields": [1]},
    ],
)
def test_grant_constraints_are_checked_when_granted(
    platform: Platform, city: SampleCity, constraints: dict[str, object]
) -> None:
    _residents(platform, city, 1)
    req = platform.rights.access.request(
        APP, dataset=sample.TRAFFIC, categories=[CROSSING], purpose=PURPOSE, why="study"
    )
    with TestClient(create_app(platform)) as http:
        body = {"why": "ok", "expires_at": "2030-01-01T00:00:00Z", "constraints": constraints}
        r = http.post(
            f"/access-requests/{req.id}/grant", json=body, headers=_auth(platform, Role.COUNCIL)
        )
        assert_problem(r, 422, "BAD_CONSTRAINT")
        assert platform.store.get_access_request(req.id).status == "pending"  # type: ignore[union-attr]


def test_the_bulk_read_budget_is_the_readers_whatever_project_it_names(
    platform: Platform, city: SampleCity
) -> None:
    _residents(platform, city, THRESHOLD + 1)
    with TestClient(create_app(platform)) as http:
        auditor = _auth(platform, Role.AUDITOR)
        first = http.get("/readings", params={"project": sample.TRAFFIC}, headers=auditor)
        assert first.status_code == 403, first.text  # THRESHOLD + 1 personal records at once
        two = http.get("/readings", params={"limit": 2}, headers=auditor)
        assert two.status_code == 200, two.text
        # Naming a project (or another one) is no fresh budget.
        again = http.get(
            "/readings", params={"project": sample.TRAFFIC, "limit": 2}, headers=auditor
        )
        assert_problem(again, 403, "BULK_READ_REFUSED")
        # Another token of the same person draws on the same budget.
        same = _auth(platform, Role.AUDITOR)
        r = http.get("/readings", params={"project": sample.AIR, "limit": 2}, headers=same)
        assert r.status_code == 200  # no personal records: nothing counted
        r = http.get("/readings", params={"limit": 2}, headers=same)
        assert_problem(r, 403, "BULK_READ_REFUSED")


@contextmanager
def _database(backend: str) -> Iterator[str | None]:
    if backend == "postgresql":
        with pg_database() as url:
            yield url
    else:
        yield None  # the SQLite file in data_dir


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_bulk_read_budget_is_shared_by_every_process_over_one_store(
    backend: str, tmp_path: Path, clock: FixedClock
) -> None:
    """Two platforms over one store: each has its own guard object, one budget.

    The first one reads through its guard only (an allowed count writes nothing
    to the ledger), since the ledger has one writing process at a time.
    """
    with _database(backend) as url:
        settings = _settings(tmp_path, database_url=url)
        one = build(settings, clock=clock)
        _residents(one, SampleCity(one), THRESHOLD + 1)
        grant = _grant(one)
        two = build(settings, clock=clock)
        try:
            read = {"category": CROSSING, "purpose": PURPOSE}
            one.rights.guard.count(APP, sample.TRAFFIC, 2)
            with pytest.raises(CharterError) as err:  # the second knows the first's read
                two.rights.access.read(APP, grant, **read, limit=2)
            assert err.value.reason is Reason.BULK_READ_REFUSED
            one.rights.guard.count(APP, sample.TRAFFIC, 1)  # the one record left
            with pytest.raises(CharterError) as err:
                two.rights.access.read(APP, grant, **read, limit=1)
            assert err.value.reason is Reason.BULK_READ_REFUSED
            clock.advance(timedelta(seconds=settings.bulk_read_window_s))
            assert len(two.rights.access.read(APP, grant, **read, limit=2)["readings"]) == 2
            one.rights.guard.count(APP, sample.TRAFFIC, 1)  # 2 + 1: the budget again
            with pytest.raises(CharterError) as err:
                two.rights.access.read(APP, grant, **read, limit=1)
            assert err.value.reason is Reason.BULK_READ_REFUSED
        finally:
            two.close()
            one.close()


def test_every_door_issues_tokens_the_configured_tenant_accepts(
    tmp_path: Path, clock: FixedClock
) -> None:
    settings = _settings(
        tmp_path, auth_audience="tenant-b", auth_issuer="https://b.example.city/auth"
    )
    platform = build(settings, clock=clock)
    try:
        SampleCity(platform)
        with TestClient(create_app(platform)) as http:
            # A token of the default tenant is another tenant's.
            foreign = issue_token(
                platform.store, platform.clock, "op", Role.OPERATOR, issuer=settings.auth_issuer
            )
            r = http.post("/residents", headers={"Authorization": f"Bearer {foreign}"})
            assert_problem(r, 401, "WRONG_AUDIENCE")
            r = http.post("/residents", headers=_auth(platform, Role.OPERATOR))
            assert r.status_code == 201, r.text
            rid, token = r.json()["id"], r.json()["token"]
            me = http.get(f"/residents/{rid}", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200, me.text
    finally:
        platform.close()


def test_a_grant_stored_with_bad_constraints_is_refused_clearly_on_read(
    platform: Platform, city: SampleCity
) -> None:
    """A grant written before constraints were checked: a clear 422, never a 500."""
    from dataclasses import replace

    _residents(platform, city, 1)
    grant = _grant(platform)
    [req] = platform.store.access_requests(APP_ID)
    with platform.store.transaction() as tx:
        tx.put_access_request(replace(req, constraints={"max_readings": -1}))
    with TestClient(create_app(platform), raise_server_exceptions=False) as http:
        r = http.get(
            "/personal-data",
            params={"category": CROSSING, "purpose": PURPOSE},
            headers={**_auth(platform, Role.CONSUMER, subject=APP_ID), "X-Charter-Grant": grant},
        )
        assert_problem(r, 422, "BAD_CONSTRAINT")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_readers_counting_at_once_never_exceed_the_budget(
    backend: str, tmp_path: Path, clock: FixedClock
) -> None:
    """Many connections counting for one reader at once: exactly the threshold passes
    (the reader's row is locked while a read is counted)."""
    import threading

    budget, threads, each = 20, 8, 5
    with _database(backend) as url:
        p = build(
            Settings(data_dir=tmp_path / "d", bulk_read_threshold=budget, database_url=url),
            clock=clock,
        )
        allowed: list[int] = []
        start = threading.Barrier(threads)

        def reader() -> None:
            start.wait()
            for _ in range(each):
                try:
                    p.rights.guard.count(APP, sample.TRAFFIC, 1)
                    allowed.append(1)
                except CharterError as e:
                    assert e.reason is Reason.BULK_READ_REFUSED

        try:
            workers = [threading.Thread(target=reader) for _ in range(threads)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            assert len(allowed) == budget
            assert p.security.bulk_reads.alerts == threads * each - budget
        finally:
            p.close()
