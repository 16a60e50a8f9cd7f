"""The register over HTTP: public reads, role-guarded changes, transitions and the ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from charter.auth import Role, issue_token
from charter.bootstrap import Platform
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.disclosure import Indicator
from charter.domain.model import urn
from charter.registry.service import key_fingerprint
from charter.sim import city as sample
from tests.api.support import assert_problem, bearer
from tests.conftest import SampleCity

SECRET = "sk_live_51HxQ9vKq8ZTopSecretValue0042"
NEW_VENDOR = urn("Vendor", "acme-sensors")
NEW_PROJECT = urn("Project", "noise-map")


@pytest.fixture
def auth(platform: Platform) -> dict[str, dict[str, str]]:
    """Authorization headers per role; each token is named after its role."""
    return {
        role: {
            "Authorization": "Bearer "
            + issue_token(platform.store, platform.clock, f"{role}-alice", Role(role))
        }
        for role in ("operator", "council", "auditor")
    }


def ledger(client: TestClient) -> list[dict[str, Any]]:
    r = client.get("/ledger/entries", params={"start": 0, "end": 1000})
    assert r.status_code == 200
    entries: list[dict[str, Any]] = r.json()
    return entries


def vendor_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": NEW_VENDOR,
        "name": "Acme Sensors",
        "jurisdiction": "DE",
        "certifications": ["ISO/IEC 27001"],
    }
    doc.update(overrides)
    return doc


def project_doc(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": NEW_PROJECT,
        "name": "Noise map",
        "purpose": "Map street noise to plan quieter routes.",
        "benefits": ["A public noise map"],
        "categories": [sample.AIR_QUALITY.model_dump(mode="json")],
        "legal_basis": "Public task",
        "accountable_organisation": "City of Example",
        "vendor_ids": [sample.TRUSTED],
        "disclosure": sample.disclosure(
            ["sound level meter"],
            [Indicator(name="Streets mapped", unit="%", baseline=0, target=100)],
        ).model_dump(mode="json"),
    }
    doc.update(overrides)
    return doc


def device_doc(signer: DeviceSigner, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": signer.device_id,
        "vendor_id": sample.TRUSTED,
        "project_id": sample.AIR,
        "modality": "air quality station",
        "location": {"lat": 52.36, "lon": 4.9},
        "categories": ["air.quality"],
        "public_key": signer.public_key_b64,
    }
    doc.update(overrides)
    return doc


# --- reading the register ------------------------------------------------------


def test_the_register_is_public(client: TestClient, city: SampleCity) -> None:
    vendors = client.get("/vendors")
    assert vendors.status_code == 200
    by_id = {v["id"]: v for v in vendors.json()}
    assert by_id[sample.TRUSTED]["trust"] == "trusted"
    assert by_id[sample.UNTRUSTED]["trust"] == "untrusted"
    assert by_id[sample.UNTRUSTED]["trust_reasons"]

    projects = {p["id"]: p["status"] for p in client.get("/projects").json()}
    assert projects == {
        sample.AIR: "live",
        sample.TRAFFIC: "live",
        sample.FLOOD: "consultation",
        sample.PARKING: "live",
    }
    devices = client.get("/devices").json()
    assert {d["id"] for d in devices} == {
        s.device_id for s in (city.air, city.traffic, city.flood, city.untrusted)
    }
    air = client.get("/devices", params={"project": sample.AIR}).json()
    assert {d["id"] for d in air} == {city.air.device_id, city.untrusted.device_id}

    assert client.get(f"/vendors/{sample.TRUSTED}").json()["name"] == "Northwind Sensing"
    assert client.get(f"/projects/{sample.FLOOD}").json()["status"] == "consultation"
    device = client.get(f"/devices/{city.air.device_id}").json()
    assert device["public_key"] == city.air.public_key_b64
    assert device["status"] == "active"


@pytest.mark.parametrize("kind", ["vendors", "projects", "devices"])
def test_an_unknown_record_is_404(client: TestClient, city: SampleCity, kind: str) -> None:
    r = client.get(f"/{kind}/urn:ngsi-ld:Thing:nope")
    assert_problem(r, 404, "NOT_FOUND")
    assert "urn:ngsi-ld:Thing:nope" not in r.text  # the caller's id is not echoed


# --- vendors -----------------------------------------------------------------


def test_an_operator_registers_a_vendor_and_the_policy_judges_it(
    client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    # The vendor claims to be trusted; the city's policy decides instead.
    doc = vendor_doc(certifications=[], trust="trusted")
    r = client.post("/vendors", json=doc, headers=auth["operator"])
    assert r.status_code == 201, r.text
    assert r.json()["trust"] == "untrusted"
    assert r.json()["trust_reasons"] == ["missing certification ISO/IEC 27001"]
    assert client.get(f"/vendors/{NEW_VENDOR}").json()["trust"] == "untrusted"

    last = ledger(client)[-1]
    assert last["kind"] == "vendor.registered"
    assert last["data"]["subject"] == NEW_VENDOR
    assert last["data"]["trust"] == "untrusted"
    assert last["data"]["actor"] == {"name": "operator-alice", "role": "operator"}

    r = client.put(f"/vendors/{NEW_VENDOR}", json=vendor_doc(), headers=auth["operator"])
    assert r.status_code == 200, r.text
    assert r.json()["trust"] == "trusted"
    last = ledger(client)[-1]
    assert (last["kind"], last["data"]["trust"]) == ("vendor.updated", "trusted")


def test_registering_a_vendor_twice_is_a_conflict(
    client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    assert client.post("/vendors", json=vendor_doc(), headers=auth["operator"]).status_code == 201
    size = len(ledger(client))
    r = client.post("/vendors", json=vendor_doc(name="Other"), headers=auth["operator"])
    assert_problem(r, 409, "CONFLICT")
    assert client.get(f"/vendors/{NEW_VENDOR}").json()["name"] == "Acme Sensors"
    assert len(ledger(client)) == size


def test_updating_a_vendor_checks_the_path_and_that_it_exists(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    r = client.put(f"/vendors/{sample.TRUSTED}", json=vendor_doc(), headers=auth["operator"])
    assert_problem(r, 422, "VALIDATION_FAILED")
    r = client.put(f"/vendors/{NEW_VENDOR}", json=vendor_doc(), headers=auth["operator"])
    assert_problem(r, 404, "NOT_FOUND")


# --- projects: the life cycle, each step on the ledger ----------------------------


def test_a_project_goes_from_draft_to_retired_and_every_step_is_on_the_ledger(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    platform: Platform,
    city: SampleCity,
    clock: FixedClock,
) -> None:
    op = auth["operator"]
    # A project cannot be created live: it starts as a draft whatever it claims.
    r = client.post("/projects", json=project_doc(status="live"), headers=op)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "draft"
    r = client.put(
        f"/projects/{NEW_PROJECT}", json=project_doc(name="Noise map 2", status="live"), headers=op
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["status"]) == ("Noise map 2", "draft")
    start = len(ledger(client))

    steps = [
        ("consultation", "operator", {"why": "exhibition in the town hall"}, "consultation"),
        ("decision", "council", {"outcome": "approve", "why": "council vote 2026/41"}, "approved"),
        ("status", "operator", {"status": "live", "why": "sensors installed"}, "live"),
        (
            "status",
            "operator",
            {"status": "suspended", "why": "complaint under review"},
            "suspended",
        ),
        ("status", "operator", {"status": "live", "why": "complaint resolved"}, "live"),
        ("status", "operator", {"status": "retired", "why": "pilot ended"}, "retired"),
    ]
    old = "draft"
    for action, role, body, new in steps:
        if action == "decision":
            clock.advance(timedelta(days=60))  # the council decides after the consultation
            # Embedded tokens live 30 days: staff sign in again.
            auth = {r: bearer(platform, Role(r), f"{r}-alice") for r in ("operator", "council")}
        headers = auth[role]
        r = client.post(f"/projects/{NEW_PROJECT}/{action}", json=body, headers=headers)
        assert r.status_code == 200, (action, r.text)
        assert r.json()["status"] == new
        assert client.get(f"/projects/{NEW_PROJECT}").json()["status"] == new
        entry = ledger(client)[-1]
        assert entry["kind"] == "project.status"
        role = "council" if action == "decision" else "operator"
        assert entry["data"]["actor"] == {"name": f"{role}-alice", "role": role}
        assert entry["data"]["subject"] == NEW_PROJECT
        assert (entry["data"]["old"], entry["data"]["new"]) == (old, new)
        assert entry["data"]["why"] == body["why"]
        old = new
    assert len(ledger(client)) == start + len(steps)


def test_only_a_draft_can_be_edited(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    body = assert_problem(
        client.put(
            f"/projects/{sample.AIR}", json=project_doc(id=sample.AIR), headers=auth["operator"]
        ),
        409,
        "INVALID_TRANSITION",
    )
    assert "draft" in body["detail"]


def test_creating_a_project_needs_its_vendors_on_the_register(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    r = client.post(
        "/projects", json=project_doc(vendor_ids=[NEW_VENDOR]), headers=auth["operator"]
    )
    assert_problem(r, 404, "NOT_FOUND")
    assert client.get(f"/projects/{NEW_PROJECT}").status_code == 404


def test_editing_a_draft_needs_its_vendors_on_the_register_too(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    op = auth["operator"]
    assert client.post("/projects", json=project_doc(), headers=op).status_code == 201
    # POST refuses an unregistered vendor (above); PUT must not be a way around that.
    r = client.put(
        f"/projects/{NEW_PROJECT}", json=project_doc(vendor_ids=[NEW_VENDOR]), headers=op
    )
    assert_problem(r, 404, "NOT_FOUND")
    assert client.get(f"/projects/{NEW_PROJECT}").json()["vendor_ids"] == [sample.TRUSTED]


INVALID_PROJECT_CHANGES = [
    # (project, action, role, body)
    pytest.param(sample.FLOOD, "status", "operator", {"status": "live"}, id="consultation-to-live"),
    pytest.param(
        sample.FLOOD, "status", "operator", {"status": "approved"}, id="approve-via-status"
    ),
    pytest.param(sample.AIR, "status", "operator", {"status": "consultation"}, id="status-consult"),
    pytest.param(
        sample.AIR, "decision", "council", {"outcome": "approve"}, id="approve-a-live-project"
    ),
    pytest.param(sample.AIR, "consultation", "operator", {}, id="live-back-to-consultation"),
    pytest.param(sample.AIR, "status", "operator", {"status": "live"}, id="live-to-live"),
]


@pytest.mark.parametrize(("project", "action", "role", "body"), INVALID_PROJECT_CHANGES)
def test_an_invalid_project_transition_is_409_and_changes_nothing(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    city: SampleCity,
    project: str,
    action: str,
    role: str,
    body: dict[str, str],
) -> None:
    before = client.get(f"/projects/{project}").json()["status"]
    size = len(ledger(client))
    r = client.post(
        f"/projects/{project}/{action}", json={"why": "because", **body}, headers=auth[role]
    )
    assert_problem(r, 409, "INVALID_TRANSITION")
    assert client.get(f"/projects/{project}").json()["status"] == before
    assert len(ledger(client)) == size


def test_a_retired_project_stays_retired(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    op = auth["operator"]
    r = client.post(
        f"/projects/{sample.AIR}/status", json={"status": "retired", "why": "end"}, headers=op
    )
    assert r.status_code == 200
    for status in ("live", "suspended", "draft"):
        r = client.post(
            f"/projects/{sample.AIR}/status", json={"status": status, "why": "again"}, headers=op
        )
        assert_problem(r, 409, "INVALID_TRANSITION")


def test_approving_an_unknown_project_is_404(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    body = {"outcome": "approve", "why": "x"}
    r = client.post(f"/projects/{NEW_PROJECT}/decision", json=body, headers=auth["council"])
    assert_problem(r, 404, "NOT_FOUND")


# --- devices ----------------------------------------------------------------------


def test_a_device_enrolled_over_http_can_send_and_its_status_is_enforced(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    op = auth["operator"]
    signer = DeviceSigner(urn("Device", "air-new"))
    r = client.post("/devices", json=device_doc(signer, status="revoked"), headers=op)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "active"  # enrolment always starts active
    entry = ledger(client)[-1]
    assert entry["kind"] == "device.registered"
    assert entry["data"]["key"] == key_fingerprint(signer.public_key_b64)
    assert signer.public_key_b64 not in str(entry)  # a fingerprint, not the key

    assert client.post("/ingest", content=city.envelope(signer)).status_code == 200

    r = client.post(
        f"/devices/{signer.device_id}/status",
        json={"status": "suspended", "why": "casing opened"},
        headers=op,
    )
    assert r.status_code == 200, r.text
    entry = ledger(client)[-1]
    assert entry["kind"] == "device.status"
    assert entry["data"]["actor"] == {"name": "operator-alice", "role": "operator"}
    assert (entry["data"]["old"], entry["data"]["new"]) == ("active", "suspended")
    assert entry["data"]["why"] == "casing opened"
    # The gate sees the change at the very next envelope.
    assert_problem(client.post("/ingest", content=city.envelope(signer)), 403, "DEVICE_SUSPENDED")

    for status, why in (("active", "inspected"), ("revoked", "key leaked")):
        r = client.post(
            f"/devices/{signer.device_id}/status", json={"status": status, "why": why}, headers=op
        )
        assert r.status_code == 200, r.text
        assert ledger(client)[-1]["data"]["why"] == why
    assert_problem(client.post("/ingest", content=city.envelope(signer)), 403, "DEVICE_REVOKED")
    size = len(ledger(client))
    r = client.post(
        f"/devices/{signer.device_id}/status",
        json={"status": "active", "why": "undo"},
        headers=op,
    )
    assert_problem(r, 409, "INVALID_TRANSITION")
    assert len(ledger(client)) == size


@pytest.mark.parametrize(
    ("overrides", "status", "reason"),
    [
        pytest.param(
            {"vendor_id": sample.UNTRUSTED, "project_id": sample.TRAFFIC},
            422,
            "VALIDATION_FAILED",
            id="vendor-not-in-project",
        ),
        pytest.param(
            {"categories": ["water.level"]}, 422, "VALIDATION_FAILED", id="undeclared-category"
        ),
        pytest.param(
            {"project_id": urn("Project", "nope")}, 404, "NOT_FOUND", id="unknown-project"
        ),
        pytest.param({"vendor_id": NEW_VENDOR}, 404, "NOT_FOUND", id="unknown-vendor"),
        pytest.param(
            {"project_id": sample.PARKING, "categories": ["parking.occupancy"]},
            201,
            None,
            id="live-parking",
        ),
    ],
)
def test_enrolling_a_device_checks_it_against_the_register(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    city: SampleCity,
    overrides: dict[str, Any],
    status: int,
    reason: str | None,
) -> None:
    signer = DeviceSigner(urn("Device", "candidate"))
    r = client.post("/devices", json=device_doc(signer, **overrides), headers=auth["operator"])
    if reason is None:
        assert r.status_code == status, r.text
    else:
        assert_problem(r, status, reason)
        assert client.get(f"/devices/{signer.device_id}").status_code == 404


def test_enrolling_into_a_retired_project_is_an_invalid_transition(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    op = auth["operator"]
    r = client.post(
        f"/projects/{sample.PARKING}/status", json={"status": "retired", "why": "over"}, headers=op
    )
    assert r.status_code == 200
    signer = DeviceSigner(urn("Device", "late"))
    doc = device_doc(signer, project_id=sample.PARKING, categories=["parking.occupancy"])
    assert_problem(client.post("/devices", json=doc, headers=op), 409, "INVALID_TRANSITION")


def test_enrolling_the_same_device_twice_is_a_conflict(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    r = client.post("/devices", json=device_doc(city.air), headers=auth["operator"])
    assert_problem(r, 409, "CONFLICT")


# --- validation: per-field errors, never the submitted values ---------------------


def _bad_category() -> dict[str, Any]:
    category = sample.AIR_QUALITY.model_dump(mode="json")
    category["fields"]["pm25"]["type"] = SECRET
    return category


INVALID_BODIES = [
    pytest.param(
        "/vendors", vendor_doc(jurisdiction=SECRET), ["body.jurisdiction"], id="vendor-jurisdiction"
    ),
    pytest.param("/vendors", vendor_doc(id=SECRET), ["body.id"], id="vendor-id"),
    pytest.param(
        "/vendors",
        vendor_doc(remote_raw_access=SECRET),
        ["body.remote_raw_access"],
        id="vendor-bool",
    ),
    pytest.param(
        "/vendors", vendor_doc(name="x" * 190 + SECRET), ["body.name"], id="vendor-name-too-long"
    ),
    pytest.param(
        "/vendors",
        vendor_doc(jurisdiction=SECRET, id=SECRET),
        ["body.id", "body.jurisdiction"],
        id="two-fields",
    ),
    pytest.param(
        "/projects",
        project_doc(categories=[_bad_category()]),
        # The key of a free-form object (a field's name) is the sender's: shown as "*".
        ["body.categories.0.fields.*.type"],
        id="project-nested",
    ),
    pytest.param(
        "/projects", project_doc(vendor_ids=[SECRET]), ["body.vendor_ids"], id="project-vendor-urn"
    ),
    pytest.param(
        "/devices",
        device_doc(DeviceSigner(urn("Device", "d")), public_key=SECRET),
        ["body.public_key"],
        id="device-key",
    ),
    pytest.param(
        "/devices",
        device_doc(DeviceSigner(urn("Device", "d")), location={"lat": SECRET, "lon": 4.0}),
        ["body.location.lat"],
        id="device-location",
    ),
    pytest.param(
        f"/projects/{sample.AIR}/status",
        {"status": SECRET, "why": "x"},
        ["body.status"],
        id="project-status",
    ),
    pytest.param(
        f"/projects/{sample.AIR}/status",
        {"status": "live", "why": ""},
        ["body.why"],
        id="empty-why",
    ),
    pytest.param(
        f"/projects/{sample.AIR}/consultation", {"why": 12345}, ["body.why"], id="why-not-a-string"
    ),
    pytest.param(
        "/devices/urn:ngsi-ld:Device:air/status",
        {"status": SECRET, "why": "x"},
        ["body.status"],
        id="device-status",
    ),
]


@pytest.mark.parametrize(("path", "body", "fields"), INVALID_BODIES)
def test_an_invalid_body_names_each_bad_field_but_never_echoes_a_value(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    city: SampleCity,
    path: str,
    body: dict[str, Any],
    fields: list[str],
) -> None:
    size = len(ledger(client))
    r = client.post(path, json=body, headers=auth["operator"])
    problem = assert_problem(r, 422, "VALIDATION_FAILED")
    assert sorted(e["field"] for e in problem["errors"]) == fields
    for error in problem["errors"]:
        assert set(error) == {"field", "message"}
        assert error["message"]
    assert SECRET not in r.text
    assert "12345" not in r.text
    assert len(ledger(client)) == size


def test_an_invalid_body_on_put_is_422_without_echo(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    r = client.put(
        f"/vendors/{sample.TRUSTED}",
        json={"id": sample.TRUSTED, "name": "N", "jurisdiction": SECRET},
        headers=auth["operator"],
    )
    problem = assert_problem(r, 422, "VALIDATION_FAILED")
    assert [e["field"] for e in problem["errors"]] == ["body.jurisdiction"]
    assert SECRET not in r.text


def test_a_body_that_is_not_json_is_422_without_echo(
    client: TestClient, auth: dict[str, dict[str, str]], city: SampleCity
) -> None:
    r = client.post(
        "/vendors",
        content=('{"id": "' + SECRET).encode(),
        headers={**auth["operator"], "content-type": "application/json"},
    )
    assert_problem(r, 422, "VALIDATION_FAILED")
    assert SECRET not in r.text
