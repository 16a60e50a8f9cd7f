"""GET /entities and POST /entityOperations/query with q, type expressions and geo-queries."""

from __future__ import annotations

import json
from typing import Any

from tests.ngsild.conftest import ERRORS, Ngsi, problem


def sensor(
    n: int, temperature: Any, status: str, lon: float, lat: float, kind: str = "Sensor"
) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:{kind}:{n:03d}",
        "type": kind,
        "temperature": {"type": "Property", "value": temperature, "observedAt": f"2026-11-29T1{n % 10}:00:00Z"},  # noqa: E501
        "health": {"type": "Property", "value": status},
        "address": {"type": "Property", "value": {"city": "Heidelberg", "zip": f"6911{n % 10}"}},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}},
    }  # fmt: skip


def seed(ngsi: Ngsi) -> None:
    for body in (
        sensor(1, 21.5, "ok", 8.6931, 49.4093),
        sensor(2, 30, "ok", 8.6941, 49.4093),
        sensor(3, 12, "fault", 8.70, 49.42),
        sensor(4, "n/a", "ok", 9.5, 50.0),
        sensor(5, 28, "ok", 8.6931, 49.4100, kind="Camera"),
    ):
        assert ngsi.create(body).status_code == 201, ngsi.create(body).text


def ids(resp: Any) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [e["id"].rsplit(":", 2)[-2] + ":" + e["id"].rsplit(":", 1)[-1] for e in resp.json()]


def get(ngsi: Ngsi, **params: str) -> Any:
    return ngsi.http.get("/ngsi-ld/v1/entities", params=params, headers=ngsi.headers())


def test_q_filters_entities(any_ngsi: Ngsi) -> None:
    seed(any_ngsi)
    assert ids(get(any_ngsi, type="Sensor", q="temperature>20")) == ["Sensor:001", "Sensor:002"]
    assert ids(get(any_ngsi, type="Sensor", q='temperature>20;health=="ok"')) == [
        "Sensor:001",
        "Sensor:002",
    ]
    assert ids(get(any_ngsi, type="Sensor", q='health=="fault"|temperature==30')) == [
        "Sensor:002",
        "Sensor:003",
    ]
    assert ids(get(any_ngsi, type="Sensor", q="temperature==10..22")) == [
        "Sensor:001",
        "Sensor:003",
    ]
    assert ids(get(any_ngsi, type="Sensor", q='temperature=="n/a"')) == ["Sensor:004"]
    assert ids(get(any_ngsi, type="Sensor", q='address[zip]=="69113"')) == ["Sensor:003"]
    assert ids(get(any_ngsi, type="Sensor", q="temperature.observedAt>=2026-11-29T13:00:00Z")) == [
        "Sensor:003",
        "Sensor:004",
    ]
    assert ids(get(any_ngsi, q="health~=^fa")) == ["Sensor:003"]


def test_type_expressions(any_ngsi: Ngsi) -> None:
    seed(any_ngsi)
    assert len(ids(get(any_ngsi, type="Sensor,Camera"))) == 5
    assert ids(get(any_ngsi, type="(Camera|Other)", q="temperature>25")) == ["Camera:005"]
    assert ids(get(any_ngsi, type="Sensor;Camera")) == []


def test_limit_offset_and_count_with_q(any_ngsi: Ngsi) -> None:
    seed(any_ngsi)
    resp = get(
        any_ngsi, type="Sensor,Camera", q='health=="ok"', limit="2", offset="1", count="true"
    )
    assert ids(resp) == ["Sensor:001", "Sensor:002"]
    assert resp.headers["NGSILD-Results-Count"] == "4"


def test_geo_queries(any_ngsi: Ngsi) -> None:
    seed(any_ngsi)
    near = get(
        any_ngsi,
        type="Sensor,Camera",
        georel="near;maxDistance==200",
        geometry="Point",
        coordinates="[8.6931,49.4093]",
    )
    assert ids(near) == ["Camera:005", "Sensor:001", "Sensor:002"]
    square = [[[8.68, 49.40], [8.72, 49.40], [8.72, 49.43], [8.68, 49.43], [8.68, 49.40]]]
    within = get(
        any_ngsi, type="Sensor", georel="within", geometry="Polygon", coordinates=json.dumps(square),  # noqa: E501
        q="temperature<25",
    )  # fmt: skip
    assert ids(within) == ["Sensor:001", "Sensor:003"]


def test_bad_queries_are_ngsi_ld_errors(ngsi: Ngsi) -> None:
    seed(ngsi)
    body = problem(get(ngsi, type="Sensor", q="temperature>>3"), 400)
    assert body["type"] == ERRORS + "BadRequestData"
    body = problem(get(ngsi, type="Sensor", q="(" * 50 + "a" + ")" * 50), 403)
    assert body["type"] == ERRORS + "TooComplexQuery"
    body = problem(
        get(ngsi, type="Sensor", georel="near", geometry="Point", coordinates="[8,49]"), 400
    )
    assert body["type"] == ERRORS + "BadRequestData"
    body = problem(get(ngsi, type="(Sensor"), 400)
    assert body["type"] == ERRORS + "BadRequestData"
    body = problem(
        get(
            ngsi,
            georel="within",
            geometry="Polygon",
            coordinates="[[[0,0],[1,1],[1,0],[0,1],[0,0]]]",
        ),
        400,
    )
    assert body["type"] == ERRORS + "BadRequestData"


def test_post_query(any_ngsi: Ngsi) -> None:
    seed(any_ngsi)
    body = {
        "type": "Query",
        "entities": [{"type": "Sensor"}],
        "q": "temperature>20",
        "attrs": ["temperature"],
        "geoQ": {"georel": "near;maxDistance==500", "geometry": "Point", "coordinates": [8.6931, 49.4093]},  # noqa: E501
    }  # fmt: skip
    resp = any_ngsi.call("POST", "/entityOperations/query", body)
    assert ids(resp) == ["Sensor:001", "Sensor:002"]
    assert set(resp.json()[0]) == {"id", "type", "temperature"}
    bad = any_ngsi.call("POST", "/entityOperations/query", {"type": "Nope"})
    assert problem(bad, 400)["type"] == ERRORS + "BadRequestData"
