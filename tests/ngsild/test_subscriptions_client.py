"""An Orion-LD style subscriber, over real HTTP against `charter serve`.

Plain HTTP written from the spec's examples (GS CIM 009 v1.8, clause 5.2.12 and Annex C: a
subscription with an inline @context, ``notificationTrigger``, ``watchedAttributes``,
``showChanges``), as an application written for Orion-LD sends it; the notifications go to a
real HTTP receiver on loopback and through the real Mosquitto broker.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from charter.auth import Role
from charter.bootstrap import build
from charter.settings import Settings
from tests.ngsild.test_subscriptions import Receiver
from tests.services import free_port, need, port_open, wait_port

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
CONTEXT = [{"Vehicle": "https://example.org/fleet#Vehicle",
            "speed": "https://example.org/fleet#speed"}, CORE]  # fmt: skip


@dataclass
class Served:
    base: str
    token: str
    receiver: Receiver


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    receiver = Receiver()
    data = tmp_path_factory.mktemp("ngsisub") / "data"
    platform = build(Settings(data_dir=data))
    token = platform.security.issuer.issue("orion-subscriber", Role.OPERATOR)
    platform.close()
    port = free_port()
    env = {**os.environ, "CHARTER_DATA_DIR": str(data), "CHARTER_PORT": str(port),
           "CHARTER_NGSILD_NOTIFY_HOSTS": f"127.0.0.1:{receiver.port}"}  # fmt: skip
    log = (data.parent / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "charter.cli", "serve"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_port(port, timeout=60)
        yield Served(f"http://127.0.0.1:{port}/ngsi-ld/v1", token, receiver)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        receiver.close()


def _ld(c: httpx.Client, method: str, path: str, body: dict[str, Any]) -> httpx.Response:
    doc = {**body, "@context": CONTEXT}
    return c.request(method, path, content=json.dumps(doc),
                     headers={"Content-Type": "application/ld+json"})  # fmt: skip


def _subscription(uri: str) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Subscription:fleet-{uuid.uuid4().hex[:6]}",
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "watchedAttributes": ["speed"],
        "notificationTrigger": ["attributeUpdated", "entityDeleted"],
        "notification": {
            "attributes": ["speed"],
            "format": "normalized",
            "showChanges": True,
            "endpoint": {"uri": uri, "accept": "application/json"},
        },
    }


def _vehicle(n: int) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Vehicle:{n}", "type": "Vehicle",
            "speed": {"type": "Property", "value": 50, "unitCode": "KMH"}}  # fmt: skip


@pytest.mark.slow
def test_an_orion_ld_style_subscriber_gets_changes_and_deletions(served: Served) -> None:
    got = served.receiver.got
    with httpx.Client(base_url=served.base, timeout=15,
                      headers={"Authorization": f"Bearer {served.token}"}) as c:  # fmt: skip
        sub = _subscription(served.receiver.url)
        r = _ld(c, "POST", "/subscriptions", sub)
        assert r.status_code == 201, r.text
        assert _ld(c, "POST", "/entities", _vehicle(1)).status_code == 201  # not asked for
        r = _ld(c, "PATCH", "/entities/urn:ngsi-ld:Vehicle:1/attrs", {"speed": {"value": 62}})
        assert r.status_code == 204, r.text
        headers, note = got.get(timeout=15)
        assert note["type"] == "Notification" and note["subscriptionId"] == sub["id"]
        [vehicle] = note["data"]
        assert vehicle["type"] == "Vehicle"  # compacted with the subscription's context
        assert vehicle["speed"]["value"] == 62 and vehicle["speed"]["previousValue"] == 50
        # the notification links the subscription's inline context, which Charter hosts
        link = headers["Link"][1 : headers["Link"].index(">")]
        hosted = httpx.get(link, timeout=15)
        assert hosted.status_code == 200 and hosted.json() == {"@context": CONTEXT[:1]}
        assert c.delete("/entities/urn:ngsi-ld:Vehicle:1").status_code == 204
        _headers, note = got.get(timeout=15)
        [gone] = note["data"]
        assert gone["id"] == "urn:ngsi-ld:Vehicle:1" and gone["type"] == "Vehicle"
        assert "deletedAt" in gone
        state = c.get(f"/subscriptions/{sub['id']}").json()
        assert state["notificationTrigger"] == ["attributeUpdated", "entityDeleted"]
        assert state["notification"]["showChanges"] is True
        assert state["notification"]["timesSent"] == 2
        listed = c.get("/jsonldContexts", params={"kind": "ImplicitlyCreated"}).json()
        assert [u.rsplit("/", 1)[-1] for u in listed] == [link.rsplit("/", 1)[-1]]
        # the spec's errors for what v1.8 rules out
        bad = _subscription(served.receiver.url)
        bad["notification"]["format"] = "keyValues"
        r = _ld(c, "POST", "/subscriptions", bad)
        assert r.status_code == 400
        assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
        assert c.delete(f"/subscriptions/{sub['id']}").status_code == 204


@pytest.mark.slow
def test_an_orion_ld_style_subscriber_over_mqtt(served: Served) -> None:
    need(port_open(1883), "Mosquitto is not running on 127.0.0.1:1883")
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    topic = f"charter-test/ngsisub/{uuid.uuid4().hex[:8]}"
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
        with httpx.Client(base_url=served.base, timeout=15,
                          headers={"Authorization": f"Bearer {served.token}"}) as c:  # fmt: skip
            sub = _subscription(f"mqtt://127.0.0.1:1883/{topic}")
            assert _ld(c, "POST", "/subscriptions", sub).status_code == 201
            assert _ld(c, "POST", "/entities", _vehicle(2)).status_code == 201
            r = _ld(c, "PATCH", "/entities/urn:ngsi-ld:Vehicle:2/attrs", {"speed": {"value": 70}})
            assert r.status_code == 204
            assert c.delete("/entities/urn:ngsi-ld:Vehicle:2").status_code == 204
            first = json.loads(got.get(timeout=15))
            assert first["body"]["data"][0]["speed"]["previousValue"] == 50
            assert "/jsonldContexts/implicit-" in first["metadata"]["Link"]
            second = json.loads(got.get(timeout=15))
            assert second["body"]["data"][0]["id"] == "urn:ngsi-ld:Vehicle:2"
            assert "deletedAt" in second["body"]["data"][0]
            assert c.delete(f"/subscriptions/{sub['id']}").status_code == 204
    finally:
        client.loop_stop()
        client.disconnect()
