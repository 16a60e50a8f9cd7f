"""Readings, quarantine, counts, health, metrics, documentation and headers over HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform
from charter.device import SimReading
from charter.domain.clock import FixedClock, iso, to_ms
from charter.sim import city as sample
from tests.api.support import PROBLEM, assert_problem, bearer, water
from tests.conftest import SampleCity, air_reading

APPROVED = {"outcome": "approve", "why": "vote"}


@pytest.fixture
def auditor(platform: Platform) -> dict[str, str]:
    return bearer(platform, Role.AUDITOR)


@pytest.fixture
def operator(platform: Platform) -> dict[str, str]:
    return bearer(platform, Role.OPERATOR)


def z(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def traffic(t: datetime, vehicles: int = 10) -> SimReading:
    return SimReading("traffic.count", t, {"vehicles": vehicles, "mean_speed": 30.0})


# --- readings ------------------------------------------------------------------------


@pytest.fixture
def hours(client: TestClient, city: SampleCity, clock: FixedClock) -> list[datetime]:
    """Air readings observed 4, 3, 2 and 1 hours ago, and traffic readings at the same times."""
    now = clock.now()
    times = [now - timedelta(hours=h) for h in (4, 3, 2, 1)]
    air = [air_reading(t, pm25=float(i)) for i, t in enumerate(times)]
    counts = [traffic(t, vehicles=100 + i) for i, t in enumerate(times)]
    assert client.post("/ingest", content=city.envelope(city.air, air)).status_code == 200
    assert client.post("/ingest", content=city.envelope(city.traffic, counts)).status_code == 200
    return times


def get_readings(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = client.get("/readings", params=params, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_readings_by_device(
    client: TestClient, city: SampleCity, hours: list[datetime], auditor: dict[str, str]
) -> None:
    body = get_readings(client, auditor, device=city.air.device_id)
    items = body["readings"]
    assert [r["values"]["pm25"] for r in items] == [0.0, 1.0, 2.0, 3.0]
    assert {r["device"] for r in items} == {city.air.device_id}
    assert {r["project"] for r in items} == {sample.AIR}
    assert {r["category"] for r in items} == {"air.quality"}
    assert [r["observed_at"] for r in items] == [iso(to_ms(t)) for t in hours]
    assert {r["seq"] for r in items} == {1}
    assert body["next_after"] is None


def test_readings_by_project(
    client: TestClient, city: SampleCity, hours: list[datetime], auditor: dict[str, str]
) -> None:
    items = get_readings(client, auditor, project=sample.TRAFFIC)["readings"]
    assert [r["values"]["vehicles"] for r in items] == [100, 101, 102, 103]
    assert {r["device"] for r in items} == {city.traffic.device_id}
    assert get_readings(client, auditor, project=sample.FLOOD)["readings"] == []


def test_readings_by_time_range_are_half_open(
    client: TestClient, city: SampleCity, hours: list[datetime], auditor: dict[str, str]
) -> None:
    # [since, until): the reading at `since` is in, the one at `until` is out.
    body = get_readings(
        client, auditor, device=city.air.device_id, since=z(hours[1]), until=z(hours[3])
    )
    assert [r["values"]["pm25"] for r in body["readings"]] == [1.0, 2.0]
    since_only = get_readings(client, auditor, project=sample.AIR, since=z(hours[2]))
    assert [r["values"]["pm25"] for r in since_only["readings"]] == [2.0, 3.0]
    # An offset other than Z means the same instant.
    offset = (hours[3] + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    until_only = get_readings(client, auditor, device=city.air.device_id, until=offset)
    assert [r["values"]["pm25"] for r in until_only["readings"]] == [0.0, 1.0, 2.0]
    everything = get_readings(client, auditor, since=z(hours[0]))["readings"]
    assert len(everything) == 8


def test_readings_are_paged(
    client: TestClient, city: SampleCity, hours: list[datetime], operator: dict[str, str]
) -> None:
    seen: list[float] = []
    after = 0
    for _ in range(10):
        body = get_readings(client, operator, device=city.air.device_id, limit=3, after=after)
        seen += [r["values"]["pm25"] for r in body["readings"]]
        if body["next_after"] is None:
            break
        after = body["next_after"]
    assert seen == [0.0, 1.0, 2.0, 3.0]


@pytest.fixture
def new_york() -> Iterator[None]:
    """Run with the server's local time zone far from UTC."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", "America/New_York")
        time.tzset()
        try:
            yield
        finally:
            mp.undo()
            time.tzset()


def test_a_time_without_an_offset_does_not_depend_on_the_servers_time_zone(
    client: TestClient,
    city: SampleCity,
    hours: list[datetime],
    auditor: dict[str, str],
    new_york: None,
) -> None:
    # Times are UTC everywhere in Charter. A query time without an offset is
    # refused, never read as the server's local time.
    naive = hours[2].replace(tzinfo=None).isoformat()
    r = client.get(
        "/readings", params={"device": city.air.device_id, "since": naive}, headers=auditor
    )
    assert_problem(r, 422, "VALIDATION_FAILED")
    aware = hours[2].isoformat()
    r = client.get(
        "/readings", params={"device": city.air.device_id, "since": aware}, headers=auditor
    )
    assert [x["values"]["pm25"] for x in r.json()["readings"]] == [2.0, 3.0]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"limit": 0}, id="limit-0"),
        pytest.param({"limit": 10_001}, id="limit-too-big"),
        pytest.param({"after": -1}, id="negative-after"),
        pytest.param({"since": "yesterday-ish"}, id="bad-since"),
    ],
)
def test_bad_reading_queries_are_422(
    client: TestClient, city: SampleCity, auditor: dict[str, str], params: dict[str, Any]
) -> None:
    r = client.get("/readings", params=params, headers=auditor)
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert [e["field"].split(".")[0] for e in body["errors"]] == ["query"]
    assert "yesterday-ish" not in r.text


def test_readings_are_not_public(client: TestClient, city: SampleCity, hours: object) -> None:
    r = client.get("/readings", params={"device": city.air.device_id})
    assert_problem(r, 401, "UNAUTHENTICATED")
    assert "pm25" not in r.text


# --- quarantine -------------------------------------------------------------------


@pytest.fixture
def impatient_sqlite(platform: Platform) -> Iterator[None]:
    """SQLite waits up to 30 s for a lock; one that is never released shows up in 1 s."""

    def short_wait(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=1000")

    engine = platform.store.engine  # type: ignore[attr-defined]
    engine.dispose()  # new connections get the store's settings, then this one
    event.listen(engine, "connect", short_wait)
    try:
        yield
    finally:
        event.remove(engine, "connect", short_wait)


def test_quarantine_is_listed_and_replayed_by_an_operator_on_the_record(
    client: TestClient,
    platform: Platform,
    city: SampleCity,
    clock: FixedClock,
    impatient_sqlite: None,
) -> None:
    op, aud = bearer(platform, Role.OPERATOR), bearer(platform, Role.AUDITOR)
    council = bearer(platform, Role.COUNCIL)
    # The flood project is still in consultation: its gauge's envelope waits in quarantine.
    r = client.post("/ingest", content=city.envelope(city.flood, [water(clock.now(), 57.0)]))
    assert_problem(r, 403, "PROJECT_NOT_LIVE")
    held = client.get("/quarantine", headers=aud)
    assert held.status_code == 200
    [item] = held.json()
    assert (item["device"], item["kind"], item["reason"], item["status"]) == (
        city.flood.device_id,
        "envelope",
        "PROJECT_NOT_LIVE",
        "held",
    )
    assert item["seq"] == 1 and item["stage"] == "authorise"

    # Replaying while the project is still not live leaves it held.
    r = client.post(f"/quarantine/{item['id']}/replay", json={"why": "too early"}, headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["admitted"] == 0
    assert [x["id"] for x in client.get("/quarantine", headers=aud).json()] == [item["id"]]

    # Auditors and the council may not replay.
    for headers in (aud, council):
        r = client.post(f"/quarantine/{item['id']}/replay", json={"why": "x"}, headers=headers)
        assert_problem(r, 403, "FORBIDDEN")
    assert_problem(
        client.post(f"/quarantine/{item['id']}/replay", json={"why": "x"}), 401, "UNAUTHENTICATED"
    )

    # Once the project is approved and live, the operator replays it and it is admitted.
    ok = client.post(f"/projects/{sample.FLOOD}/decision", json=APPROVED, headers=council)
    assert ok.status_code == 200
    why = {"status": "live", "why": "gauges installed"}
    assert client.post(f"/projects/{sample.FLOOD}/status", json=why, headers=op).status_code == 200
    before = platform.ledger.size
    r = client.post(
        f"/quarantine/{item['id']}/replay", json={"why": "project went live"}, headers=op
    )
    assert r.status_code == 200, r.text
    assert r.json()["admitted"] == 1
    stored = platform.store.readings(device_id=city.flood.device_id)
    assert [row.seq for row in stored] == [1]
    assert client.get("/quarantine", headers=aud).json() == []
    replayed = client.get("/quarantine", params={"status": "replayed"}, headers=aud).json()
    assert [x["id"] for x in replayed] == [item["id"]]

    assert platform.ledger.size == before + 1
    entry = client.get("/ledger/entries", params={"start": before, "end": before + 1}).json()[0]
    assert entry["kind"] == "quarantine.replayed"
    data = entry["data"]
    assert data["actor"] == {"name": "operator-carol", "role": "operator"}
    assert (data["item"], data["device"], data["was"]) == (
        item["id"],
        city.flood.device_id,
        "PROJECT_NOT_LIVE",
    )
    assert (data["admitted"], data["result"], data["why"]) == (1, "replayed", "project went live")

    # An item can be replayed into the store only once.
    r = client.post(f"/quarantine/{item['id']}/replay", json={"why": "again"}, headers=op)
    assert_problem(r, 409, "NOT_REPLAYABLE")
    assert len(platform.store.readings(device_id=city.flood.device_id)) == 1


def test_replaying_an_unknown_item_is_404(
    client: TestClient, city: SampleCity, operator: dict[str, str]
) -> None:
    r = client.post("/quarantine/4242/replay", json={"why": "x"}, headers=operator)
    assert_problem(r, 404, "NOT_FOUND")


def test_a_replay_needs_a_reason(
    client: TestClient, city: SampleCity, operator: dict[str, str]
) -> None:
    r = client.post("/quarantine/1/replay", json={"why": ""}, headers=operator)
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert [e["field"] for e in body["errors"]] == ["body.why"]


def test_an_operator_names_the_rule_a_replay_overrides(
    client: TestClient, platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    op, aud = bearer(platform, Role.OPERATOR), bearer(platform, Role.AUDITOR)
    sent = clock.now() - timedelta(minutes=20)  # a gateway's backlog: stale on arrival
    r = client.post("/ingest", content=city.envelope(city.air, [air_reading(sent)], sent_at=sent))
    assert_problem(r, 422, "STALE_TIMESTAMP")
    [item] = client.get("/quarantine", headers=aud).json()
    # What operators and auditors see is the minimised copy, with the door's record.
    assert item["payload"]["readings"][0]["values"] == {"pm25": 12.5, "no2": 20.0}
    assert item["payload"]["door"]["signature"] == "verified"
    assert "sig" not in item["payload"] and item["expires_at"] is not None
    url = f"/quarantine/{item['id']}/replay"
    r = client.post(url, json={"why": "backlog", "override": "trust"}, headers=op)
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert [e["field"] for e in body["errors"]] == ["body.override"]
    r = client.post(url, json={"why": "backlog"}, headers=op)
    assert r.status_code == 200 and r.json()["admitted"] == 0
    r = client.post(url, json={"why": "backlog", "override": "freshness"}, headers=op)
    assert r.status_code == 200 and r.json()["admitted"] == 1
    last = client.get("/ledger/entries", params={"start": platform.ledger.size - 1}).json()[-1]
    assert (last["kind"], last["data"]["override"]) == ("quarantine.replayed", "freshness")


# --- stats, health, metrics ----------------------------------------------------------


def _traffic_of_all_kinds(client: TestClient, city: SampleCity, clock: FixedClock) -> None:
    now = clock.now()
    readings = [air_reading(now), air_reading(now, pm25=1.0), air_reading(now, pm25=-3.0)]
    assert client.post("/ingest", content=city.envelope(city.air, readings)).status_code == 200
    tampered = city.envelope(city.air).replace(b'"pm25":12.5', b'"pm25":13.5')
    assert client.post("/ingest", content=tampered).status_code == 401
    assert client.post("/ingest", content=city.envelope(city.untrusted)).status_code == 403
    assert client.post("/ingest", content=b"nope").status_code == 400


def test_stats_are_public_counts(
    client: TestClient, platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    _traffic_of_all_kinds(client, city, clock)
    r = client.get("/stats")
    assert r.status_code == 200
    assert r.json() == {
        "admitted": 2,
        "rejected": {
            "BAD_SIGNATURE": 1,
            "MALFORMED_JSON": 1,
            "OUT_OF_RANGE": 1,
            "VENDOR_UNTRUSTED": 1,
        },
        "quarantined": 2,
        "ledger_size": platform.ledger.size,
    }


def test_health(client: TestClient, platform: Platform, city: SampleCity) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["ledger_size"] == platform.ledger.size == 20
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", body["version"])


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in metrics"
    return float(match.group(1))


def test_metrics_count_admitted_and_rejected_by_reason(
    client: TestClient, city: SampleCity, clock: FixedClock
) -> None:
    _traffic_of_all_kinds(client, city, clock)
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE charter_readings_admitted_total counter" in text
    assert _metric(text, "charter_readings_admitted_total") == 2
    for reason in ("BAD_SIGNATURE", "MALFORMED_JSON", "OUT_OF_RANGE", "VENDOR_UNTRUSTED"):
        assert _metric(text, f'charter_readings_rejected_total{{reason="{reason}"}}') == 1
    assert _metric(text, "charter_readings_quarantined_total") == 2
    assert _metric(text, "charter_gate_batch_seconds_count") == 4


def test_metrics_belong_to_their_app(platform: Platform, city: SampleCity) -> None:
    # Two apps (as in two test runs) do not share a global registry.
    with TestClient(create_app(platform)) as first:
        first.post("/ingest", content=city.envelope(city.air))
        assert _metric(first.get("/metrics").text, "charter_readings_admitted_total") == 1
    with TestClient(create_app(platform)) as second:
        assert _metric(second.get("/metrics").text, "charter_readings_admitted_total") == 0


# --- documentation ---------------------------------------------------------------------


def test_openapi_describes_every_route(client: TestClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    assert spec["info"]["title"] == "Charter"
    paths = spec["paths"]
    for path in (
        "/ingest",
        "/vendors",
        "/projects/{project_id}/decision",
        "/devices/{device_id}/status",
        "/readings",
        "/quarantine/{item_id}/replay",
        "/stats",
        "/ledger/checkpoint",
        "/ledger/proof/inclusion",
        "/ledger/proof/consistency",
        "/health",
        "/metrics",
    ):
        assert path in paths, path
    assert "post" in paths["/ingest"] and "requestBody" in paths["/ingest"]["post"]


def test_docs_are_served(client: TestClient) -> None:
    r = client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "openapi.json" in r.text


# --- headers and errors on every kind of response ----------------------------------------

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("GET", "/metrics", 200),
        ("GET", "/ledger/checkpoint", 200),
        ("GET", "/docs", 200),
        ("GET", "/readings", 401),
        ("POST", "/ingest", 400),
        ("GET", "/vendors/urn:ngsi-ld:Vendor:none", 404),
        ("GET", "/no/such/route", 404),
        ("GET", "/ledger/entries?start=5&end=1", 422),
    ],
)
def test_security_headers_are_on_every_response(
    client: TestClient, method: str, path: str, status: int
) -> None:
    r = client.request(method, path, content=b"{" if method == "POST" else None)
    assert r.status_code == status
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, name


def test_an_unknown_route_is_a_problem(client: TestClient) -> None:
    assert_problem(client.get("/no/such/route"), 404, "NOT_FOUND")


def test_a_wrong_method_is_a_405_problem_that_says_so(client: TestClient) -> None:
    r = client.delete("/vendors")
    assert r.status_code == 405
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    # RFC 9457: the "status" member is the HTTP status of this response.
    assert body["status"] == 405, body
    # RFC 9110 §15.5.6: a 405 names (in Allow) the methods the resource does support.
    assert "GET" in {m.strip() for m in r.headers.get("allow", "").split(",")}


@pytest.mark.parametrize(
    "path",
    [
        f"/readings?after={2**63}",
        f"/personal-data?category=x&purpose=y&after={2**63}",
    ],
)
def test_paging_cursors_beyond_64_bits_are_refused_at_the_door(
    client: TestClient, platform: Platform, path: str
) -> None:
    """Found by the schemathesis run: a cursor too large for the store crashed the request."""
    role = Role.CONSUMER if path.startswith("/personal-data") else Role.OPERATOR
    headers = {**bearer(platform, role), "X-Charter-Grant": "g"}
    assert_problem(client.get(path, headers=headers), 422, "VALIDATION_FAILED")


def test_quarantine_item_ids_beyond_64_bits_are_refused(
    client: TestClient, platform: Platform
) -> None:
    r = client.post(
        f"/quarantine/{2**63}/replay", json={"why": "x"}, headers=bearer(platform, Role.OPERATOR)
    )
    assert_problem(r, 422, "VALIDATION_FAILED")
