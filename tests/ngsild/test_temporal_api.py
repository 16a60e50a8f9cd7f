"""/temporal/entities over HTTP: create, retrieve, query, aggregate, instances, delete, 206."""

from __future__ import annotations

from typing import Any

from tests.ngsild.conftest import ERRORS, Ngsi, problem

EID = "urn:ngsi-ld:Room:t1"


def temporal_room(values: list[float], start_hour: int = 0) -> dict[str, Any]:
    return {
        "id": EID,
        "type": "Room",
        "temperature": [
            {
                "type": "Property",
                "value": v,
                "observedAt": f"2026-11-29T{start_hour + i:02d}:00:00Z",
            }
            for i, v in enumerate(values)
        ],
    }


def test_create_retrieve_and_timerel(any_ngsi: Ngsi) -> None:
    created = any_ngsi.call("POST", "/temporal/entities", temporal_room([20, 21, 22, 23]))
    assert created.status_code == 201, created.text
    assert created.headers["Location"].startswith("/ngsi-ld/v1/temporal/entities/")
    # the entity exists with its latest value
    assert any_ngsi.get(EID).json()["temperature"]["value"] == 23

    full = any_ngsi.call("GET", f"/temporal/entities/{EID}")
    assert full.status_code == 200, full.text
    assert [i["value"] for i in full.json()["temperature"]] == [20, 21, 22, 23]
    assert all("instanceId" in i for i in full.json()["temperature"])

    before = any_ngsi.call(
        "GET", f"/temporal/entities/{EID}?timerel=before&timeAt=2026-11-29T02:00:00Z"
    )
    assert [i["value"] for i in before.json()["temperature"]] == [20, 21]
    between = any_ngsi.call(
        "GET",
        f"/temporal/entities/{EID}?timerel=between&timeAt=2026-11-29T01:00:00Z"
        "&endTimeAt=2026-11-29T03:00:00Z",
    )
    assert [i["value"] for i in between.json()["temperature"]] == [21, 22]
    last = any_ngsi.call("GET", f"/temporal/entities/{EID}?lastN=1")
    assert [i["value"] for i in last.json()["temperature"]] == [23]

    simple = any_ngsi.call("GET", f"/temporal/entities/{EID}?options=temporalValues&lastN=2")
    assert simple.json()["temperature"] == {
        "type": "Property",
        "values": [[22, "2026-11-29T02:00:00.000Z"], [23, "2026-11-29T03:00:00.000Z"]],
    }


def test_add_instances_and_aggregate(any_ngsi: Ngsi) -> None:
    any_ngsi.call("POST", "/temporal/entities", temporal_room([10, 20]))
    more = any_ngsi.call("POST", f"/temporal/entities/{EID}/attrs", temporal_room([30, 40], 2))
    assert more.status_code == 204, more.text
    again = any_ngsi.call("POST", "/temporal/entities", temporal_room([50], 4))
    assert again.status_code == 204
    agg = any_ngsi.call(
        "GET",
        f"/temporal/entities/{EID}?options=aggregatedValues&aggrMethods=sum,avg,max,totalCount"
        "&aggrPeriodDuration=PT2H&timerel=between&timeAt=2026-11-29T00:00:00Z"
        "&endTimeAt=2026-11-29T06:00:00Z",
    )
    assert agg.status_code == 200, agg.text
    t = agg.json()["temperature"]
    assert [r[0] for r in t["sum"]] == [30.0, 70.0, 50.0]
    assert [r[0] for r in t["avg"]] == [15.0, 35.0, 50.0]
    assert [r[0] for r in t["totalCount"]] == [2, 2, 1]
    assert t["max"][0][1:] == ["2026-11-29T00:00:00.000Z", "2026-11-29T02:00:00.000Z"]
    bad = any_ngsi.call(
        "GET", f"/temporal/entities/{EID}?options=aggregatedValues&aggrMethods=median"
    )
    assert problem(bad, 400)["type"] == ERRORS + "BadRequestData"


def test_query_temporal_entities(ngsi: Ngsi) -> None:
    ngsi.call("POST", "/temporal/entities", temporal_room([20, 26]))
    other = temporal_room([10, 11])
    other["id"] = "urn:ngsi-ld:Room:t2"
    ngsi.call("POST", "/temporal/entities", other)
    found = ngsi.call(
        "GET",
        "/temporal/entities?type=Room&q=temperature>25&timerel=after&timeAt=2026-11-29T00:30:00Z",
    )
    assert found.status_code == 200, found.text
    assert [(e["id"], [i["value"] for i in e["temperature"]]) for e in found.json()] == [
        (EID, [26])
    ]
    assert problem(ngsi.call("GET", "/temporal/entities"), 400)["type"] == ERRORS + "BadRequestData"


def test_instance_operations_and_delete(ngsi: Ngsi) -> None:
    ngsi.call("POST", "/temporal/entities", temporal_room([20, 21]))
    instances = ngsi.call("GET", f"/temporal/entities/{EID}").json()["temperature"]
    first = instances[0]["instanceId"]
    patch = ngsi.call(
        "PATCH",
        f"/temporal/entities/{EID}/attrs/temperature/{first}",
        {"temperature": {"type": "Property", "value": 19.5, "observedAt": "2026-11-29T00:00:00Z"}},
    )
    assert patch.status_code == 204, patch.text
    values = [
        i["value"] for i in ngsi.call("GET", f"/temporal/entities/{EID}").json()["temperature"]
    ]
    assert values == [19.5, 21]
    gone = ngsi.call("DELETE", f"/temporal/entities/{EID}/attrs/temperature/{first}")
    assert gone.status_code == 204
    missing = ngsi.call("DELETE", f"/temporal/entities/{EID}/attrs/temperature/{first}")
    assert problem(missing, 404)["type"] == ERRORS + "ResourceNotFound"
    values = [
        i["value"] for i in ngsi.call("GET", f"/temporal/entities/{EID}").json()["temperature"]
    ]
    assert values == [21]
    assert (
        ngsi.call(
            "DELETE", f"/temporal/entities/{EID}/attrs/temperature?deleteAll=true"
        ).status_code
        == 204
    )
    assert "temperature" not in ngsi.call("GET", f"/temporal/entities/{EID}").json()
    assert ngsi.call("DELETE", f"/temporal/entities/{EID}").status_code == 204
    assert problem(ngsi.call("GET", f"/temporal/entities/{EID}"), 404)["type"] == (
        ERRORS + "ResourceNotFound"
    )


def test_partial_results_have_content_range(ngsi: Ngsi) -> None:
    from charter.ngsild import temporal

    old = temporal.MAX_INSTANCES
    temporal.MAX_INSTANCES = 3
    try:
        ngsi.call("POST", "/temporal/entities", temporal_room([1, 2, 3, 4, 5]))
        resp = ngsi.call("GET", f"/temporal/entities/{EID}")
    finally:
        temporal.MAX_INSTANCES = old
    assert resp.status_code == 206, resp.text
    assert [i["value"] for i in resp.json()["temperature"]] == [1, 2, 3]
    assert resp.headers["Content-Range"] == (
        "date-time 2026-11-29T00:00:00.000Z-2026-11-29T02:00:00.000Z/*"
    )


def test_updates_through_the_entity_api_are_history(ngsi: Ngsi) -> None:
    room = {
        "id": EID,
        "type": "Room",
        "temperature": {"type": "Property", "value": 20, "observedAt": "2026-11-29T10:00:00Z"},
    }
    assert ngsi.create(room).status_code == 201
    ngsi.call(
        "PATCH", f"/entities/{EID}/attrs/temperature",
        {"type": "Property", "value": 22, "observedAt": "2026-11-29T11:00:00Z"},
    )  # fmt: skip
    resp = ngsi.call("GET", f"/temporal/entities/{EID}?options=temporalValues")
    assert [v[0] for v in resp.json()["temperature"]["values"]] == [20, 22]


def test_bad_temporal_parameters(ngsi: Ngsi) -> None:
    ngsi.call("POST", "/temporal/entities", temporal_room([1]))
    for query in (
        "?timerel=before",
        "?timerel=sometime&timeAt=2026-11-29T00:00:00Z",
        "?timerel=between&timeAt=2026-11-29T00:00:00Z",
        "?lastN=0",
        "?timeAt=yesterday&timerel=after",
        "?options=aggregatedValues&aggrMethods=sum&aggrPeriodDuration=1H",
    ):
        resp = ngsi.call("GET", f"/temporal/entities/{EID}{query}")
        assert problem(resp, 400)["type"] == ERRORS + "BadRequestData", query
