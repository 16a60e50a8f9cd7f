"""The device door: a registered device writes its measurement entity in plain NGSI-LD JSON
with its credential (`charter device token`), and every write goes through the gate."""

from __future__ import annotations

from typing import Any

from charter.bootstrap import build
from charter.domain.model import DeviceStatus, ProjectStatus
from charter.sim import city as sample
from tests.conftest import OPERATOR, SampleCity
from tests.ngsild.conftest import Ngsi, problem
from tests.rights.support import resident

SDM = "https://smartdatamodels.org/context.jsonld"
SDM_LINK = f'<{SDM}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
AIR_ENTITY = "urn:ngsi-ld:AirQualityObserved:air"
NOW = "2026-11-29T12:00:00Z"


def _patch(ngsi: Ngsi, token: str, entity: str, body: dict[str, Any]) -> Any:
    return ngsi.call("PATCH", f"/entities/{entity}/attrs", body, token=token, Link=SDM_LINK)


def _pm25(value: object, unit: str = "GQ") -> dict[str, Any]:
    return {"pm25": {"type": "Property", "value": value, "unitCode": unit, "observedAt": NOW}}


def test_a_device_patches_its_entity_and_the_gate_admits_it(ngsi: Ngsi, city: SampleCity) -> None:
    p = ngsi.platform
    token = p.security.issuer.issue_device(city.air.device_id)
    body = {**_pm25(7.5), "no2": {"type": "Property", "value": 18.0, "observedAt": NOW}}
    r = _patch(ngsi, token, AIR_ENTITY, body)
    assert r.status_code == 204, r.text
    got = ngsi.get(AIR_ENTITY, "?options=keyValues", Link=SDM_LINK).json()
    assert (got["pm25"], got["no2"], got["refDevice"]) == (7.5, 18.0, city.air.device_id)
    full = ngsi.get(AIR_ENTITY, Link=SDM_LINK).json()
    assert full["pm25"]["unitCode"] == "GQ"
    assert full["pm25"]["observedAt"] == "2026-11-29T12:00:00.000Z"
    # the reading is the gate's, like a signed one: in the readings, with no sequence number
    rows = p.store.readings(device_id=city.air.device_id, limit=10)
    assert [(r.category, r.seq) for r in rows] == [("air.quality", -1)]
    # one attribute (clause 5.6.4) and a concise body work the same way
    r = ngsi.call("PATCH", f"/entities/{AIR_ENTITY}/attrs/pm25", {"value": 9.0},
                  token=token, Link=SDM_LINK)  # fmt: skip
    assert r.status_code == 204, r.text
    r = ngsi.call("POST", f"/entities/{AIR_ENTITY}/attrs", {"no2": 21.0},
                  token=token, Link=SDM_LINK)  # fmt: skip
    assert r.status_code == 204, r.text
    got = ngsi.get(AIR_ENTITY, "?options=keyValues", Link=SDM_LINK).json()
    assert (got["pm25"], got["no2"]) == (9.0, 21.0)
    # the device's envelopes still work: the door used up no sequence number
    assert p.gate.ingest([city.envelope(city.air)])[0].admitted == 1


def test_a_device_creates_its_entity_and_upserts_it_in_a_batch(
    ngsi: Ngsi, city: SampleCity
) -> None:
    token = ngsi.platform.security.issuer.issue_device(city.traffic.device_id)
    entity = {
        "id": "urn:ngsi-ld:TrafficFlowObserved:traffic",
        "type": "TrafficFlowObserved",
        "intensity": {"type": "Property", "value": 14, "unitCode": "C62"},
        "averageVehicleSpeed": {"type": "Property", "value": 38.5, "unitCode": "KMH"},
    }
    r = ngsi.create(entity, token=token, Link=SDM_LINK)
    assert r.status_code == 201, r.text
    assert problem(ngsi.create(entity, token=token, Link=SDM_LINK), 409, "AlreadyExists")
    entity["intensity"]["value"] = 15
    other = {"id": "urn:ngsi-ld:TrafficFlowObserved:air", "type": "TrafficFlowObserved",
             "intensity": 3}  # fmt: skip
    r = ngsi.call("POST", "/entityOperations/upsert?options=update", [entity, other],
                  token=token, Link=SDM_LINK)  # fmt: skip
    assert r.status_code == 207, r.text
    out = r.json()
    assert out["success"] == [entity["id"]]
    assert [(e["entityId"], e["error"]["reason"]) for e in out["errors"]] == [
        (other["id"], "FORBIDDEN")  # another device's entity
    ]
    got = ngsi.get(entity["id"], "?options=keyValues", Link=SDM_LINK).json()
    assert (got["intensity"], got["averageVehicleSpeed"]) == (15, 38.5)


def test_what_the_gate_refuses_is_answered_with_its_reason(ngsi: Ngsi, city: SampleCity) -> None:
    p = ngsi.platform
    token = p.security.issuer.issue_device(city.air.device_id)
    # validation: a unit the category does not declare, a value out of range, a wrong type
    body = problem(_patch(ngsi, token, AIR_ENTITY, _pm25(7.5, "GP")), 400, "BadRequestData")
    assert body["reason"] == "WRONG_UNIT"
    assert problem(_patch(ngsi, token, AIR_ENTITY, _pm25(5000)), 400)["reason"] == "OUT_OF_RANGE"
    assert problem(_patch(ngsi, token, AIR_ENTITY, _pm25("high")), 400)["reason"] == "WRONG_TYPE"
    # purpose: a type another project's category declares
    traffic = {"intensity": {"type": "Property", "value": 3}}
    body = problem(_patch(ngsi, token, "urn:ngsi-ld:TrafficFlowObserved:air", traffic), 403)
    assert body["reason"] == "UNDECLARED_CATEGORY"
    # an unknown device: a credential for an id that is not on the register
    ghost = p.security.issuer.issue_device("urn:ngsi-ld:Device:ghost")
    body = problem(_patch(ngsi, ghost, "urn:ngsi-ld:AirQualityObserved:ghost", _pm25(1.0)), 401)
    assert body["reason"] == "NOT_REGISTERED"
    # a device of an untrusted vendor
    shady = p.security.issuer.issue_device(city.untrusted.device_id)
    body = problem(_patch(ngsi, shady, "urn:ngsi-ld:AirQualityObserved:shady", _pm25(1.0)), 403)
    assert body["reason"] == "VENDOR_UNTRUSTED"
    # the entity's attributes that are not the category's fields are not written
    r = _patch(ngsi, token, AIR_ENTITY, {**_pm25(4.0), "colour": "grey", "dateObserved": NOW})
    assert r.status_code == 207, r.text
    assert r.json()["updated"] == ["pm25"]
    assert sorted(u["attributeName"] for u in r.json()["notUpdated"]) == ["colour", "dateObserved"]
    # nothing but the device's own measurement entities, and no other operation
    body = problem(_patch(ngsi, token, "urn:ngsi-ld:Thing:1", {"speed": 3}), 403)
    assert body["reason"] == "FORBIDDEN"
    body = problem(ngsi.call("DELETE", f"/entities/{AIR_ENTITY}", token=token), 403)
    assert body["reason"] == "FORBIDDEN"
    # the credential opens the NGSI-LD device door only
    sub = {"type": "Subscription", "entities": [{"type": "AirQualityObserved"}],
           "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}}  # fmt: skip
    assert problem(ngsi.call("POST", "/subscriptions", sub, token=token), 403)["reason"] == (
        "FORBIDDEN"
    )
    r = ngsi.http.get("/readings", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    # rejected writes are recorded as the gate's decisions, keyed to the device
    reasons = p.store.rejections_by_reason()
    assert reasons.get("WRONG_UNIT") and reasons.get("UNDECLARED_CATEGORY")


def test_a_retired_project_and_a_suspended_device_write_nothing(
    ngsi: Ngsi, city: SampleCity
) -> None:
    p = ngsi.platform
    token = p.security.issuer.issue_device(city.air.device_id)
    p.registry.set_device_status(city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "test")
    assert problem(_patch(ngsi, token, AIR_ENTITY, _pm25(1.0)), 403)["reason"] == "DEVICE_SUSPENDED"
    p.registry.set_device_status(city.air.device_id, DeviceStatus.ACTIVE, OPERATOR, "back")
    p.registry.set_project_status(sample.AIR, ProjectStatus.RETIRED, OPERATOR, "ended")
    assert problem(_patch(ngsi, token, AIR_ENTITY, _pm25(1.0)), 403)["reason"] == "PROJECT_NOT_LIVE"
    assert p.ngsild.repo.get("", AIR_ENTITY) is None


def test_personal_readings_need_the_residents_consent(ngsi: Ngsi, city: SampleCity) -> None:
    p = ngsi.platform
    token = p.security.issuer.issue_device(city.traffic.device_id)
    entity = "urn:ngsi-ld:CrossingRequest:traffic"
    body = {"fob": "fob-without-consent", "extra_seconds": {"type": "Property", "value": 8,
                                                             "unitCode": "SEC"}}  # fmt: skip
    refused = problem(_patch(ngsi, token, entity, body), 403)
    assert refused["reason"] == "NO_CONSENT"
    assert "fob-without-consent" not in str(refused)  # never echoed
    resident(p, "fob-with-consent")
    body["fob"] = "fob-with-consent"
    r = _patch(ngsi, token, entity, body)
    assert r.status_code == 204, r.text
    # admitted, pseudonymised and encrypted by the gate: never an NGSI-LD entity
    assert p.ngsild.repo.get("", entity) is None
    rows = p.store.readings(device_id=city.traffic.device_id, limit=10)
    assert [r.category for r in rows] == ["pedestrian.crossing_request"]
    assert "fob-with-consent" not in rows[0].body


def test_another_process_suspending_the_device_or_revoking_its_credential_counts_at_once(
    ngsi: Ngsi, city: SampleCity
) -> None:
    from charter.auth import revoke_token

    p = ngsi.platform
    token = p.security.issuer.issue_device(city.air.device_id)
    assert _patch(ngsi, token, AIR_ENTITY, _pm25(1.0)).status_code == 204
    other = build(p.settings, clock=p.clock)  # a second process on the same store
    try:
        other.registry.set_device_status(city.air.device_id, DeviceStatus.SUSPENDED, OPERATOR, "x")
        body = problem(_patch(ngsi, token, AIR_ENTITY, _pm25(2.0)), 403)
        assert body["reason"] == "DEVICE_SUSPENDED"
        other.registry.set_device_status(city.air.device_id, DeviceStatus.ACTIVE, OPERATOR, "y")
        assert _patch(ngsi, token, AIR_ENTITY, _pm25(3.0)).status_code == 204
        assert revoke_token(other.store, token)
    finally:
        other.close()
    body = problem(_patch(ngsi, token, AIR_ENTITY, _pm25(4.0)), 401)
    assert body["reason"] == "UNAUTHENTICATED"
    got = ngsi.get(AIR_ENTITY, "?options=keyValues", Link=SDM_LINK).json()
    assert got["pm25"] == 3.0


def test_the_cli_issues_a_credential_to_registered_devices_only(
    ngsi: Ngsi, city: SampleCity
) -> None:
    from typer.testing import CliRunner

    from charter.cli import app

    p = ngsi.platform
    data = str(p.settings.data_dir)
    runner = CliRunner()
    r = runner.invoke(
        app, ["device", "token", city.air.device_id, "--days", "2", "--data-dir", data]
    )
    assert r.exit_code == 0, r.output
    token = r.output.strip()
    assert token.startswith("chd_")
    assert _patch(ngsi, token, AIR_ENTITY, _pm25(2.5)).status_code == 204
    r = runner.invoke(app, ["device", "token", "urn:ngsi-ld:Device:ghost", "--data-dir", data])
    assert r.exit_code == 1 and "NOT_REGISTERED" in r.output
