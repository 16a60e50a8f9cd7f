"""Bad input on public routes: a 4xx problem with a reason code, never a 500, never an echo.

The classes, each found once as a 500 or an echo: a JOSE header that is not an
object (receipts, grant tokens); integers beyond 64 bits in a query; a key the
caller chose (an e-mail address) named back in a validation error; an id from
the path or an unregistered device's name repeated in the answer.
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role, issue_token
from charter.bootstrap import Platform
from charter.device import DeviceSigner
from charter.sim import city as sample
from tests.api.support import assert_problem, bearer
from tests.conftest import SampleCity, air_reading

EMAIL = "alice.resident@example.org"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


HEADERS = [b"[1]", b'"EdDSA"', b"42", b"null", b"[" * 50_000 + b"]" * 50_000]
IDS = ["list", "string", "number", "null", "nested"]


def _token(header: bytes) -> str:
    return f"{_b64(header)}.{_b64(b'{}')}.{_b64(b'sig')}"


@pytest.fixture
def http(platform: Platform) -> TestClient:
    # A 500 is an answer here, not an exception in the test.
    return TestClient(create_app(platform), raise_server_exceptions=False)


@pytest.mark.parametrize("header", HEADERS, ids=IDS)
def test_a_receipt_whose_jose_header_is_not_an_object_is_not_valid(
    http: TestClient, header: bytes
) -> None:
    r = http.post("/receipts/verify", json={"jws": _token(header)[:20_000]})
    assert r.status_code == 200, r.text
    assert r.json() == {"valid": False, "receipt": None}


@pytest.mark.parametrize("header", HEADERS, ids=IDS)
def test_a_grant_whose_jose_header_is_not_an_object_is_refused(
    http: TestClient, platform: Platform, header: bytes
) -> None:
    token = issue_token(
        platform.store, platform.clock, "app", Role.CONSUMER, subject="urn:ngsi-ld:Consumer:app"
    )
    r = http.get(
        "/personal-data",
        params={"category": "pedestrian.crossing_request", "purpose": "accessibility"},
        headers={"Authorization": f"Bearer {token}", "X-Charter-Grant": _token(header)[:20_000]},
    )
    assert_problem(r, 403, "GRANT_INVALID")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/ledger/entries", {"start": 10**20, "end": 10**20 + 5}),
        ("/ledger/entries", {"start": 0, "end": 10**20}),
        ("/ledger/proof/inclusion", {"index": 10**20, "size": 10**20 + 1}),
        ("/ledger/proof/consistency", {"old": 1, "new": 10**20}),
    ],
)
def test_integers_beyond_64_bits_are_refused(
    http: TestClient, path: str, params: dict[str, int]
) -> None:
    r = http.get(path, params=params)
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert all(e["field"].startswith("query.") for e in body["errors"])


def test_an_unknown_field_is_named_by_where_it_is_not_by_its_name(
    http: TestClient, platform: Platform
) -> None:
    r = http.post(
        "/vendors",
        json={"id": "urn:ngsi-ld:Vendor:v", "name": "V", "jurisdiction": "NL", EMAIL: EMAIL},
        headers=bearer(platform, Role.OPERATOR),
    )
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert {"field": "body.*", "message": "this field is not part of the request"} in body["errors"]
    assert EMAIL not in r.text


def test_a_key_of_a_free_form_object_is_not_echoed(http: TestClient, platform: Platform) -> None:
    r = http.post(
        "/approvals",
        json={"kind": "bulk_read", "why": "x", "params": {EMAIL: "y" * 300}},
        headers=bearer(platform, Role.OPERATOR),
    )
    body = assert_problem(r, 422, "VALIDATION_FAILED")
    assert body["errors"] and all(e["field"].startswith("body.params.*") for e in body["errors"])
    assert EMAIL not in r.text


@pytest.mark.parametrize("path", [f"/vendors/{EMAIL}", f"/projects/{EMAIL}", f"/devices/{EMAIL}"])
def test_an_id_that_is_not_on_the_register_is_not_echoed(http: TestClient, path: str) -> None:
    r = http.get(path)
    assert_problem(r, 404, "NOT_FOUND")
    assert EMAIL not in r.text


def test_an_unregistered_device_name_is_not_echoed(http: TestClient, city: SampleCity) -> None:
    now = city.platform.clock.now()
    envelope = DeviceSigner(f"urn:ngsi-ld:Device:{EMAIL}").envelope(1, now, [air_reading(now)])
    r = http.post("/ingest", content=envelope)
    assert_problem(r, 401, "NOT_REGISTERED")
    assert EMAIL not in r.text


@pytest.mark.parametrize(
    ("path", "role", "body", "field"),
    [
        (
            f"/projects/{sample.FLOOD}/decision",
            Role.COUNCIL,
            {"outcome": "approve", "why": "ok"},
            "body.at",
        ),
        (f"/projects/{sample.AIR}/consultation", Role.OPERATOR, {"why": "ok"}, "body.at"),
        ("/access-requests/r1/grant", Role.OPERATOR, {"why": "ok"}, "body.expires_at"),
    ],
)
def test_a_time_without_an_offset_is_refused_by_the_request_model(
    http: TestClient,
    platform: Platform,
    city: SampleCity,
    path: str,
    role: Role,
    body: dict[str, str],
    field: str,
) -> None:
    # Never read as the server's local time: AwareDatetime refuses it before any service.
    naive = city.platform.clock.now().replace(tzinfo=None).isoformat()
    r = http.post(
        path, json={**body, field.removeprefix("body."): naive}, headers=bearer(platform, role)
    )
    problem = assert_problem(r, 422, "VALIDATION_FAILED")
    assert [e["field"] for e in problem["errors"]] == [field]


def test_an_unknown_envelope_member_is_not_named_back(http: TestClient, city: SampleCity) -> None:
    signed = json.loads(city.envelope(city.air))
    signed[EMAIL] = 1
    r = http.post("/ingest", content=json.dumps(signed).encode())
    assert_problem(r, 400, "INVALID_ENVELOPE")
    assert EMAIL not in r.text


def test_an_unknown_grant_constraint_is_not_named_back(
    http: TestClient, platform: Platform, city: SampleCity
) -> None:
    consumer = issue_token(
        platform.store, platform.clock, "app", Role.CONSUMER, subject="urn:ngsi-ld:Consumer:app"
    )
    req = http.post(
        "/access-requests",
        json={
            "dataset": sample.TRAFFIC,
            "categories": ["pedestrian.crossing_request"],
            "purpose": "crossing-assistance",
            "why": "to time crossings",
        },
        headers={"Authorization": f"Bearer {consumer}"},
    )
    assert req.status_code == 201, req.text
    later = (platform.clock.now() + timedelta(days=30)).isoformat()
    r = http.post(
        f"/access-requests/{req.json()['id']}/grant",
        json={"why": "ok", "expires_at": later, "constraints": {EMAIL: 1}},
        headers=bearer(platform, Role.COUNCIL),
    )
    assert_problem(r, 422, "BAD_CONSTRAINT")
    assert EMAIL not in r.text
