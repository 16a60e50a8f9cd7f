"""Residents' alert subscriptions live in the store: one truth for every process.

Two platforms over one store (SQLite, then PostgreSQL) stand for `charter serve`
running the hazard service and the API or CLI a resident uses; the withdrawal
also runs in a separate `charter` process.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select

from charter.api.app import create_app
from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.services.hazard_delivery import AlertChannel, Webhooks
from charter.services.hazard_subscriptions import AlertSubscriptions
from charter.services.sensors import release_sensor
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.hazard.inbox import WebhookInbox
from charter.store import schema
from tests.city_services.test_hazard import Flood


@dataclass
class Two:
    serve: Flood  # the process running the hazard service
    other: Platform  # another process over the same store (API, CLI)
    settings: Settings
    store_args: list[str]


@contextmanager
def _settings(kind: str, tmp_path: Path) -> Iterator[tuple[Settings, list[str]]]:
    hosts = [WebhookInbox.HOST]
    if kind == "sqlite":
        s = Settings(data_dir=tmp_path / "data", alert_webhook_hosts=hosts)
        yield s, ["--data-dir", str(s.data_dir)]
        return
    from tests.services import pg_database

    with pg_database() as url:
        s = Settings(data_dir=tmp_path / "data", database_url=url, alert_webhook_hosts=hosts)
        yield s, ["--data-dir", str(s.data_dir), "--store", url]


@pytest.fixture(params=["sqlite", "postgresql"])
def two(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[Two]:
    with _settings(request.param, tmp_path) as (settings, args):
        channel = AlertChannel()
        p1 = build(settings, clock=clock, channel=channel)
        flood = Flood(p1, channel, clock)
        p2 = build(settings, clock=clock)
        try:
            yield Two(flood, p2, settings, args)
        finally:
            flood.webhooks.close()
            p2.close()
            p1.close()


@pytest.fixture
def inbox() -> Iterator[WebhookInbox]:
    with WebhookInbox() as box:
        yield box


def charter(*args: str) -> subprocess.CompletedProcess[str]:
    code = "from charter.cli import app; app()"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_a_subscription_made_elsewhere_gets_the_alert_and_its_withdrawal_is_immediate(
    two: Two, inbox: WebhookInbox
) -> None:
    with TestClient(create_app(two.other)) as client:
        zones = client.get("/alerts/zones").json()["plans"]
        assert [z["id"] for z in zones[0]["zones"]] == ["riverside", "uplands"]
        assert {t["category"] for t in zones[0]["thresholds"]} == {"water.level", "rain.rate"}
        made = client.post(
            "/alerts/subscriptions", json={"zone": "riverside", "channel": inbox.url("mine")}
        )
        assert made.status_code == 201
        sub = made.json()["id"]
        # The id is what a resident pastes into `charter alerts withdraw`: never option-like.
        assert re.fullmatch(r"[0-9a-f]{48}", sub)
        client.post("/alerts/subscriptions", json={"zone": "uplands", "channel": inbox.url("up")})
    flood = two.serve
    flood.read(200, 210)  # a warning in the riverside zone
    flood.webhooks.flush()
    (wire,) = inbox.received("mine")
    assert b'"alert.raise"' in wire and inbox.received("up") == []
    done = charter("alerts", "withdraw", sub, *two.store_args)  # another process
    assert done.returncode == 0, done.stderr
    flood.read(40, 41, 300, 310)  # all clear, then danger: neither reaches the withdrawn one
    flood.webhooks.flush()
    assert len(inbox.received("mine")) == 1
    assert flood.sirens["riverside"].message is not None
    assert flood.sirens["riverside"].message["level"] == "danger"
    again = charter("alerts", "withdraw", sub, *two.store_args)
    assert again.returncode != 0 and "ZONE_UNKNOWN" in again.stderr


def test_the_store_holds_a_zone_a_channel_and_a_digest_never_who_or_where(
    two: Two, inbox: WebhookInbox
) -> None:
    subs = AlertSubscriptions(two.other.store, two.other.ledger, two.settings)
    sub = subs.subscribe("riverside", "mqtt")
    cols = {c["name"] for c in inspect(two.other.store.engine).get_columns("alert_subscriptions")}  # type: ignore[attr-defined]
    assert cols == {"id_sha256", "project_id", "zone", "channel", "created_at"}
    with two.other.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = list(conn.execute(select(schema.alert_subscriptions)))
    assert len(rows) == 1 and sub not in str(rows)
    assert subs.count("riverside") == 1 and subs.count("uplands") == 0
    ledger = [e.data for e in two.other.store.iter_ledger_entries()]
    assert not any(sub.encode() in d for d in ledger)


@pytest.mark.parametrize(
    ("body", "reason", "status"),
    [
        ({"zone": "atlantis"}, "ZONE_UNKNOWN", 404),
        ({"lat": 52.36, "lon": 4.9}, "LOCATION_NOT_ZONE", 422),
        ({"zone": "riverside", "lat": 52.36, "lon": 4.9}, "LOCATION_NOT_ZONE", 422),
        ({"geometry": {"type": "Point", "coordinates": [4.9, 52.36]}}, "LOCATION_NOT_ZONE", 422),
        ({"zone": "52.36,4.9"}, "LOCATION_NOT_ZONE", 422),
        (
            {"zone": "riverside", "channel": "https://evil.example/x"},
            "WEBHOOK_HOST_NOT_ALLOWED",
            422,
        ),
        ({"zone": "riverside", "channel": "ftp://127.0.0.1/x"}, "WEBHOOK_HOST_NOT_ALLOWED", 422),
        (
            {"zone": "riverside", "channel": "http://u:p@127.0.0.1/x"},
            "WEBHOOK_HOST_NOT_ALLOWED",
            422,
        ),
    ],
)
def test_a_subscription_for_no_zone_a_location_or_a_foreign_host_is_refused_with_a_reason(
    two: Two, body: dict[str, object], reason: str, status: int
) -> None:
    size = two.other.ledger.size
    with TestClient(create_app(two.other)) as client:
        r = client.post("/alerts/subscriptions", json=body)
    assert r.status_code == status
    assert r.json()["reason"] == reason
    assert "evil" not in r.text and "u:p" not in r.text  # the URL is not echoed
    assert two.other.ledger.size == size and two.other.store.count_alert_subscriptions() == {}


def test_one_address_may_subscribe_only_so_often_counted_across_processes(
    two: Two, clock: FixedClock
) -> None:
    # Anyone may subscribe without an account: without a limit one client could fill
    # the store and the ledger. Both servers count in the store, so alternating does not help.
    limit = two.settings.alert_subscriptions_per_hour
    serve = build(two.settings, clock=clock)
    try:
        with TestClient(create_app(two.other)) as a, TestClient(create_app(serve)) as b:
            made = [
                (a if i % 2 else b).post("/alerts/subscriptions", json={"zone": "riverside"})
                for i in range(limit)
            ]
            assert [r.status_code for r in made] == [201] * limit
            size = two.other.ledger.size
            refused = a.post("/alerts/subscriptions", json={"zone": "uplands"})
            assert refused.status_code == 429 and refused.json()["reason"] == "RATE_LIMITED"
            assert b.post("/alerts/subscriptions", json={"zone": "uplands"}).status_code == 429
            # A refusal changes nothing: no row, no ledger entry.
            assert two.other.ledger.size == size
            assert two.other.store.count_alert_subscriptions() == {
                (sample.FLOOD, "riverside"): limit
            }
            clock.advance(timedelta(hours=1))
            assert a.post("/alerts/subscriptions", json={"zone": "uplands"}).status_code == 201
        with two.other.store.engine.connect() as conn:  # type: ignore[attr-defined]
            counts = list(conn.execute(select(schema.door_counts)))
        assert len(counts) == 1 and "testclient" not in str(counts)  # a keyed hash, one window
    finally:
        serve.close()
    # The operator's CLI is not an anonymous door: not counted.
    subs = AlertSubscriptions(two.other.store, two.other.ledger, two.settings)
    for _ in range(limit + 1):
        subs.subscribe("uplands", "mqtt")


def test_a_failing_webhook_is_counted_and_the_alert_still_goes_out(two: Two) -> None:
    with WebhookInbox(status=500) as broken:
        subs = AlertSubscriptions(two.other.store, two.other.ledger, two.settings)
        subs.subscribe("riverside", broken.url("down"))
        subs.subscribe("riverside", f"http://{WebhookInbox.HOST}:9/closed")  # nothing listens
        two.serve.read(200, 210)
        two.serve.webhooks.flush()
    assert two.serve.webhooks.failed == 2 and two.serve.webhooks.sent == 0
    assert two.serve.sirens["riverside"].sounding
    assert [e for e in two.serve.kinds() if e["kind"] == "hazard.alert"]


def test_a_webhook_host_allowed_at_subscription_but_not_at_send_gets_nothing(
    two: Two, inbox: WebhookInbox
) -> None:
    AlertSubscriptions(two.other.store, two.other.ledger, two.settings).subscribe(
        "riverside", inbox.url("late")
    )
    two.serve.channel.webhooks = strict = Webhooks([], timeout_s=1.0)  # the operator removed it
    try:
        two.serve.read(200, 210)
        strict.flush()
        assert inbox.received("late") == [] and strict.failed == 1
    finally:
        strict.close()


def test_a_gauge_released_from_another_process_counts_again(two: Two) -> None:
    flood = two.serve
    device = flood.city.flood.device_id
    flood.read(40, 41)
    flood.clock.advance(timedelta(seconds=1))
    flood.send(flood.city.flood, flood.clock.now(), 541)  # 5 m in a second
    flood.read(300, 300.5)
    assert flood.service.zone_level("riverside") == "normal"  # not acted on
    listed = charter("services", "flags", "--json", *two.store_args)
    assert device in listed.stdout and '"why": "jump"' in listed.stdout
    done = charter("services", "release", device, "--why", "gauge checked on site", *two.store_args)
    assert done.returncode == 0, done.stderr
    flood.read(300, 300.5)
    assert flood.service.zone_level("riverside") == "danger"
    kinds = [e["kind"] for e in flood.kinds()]
    assert kinds.count("hazard.sensor_released") == 1
    with pytest.raises(CharterError) as nothing:
        release_sensor(
            two.other.store, two.other.ledger, "urn:ngsi-ld:Device:none", sample.SEEDER, "x"
        )
    assert nothing.value.reason is Reason.NOT_FOUND


def test_withdrawing_through_the_api_is_a_204_then_unknown(two: Two) -> None:
    with TestClient(create_app(two.other)) as client:
        made = client.post("/alerts/subscriptions", json={"zone": "uplands"})
        assert made.status_code == 201 and made.json()["channel"] == "mqtt"
        sub = made.json()["id"]
        assert two.other.store.count_alert_subscriptions() == {(sample.FLOOD, "uplands"): 1}
        assert client.delete(f"/alerts/subscriptions/{sub}").status_code == 204
        assert two.serve.p.store.count_alert_subscriptions() == {}  # the other process too
        again = client.delete(f"/alerts/subscriptions/{sub}")
        assert again.status_code == 404 and again.json()["reason"] == "ZONE_UNKNOWN"
