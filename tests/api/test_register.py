"""The public register over HTTP: exports (JSON, CSV, GeoJSON per RFC 7946), comments,
the council's decision and amendments."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import timedelta
from typing import Any

import geojson
import pytest
from fastapi.testclient import TestClient

from charter.auth import Role
from charter.bootstrap import Platform
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.model import DeviceStatus, urn
from charter.sim import city as sample
from tests.api.support import assert_problem, bearer
from tests.conftest import OPERATOR, SampleCity
from tests.registry.support import NOISE, noise_project, to_consultation

CONTACT = "jane.resident@example.org"


# RFC 7946 checks --------------------------------------------------------------------------


def _signed_area(ring: list[list[float]]) -> float:
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in itertools.pairwise(ring)) / 2


def check_rfc7946(doc: dict[str, Any]) -> None:
    """The rules of RFC 7946 a consumer relies on, beyond the geojson package's own checks."""
    obj = geojson.loads(geojson.dumps(doc))
    assert obj.is_valid, obj.errors()
    assert doc["type"] == "FeatureCollection"
    assert "crs" not in doc  # §4: no CRS member; WGS 84 longitude, latitude is implied
    for f in doc["features"]:
        assert f["type"] == "Feature" and "crs" not in f
        g = f["geometry"]
        if g is None:
            continue
        if g["type"] == "Point":
            lon, lat = g["coordinates"]
            assert -180 <= lon <= 180 and -90 <= lat <= 90
        else:
            assert g["type"] == "Polygon"
            exterior, *holes = g["coordinates"]
            for ring in g["coordinates"]:
                assert len(ring) >= 4 and ring[0] == ring[-1]  # §3.1.6 linear rings
                for lon, lat in ring:
                    assert -180 <= lon <= 180 and -90 <= lat <= 90
            assert _signed_area(exterior) > 0  # §3.1.6 right-hand rule: exterior CCW
            for hole in holes:
                assert _signed_area(hole) < 0


# exports ---------------------------------------------------------------------------------


def test_projects_are_public_as_json_csv_and_geojson_retired_ones_included(
    client: TestClient, city: SampleCity
) -> None:
    projects = client.get("/register/projects").json()
    by_id = {p["id"]: p for p in projects}
    assert set(by_id) == {sample.AIR, sample.TRAFFIC, sample.FLOOD, sample.PARKING}
    assert by_id[sample.PARKING]["status"] == "live"
    client.app.state.platform.registry.set_project_status(  # type: ignore[attr-defined]
        sample.PARKING, sample.ProjectStatus.RETIRED, OPERATOR, "pilot over"
    )
    projects = client.get("/register/projects").json()
    assert {p["id"]: p["status"] for p in projects}[sample.PARKING] == "retired"
    flood = {p["id"]: p for p in projects}[sample.FLOOD]
    assert flood["consultation"]["status"] == "open"
    assert flood["disclosure"]["contact"]
    assert flood["categories"][0]["disclosure"]["third_parties"] == ["Regional water authority"]

    r = client.get("/register/projects.csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["id"]: row["status"] for row in rows}[sample.PARKING] == "retired"
    traffic = {row["id"]: row for row in rows}[sample.TRAFFIC]
    assert traffic["personal_data"] == "pedestrian.crossing_request; mobility.assistance"
    assert traffic["privacy_statement"].startswith("https://")

    r = client.get("/register/projects.geojson")
    assert r.headers["content-type"] == "application/geo+json"
    check_rfc7946(r.json())


def test_devices_export_as_points_and_mobile_sensors_as_regions(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    op = bearer(platform, Role.OPERATOR)
    signer = DeviceSigner(urn("Device", "bike-1"))
    clockwise = [[4.90, 52.36], [4.90, 52.38], [4.92, 52.38], [4.92, 52.36], [4.90, 52.36]]
    doc = {
        "id": signer.device_id,
        "vendor_id": sample.TRUSTED,
        "project_id": sample.AIR,
        "modality": "air quality sensor on a bicycle",
        "categories": ["air.quality"],
        "public_key": signer.public_key_b64,
        "disclosure": {
            "mobile": True,
            "region": {"type": "Polygon", "coordinates": [clockwise]},
            "observation_goal": "Air quality along cycle routes",
            "active_until": "2030-12-31",
        },
    }
    r = client.post("/devices", json=doc, headers=op)
    assert r.status_code == 201, r.text
    platform.registry.set_device_status(
        city.flood.device_id, DeviceStatus.REVOKED, OPERATOR, "replaced"
    )

    fc = client.get("/register/devices.geojson").json()
    check_rfc7946(fc)
    by_id = {f["id"]: f for f in fc["features"]}
    assert by_id[city.air.device_id]["geometry"] == {"type": "Point", "coordinates": [4.9, 52.36]}
    bike = by_id[signer.device_id]
    assert bike["geometry"]["type"] == "Polygon"  # re-oriented counter-clockwise
    assert bike["properties"]["mobile"] is True
    assert bike["properties"]["observation_goal"] == "Air quality along cycle routes"
    assert by_id[city.flood.device_id]["properties"]["status"] == "revoked"  # permanent record

    records = {d["id"]: d for d in client.get("/register/devices").json()}
    air = records[city.air.device_id]
    assert air["owner"] == "City of Example, Office of Urban Data"
    assert air["personal_data"] is False and air["legal_ground"].startswith("Public task")
    assert records[city.traffic.device_id]["personal_data"] is True
    assert "public_key" not in air

    rows = list(csv.DictReader(io.StringIO(client.get("/register/devices.csv").text)))
    assert {r["id"] for r in rows} == set(records)
    assert {r["id"]: r["mobile"] for r in rows}[signer.device_id] == "yes"


@pytest.mark.parametrize(
    ("disclosure", "location", "field"),
    [
        ({"mobile": True}, None, "disclosure.region"),
        ({}, None, "location"),
        ({"active_until": "2001-01-01"}, {"lat": 52.36, "lon": 4.9}, "disclosure.active_until"),
    ],
)
def test_a_device_record_with_a_missing_or_contradictory_field_is_refused(
    client: TestClient,
    platform: Platform,
    city: SampleCity,
    disclosure: dict[str, Any],
    location: dict[str, float] | None,
    field: str,
) -> None:
    signer = DeviceSigner(urn("Device", "half"))
    doc = {
        "id": signer.device_id,
        "vendor_id": sample.TRUSTED,
        "project_id": sample.AIR,
        "modality": "air quality station",
        "categories": ["air.quality"],
        "public_key": signer.public_key_b64,
        "location": location,
        "disclosure": disclosure,
    }
    r = client.post("/devices", json=doc, headers=bearer(platform, Role.OPERATOR))
    body = assert_problem(r, 422, "DISCLOSURE_INCOMPLETE")
    assert field in [e["field"] for e in body["errors"]]
    assert client.get(f"/devices/{signer.device_id}").status_code == 404


def test_a_contradictory_project_disclosure_is_refused_field_by_field(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    doc = noise_project().model_dump(mode="json")
    doc["categories"][0]["disclosure"]["processing"] = ["raw", "aggregated"]
    doc["categories"][0]["disclosure"]["access"] = ["third-parties"]
    doc["disclosure"]["indicators"][0]["target"] = doc["disclosure"]["indicators"][0]["baseline"]
    r = client.post("/projects", json=doc, headers=bearer(platform, Role.OPERATOR))
    body = assert_problem(r, 422, "DISCLOSURE_INCOMPLETE")
    assert {e["field"] for e in body["errors"]} == {
        "categories.0.disclosure.processing",
        "categories.0.disclosure.third_parties",
        "disclosure.indicators.0.target",
    }
    assert client.get(f"/projects/{NOISE}").status_code == 404


# comments ----------------------------------------------------------------------------------


def test_comments_need_no_account_and_never_publish_who_wrote_them(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    to_consultation(platform)
    r = client.post(
        f"/register/projects/{NOISE}/comments",
        json={"text": "Good plan", "stance": "support", "name": "Jane", "contact": CONTACT},
    )
    assert r.status_code == 201, r.text
    assert CONTACT not in r.text
    for path in (
        f"/register/projects/{NOISE}/comments",
        f"/register/projects/{NOISE}",
        "/register/projects",
        "/register/projects.csv",
        "/report/transparency",
        f"/report/transparency?project={NOISE}",
        "/ledger/entries?start=0&end=1000",
    ):
        text = client.get(path).text
        assert CONTACT not in text and "Jane" not in text, path
    listed = client.get(f"/register/projects/{NOISE}/comments").json()
    assert [(c["stance"], c["text"]) for c in listed] == [("support", "Good plan")]
    detail = client.get(f"/register/projects/{NOISE}").json()
    assert detail["consultation"]["stances"] == {"support": 1, "oppose": 0, "comment": 0}


def test_bad_comments_get_clear_errors(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    to_consultation(platform)
    path = f"/register/projects/{NOISE}/comments"
    assert_problem(client.post(path, json={"text": "  "}), 422, "VALIDATION_FAILED")
    huge = "x" * (platform.settings.comment_max_chars + 1)
    assert_problem(client.post(path, json={"text": huge}), 422, "VALIDATION_FAILED")
    assert_problem(
        client.post(f"/register/projects/{sample.AIR}/comments", json={"text": "hi"}),
        409,
        "CONSULTATION_CLOSED",
    )
    for i in range(platform.settings.comments_per_hour):
        assert client.post(path, json={"text": f"spam {i}"}).status_code == 201
    assert_problem(client.post(path, json={"text": "more"}), 429, "RATE_LIMITED")


def test_themes_and_responses_over_http_and_the_council_decides(
    client: TestClient, platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    op, council = bearer(platform, Role.OPERATOR), bearer(platform, Role.COUNCIL)
    to_consultation(platform)
    c = client.post(f"/register/projects/{NOISE}/comments", json={"text": "Loud trams"}).json()
    d = client.post(f"/register/projects/{NOISE}/comments", json={"text": "Trams!"}).json()
    theme = client.post(
        f"/register/projects/{NOISE}/themes",
        json={"title": "Trams", "summary": "Tram noise", "comment_ids": [c["id"]]},
        headers=op,
    )
    assert theme.status_code == 201, theme.text
    tid = theme.json()["id"]
    assert (
        client.post(
            f"/register/themes/{tid}/comments", json={"comment_ids": [d["id"]]}, headers=op
        ).status_code
        == 200
    )
    assert_problem(
        client.post(f"/register/themes/{tid}/response", json={"response": "x"}),
        401,
        "UNAUTHENTICATED",
    )
    decision = f"/projects/{NOISE}/decision"
    body = {"outcome": "approve", "why": "vote"}
    assert_problem(client.post(decision, json=body, headers=council), 409, "CONSULTATION_NOT_OVER")
    clock.advance(timedelta(days=60))
    # Embedded tokens live 30 days: the staff sign in again after the consultation.
    op, council = bearer(platform, Role.OPERATOR), bearer(platform, Role.COUNCIL)
    assert_problem(client.post(decision, json=body, headers=council), 409, "THEMES_UNANSWERED")
    r = client.post(
        f"/register/themes/{tid}/response", json={"response": "We measure trams."}, headers=op
    )
    assert r.status_code == 200
    assert_problem(client.post(decision, json=body, headers=op), 403, "FORBIDDEN")
    early = {**body, "at": (clock.now() - timedelta(days=3)).isoformat()}
    assert_problem(client.post(decision, json=early, headers=council), 409, "BACKDATED")
    r = client.post(decision, json=body, headers=council)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    detail = client.get(f"/register/projects/{NOISE}").json()
    [consultation] = detail["consultations"]
    assert consultation["status"] == "approved"
    assert consultation["themes"][0]["response"] == "We measure trams."
    assert {m["theme"] for m in client.get(f"/register/projects/{NOISE}/comments").json()} == {tid}


def test_an_amendment_over_http(client: TestClient, platform: Platform, city: SampleCity) -> None:
    op = bearer(platform, Role.OPERATOR)
    air = client.get(f"/projects/{sample.AIR}").json()
    air["categories"][0]["retention_days"] = 3650
    r = client.post(
        f"/projects/{sample.AIR}/amendments", json={"project": air, "why": "longer"}, headers=op
    )
    assert r.status_code == 200, r.text
    assert r.json()["consultation"]["changes"] == "longer retention of air.quality"
    assert r.json()["project"]["categories"][0]["retention_days"] == 730
    record = client.get(f"/register/projects/{sample.AIR}").json()
    assert record["proposed_amendment"]["categories"][0]["retention_days"] == 3650
    assert record["categories"][0]["retention_days"] == 730
    r = client.post(
        f"/projects/{sample.FLOOD}/amendments", json={"project": air, "why": "x"}, headers=op
    )
    assert_problem(r, 422, "VALIDATION_FAILED")


@pytest.mark.parametrize("huge", [2**63, 10**30])
def test_ids_beyond_64_bits_are_refused_at_the_door(
    client: TestClient, platform: Platform, huge: int
) -> None:
    """Found by the schemathesis run: an id too large for the store crashed the request."""
    op = bearer(platform, Role.OPERATOR)
    r = client.post(f"/register/themes/{huge}/comments", json={"comment_ids": [1]}, headers=op)
    assert_problem(r, 422, "VALIDATION_FAILED")
    r = client.post("/register/themes/1/comments", json={"comment_ids": [huge]}, headers=op)
    assert_problem(r, 422, "VALIDATION_FAILED")
    r = client.post(f"/register/themes/{huge}/response", json={"response": "x"}, headers=op)
    assert_problem(r, 422, "VALIDATION_FAILED")
