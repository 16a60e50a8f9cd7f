"""Charter's rights behind the NGSI-LD API: the gate's entities, roles, tenants, personal data."""

from __future__ import annotations

from datetime import timedelta

from charter.auth import Role
from charter.bootstrap import Platform
from charter.domain.clock import FixedClock
from charter.domain.model import DeviceStatus
from charter.sim import city as sample
from tests.conftest import COUNCIL, OPERATOR, SampleCity, air_reading
from tests.ngsild.conftest import Ngsi, problem, thing, token
from tests.rights.support import CROSSING, PURPOSE, crossing, resident

SDM = "https://smartdatamodels.org/context.jsonld"
SDM_LINK = f'<{SDM}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
ENVELOPE = "application/vnd.charter.envelope+json"
AIR_ENTITY = "urn:ngsi-ld:AirQualityObserved:air"


def _send(ngsi: Ngsi, body: bytes) -> object:
    return ngsi.http.post(
        "/ngsi-ld/v1/entityOperations/upsert",
        content=body,
        headers={"Content-Type": ENVELOPE, "Authorization": f"Bearer {ngsi.token}"},
    )


def test_measurement_entities_are_refused_to_everyone_but_the_gate(
    ngsi: Ngsi, city: SampleCity
) -> None:
    air = {"id": AIR_ENTITY, "type": "AirQualityObserved", "pm25": 3}
    body = problem(ngsi.create(air, Link=SDM_LINK), 403)
    assert body["reason"] == "NOT_REGISTERED" and "air.quality" in body["detail"]
    # the same name under another @context (the default vocabulary) is the same rule
    assert problem(ngsi.create(air), 403)["reason"] == "NOT_REGISTERED"
    r = ngsi.call("POST", "/entityOperations/upsert", [air])
    assert r.status_code == 207
    assert r.json()["errors"][0]["error"]["reason"] == "NOT_REGISTERED"
    assert ngsi.platform.ngsild.repo.get("", AIR_ENTITY) is None


def test_a_devices_envelope_goes_through_the_gate_and_becomes_a_smart_data_models_entity(
    ngsi: Ngsi, city: SampleCity
) -> None:
    r = _send(ngsi, city.envelope(city.air))
    assert r.status_code == 204, r.text
    got = ngsi.get(AIR_ENTITY, "?options=keyValues", Link=SDM_LINK)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["type"] == "AirQualityObserved"
    assert (body["pm25"], body["no2"], body["refDevice"]) == (12.5, 20.0, city.air.device_id)
    assert body["location"]["type"] == "Point"
    full = ngsi.get(AIR_ENTITY, Link=SDM_LINK).json()
    assert full["pm25"]["unitCode"] == "GQ"
    assert full["pm25"]["observedAt"] == "2026-11-29T12:00:00.000Z"
    stored = ngsi.platform.ngsild.repo.get("", AIR_ENTITY)
    assert stored is not None and stored.category == "air.quality"
    assert stored.project_id == sample.AIR and stored.expires_at is not None


def test_readings_admitted_through_ingest_are_published_too(ngsi: Ngsi, city: SampleCity) -> None:
    from charter.device import SimReading

    now = ngsi.platform.clock.now()
    count = SimReading("traffic.count", now, {"vehicles": 12, "mean_speed": 40.0},
                       {"vehicles": "count", "mean_speed": "km/h"})  # fmt: skip
    ngsi.platform.gate.ingest([city.envelope(city.traffic, [count])])
    assert ngsi.platform.ngsild.bridge.flush()
    r = ngsi.call("GET", "/entities?type=TrafficFlowObserved&options=keyValues", Link=SDM_LINK)
    assert [(e["intensity"], e["averageVehicleSpeed"]) for e in r.json()] == [(12, 40.0)]


def test_what_the_gate_refuses_is_the_ngsi_ld_error_with_charters_reason(
    ngsi: Ngsi, city: SampleCity
) -> None:
    body = problem(_send(ngsi, city.envelope(city.untrusted)), 403)
    assert body["reason"] == "VENDOR_UNTRUSTED"
    now = ngsi.platform.clock.now()
    bad_unit = air_reading(now)
    bad_unit.units["pm25"] = "mg/m3"
    body = problem(_send(ngsi, city.envelope(city.air, [bad_unit])), 400, "BadRequestData")
    assert body["reason"] == "WRONG_UNIT"
    ngsi.platform.registry.set_device_status(
        city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "test"
    )
    assert problem(_send(ngsi, city.envelope(city.air)), 403)["reason"] == "DEVICE_SUSPENDED"
    forged = city.envelope(city.air).replace(b"12.5", b"99.5")
    assert problem(_send(ngsi, forged), 401)["reason"] == "BAD_SIGNATURE"
    assert ngsi.platform.ngsild.repo.get("", AIR_ENTITY) is None


def test_only_operators_and_consumers_write_the_citys_other_entities(ngsi: Ngsi) -> None:
    p = ngsi.platform
    res = token(p, Role.RESIDENT, subject="urn:ngsi-ld:Person:x")
    assert problem(ngsi.create(thing(), token=res), 403)["reason"] == "FORBIDDEN"
    assert problem(ngsi.create(thing(), token=""), 401)["reason"] == "UNAUTHENTICATED"
    app = token(p, Role.CONSUMER, subject="urn:ngsi-ld:Consumer:app")
    assert ngsi.create(thing(), token=app).status_code == 201
    assert ngsi.get("urn:ngsi-ld:Thing:1", token="").status_code == 200  # public context
    bad = problem(ngsi.get("urn:ngsi-ld:Thing:1", token="chr_forged"), 401)
    assert bad["reason"] == "UNAUTHENTICATED"


def test_a_tenant_is_used_only_by_tokens_bound_to_it(any_ngsi: Ngsi) -> None:
    p = any_ngsi.platform
    bound = token(p, tenants=["district-7"])
    r = any_ngsi.create(thing(), token=bound, NGSILD_Tenant="district-7")
    assert r.status_code == 201, r.text
    assert r.headers["ngsild-tenant"] == "district-7"
    got = any_ngsi.get("urn:ngsi-ld:Thing:1", token=bound, NGSILD_Tenant="district-7")
    assert got.status_code == 200
    # the same id in the default tenant is another entity: not there
    problem(any_ngsi.get("urn:ngsi-ld:Thing:1", token=bound), 404, "ResourceNotFound")
    # the header alone is no key: an operator not bound to the tenant is refused
    body = problem(any_ngsi.get("urn:ngsi-ld:Thing:1", NGSILD_Tenant="district-7"), 403)
    assert body["reason"] == "FORBIDDEN"
    other = token(p, tenants=["district-9"])
    r = any_ngsi.call("GET", "/entities?type=Thing", token=other, NGSILD_Tenant="district-9")
    problem(r, 404, "NonexistentTenant")
    problem(any_ngsi.get("x", NGSILD_Tenant="bad tenant!"), 400, "BadRequestData")


def _grant(platform: Platform, clock: FixedClock, consumer: str) -> str:
    access = platform.rights.access
    from charter.domain.model import Actor

    app = Actor(name="crossing-app", role="consumer", subject=consumer)
    req = access.request(app, dataset=sample.TRAFFIC, categories=[CROSSING], purpose=PURPOSE,
                         why="timing study")  # fmt: skip
    done = access.decide(req.id, COUNCIL, grant=True, why="approved",
                         expires_at=clock.now() + timedelta(days=7))  # fmt: skip
    assert done.grant is not None
    return done.grant


def test_personal_data_is_read_only_with_a_grant_and_lands_in_the_access_history(
    ngsi: Ngsi, city: SampleCity, clock: FixedClock
) -> None:
    p = ngsi.platform
    yes, _ = resident(p, "FOB-yes-0001")
    no, _ = resident(p, "FOB-no-0003", consent=False)
    now = p.clock.now()
    p.gate.ingest([city.envelope(city.traffic, [crossing(now, "FOB-yes-0001"),
                                                crossing(now, "FOB-no-0003")])])  # fmt: skip
    consumer = "urn:ngsi-ld:Consumer:crossing-app"
    app = token(p, Role.CONSUMER, subject=consumer)
    # personal categories are never copied into the NGSI-LD tables
    stored = p.ngsild.repo.query("", limit=1000)
    assert all(e.category != CROSSING and e.subject is None for e in stored)
    r = ngsi.call("GET", "/entities?type=CrossingRequest", token=app)
    assert problem(r, 403)["reason"] == "PURPOSE_NOT_GRANTED"
    r = ngsi.call("GET", "/entities?type=CrossingRequest", token=app, X_Charter_Grant="forged")
    assert problem(r, 403)["reason"] == "GRANT_INVALID"
    grant = _grant(p, clock, consumer)
    r = ngsi.call("GET", "/entities?type=CrossingRequest&options=keyValues", token=app,
                  X_Charter_Grant=grant)  # fmt: skip
    assert r.status_code == 200, r.text
    [entity] = r.json()
    assert entity["extra_seconds"] == 10
    assert "FOB-yes-0001" not in r.text and yes not in r.text
    [entry] = p.store.access_log(yes)
    assert (entry.consumer, entry.purpose, entry.category) == (consumer, PURPOSE, CROSSING)
    assert p.store.access_log(no) == []


def test_retention_removes_published_entities_and_their_history(
    any_platform: Platform, clock: FixedClock
) -> None:
    ngsi = Ngsi(any_platform, token(any_platform))
    city = SampleCity(any_platform)
    assert _send(ngsi, city.envelope(city.air)).status_code == 204
    repo = any_platform.ngsild.repo
    assert repo.get("", AIR_ENTITY) is not None
    any_platform.rights.retention.run(OPERATOR)
    assert repo.get("", AIR_ENTITY) is not None  # air.quality is kept 730 days
    clock.advance(timedelta(days=731))
    run = any_platform.rights.retention.run(OPERATOR)
    assert run.detail["ngsild"]["entities"] == 1
    assert repo.get("", AIR_ENTITY) is None and repo.instances("", AIR_ENTITY) == []


def test_the_registers_devices_are_published_as_device_entities(
    ngsi: Ngsi, city: SampleCity
) -> None:
    p = ngsi.platform
    # the register changed after the interface was built: the next readings catch up
    assert _send(ngsi, city.envelope(city.air)).status_code == 204
    r = ngsi.call("GET", "/entities?type=Device&options=keyValues&limit=100", Link=SDM_LINK)
    devices = {e["id"]: e for e in r.json()}
    assert set(devices) == {d.id for d in p.store.list_devices()}
    air = devices[city.air.device_id]
    # Smart Data Models Device: its enums, the vendor's name, Charter's category names
    assert (air["deviceState"], air["deviceCategory"]) == ("active", ["sensor"])
    assert air["controlledProperty"] == ["airPollution", "temperature"]
    assert (air["dataProvided"], air["manufacturerName"]) == (["air.quality"], "Northwind Sensing")
    assert air["owner"] == sample.AIR
    p.registry.set_device_status(city.traffic.device_id, DeviceStatus.SUSPENDED, OPERATOR, "t")
    assert _send(ngsi, city.envelope(city.air)).status_code == 204
    got = ngsi.get(city.traffic.device_id, "?options=keyValues", Link=SDM_LINK).json()
    assert got["deviceState"] == "suspended"
    body = problem(ngsi.call("PATCH", f"/entities/{city.air.device_id}", {"deviceState": "x"},
                             Link=SDM_LINK), 403)  # fmt: skip
    assert body["reason"] == "FORBIDDEN"
