"""NGSI-LD entity operations (clauses 5.6 and 5.7) over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from charter.auth import Role
from charter.ngsild.entities import EntityChange
from tests.ngsild.conftest import CORE, Ngsi, problem, thing

ID = "urn:ngsi-ld:Thing:1"


def test_create_answers_201_with_location_and_the_entity_reads_back(any_ngsi: Ngsi) -> None:
    r = any_ngsi.create(thing())
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:1"
    got = any_ngsi.get(ID)
    assert got.status_code == 200
    assert f"<{CORE}>" in got.headers["link"]
    body = got.json()
    assert body["id"] == ID and body["type"] == "Thing"
    assert body["speed"] == {
        "type": "Property", "value": 5, "unitCode": "KMH", "observedAt": "2026-11-29T11:00:00Z"
    }  # fmt: skip
    assert body["near"] == {"type": "Relationship", "object": "urn:ngsi-ld:Thing:2"}
    assert body["location"]["value"] == {"type": "Point", "coordinates": [4.9, 52.3]}


def test_a_second_create_is_already_exists(any_ngsi: Ngsi) -> None:
    any_ngsi.create(thing())
    problem(any_ngsi.create(thing()), 409, "AlreadyExists")


def test_missing_entity_is_resource_not_found(any_ngsi: Ngsi) -> None:
    problem(any_ngsi.get("urn:ngsi-ld:Thing:404"), 404, "ResourceNotFound")
    problem(any_ngsi.call("DELETE", "/entities/urn:ngsi-ld:Thing:404"), 404, "ResourceNotFound")


def test_key_values_concise_and_sys_attrs(ngsi: Ngsi) -> None:
    ngsi.create(thing())
    kv = ngsi.get(ID, "?options=keyValues").json()
    assert kv == {
        "id": ID, "type": "Thing", "speed": 5, "near": "urn:ngsi-ld:Thing:2",
        "location": {"type": "Point", "coordinates": [4.9, 52.3]},
    }  # fmt: skip
    assert ngsi.get(ID, "?format=keyValues").json() == kv
    concise = ngsi.get(ID, "?options=concise").json()
    assert concise["near"] == {"object": "urn:ngsi-ld:Thing:2"}
    assert concise["speed"] == {"value": 5, "unitCode": "KMH", "observedAt": "2026-11-29T11:00:00Z"}
    sys = ngsi.get(ID, "?options=sysAttrs").json()
    assert sys["createdAt"] == sys["modifiedAt"] == "2026-11-29T12:00:00.000Z"
    assert sys["speed"]["createdAt"] == "2026-11-29T12:00:00.000Z"
    assert "createdAt" not in ngsi.get(ID).json()["speed"]


def test_concise_input_is_accepted(ngsi: Ngsi) -> None:
    body = {"id": ID, "type": "Thing", "speed": 5, "near": {"object": "urn:ngsi-ld:Thing:2"},
            "location": {"type": "Point", "coordinates": [1.0, 2.0]}, "info": {"a": 1}}  # fmt: skip
    assert ngsi.create(body).status_code == 201
    got = ngsi.get(ID).json()
    assert got["speed"] == {"type": "Property", "value": 5}
    assert got["near"]["type"] == "Relationship"
    assert got["location"]["type"] == "GeoProperty"
    assert got["info"] == {"type": "Property", "value": {"a": 1}}


def test_pick_omit_and_attrs(ngsi: Ngsi) -> None:
    ngsi.create(thing())
    assert set(ngsi.get(ID, "?attrs=speed").json()) == {"id", "type", "speed"}
    assert set(ngsi.get(ID, "?pick=id,near").json()) == {"id", "near"}
    assert set(ngsi.get(ID, "?omit=near,location").json()) == {"id", "type", "speed"}
    problem(ngsi.get(ID, "?pick=id&omit=near"), 400, "BadRequestData")


def test_language_property_and_lang(ngsi: Ngsi) -> None:
    name = {"type": "LanguageProperty", "languageMap": {"en": "Bridge", "nl": "Brug"}}
    ngsi.create(thing(name=name))
    assert ngsi.get(ID).json()["name"] == name
    assert ngsi.get(ID, "?lang=nl").json()["name"] == {
        "type": "Property", "value": "Brug", "lang": "nl"
    }  # fmt: skip
    assert ngsi.get(ID, "?lang=fr,en;q=0.5&options=keyValues").json()["name"] == "Bridge"


def test_dataset_ids_are_separate_instances(any_ngsi: Ngsi) -> None:
    speed = [
        {"type": "Property", "value": 5},
        {"type": "Property", "value": 7, "datasetId": "urn:ngsi-ld:Dataset:radar"},
    ]
    any_ngsi.create(thing(speed=speed))
    assert any_ngsi.get(ID).json()["speed"] == speed
    r = any_ngsi.call("PATCH", f"/entities/{ID}/attrs/speed",
                      {"value": 9, "datasetId": "urn:ngsi-ld:Dataset:radar"})  # fmt: skip
    assert r.status_code == 204, r.text
    assert [i["value"] for i in any_ngsi.get(ID).json()["speed"]] == [5, 9]
    r = any_ngsi.call("DELETE", f"/entities/{ID}/attrs/speed?datasetId=urn:ngsi-ld:Dataset:radar")
    assert r.status_code == 204
    assert any_ngsi.get(ID).json()["speed"] == {"type": "Property", "value": 5}
    any_ngsi.call("POST", f"/entities/{ID}/attrs", {"speed": speed})
    r = any_ngsi.call("DELETE", f"/entities/{ID}/attrs/speed?deleteAll=true")
    assert r.status_code == 204
    assert "speed" not in any_ngsi.get(ID).json()
    problem(any_ngsi.call("DELETE", f"/entities/{ID}/attrs/speed"), 404, "ResourceNotFound")


def test_duplicate_dataset_ids_are_bad_request_data(ngsi: Ngsi) -> None:
    speed = [{"type": "Property", "value": 5}, {"type": "Property", "value": 7}]
    problem(ngsi.create(thing(speed=speed)), 400, "BadRequestData")


def test_update_attrs_is_207_for_those_missing(any_ngsi: Ngsi) -> None:
    any_ngsi.create(thing())
    r = any_ngsi.call("PATCH", f"/entities/{ID}/attrs",
                      {"speed": {"type": "Property", "value": 8}, "nope": 1})  # fmt: skip
    assert r.status_code == 207
    assert r.json() == {
        "updated": ["speed"],
        "notUpdated": [{"attributeName": "nope", "reason": "attribute does not exist"}],
    }
    assert any_ngsi.get(ID).json()["speed"] == {"type": "Property", "value": 8}
    r = any_ngsi.call("PATCH", f"/entities/{ID}/attrs", {"speed": 9})
    assert r.status_code == 204


def test_append_overwrites_unless_no_overwrite(any_ngsi: Ngsi) -> None:
    any_ngsi.create(thing())
    r = any_ngsi.call("POST", f"/entities/{ID}/attrs", {"speed": 1, "extra": 2})
    assert r.status_code == 204
    r = any_ngsi.call("POST", f"/entities/{ID}/attrs?options=noOverwrite", {"speed": 3, "more": 4})
    assert r.status_code == 207
    assert r.json()["updated"] == ["more"]
    got = any_ngsi.get(ID, "?options=keyValues").json()
    assert (got["speed"], got["extra"], got["more"]) == (1, 2, 4)


def test_partial_update_keeps_other_members_and_merges_sub_attributes(ngsi: Ngsi) -> None:
    ngsi.create(thing(speed={"type": "Property", "value": 5, "unitCode": "KMH",
                             "accuracy": {"type": "Property", "value": 0.5}}))  # fmt: skip
    r = ngsi.call("PATCH", f"/entities/{ID}/attrs/speed", {"value": 6})
    assert r.status_code == 204, r.text
    speed = ngsi.get(ID).json()["speed"]
    assert speed == {"type": "Property", "value": 6, "unitCode": "KMH",
                     "accuracy": {"type": "Property", "value": 0.5}}  # fmt: skip
    problem(ngsi.call("PATCH", f"/entities/{ID}/attrs/nope", {"value": 1}), 404, "ResourceNotFound")


def test_merge_adds_changes_and_deletes_with_null(any_ngsi: Ngsi) -> None:
    any_ngsi.create(thing())
    r = any_ngsi.call("PATCH", f"/entities/{ID}",
                      {"speed": 6, "near": "urn:ngsi-ld:null", "extra": 1})  # fmt: skip
    assert r.status_code == 204, r.text
    got = any_ngsi.get(ID).json()
    assert "near" not in got
    assert got["speed"] == {"type": "Property", "value": 6, "unitCode": "KMH",
                            "observedAt": "2026-11-29T11:00:00Z"}  # fmt: skip
    assert got["extra"] == {"type": "Property", "value": 1}


def test_replace_drops_attributes_not_sent(any_ngsi: Ngsi) -> None:
    any_ngsi.create(thing())
    r = any_ngsi.call("PUT", f"/entities/{ID}", {"id": ID, "type": "Thing", "only": 1})
    assert r.status_code == 204, r.text
    assert any_ngsi.get(ID, "?options=keyValues").json() == {"id": ID, "type": "Thing", "only": 1}
    r = any_ngsi.call("PUT", f"/entities/{ID}", {"id": "urn:ngsi-ld:Thing:other", "type": "Thing"})
    problem(r, 400, "BadRequestData")


def test_replace_one_attribute(ngsi: Ngsi) -> None:
    ngsi.create(thing())
    r = ngsi.call("PUT", f"/entities/{ID}/attrs/speed", {"type": "Property", "value": 1})
    assert r.status_code == 204, r.text
    assert ngsi.get(ID).json()["speed"] == {"type": "Property", "value": 1}
    r = ngsi.call("PUT", f"/entities/{ID}/attrs/nope", {"type": "Property", "value": 1})
    problem(r, 404, "ResourceNotFound")


def test_delete_entity(any_ngsi: Ngsi) -> None:
    any_ngsi.create(thing())
    assert any_ngsi.call("DELETE", f"/entities/{ID}").status_code == 204
    problem(any_ngsi.get(ID), 404, "ResourceNotFound")


def test_query_by_type_id_with_paging_and_count(any_ngsi: Ngsi) -> None:
    for n in range(1, 6):
        any_ngsi.create(thing(n))
    any_ngsi.create({"id": "urn:ngsi-ld:Other:1", "type": "Other", "x": 1})
    r = any_ngsi.call("GET", "/entities?type=Thing&limit=2&offset=1&count=true")
    assert r.status_code == 200
    assert r.headers["ngsild-results-count"] == "5"
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Thing:2", "urn:ngsi-ld:Thing:3"]
    r = any_ngsi.call("GET", "/entities?id=urn:ngsi-ld:Thing:4,urn:ngsi-ld:Other:1&attrs=x")
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Other:1", "urn:ngsi-ld:Thing:4"]
    assert r.json()[0]["x"] == {"type": "Property", "value": 1}
    r = any_ngsi.call("GET", "/entities?idPattern=^urn:ngsi-ld:Thing:[45]$")
    assert [e["id"] for e in r.json()] == ["urn:ngsi-ld:Thing:4", "urn:ngsi-ld:Thing:5"]
    r = any_ngsi.call("GET", "/entities?type=Thing&limit=0&count=true")
    assert r.json() == [] and r.headers["ngsild-results-count"] == "5"


def test_multi_typed_entities_match_each_type(any_ngsi: Ngsi) -> None:
    any_ngsi.create({"id": ID, "type": ["Thing", "Sensor"], "x": 1})
    for t in ("Thing", "Sensor"):
        assert len(any_ngsi.call("GET", f"/entities?type={t}").json()) == 1
    any_ngsi.call("PATCH", f"/entities/{ID}", {"type": "Extra"})
    assert any_ngsi.get(ID).json()["type"] == ["Thing", "Sensor", "Extra"]
    assert len(any_ngsi.call("GET", "/entities?type=Extra").json()) == 1


def test_limit_out_of_range(ngsi: Ngsi) -> None:
    problem(ngsi.call("GET", "/entities?limit=5000"), 403, "TooManyResults")
    problem(ngsi.call("GET", "/entities?limit=-1"), 400, "BadRequestData")
    problem(ngsi.call("GET", "/entities?limit=0"), 400, "BadRequestData")
    problem(ngsi.call("GET", "/entities?offset=x"), 400, "BadRequestData")


def test_geojson_output(ngsi: Ngsi) -> None:
    ngsi.create(thing())
    r = ngsi.get(ID, Accept="application/geo+json")
    assert r.headers["content-type"].startswith("application/geo+json")
    f = r.json()
    assert f["type"] == "Feature" and f["geometry"]["type"] == "Point"
    assert f["properties"]["speed"]["value"] == 5
    fc = ngsi.call("GET", "/entities?type=Thing", Accept="application/geo+json").json()
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 1


def test_every_change_reaches_the_listeners_after_commit(any_ngsi: Ngsi) -> None:
    seen: list[EntityChange] = []
    any_ngsi.platform.ngsild.entities.listen(seen.append)
    any_ngsi.create(thing())
    any_ngsi.call("PATCH", f"/entities/{ID}/attrs/speed", {"value": 6})
    any_ngsi.call("DELETE", f"/entities/{ID}")
    assert [c.kind for c in seen] == ["created", "updated", "deleted"]
    assert seen[1].before is not None and seen[1].after is not None
    assert seen[1].attrs == {"https://uri.etsi.org/ngsi-ld/default-context/speed"}
    assert seen[1].after.attrs[next(iter(seen[1].attrs))][0]["value"] == 6


def test_attribute_history_is_kept(any_ngsi: Ngsi) -> None:
    any_ngsi.create(thing())
    any_ngsi.call("PATCH", f"/entities/{ID}/attrs/speed", {"value": 6})
    any_ngsi.call("DELETE", f"/entities/{ID}/attrs/speed")
    repo = any_ngsi.platform.ngsild.repo
    speed = "https://uri.etsi.org/ngsi-ld/default-context/speed"
    rows = repo.instances("", ID, speed)
    assert [(r.value.get("value"), r.deleted) for r in rows] == [(5, False), (6, False), (6, True)]
    assert rows[0].observed_at is not None
    assert len({r.instance_id for r in rows}) == 3
    assert [r.value["value"] for r in repo.instances("", ID, speed, last_n=1)] == [6]


def test_what_charter_does_not_do_is_operation_not_supported(ngsi: Ngsi) -> None:
    ngsi.create(thing())
    problem(ngsi.get(ID, "?expandValues=speed"), 422, "OperationNotSupported")
    problem(ngsi.call("GET", "/entities?type=Thing&local=false"), 422, "OperationNotSupported")


def test_a_batch_tells_the_listeners_once_per_entity(any_ngsi: Ngsi) -> None:
    seen: list[EntityChange] = []
    any_ngsi.platform.ngsild.entities.listen(seen.append)
    any_ngsi.call("POST", "/entityOperations/upsert", [thing(1), thing(2)])
    any_ngsi.call("POST", "/entityOperations/upsert?options=update", [{"id": ID, "speed": 1}])
    assert [(c.kind, c.entity_id) for c in seen] == [
        ("created", ID), ("created", "urn:ngsi-ld:Thing:2"), ("updated", ID)
    ]  # fmt: skip


def test_a_bug_under_ngsi_ld_is_an_internal_error_problem(platform: object) -> None:
    from fastapi.testclient import TestClient

    from charter.api.app import create_app
    from charter.bootstrap import Platform
    from charter.ngsild.entities import Rights
    from charter.ngsild.service import NgsiLd

    class Broken(Rights):
        def check_read(self, actor: object, tenant: str, entity: object) -> None:
            raise RuntimeError("a bug")

    assert isinstance(platform, Platform)
    platform.__dict__["ngsild"] = NgsiLd.build(platform, rights=Broken())  # injected, not patched
    client = TestClient(create_app(platform), raise_server_exceptions=False)
    tok = platform.security.issuer.issue("op", Role.OPERATOR)
    h = {"Authorization": f"Bearer {tok}"}
    assert client.post("/ngsi-ld/v1/entities", json=thing(), headers=h).status_code == 201
    r = client.get(f"/ngsi-ld/v1/entities/{ID}", headers=h)
    problem(r, 500, "InternalError")
