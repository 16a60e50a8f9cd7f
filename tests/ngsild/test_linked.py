"""Linked entity retrieval (clause 4.5.23): join=inline|flat, joinLevel, containedBy, rights."""

from __future__ import annotations

from typing import Any

from charter.store.ngsild import StoredEntity
from tests.ngsild.conftest import Ngsi, problem

BUILDING = "urn:ngsi-ld:Building:b1"
ROOM = "urn:ngsi-ld:Room:r1"
SENSOR = "urn:ngsi-ld:Sensor:s1"
OWNER = "urn:ngsi-ld:Person:p1"


def rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def seed(ngsi: Ngsi) -> None:
    for body in (
        {"id": BUILDING, "type": "Building", "name": {"type": "Property", "value": "Town hall"},
         "hasRoom": {"type": "ListRelationship", "objectList": [{"object": ROOM}]}},
        {"id": ROOM, "type": "Room", "inBuilding": rel(BUILDING), "hasSensor": rel(SENSOR),
         "floor": {"type": "Property", "value": 2}},
        {"id": SENSOR, "type": "Sensor", "temperature": {"type": "Property", "value": 21.5}},
    ):  # fmt: skip
        assert ngsi.create(body).status_code == 201


def get(ngsi: Ngsi, path: str, **params: str) -> Any:
    resp = ngsi.http.get(f"/ngsi-ld/v1{path}", params=params, headers=ngsi.headers())
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_inline_puts_the_linked_entity_under_its_relationship(any_ngsi: Ngsi) -> None:
    seed(any_ngsi)
    room = get(any_ngsi, f"/entities/{ROOM}", join="inline")
    assert room["hasSensor"]["object"] == SENSOR
    assert room["hasSensor"]["entity"]["temperature"]["value"] == 21.5
    # one level by default: the building is inlined, its rooms are not expanded again
    building = room["inBuilding"]["entity"]
    assert building["id"] == BUILDING and "entityList" not in building["hasRoom"]


def test_join_level_follows_further_and_stops_at_what_it_met(ngsi: Ngsi) -> None:
    seed(ngsi)
    building = get(ngsi, f"/entities/{BUILDING}", join="inline", joinLevel="2")
    (room,) = building["hasRoom"]["entityList"]
    assert room["id"] == ROOM
    assert room["hasSensor"]["entity"]["id"] == SENSOR  # two hops
    assert "entity" not in room["inBuilding"]  # the building itself: the cycle ends


def test_flat_returns_the_linked_entities_beside_the_answer(ngsi: Ngsi) -> None:
    seed(ngsi)
    flat = get(ngsi, f"/entities/{ROOM}", join="flat")
    assert [e["id"] for e in flat] == [ROOM, BUILDING, SENSOR]
    listed = get(ngsi, "/entities", type="Room", join="flat", joinLevel="2")
    assert [e["id"] for e in listed] == [ROOM, BUILDING, SENSOR]
    skipped = get(ngsi, f"/entities/{ROOM}", join="flat", containedBy=BUILDING)
    assert [e["id"] for e in skipped] == [ROOM, SENSOR]  # already met elsewhere


def test_a_linked_entity_the_caller_may_not_read_is_left_out(ngsi: Ngsi) -> None:
    seed(ngsi)
    repo = ngsi.platform.ngsild.repo
    person = StoredEntity("", OWNER, ["https://example.org/Person"], {}, 0, 0, subject="pseud-1")
    with repo.write() as w:  # personal: read only with a grant, through Access.read
        w.insert(person)
    assert ngsi.call("POST", f"/entities/{SENSOR}/attrs", {"owner": rel(OWNER)}).status_code == 204
    sensor = get(ngsi, f"/entities/{SENSOR}", join="inline")
    assert sensor["owner"] == {"type": "Relationship", "object": OWNER}
    assert [e["id"] for e in get(ngsi, f"/entities/{SENSOR}", join="flat")] == [SENSOR]


def test_join_parameters_are_checked(ngsi: Ngsi) -> None:
    seed(ngsi)
    for query in ("join=deep", "joinLevel=2", "join=inline&joinLevel=0",
                  "join=inline&joinLevel=99", "join=flat&containedBy=not%20a%20uri"):  # fmt: skip
        problem(ngsi.get(ROOM, f"?{query}"), 400, "BadRequestData")
    assert get(ngsi, f"/entities/{ROOM}", join="@none")["hasSensor"] == rel(SENSOR)


def test_inline_key_values_put_the_linked_entity_where_its_id_was(ngsi: Ngsi) -> None:
    seed(ngsi)
    room = get(ngsi, f"/entities/{ROOM}", join="inline", options="keyValues")
    assert room["hasSensor"] == {"id": SENSOR, "type": "Sensor", "temperature": 21.5}
    assert room["inBuilding"]["id"] == BUILDING
    flat = get(ngsi, f"/entities/{ROOM}", join="flat", options="keyValues")
    assert flat[0]["hasSensor"] == SENSOR and [e["id"] for e in flat] == [ROOM, BUILDING, SENSOR]
