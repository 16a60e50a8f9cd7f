"""Charter's readings and alerts as Smart Data Models entities, read by a FIWARE-style client:
Vehicle (the emergency fleet, with emergencyVehicleType), Alert (the hazard service's),
Streetlight (a category that declares it) and Device (the register)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from charter.auth import Role
from charter.bootstrap import Platform, build
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.domain.consultation import APPROVE
from charter.domain.disclosure import Access, CategoryDisclosure, Processing
from charter.domain.model import DataCategory, FieldSpec, NgsiMapping, ProjectStatus, urn
from charter.ngsild.alerts import AlertPublisher, alert_id
from charter.services.hazard_delivery import AlertChannel
from charter.settings import Settings
from charter.sim import city as sample
from tests.conftest import SampleCity
from tests.ngsild.conftest import Ngsi, problem, token

SDM = "https://smartdatamodels.org/context.jsonld"
SDM_LINK = f'<{SDM}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
OBU = urn("Device", "engine-7")


def _dashboard(ngsi: Ngsi, query: str, tok: str | None = None) -> list[dict[str, object]]:
    r = ngsi.call("GET", f"/entities?{query}&options=keyValues", token=tok, Link=SDM_LINK)
    assert r.status_code == 200, r.text
    out: list[dict[str, object]] = r.json()
    return out


@pytest.fixture
def fleet(platform: Platform) -> Iterator[tuple[Ngsi, SampleCity, DeviceSigner]]:
    city = SampleCity(platform, services=True)
    obu = city.device("engine-7", sample.TRUSTED, sample.EMERGENCY, ["emergency.priority_request"])
    yield Ngsi(platform, token(platform)), city, obu


def _request(t: object, **over: object) -> SimReading:
    values = {"message": "request", "request_id": 7, "priority": 5, "role": "fire",
              "x": 1200.5, "y": 830.25, "speed": 12.5, "heading": 90.0,
              "edge": "e12", "lane": "e12_0", "edge_pos": 40.0, "route": "e12 e13"}  # fmt: skip
    values.update(over)
    return SimReading("emergency.priority_request", t, values,  # type: ignore[arg-type]
                      {"speed": "m/s", "x": "m", "y": "m"})  # fmt: skip


def test_the_emergency_fleet_is_smart_data_models_vehicles_for_city_staff_only(
    fleet: tuple[Ngsi, SampleCity, DeviceSigner],
) -> None:
    ngsi, city, obu = fleet
    p = ngsi.platform
    assert p.gate.ingest([city.envelope(obu, [_request(p.clock.now())])])[0].admitted == 1
    assert p.ngsild.bridge.flush()
    [v] = _dashboard(ngsi, "type=Vehicle")
    assert v["id"] == "urn:ngsi-ld:Vehicle:engine-7"
    assert (v["emergencyVehicleType"], v["vehicleSpecialUsage"]) == ("fireBrigade", "fireBrigade")
    assert (v["vehicleType"], v["serviceStatus"]) == ("other", "onRoute")
    assert v["category"] == ["municipalServices", "specialUsage", "tracked"]
    assert (v["speed"], v["heading"], v["refDevice"]) == (45.0, 90.0, OBU)  # km/h, as SDM
    assert "location" not in v  # where the unit was registered is not where the engine is
    full = ngsi.get("urn:ngsi-ld:Vehicle:engine-7", Link=SDM_LINK).json()
    assert full["speed"]["unitCode"] == "KMH" and full["x"]["unitCode"] == "MTR"
    # the category's disclosure gives access to the city only: not the public, not residents
    assert _dashboard(ngsi, "type=Vehicle", "") == []
    resident = token(p, Role.RESIDENT, subject="urn:ngsi-ld:Person:x")
    assert _dashboard(ngsi, "type=Vehicle", resident) == []
    assert ngsi.get("urn:ngsi-ld:Vehicle:engine-7", token="").status_code == 404
    assert len(_dashboard(ngsi, "type=Vehicle", token(p, Role.AUDITOR))) == 1
    # the on-board unit may also send its position report as NGSI-LD, in SDM's km/h
    door = p.security.issuer.issue_device(OBU)
    body = {"speed": {"type": "Property", "value": 36.0, "unitCode": "KMH"},
            "emergencyVehicleType": "ambulance", "message": "update"}  # fmt: skip
    r = ngsi.call("PATCH", "/entities/urn:ngsi-ld:Vehicle:engine-7/attrs", body,
                  token=door, Link=SDM_LINK)  # fmt: skip
    assert r.status_code == 204, r.text
    [v] = _dashboard(ngsi, "type=Vehicle")
    assert (v["speed"], v["emergencyVehicleType"]) == (36.0, "ambulance")
    rows = p.store.readings(device_id=OBU, limit=10)
    assert '"speed":10.0' in rows[-1].body and '"role":"ambulance"' in rows[-1].body


STREET_LIGHTING = DataCategory(
    name="street.lighting",
    description="Whether a street light is on, how bright, and whether its lamp works.",
    personal=False,
    retention_days=365,
    fields={
        "power": FieldSpec(type="string", max_length=16),  # on | off | low
        "level": FieldSpec(type="number", minimum=0, maximum=1),
        "lamp": FieldSpec(type="string", max_length=32),  # ok | defectiveLamp | ...
    },
    disclosure=CategoryDisclosure(
        collected="Lamp state and dimming level; no images, no presence.",
        processing=[Processing.RAW],
        access=[Access.RESIDENTS, Access.CITY],
        storage="City data centre, Example (EU)",
    ),
    ngsi=NgsiMapping(
        type="Streetlight",
        attributes={"power": "powerState", "level": "illuminanceLevel", "lamp": "status"},
    ),
)
LIGHTS = urn("Project", "smart-lighting")


def test_a_category_declaring_streetlight_is_published_as_streetlights(
    ngsi: Ngsi, city: SampleCity
) -> None:
    p = ngsi.platform
    base, _ = sample.sidewalks()
    project = base.model_copy(update={"id": LIGHTS, "name": "Smart lighting",
                                      "categories": [STREET_LIGHTING]})  # fmt: skip
    days = p.registry.rules.consultation_days
    with sample.back_then(p.registry, timedelta(days=days + 30)):
        p.registry.create_project(project, sample.SEEDER)
        p.registry.open_consultation(LIGHTS, sample.SEEDER, "public exhibition opened")
    p.registry.decide(LIGHTS, APPROVE, sample.COUNCIL, "approved after consultation")
    p.registry.set_project_status(LIGHTS, ProjectStatus.LIVE, sample.SEEDER, "lights on")
    lamp = city.device("lamp-3", sample.TRUSTED, LIGHTS, ["street.lighting"])
    now = p.clock.now()
    reading = SimReading("street.lighting", now, {"power": "low", "level": 0.4, "lamp": "ok"})
    assert p.gate.ingest([city.envelope(lamp, [reading])])[0].admitted == 1
    assert p.ngsild.bridge.flush()
    [s] = _dashboard(ngsi, "type=Streetlight", "")  # public, as its disclosure says
    assert (s["powerState"], s["illuminanceLevel"], s["status"]) == ("low", 0.4, "ok")
    assert s["location"] == {"type": "Point", "coordinates": [4.9, 52.36]}
    devices = {d["id"]: d for d in _dashboard(ngsi, "type=Device&limit=100")}
    assert devices[lamp.device_id]["controlledProperty"] == ["power", "light"]


@pytest.fixture
def hazard(tmp_path: Path, clock: FixedClock) -> Iterator[object]:
    from tests.city_services.test_hazard import Flood

    channel = AlertChannel()
    p = build(Settings(data_dir=tmp_path / "data"), clock=clock, channel=channel)
    try:
        f = Flood(p, channel, clock)
        channel.published = AlertPublisher(p.ngsild, p.store).publish
        yield f
        f.webhooks.close()
    finally:
        p.close()


def test_the_hazard_services_alerts_are_public_alert_entities(hazard: object) -> None:
    from tests.city_services.test_hazard import Flood

    assert isinstance(hazard, Flood)
    ngsi = Ngsi(hazard.p, token(hazard.p))
    hazard.read(200, 210)  # a warning in the riverside zone
    [a] = _dashboard(ngsi, "type=Alert", "")  # public, as the sirens are
    assert a["id"] == alert_id(sample.FLOOD, "riverside")
    assert (a["category"], a["subCategory"], a["severity"]) == ("weather", "flood", "high")
    assert (a["alertSource"], a["areaServed"], a["owner"]) == (
        "hazard-watch", "Riverside", [sample.FLOOD],
    )  # fmt: skip
    assert a["data"]["currentLevel"] == 210 and a["data"]["alertLevel"] == 150  # type: ignore[index]
    assert a["location"]["type"] == "Polygon" and "validTo" not in a  # type: ignore[index]
    # a dashboard finds it by where it is (the zone's polygon)
    near = ngsi.call("GET", "/entities?type=Alert&georel=intersects&geometry=Point"
                     "&coordinates=[4.87,52.40]", token="", Link=SDM_LINK)  # fmt: skip
    assert [e["id"] for e in near.json()] == [a["id"]]
    hazard.read(40, 41)  # all clear
    [a] = _dashboard(ngsi, "type=Alert", "")
    assert a["severity"] == "informational" and a["validTo"] == a["dateIssued"]
    # the service's own type too: a dashboard asking for WeatherAlert finds it
    assert [e["id"] for e in _dashboard(ngsi, "type=WeatherAlert", "")] == [a["id"]]
    # every alert is in its history
    r = ngsi.call("GET", f"/temporal/entities/{a['id']}?attrs=severity", token="",
                  Link=SDM_LINK)  # fmt: skip
    assert r.status_code == 200, r.text
    assert [i["value"] for i in r.json()["severity"]] == ["high", "informational"]
    # nobody else writes alerts
    for kind in ("Alert", "WeatherAlert"):
        forged = {"id": "urn:ngsi-ld:Alert:x", "type": kind, "severity": "critical"}
        assert problem(ngsi.create(forged, Link=SDM_LINK), 403)["reason"] == "FORBIDDEN"
