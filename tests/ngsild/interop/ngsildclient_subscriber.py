"""Run with a Python that has ngsildclient 0.5.2 (its own venv: it pins httpx 0.23 and rich
12, older than Charter's). Usage: python ngsildclient_subscriber.py PORT TOKEN RECEIVER_URL

An application written for Orion-LD with the ngsildclient package, unchanged: it connects,
creates an entity, subscribes (the builder's subscription, plus v1.8's notificationTrigger
and showChanges as raw members), updates the entity in a batch and deletes it, lists and
deletes its subscription. Prints one JSON line of what it saw; the test checks the notifications."""

import json
import sys

from ngsildclient import Client, Entity, SubscriptionBuilder
from requests.auth import AuthBase


class Bearer(AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, r):
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r


def main() -> None:
    port, token, receiver = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    client = Client(
        hostname="127.0.0.1",
        port=port,
        port_temporal=port,
        custom_auth=Bearer(token),
        verbose=False,
    )
    out = {"vendor": str(client.broker.vendor)}
    e = Entity("AirQualityStation", "Bordeaux-Test")
    e.prop("NO2", 22, unitcode="GP", observedat="2026-12-01T08:00:00Z")
    e.prop("temperature", 12.5)
    client.create(e)
    sub = (
        SubscriptionBuilder(receiver)
        .id("urn:ngsi-ld:Subscription:ngsildclient")
        .description("NO2 changes")
        .select_type("AirQualityStation")
        .watch(["NO2"])
        .build()
    )
    sub["notificationTrigger"] = ["attributeUpdated", "entityDeleted"]
    sub["notification"]["showChanges"] = True
    out["created"] = client.subscriptions.create(sub)
    got = client.get(e.id, ctx=None)
    out["retrieved_NO2"] = got["NO2"]["value"]
    changed = Entity.from_dict({**got.to_dict(), "NO2": {"type": "Property", "value": 35}})
    out["updated"] = client.batch.update([changed]).ok  # POST /entityOperations/update
    client.delete(e)
    stored = client.subscriptions.get("urn:ngsi-ld:Subscription:ngsildclient")
    out["trigger"] = stored.get("notificationTrigger")
    out["listed"] = [s["id"] for s in client.subscriptions.list()]
    client.subscriptions.delete("NO2 changes")
    out["left"] = [s["id"] for s in client.subscriptions.list()]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
