"""A client written from the NGSI-LD spec's examples, over real HTTP against `charter serve`.

Plain HTTP, as an application written for Orion-LD sends it (the `ngsildclient`
package pins httpx 0.23 and rich 12, older than Charter's own, so the calls are
written out here): Link header contexts, normalized and keyValues, batch
upsert, query with count, partial update, delete; and a device's envelope.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from charter.auth import Role
from charter.bootstrap import build
from charter.settings import Settings
from tests.conftest import SampleCity
from tests.services import free_port, wait_port

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
SDM = "https://smartdatamodels.org/context.jsonld"
REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


@dataclass
class Served:
    base: str
    token: str
    city: SampleCity
    device_token: str = ""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data = tmp_path_factory.mktemp("ngsi") / "data"
    platform = build(Settings(data_dir=data))
    city = SampleCity(platform)
    token = platform.security.issuer.issue("orion-app", Role.OPERATOR)
    device_token = platform.security.issuer.issue_device(city.traffic.device_id)
    platform.close()
    port = free_port()
    env = {**os.environ, "CHARTER_DATA_DIR": str(data), "CHARTER_PORT": str(port)}
    log = (data.parent / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "charter.cli", "serve"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        wait_port(port, timeout=60)
        yield Served(f"http://127.0.0.1:{port}/ngsi-ld/v1", token, city, device_token)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.slow
def test_an_orion_ld_style_client_works_unchanged(served: Served) -> None:
    h = {"Authorization": f"Bearer {served.token}", "Link": f"<{CORE}>; {REL}"}
    with httpx.Client(base_url=served.base, headers=h, timeout=15) as c:
        vehicle = {
            "id": "urn:ngsi-ld:Vehicle:A4567",
            "type": "Vehicle",
            "brandName": {"type": "Property", "value": "Mercedes"},
            "isParked": {
                "type": "Relationship",
                "object": "urn:ngsi-ld:OffStreetParking:Downtown1",
                "observedAt": "2017-07-29T12:00:04Z",
                "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"},
            },
            "speed": {"type": "Property", "value": 80, "unitCode": "KMH"},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [-8.5, 41.2]}},
        }  # fmt: skip
        r = c.post("/entities", json=vehicle)
        assert r.status_code == 201, r.text
        assert r.headers["location"].endswith("/entities/urn:ngsi-ld:Vehicle:A4567")
        got = c.get("/entities/urn:ngsi-ld:Vehicle:A4567").json()
        assert got["isParked"]["providedBy"]["object"] == "urn:ngsi-ld:Person:Bob"
        r = c.patch("/entities/urn:ngsi-ld:Vehicle:A4567/attrs/speed", json={"value": 95})
        assert r.status_code == 204
        kv = c.get("/entities/urn:ngsi-ld:Vehicle:A4567", params={"options": "keyValues"}).json()
        assert kv["speed"] == 95 and kv["brandName"] == "Mercedes"
        more = [{"id": f"urn:ngsi-ld:Vehicle:B{i}", "type": "Vehicle", "speed": i}
                for i in range(50)]  # fmt: skip
        r = c.post("/entityOperations/upsert", json=more)
        assert r.status_code == 201 and len(r.json()) == 50
        r = c.get("/entities", params={"type": "Vehicle", "count": "true", "limit": 10})
        assert r.headers["NGSILD-Results-Count"] == "51" and len(r.json()) == 10
        r = c.get("/entities/urn:ngsi-ld:Vehicle:nope")
        assert r.status_code == 404
        assert r.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound"
        assert c.delete("/entities/urn:ngsi-ld:Vehicle:A4567").status_code == 204


@pytest.mark.slow
def test_a_device_writes_through_the_gate_and_a_dashboard_reads_smart_data_models(
    served: Served,
) -> None:
    city = served.city
    h = {"Authorization": f"Bearer {served.token}",
         "Content-Type": "application/vnd.charter.envelope+json"}  # fmt: skip
    r = httpx.post(served.base + "/entityOperations/upsert", content=city.envelope(city.air),
                   headers=h, timeout=15)  # fmt: skip
    assert r.status_code == 204, r.text
    dash = {"Link": f"<{SDM}>; {REL}"}
    r = httpx.get(served.base + "/entities", headers=dash, timeout=15,
                  params={"type": "AirQualityObserved", "options": "keyValues"})  # fmt: skip
    [entity] = r.json()
    assert entity["pm25"] == 12.5 and entity["refDevice"] == city.air.device_id


@pytest.mark.slow
def test_an_iot_agent_style_device_patches_its_entity_in_plain_json(served: Served) -> None:
    """What an IoT agent sends to Orion-LD, with the device's credential: through the gate."""
    entity = "urn:ngsi-ld:TrafficFlowObserved:traffic"
    h = {"Authorization": f"Bearer {served.device_token}", "Link": f"<{SDM}>; {REL}"}
    with httpx.Client(base_url=served.base, headers=h, timeout=15) as c:
        body = {
            "intensity": {"type": "Property", "value": 31, "unitCode": "C62"},
            "averageVehicleSpeed": {"type": "Property", "value": 27.5, "unitCode": "KMH"},
        }
        r = c.patch(f"/entities/{entity}/attrs", json=body)
        assert r.status_code == 204, r.text
        bad = c.patch(f"/entities/{entity}/attrs", json={"intensity": -4})
        assert bad.status_code == 400 and bad.json()["reason"] == "OUT_OF_RANGE"
    dash = {"Link": f"<{SDM}>; {REL}"}
    got = httpx.get(f"{served.base}/entities/{entity}", headers=dash, timeout=15,
                    params={"options": "keyValues"}).json()  # fmt: skip
    assert (got["intensity"], got["averageVehicleSpeed"]) == (31, 27.5)
