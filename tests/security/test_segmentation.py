"""Adversarial: a vendor turned untrusted mid-stream stops at its next envelope, all others
continue; oversized and malformed API requests are refused before they are parsed."""

from __future__ import annotations

from fastapi.testclient import TestClient

from charter.auth import Role
from charter.bootstrap import Platform
from charter.domain.model import Vendor
from charter.sim import city as sample
from tests.api.support import assert_problem, bearer
from tests.conftest import SampleCity

SECOND = "urn:ngsi-ld:Vendor:second"


def test_a_vendor_turned_untrusted_mid_stream_stops_alone(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    op = bearer(platform, Role.OPERATOR)
    vendor = Vendor(
        id=SECOND, name="Second Source", jurisdiction="DE", certifications=["ISO/IEC 27001"]
    )
    assert client.post("/vendors", json=vendor.model_dump(mode="json"), headers=op).is_success
    project = platform.store.get_project(sample.AIR)
    assert project is not None
    # The second vendor joins the live air project (the register has no call for that
    # yet: only drafts can be edited), written straight to the store.
    with platform.store.transaction() as tx:
        tx.put_project(project.model_copy(update={"vendor_ids": [*project.vendor_ids, SECOND]}), 0)
    theirs = city.device("second-air", SECOND, sample.AIR, ["air.quality"])
    ours = city.air
    for _ in range(3):
        assert client.post("/ingest", content=city.envelope(theirs)).status_code == 200
        assert client.post("/ingest", content=city.envelope(ours)).status_code == 200

    # Mid-stream, the vendor is found to ship its data abroad and keep remote access.
    compromised = vendor.model_copy(update={"remote_raw_access": True})
    r = client.put(
        f"/vendors/{SECOND}",
        json=compromised.model_dump(mode="json"),
        headers=op,
    )
    assert r.status_code == 200, r.text
    admitted = platform.store.count_readings()
    assert_problem(client.post("/ingest", content=city.envelope(theirs)), 403, "VENDOR_UNTRUSTED")
    assert platform.store.count_readings() == admitted
    for _ in range(3):
        assert client.post("/ingest", content=city.envelope(ours)).status_code == 200
    assert platform.store.count_readings() == admitted + 3
    check = {v["id"]: v for v in client.get("/policy/check").json()}
    assert check[theirs.device_id]["status"] == "suspended"
    assert "vendor: vendor keeps remote access to raw data" in check[theirs.device_id]["reasons"]
    assert check[ours.device_id]["passes"] is True


def test_an_oversized_api_body_is_refused_before_parsing(
    client: TestClient, platform: Platform
) -> None:
    op = bearer(platform, Role.OPERATOR)
    big = b'{"why": "' + b"x" * (platform.settings.max_request_bytes + 1) + b'"}'
    r = client.post("/approvals", content=big, headers={**op, "content-type": "application/json"})
    assert_problem(r, 413, "REQUEST_TOO_LARGE")

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(300):
            yield b"x" * 1024

    r = client.post("/approvals", content=chunks(), headers=op)
    assert_problem(r, 413, "REQUEST_TOO_LARGE")


def test_security_headers_are_on_every_response(client: TestClient) -> None:
    r = client.get("/health")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"


def test_deeply_nested_api_bodies_are_refused_not_crashed(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    op = {**bearer(platform, Role.OPERATOR), "content-type": "application/json"}
    depth = 50_000
    deep = b'{"version": "1", "why": "x", "sbom": ' + b"[" * depth + b"]" * depth + b"}"
    r = client.post(f"/devices/{city.air.device_id}/firmware", content=deep, headers=op)
    assert 400 <= r.status_code < 500
    nested = {"bomFormat": "CycloneDX", "components": []}
    inner = nested["components"]
    for _ in range(20):
        child: dict[str, object] = {"name": "c", "components": []}
        inner.append(child)  # type: ignore[attr-defined]
        inner = child["components"]
    r = client.post(
        f"/devices/{city.air.device_id}/firmware",
        json={"version": "1", "why": "x", "sbom": nested},
        headers=op,
    )
    assert_problem(r, 422, "VALIDATION_FAILED")
