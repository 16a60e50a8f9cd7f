"""Notification triggers (notificationTrigger), entity deletions and showChanges, delivered
to a real HTTP receiver on loopback and through the real MQTT broker."""

from __future__ import annotations

import json
import queue
import threading
import uuid
from typing import Any

import pytest

from tests.ngsild import test_subscriptions as ts
from tests.ngsild.conftest import CORE, Ngsi, problem
from tests.ngsild.test_subscriptions import Receiver, drain, room, subscription

lite, receiver, sub_ngsi = ts.lite, ts.receiver, ts.sub_ngsi  # the same fixtures

ROOM = "urn:ngsi-ld:Room:1"


def _sub(ngsi: Ngsi, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    body = subscription(receiver, **extra)
    del body["notification"]["attributes"]
    r = ngsi.call("POST", "/subscriptions", body)
    assert r.status_code == 201, r.text
    return body


def _notes(ngsi: Ngsi, receiver: Receiver) -> list[dict[str, Any]]:
    drain(ngsi)
    return [note for _h, note in receiver.all()]


def _patch(ngsi: Ngsi, attrs: dict[str, Any]) -> None:
    assert ngsi.call("PATCH", f"/entities/{ROOM}/attrs", attrs).status_code == 204


def test_the_default_is_attribute_created_and_updated(sub_ngsi: Ngsi, receiver: Receiver) -> None:
    body = _sub(sub_ngsi, receiver)
    got = sub_ngsi.call("GET", f"/subscriptions/{body['id']}").json()
    assert "notificationTrigger" not in got  # the default is not written in
    assert sub_ngsi.create(room(1, 20)).status_code == 201
    assert len(_notes(sub_ngsi, receiver)) == 1  # creating an entity creates its attributes
    _patch(sub_ngsi, {"temperature": {"type": "Property", "value": 21}})
    [note] = _notes(sub_ngsi, receiver)
    assert note["data"][0]["temperature"]["value"] == 21
    assert sub_ngsi.call("DELETE", f"/entities/{ROOM}/attrs/humidity").status_code == 204
    assert sub_ngsi.call("DELETE", f"/entities/{ROOM}").status_code == 204
    assert _notes(sub_ngsi, receiver) == []  # neither deletion was asked for


def test_entity_deletion_notifies_id_type_and_deleted_at(
    sub_ngsi: Ngsi, receiver: Receiver
) -> None:
    body = _sub(sub_ngsi, receiver, notificationTrigger=["entityDeleted"])
    assert sub_ngsi.create(room(1, 20)).status_code == 201
    assert sub_ngsi.create(room(2, 20)).status_code == 201
    _patch(sub_ngsi, {"temperature": {"type": "Property", "value": 21}})
    assert _notes(sub_ngsi, receiver) == []  # creations and updates were not asked for
    assert sub_ngsi.call("DELETE", f"/entities/{ROOM}").status_code == 204
    drain(sub_ngsi)
    [(headers, note)] = receiver.all()
    assert note["subscriptionId"] == body["id"]
    now = sub_ngsi.platform.clock.now().isoformat(timespec="milliseconds")[:19]
    [gone] = note["data"]
    assert gone["id"] == ROOM and gone["type"] == "Room"
    assert gone["deletedAt"].startswith(now) and set(gone) == {"id", "type", "deletedAt"}
    assert (
        headers["Link"]
        == f'<{CORE}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    )
    # a batch delete notifies each entity it deleted
    r = sub_ngsi.call("POST", "/entityOperations/delete", ["urn:ngsi-ld:Room:2"])
    assert r.status_code == 204, r.text
    [note] = _notes(sub_ngsi, receiver)
    assert [d["id"] for d in note["data"]] == ["urn:ngsi-ld:Room:2"]


def test_deletions_follow_the_selectors_q_and_watched_attributes(
    lite: Ngsi, receiver: Receiver
) -> None:
    _sub(lite, receiver, notificationTrigger=["entityDeleted"], q="temperature>25")
    _sub(lite, receiver, notificationTrigger=["entityDeleted"], watchedAttributes=["co2"])
    lite.create(room(1, 20))
    lite.create(room(2, 30))
    for n in (1, 2):
        assert lite.call("DELETE", f"/entities/urn:ngsi-ld:Room:{n}").status_code == 204
    notes = _notes(lite, receiver)  # q is read on the entity as it was; it had no co2
    assert [d["id"] for n in notes for d in n["data"]] == ["urn:ngsi-ld:Room:2"]


def test_each_trigger_alone(lite: Ngsi, receiver: Receiver) -> None:
    subs = {
        trigger: _sub(lite, receiver, notificationTrigger=[trigger])["id"]
        for trigger in ("entityCreated", "attributeCreated", "attributeUpdated",
                        "attributeDeleted", "entityUpdated")
    }  # fmt: skip
    by_sub = {v: k for k, v in subs.items()}

    def fired() -> list[str]:
        return sorted(by_sub[n["subscriptionId"]] for n in _notes(lite, receiver))

    lite.create(room(1, 20))  # entityUpdated is the three attribute triggers: it has created
    assert fired() == ["attributeCreated", "entityCreated", "entityUpdated"]
    _patch(lite, {"temperature": {"type": "Property", "value": 22}})
    assert fired() == ["attributeUpdated", "entityUpdated"]
    r = lite.call("POST", f"/entities/{ROOM}/attrs", {"co2": {"type": "Property", "value": 400}})
    assert r.status_code == 204, r.text
    assert fired() == ["attributeCreated", "entityUpdated"]
    assert lite.call("DELETE", f"/entities/{ROOM}/attrs/co2").status_code == 204
    assert fired() == ["attributeDeleted", "entityUpdated"]
    # a replace deletes what it does not repeat and updates what it does
    r = lite.call(
        "PUT",
        f"/entities/{ROOM}",
        {"type": "Room", "temperature": {"type": "Property", "value": 1}},
    )
    assert r.status_code == 204, r.text
    assert fired() == ["attributeDeleted", "attributeUpdated", "entityUpdated"]


def test_a_deleted_attribute_is_the_ngsi_ld_null(lite: Ngsi, receiver: Receiver) -> None:
    _sub(lite, receiver, notificationTrigger=["attributeDeleted"])
    entity = room(1, 20)
    entity["owner"] = {"type": "Relationship", "object": "urn:ngsi-ld:Person:a"}
    entity["name"] = {"type": "LanguageProperty", "languageMap": {"en": "Hall"}}
    lite.create(entity)
    for name in ("humidity", "owner", "name"):
        assert lite.call("DELETE", f"/entities/{ROOM}/attrs/{name}").status_code == 204
    notes = _notes(lite, receiver)
    assert [n["data"][0]["humidity"] for n in notes[:1]] == [
        {"type": "Property", "value": "urn:ngsi-ld:null"}
    ]
    assert notes[1]["data"][0]["owner"] == {"type": "Relationship", "object": "urn:ngsi-ld:null"}
    assert notes[2]["data"][0]["name"] == {
        "type": "LanguageProperty", "languageMap": {"@none": "urn:ngsi-ld:null"}
    }  # fmt: skip
    assert "humidity" not in notes[1]["data"][0]  # each notification shows the entity now


def test_show_changes_gives_the_previous_values(lite: Ngsi, receiver: Receiver) -> None:
    body = subscription(receiver, notificationTrigger=["entityUpdated"])
    body["notification"]["showChanges"] = True
    del body["notification"]["attributes"]
    assert lite.call("POST", "/subscriptions", body).status_code == 201
    concise = subscription(receiver, notificationTrigger=["attributeUpdated"])
    concise["notification"].update({"showChanges": True, "format": "concise"})
    assert lite.call("POST", "/subscriptions", concise).status_code == 201
    entity = room(1, 20)
    entity["owner"] = {"type": "Relationship", "object": "urn:ngsi-ld:Person:a"}
    entity["name"] = {"type": "LanguageProperty", "languageMap": {"en": "Hall"}}
    lite.create(entity)
    [created] = _notes(lite, receiver)  # entityUpdated includes attributeCreated
    assert created["subscriptionId"] == body["id"]
    assert "previousValue" not in created["data"][0]["temperature"]  # nothing came before
    _patch(lite, {
        "temperature": {"type": "Property", "value": 23},
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:b"},
        "name": {"type": "LanguageProperty", "languageMap": {"en": "Lobby"}},
    })  # fmt: skip
    notes = {n["subscriptionId"]: n["data"][0] for n in _notes(lite, receiver)}
    full = notes[body["id"]]
    assert full["temperature"] == {"type": "Property", "value": 23, "previousValue": 20}
    assert full["owner"]["previousObject"] == "urn:ngsi-ld:Person:a"
    assert full["name"]["previousLanguageMap"] == {"en": "Hall"}
    assert "previousValue" not in full["humidity"]  # not changed by this update
    assert notes[concise["id"]]["temperature"] == {"value": 23, "previousValue": 20}
    # a deleted attribute shows what it was
    assert lite.call("DELETE", f"/entities/{ROOM}/attrs/temperature").status_code == 204
    [note] = _notes(lite, receiver)
    assert note["data"][0]["temperature"] == {
        "type": "Property", "value": "urn:ngsi-ld:null", "previousValue": 23
    }  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        {"notificationTrigger": []},
        {"notificationTrigger": ["entityChanged"]},
        {"notificationTrigger": "entityCreated"},
        {"notification": {"showChanges": "yes"}},
        {"notification": {"showChanges": True, "format": "keyValues"}},
    ],
)
def test_bad_triggers_and_show_changes(
    lite: Ngsi, receiver: Receiver, change: dict[str, Any]
) -> None:
    body = subscription(receiver)
    if "notification" in change:
        body["notification"].update(change["notification"])
    else:
        body.update(change)
    assert problem(lite.call("POST", "/subscriptions", body), 400, "BadRequestData")


def test_triggers_can_be_changed_with_patch(lite: Ngsi, receiver: Receiver) -> None:
    body = _sub(lite, receiver)
    r = lite.call(
        "PATCH", f"/subscriptions/{body['id']}", {"notificationTrigger": ["entityDeleted"]}
    )
    assert r.status_code == 204, r.text
    assert lite.call("GET", f"/subscriptions/{body['id']}").json()["notificationTrigger"] == [
        "entityDeleted"
    ]
    lite.create(room(1, 20))
    assert lite.call("DELETE", f"/entities/{ROOM}").status_code == 204
    [note] = _notes(lite, receiver)
    assert note["data"][0]["id"] == ROOM and "deletedAt" in note["data"][0]


def test_deletions_through_the_mqtt_broker(lite: Ngsi, receiver: Receiver) -> None:
    from tests.services import need, port_open

    need(port_open(1883), "Mosquitto is not running on 127.0.0.1:1883")
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from charter.ngsild.api.ngsiq import extras_for

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
        body = subscription(receiver, notificationTrigger=["entityDeleted", "attributeUpdated"])
        body["notification"]["endpoint"]["uri"] = f"mqtt://127.0.0.1:1883/{topic}"
        body["notification"]["showChanges"] = True
        assert lite.call("POST", "/subscriptions", body).status_code == 201
        lite.create(room(1, 25))
        _patch(lite, {"temperature": {"type": "Property", "value": 26}})
        assert lite.call("DELETE", f"/entities/{ROOM}").status_code == 204
        drain(lite)
        first = json.loads(got.get(timeout=10))["body"]["data"][0]
        assert first["temperature"]["previousValue"] == 25
        second = json.loads(got.get(timeout=10))
        assert second["body"]["data"][0]["id"] == ROOM and "deletedAt" in second["body"]["data"][0]
        assert second["metadata"]["Link"].startswith(f"<{CORE}>")
    finally:
        client.loop_stop()
        client.disconnect()
        extras_for(lite.platform).mqtt.close()


def test_json_notifications_link_the_subscriptions_context(
    sub_ngsi: Ngsi, receiver: Receiver
) -> None:
    inline = [{"temperature": "https://example.org/vocab#temperature"}, CORE]
    body = {**subscription(receiver), "@context": inline}
    r = sub_ngsi.call("POST", "/subscriptions", body, Content_Type="application/ld+json")
    assert r.status_code == 201, r.text
    entity = {**room(1, 20), "@context": inline}
    assert sub_ngsi.create(entity, Content_Type="application/ld+json").status_code == 201
    drain(sub_ngsi)
    [(headers, note)] = receiver.all()
    assert note["data"][0]["temperature"]["value"] == 20  # compacted with the inline context
    url = headers["Link"][1 : headers["Link"].index(">")]
    assert "/ngsi-ld/v1/jsonldContexts/implicit-" in url  # hosted for it (ImplicitlyCreated)
    assert sub_ngsi.http.get(url).json() == {"@context": [inline[0]]}
    # one context URL is linked as it is
    sdm = "https://smartdatamodels.org/context.jsonld"
    link = f'<{sdm}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    assert (
        sub_ngsi.call("POST", "/subscriptions", subscription(receiver), Link=link).status_code
        == 201
    )
    _patch(sub_ngsi, {"humidity": {"type": "Property", "value": 41}})
    drain(sub_ngsi)
    links = sorted(h["Link"].split(">")[0][1:] for h, _n in receiver.all())
    assert links == sorted([url, sdm])


def test_a_deletion_notifies_only_owners_who_could_read_the_entity(
    tmp_path: Any, clock: Any, receiver: Receiver
) -> None:
    """The emergency fleet's Vehicle entities are shown to city staff only (the category's
    disclosure): a data consumer's subscription is not told of one's deletion either."""
    from charter.auth import Role
    from charter.bootstrap import build
    from charter.ngsild.api.ngsiq import extras_for
    from charter.ngsild.rights import GATE
    from charter.settings import Settings
    from charter.sim import city as sample
    from tests.conftest import SampleCity
    from tests.ngsild.conftest import token
    from tests.ngsild.test_sdm_types import SDM_LINK, _request

    settings = Settings(
        data_dir=tmp_path / "data", ngsild_notify_hosts=[f"127.0.0.1:{receiver.port}"]
    )
    p = build(settings, clock=clock)
    try:
        city = SampleCity(p, services=True)
        obu = city.device(
            "engine-7", sample.TRUSTED, sample.EMERGENCY, ["emergency.priority_request"]
        )
        ngsi = Ngsi(p, token(p))
        consumer = token(p, Role.CONSUMER)
        staff = subscription(receiver, notificationTrigger=["entityDeleted"],
                             entities=[{"type": "Vehicle"}])  # fmt: skip
        app = subscription(receiver, notificationTrigger=["entityDeleted"],
                           entities=[{"type": "Vehicle"}])  # fmt: skip
        r = ngsi.call("POST", "/subscriptions", staff, Link=SDM_LINK)
        assert r.status_code == 201, r.text
        r = ngsi.call("POST", "/subscriptions", app, token=consumer, Link=SDM_LINK)
        assert r.status_code == 201, r.text
        assert p.gate.ingest([city.envelope(obu, [_request(p.clock.now())])])[0].admitted == 1
        assert p.ngsild.bridge.flush()
        vehicle = "urn:ngsi-ld:Vehicle:engine-7"
        assert ngsi.call("DELETE", f"/entities/{vehicle}").status_code == 403  # the gate's
        p.ngsild.entities.delete(GATE, "", vehicle)  # as the platform itself would
        notes = _notes(ngsi, receiver)
        assert [n["subscriptionId"] for n in notes] == [staff["id"]]
        assert notes[0]["data"][0]["id"] == vehicle
    finally:
        extras_for(p).close()
        p.close()
