"""A client written as for Orion-LD, from the spec's examples (GS CIM 009 annex C), unchanged.

Plain HTTP, application/ld+json bodies with the core context, the spec's Vehicle and
OffStreetParking examples; the same calls an Orion-LD tutorial makes.
"""

from __future__ import annotations

from typing import Any

from tests.ngsild.conftest import CORE, Ngsi

LD = {"Content-Type": "application/ld+json", "Accept": "application/ld+json"}

VEHICLE: dict[str, Any] = {
    "id": "urn:ngsi-ld:Vehicle:A4567",
    "type": "Vehicle",
    "brandName": {"type": "Property", "value": "Mercedes"},
    "isParked": {
        "type": "Relationship",
        "object": "urn:ngsi-ld:OffStreetParking:Downtown1",
        "observedAt": "2017-07-29T12:00:04Z",
        "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"},
    },
    "speed": {"type": "Property", "value": 80, "observedAt": "2017-07-29T12:00:04Z"},
    "location": {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [-8.5, 41.2]},
    },
    "@context": [CORE],
}

PARKING: dict[str, Any] = {
    "id": "urn:ngsi-ld:OffStreetParking:Downtown1",
    "type": "OffStreetParking",
    "name": {"type": "Property", "value": "Downtown One"},
    "availableSpotNumber": {
        "type": "Property",
        "value": 121,
        "observedAt": "2017-07-29T12:05:02Z",
        "reliability": {"type": "Property", "value": 0.7},
    },
    "totalSpotNumber": {"type": "Property", "value": 200},
    "location": {
        "type": "GeoProperty",
        "value": {"type": "Point", "coordinates": [-8.5, 41.2]},
    },
    "@context": [CORE],
}


def test_an_orion_ld_client_works_unchanged(ngsi: Ngsi) -> None:
    http = ngsi.http
    auth = {"Authorization": f"Bearer {ngsi.token}"}
    base = "/ngsi-ld/v1"
    for body in (VEHICLE, PARKING):
        r = http.post(f"{base}/entities/", json=body, headers={**LD, **auth})
        assert r.status_code == 201, r.text

    # GET /entities?type=Vehicle&q=speed>50 (annex C examples)
    r = http.get(
        f"{base}/entities", params={"type": "Vehicle", "q": "speed>50"}, headers={**LD, **auth}
    )
    assert r.status_code == 200, r.text
    [vehicle] = r.json()
    assert vehicle["@context"] and vehicle["brandName"]["value"] == "Mercedes"

    r = http.get(
        f"{base}/entities",
        params={
            "type": "OffStreetParking",
            "q": "availableSpotNumber.reliability>=0.5;totalSpotNumber>100",
        },
        headers=auth,
    )
    assert [e["id"] for e in r.json()] == [PARKING["id"]]

    r = http.get(
        f"{base}/entities",
        params={
            "type": "OffStreetParking,Vehicle",
            "georel": "near;maxDistance==2000",
            "geometry": "Point",
            "coordinates": "[-8.5,41.21]",
            "options": "keyValues",
            "attrs": "name",
        },
        headers=auth,
    )
    assert r.json() == [
        {"id": PARKING["id"], "type": "OffStreetParking", "name": "Downtown One"},
        {"id": VEHICLE["id"], "type": "Vehicle"},
    ]

    r = http.patch(
        f"{base}/entities/{PARKING['id']}/attrs/availableSpotNumber",
        json={"value": 120, "observedAt": "2017-07-29T12:10:00Z", "@context": [CORE]},
        headers={**LD, **auth},
    )
    assert r.status_code == 204, r.text

    r = http.get(
        f"{base}/temporal/entities/{PARKING['id']}",
        params={"attrs": "availableSpotNumber", "options": "temporalValues"},
        headers=auth,
    )
    assert r.status_code == 200, r.text
    assert [v[0] for v in r.json()["availableSpotNumber"]["values"]] == [121, 120]

    r = http.get(f"{base}/types", headers=auth)
    assert r.json()["typeList"] == ["OffStreetParking", "Vehicle"]

    subscription = {
        "id": "urn:ngsi-ld:Subscription:mySubscription",
        "type": "Subscription",
        "entities": [{"type": "Vehicle"}],
        "watchedAttributes": ["speed"],
        "q": "speed>50",
        "notification": {
            "attributes": ["speed"],
            "format": "keyValues",
            "endpoint": {
                "uri": "mqtt://127.0.0.1:1883/notify/vehicles",
                "accept": "application/json",
            },
        },
        "@context": [CORE],
    }
    r = http.post(f"{base}/subscriptions/", json=subscription, headers={**LD, **auth})
    assert r.status_code == 201, r.text
    r = http.get(f"{base}/subscriptions/{subscription['id']}", headers=auth)
    assert r.json()["q"] == "speed>50" and r.json()["status"] == "active"
    assert (
        http.delete(f"{base}/subscriptions/{subscription['id']}", headers=auth).status_code == 204
    )
