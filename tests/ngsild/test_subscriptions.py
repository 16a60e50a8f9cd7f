"""NGSI-LD subscriptions: CRUD, matching, HTTP and MQTT notifications, the endpoint fence."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.ngsild.api.ngsiq import extras_for
from charter.settings import Settings
from tests.ngsild.conftest import ERRORS, Ngsi, problem, token


class Receiver:
    """A real HTTP server on loopback that records the notifications it gets."""

    def __init__(self, status: int = 200) -> None:
        self.got: queue.Queue[tuple[dict[str, str], Any]] = queue.Queue()
        received = self.got
        self.status = status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                received.put((dict(self.headers), body))
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/notify"

    def all(self) -> list[tuple[dict[str, str], Any]]:
        out = []
        while not self.got.empty():
            out.append(self.got.get_nowait())
        return out

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _platform(tmp_path: Path, clock: FixedClock, receiver: Receiver, url: str | None) -> Platform:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=url,
        ngsild_notify_hosts=[f"127.0.0.1:{receiver.port}"],
    )
    return build(settings, clock=clock)


@pytest.fixture(params=["sqlite", "postgresql"])
def sub_ngsi(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock, receiver: Receiver
) -> Iterator[Ngsi]:
    if request.param == "sqlite":
        p = _platform(tmp_path, clock, receiver, None)
        yield Ngsi(p, token(p))
        extras_for(p).close()
        p.close()
        return
    from tests.services import pg_database

    with pg_database() as url:
        p = _platform(tmp_path, clock, receiver, url)
        yield Ngsi(p, token(p))
        extras_for(p).close()
        p.close()


@pytest.fixture
def lite(tmp_path: Path, clock: FixedClock, receiver: Receiver) -> Iterator[Ngsi]:
    p = _platform(tmp_path, clock, receiver, None)
    yield Ngsi(p, token(p))
    extras_for(p).close()
    p.close()


def room(n: int, temperature: float) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Room:{n}",
        "type": "Room",
        "temperature": {"type": "Property", "value": temperature},
        "humidity": {"type": "Property", "value": 40},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [8.69, 49.41]}},  # noqa: E501
    }  # fmt: skip


def subscription(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Subscription:{uuid.uuid4().hex[:8]}",
        "type": "Subscription",
        "entities": [{"type": "Room"}],
        "notification": {
            "endpoint": {"uri": receiver.url, "accept": "application/json"},
            "attributes": ["temperature"],
        },
    }
    body.update(extra)
    return body


def drain(ngsi: Ngsi) -> None:
    extras_for(ngsi.platform).subs.drain()


def test_crud_and_counters(sub_ngsi: Ngsi, receiver: Receiver) -> None:
    body = subscription(receiver, q="temperature>20", subscriptionName="warm rooms")
    created = sub_ngsi.call("POST", "/subscriptions", body)
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith("/subscriptions/" + body["id"])
    again = sub_ngsi.call("POST", "/subscriptions", body)
    assert problem(again, 409)["type"] == ERRORS + "AlreadyExists"

    got = sub_ngsi.call("GET", f"/subscriptions/{body['id']}").json()
    assert got["status"] == "active" and got["isActive"] is True
    assert got["notification"]["timesSent"] == 0
    listed = sub_ngsi.call("GET", "/subscriptions?count=true")
    assert [s["id"] for s in listed.json()] == [body["id"]]
    assert listed.headers["NGSILD-Results-Count"] == "1"

    assert sub_ngsi.create(room(1, 25)).status_code == 201
    assert sub_ngsi.create(room(2, 15)).status_code == 201  # q does not match
    drain(sub_ngsi)
    notes = receiver.all()
    assert len(notes) == 1
    headers, note = notes[0]
    assert note["type"] == "Notification" and note["subscriptionId"] == body["id"]
    assert [e["id"] for e in note["data"]] == ["urn:ngsi-ld:Room:1"]
    assert set(note["data"][0]) == {"id", "type", "temperature"}  # notification.attributes
    assert headers["Content-Type"] == "application/json"
    got = sub_ngsi.call("GET", f"/subscriptions/{body['id']}").json()
    assert got["notification"]["timesSent"] == 1
    assert got["notification"]["status"] == "ok"
    assert "lastSuccess" in got["notification"] and "lastNotification" in got["notification"]

    patch = sub_ngsi.call("PATCH", f"/subscriptions/{body['id']}", {"isActive": False})
    assert patch.status_code == 204, patch.text
    assert sub_ngsi.call("GET", f"/subscriptions/{body['id']}").json()["status"] == "paused"
    sub_ngsi.call(
        "PATCH",
        "/entities/urn:ngsi-ld:Room:1/attrs",
        {"temperature": {"type": "Property", "value": 30}},
    )
    drain(sub_ngsi)
    assert receiver.all() == []

    assert sub_ngsi.call("DELETE", f"/subscriptions/{body['id']}").status_code == 204
    missing = sub_ngsi.call("GET", f"/subscriptions/{body['id']}")
    assert problem(missing, 404)["type"] == ERRORS + "ResourceNotFound"


def test_watched_attributes_and_key_values(lite: Ngsi, receiver: Receiver) -> None:
    body = subscription(receiver, watchedAttributes=["humidity"])
    body["notification"]["format"] = "keyValues"
    assert lite.call("POST", "/subscriptions", body).status_code == 201
    assert lite.create(room(1, 25)).status_code == 201  # creation writes humidity too
    drain(lite)
    assert receiver.all()[0][1]["data"] == [
        {"id": "urn:ngsi-ld:Room:1", "type": "Room", "temperature": 25}
    ]
    lite.call(
        "PATCH",
        "/entities/urn:ngsi-ld:Room:1/attrs",
        {"temperature": {"type": "Property", "value": 30}},
    )
    drain(lite)
    assert receiver.all() == []  # temperature is not watched
    lite.call(
        "PATCH",
        "/entities/urn:ngsi-ld:Room:1/attrs",
        {"humidity": {"type": "Property", "value": 50}},
    )
    drain(lite)
    assert len(receiver.all()) == 1


def test_throttling_geo_and_expiry(lite: Ngsi, receiver: Receiver, clock: FixedClock) -> None:
    far = {"georel": "near;maxDistance==100", "geometry": "Point", "coordinates": [9.5, 50.0]}
    assert lite.call("POST", "/subscriptions", subscription(receiver, geoQ=far)).status_code == 201
    throttled = subscription(receiver, throttling=60)
    assert lite.call("POST", "/subscriptions", throttled).status_code == 201
    soon = (clock.now() + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    expiring = subscription(receiver, expiresAt=soon)
    assert lite.call("POST", "/subscriptions", expiring).status_code == 201
    lite.create(room(1, 25))
    drain(lite)
    ids = sorted(n[1]["subscriptionId"] for n in receiver.all())
    assert ids == sorted([throttled["id"], expiring["id"]])  # not the far geoQ
    clock.advance(timedelta(seconds=40))  # the throttle holds, the other expired
    lite.call(
        "PATCH",
        "/entities/urn:ngsi-ld:Room:1/attrs",
        {"temperature": {"type": "Property", "value": 30}},
    )
    drain(lite)
    assert receiver.all() == []
    assert lite.call("GET", f"/subscriptions/{expiring['id']}").json()["status"] == "expired"
    clock.advance(timedelta(seconds=30))
    lite.call(
        "PATCH",
        "/entities/urn:ngsi-ld:Room:1/attrs",
        {"temperature": {"type": "Property", "value": 31}},
    )
    drain(lite)
    assert [n[1]["subscriptionId"] for n in receiver.all()] == [throttled["id"]]


def test_failed_delivery_is_counted(lite: Ngsi, receiver: Receiver) -> None:
    receiver.status = 500
    body = subscription(receiver)
    lite.call("POST", "/subscriptions", body)
    lite.create(room(1, 25))
    drain(lite)
    got = lite.call("GET", f"/subscriptions/{body['id']}").json()["notification"]
    assert got["timesSent"] == 1 and got["timesFailed"] == 1
    assert got["status"] == "failed" and "lastFailure" in got


@pytest.mark.parametrize(
    "uri",
    [
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:1/",  # loopback, but not the allowed port
        "http://localhost:9/x",
        "http://user:pw@127.0.0.1/x",
        "file:///etc/passwd",
        "gopher://127.0.0.1:70/",
        "mqtt://broker.example.org:1883/topic",
        "mqtt://127.0.0.1:1883/#",
        "not a uri",
    ],
)
def test_endpoints_outside_the_fence_are_refused(lite: Ngsi, receiver: Receiver, uri: str) -> None:
    body = subscription(receiver)
    body["notification"]["endpoint"]["uri"] = uri
    resp = lite.call("POST", "/subscriptions", body)
    assert problem(resp, 400)["type"] == ERRORS + "BadRequestData"
    assert lite.call("GET", "/subscriptions").json() == []


@pytest.mark.parametrize(
    "change",
    [
        {"type": "Registration"},
        {"entities": [], "watchedAttributes": None},
        {"entities": [{"id": "urn:x:1"}]},
        {"q": "temperature>>1"},
        {"geoQ": {"georel": "within", "geometry": "Point", "coordinates": [200, 0]}},
        {"throttling": -1},
        {"timeInterval": 10, "watchedAttributes": ["temperature"]},
        {"expiresAt": "2000-01-01T00:00:00Z"},
        {"expiresAt": "tomorrow"},
        {"isActive": "yes"},
        {"notification": {"endpoint": {}}},
        {"notification": {"endpoint": {"uri": "http://127.0.0.1/"}, "format": "xml"}},
    ],
)
def test_bad_subscriptions(lite: Ngsi, receiver: Receiver, change: dict[str, Any]) -> None:
    body = subscription(receiver)
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    resp = lite.call("POST", "/subscriptions", body)
    assert resp.status_code == 400, resp.text


def test_mqtt_notifications_through_charters_broker(lite: Ngsi, receiver: Receiver) -> None:
    from tests.services import need, port_open

    need(port_open(1883), "Mosquitto is not running on 127.0.0.1:1883")
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    topic = f"charter-test/ngsild/{uuid.uuid4().hex[:8]}"
    got: queue.Queue[bytes] = queue.Queue()
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, msg: got.put(msg.payload)
    client.on_subscribe = lambda *_a: subscribed.set()
    client.connect("127.0.0.1", 1883)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        assert subscribed.wait(10)
        body = subscription(receiver)
        body["notification"]["endpoint"]["uri"] = f"mqtt://127.0.0.1:1883/{topic}"
        assert lite.call("POST", "/subscriptions", body).status_code == 201
        lite.create(room(1, 25))
        drain(lite)
        message = json.loads(got.get(timeout=10))
        assert message["body"]["subscriptionId"] == body["id"]
        assert message["body"]["data"][0]["temperature"]["value"] == 25
        assert message["metadata"]["Content-Type"] == "application/json"
        counters = lite.call("GET", f"/subscriptions/{body['id']}").json()["notification"]
        assert counters["timesSent"] == 1 and counters["status"] == "ok"
    finally:
        client.loop_stop()
        client.disconnect()
        extras_for(lite.platform).mqtt.close()


def test_subscriptions_are_per_owner_and_need_a_token(lite: Ngsi, receiver: Receiver) -> None:
    from charter.auth import Role

    body = subscription(receiver)
    assert lite.call("POST", "/subscriptions", body).status_code == 201
    consumer = token(lite.platform, Role.CONSUMER)
    assert lite.call("GET", "/subscriptions", token=consumer).json() == []
    assert lite.call("GET", f"/subscriptions/{body['id']}", token=consumer).status_code == 404
    assert lite.call("DELETE", f"/subscriptions/{body['id']}", token=consumer).status_code == 404
    anonymous = lite.call("POST", "/subscriptions", subscription(receiver), token="")
    assert anonymous.status_code == 401


def test_subscriptions_to_personal_data_are_purpose_bound_and_end_with_the_grant(
    lite: Ngsi, receiver: Receiver, clock: FixedClock
) -> None:
    from charter.auth import Role
    from charter.domain.model import Actor
    from charter.sim import city as sample
    from tests.conftest import COUNCIL, OPERATOR, SampleCity
    from tests.rights.support import CROSSING, PURPOSE, crossing, resident

    p = lite.platform
    city = SampleCity(p)
    yes, _ = resident(p, "FOB-yes-0001")
    consumer = "urn:ngsi-ld:Consumer:crossing-app"
    app = token(p, Role.CONSUMER, subject=consumer)
    body = subscription(receiver, timeInterval=60)
    body["entities"] = [{"type": "CrossingRequest"}]
    body["notification"].pop("attributes")
    # no grant, a forged one, no timeInterval: refused, nothing stored
    assert problem(lite.call("POST", "/subscriptions", body, token=app), 403)["reason"] == (
        "PURPOSE_NOT_GRANTED"
    )
    forged = lite.call("POST", "/subscriptions", body, token=app, X_Charter_Grant="forged")
    assert problem(forged, 403)["reason"] == "GRANT_INVALID"
    access = p.rights.access
    req = access.request(
        Actor(name="crossing-app", role="consumer", subject=consumer),
        dataset=sample.TRAFFIC, categories=[CROSSING], purpose=PURPOSE, why="timing study",
    )  # fmt: skip
    done = access.decide(
        req.id, COUNCIL, grant=True, why="approved", expires_at=clock.now() + timedelta(days=7)
    )
    assert done.grant is not None
    no_period = {k: v for k, v in body.items() if k != "timeInterval"}
    resp = lite.call("POST", "/subscriptions", no_period, token=app, X_Charter_Grant=done.grant)
    assert resp.status_code == 400
    now = p.clock.now()
    p.gate.ingest([city.envelope(city.traffic, [crossing(now, "FOB-yes-0001")])])
    created = lite.call("POST", "/subscriptions", body, token=app, X_Charter_Grant=done.grant)
    assert created.status_code == 201, created.text
    shown = lite.call("GET", f"/subscriptions/{body['id']}", token=app).json()
    assert shown["purpose"] == PURPOSE and done.grant not in json.dumps(shown)

    subs = extras_for(p).subs
    from charter.ngsild.api.ngsiq import _all_entities

    # the platform's own ticker runs them too; either way one notification per period
    subs.run_periodic(lambda t, s_: _all_entities(p.ngsild, t, s_))
    subs.run_periodic(lambda t, s_: _all_entities(p.ngsild, t, s_))
    subs.drain()
    [(_, note)] = receiver.all()
    assert note["data"][0]["type"] == "CrossingRequest"
    assert "FOB-yes-0001" not in json.dumps(note) and yes not in json.dumps(note)
    assert len(p.store.access_log(yes)) == 1  # the notification's read is in the history

    access.revoke(req.id, OPERATOR, "study over")
    clock.advance(timedelta(seconds=61))
    assert subs.run_periodic(lambda t, s_: _all_entities(p.ngsild, t, s_)) == 0
    ended = lite.call("GET", f"/subscriptions/{body['id']}", token=app).json()
    assert ended["status"] == "expired" and ended["isActive"] is False
    assert ended["endedBecause"] == "GRANT_INVALID"
    assert len(p.store.access_log(yes)) == 1


def test_periodic_subscriptions_notify_each_period(
    lite: Ngsi, receiver: Receiver, clock: FixedClock
) -> None:
    from charter.ngsild.api.ngsiq import _all_entities

    p = lite.platform
    lite.create(room(1, 25))
    lite.create(room(2, 10))
    body = subscription(receiver, timeInterval=60, q="temperature>20")
    assert lite.call("POST", "/subscriptions", body).status_code == 201
    subs = extras_for(p).subs
    run = lambda: subs.run_periodic(lambda t, s_: _all_entities(p.ngsild, t, s_))  # noqa: E731
    run()
    run()  # not due again within the period (the platform's own ticker may have run it)
    subs.drain()
    notes = receiver.all()
    assert len(notes) == 1
    assert [e["id"] for e in notes[0][1]["data"]] == ["urn:ngsi-ld:Room:1"]
    lite.call(
        "PATCH",
        "/entities/urn:ngsi-ld:Room:2/attrs",
        {"temperature": {"type": "Property", "value": 30}},
    )
    subs.drain()
    assert receiver.all() == []  # periodic subscriptions do not notify on change
    clock.advance(timedelta(seconds=61))
    run()
    subs.drain()
    [(_, note)] = receiver.all()
    assert sorted(e["id"] for e in note["data"]) == ["urn:ngsi-ld:Room:1", "urn:ngsi-ld:Room:2"]


def test_every_server_process_listens_from_start_up(platform: Platform) -> None:
    from fastapi.testclient import TestClient

    from charter.api.app import create_app

    assert getattr(platform, "_ngsild_extras", None) is None
    with TestClient(create_app(platform)):
        extras = getattr(platform, "_ngsild_extras", None)
        assert extras is not None
        assert extras.subs.on_change in platform.ngsild.entities._listeners


def test_ld_json_notifications_carry_the_context(lite: Ngsi, receiver: Receiver) -> None:
    body = subscription(receiver)
    body["notification"]["endpoint"]["accept"] = "application/ld+json"
    body["notification"]["endpoint"]["receiverInfo"] = [{"key": "X-Auth-Token", "value": "abc"}]
    assert lite.call("POST", "/subscriptions", body).status_code == 201
    lite.create(room(1, 25))
    drain(lite)
    [(headers, note)] = receiver.all()
    assert headers["Content-Type"] == "application/ld+json"
    assert headers["X-Auth-Token"] == "abc"
    assert note["@context"] == "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"


def test_notifications_with_sys_attrs_and_a_language(lite: Ngsi, receiver: Receiver) -> None:
    body = subscription(receiver, lang="ja,en")
    body["notification"].update({"sysAttrs": True, "attributes": ["name", "temperature"]})
    assert lite.call("POST", "/subscriptions", body).status_code == 201
    entity = room(1, 21)
    entity["name"] = {"type": "LanguageProperty", "languageMap": {"en": "Hall", "ja": "ホール"}}
    assert lite.create(entity).status_code == 201
    drain(lite)
    [(_headers, note)] = receiver.all()
    [data] = note["data"]
    name = {k: v for k, v in data["name"].items() if k not in ("createdAt", "modifiedAt")}
    assert name == {"type": "Property", "value": "ホール", "lang": "ja"}
    assert "createdAt" in data and "modifiedAt" in data["temperature"]
    bad = subscription(receiver, lang=5)
    assert problem(lite.call("POST", "/subscriptions", bad), 400, "BadRequestData")
    bad = subscription(receiver)
    bad["notification"]["sysAttrs"] = "yes"
    assert problem(lite.call("POST", "/subscriptions", bad), 400, "BadRequestData")
