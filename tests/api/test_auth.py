"""Bearer tokens and roles: who may change the register, read readings and replay quarantine."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from fastapi.testclient import TestClient

from charter.auth import Role, authenticate, digest, issue_token
from charter.bootstrap import Platform
from charter.domain.model import urn
from charter.sim import city as sample
from tests.api.support import assert_problem, bearer
from tests.conftest import SampleCity

# --- tokens --------------------------------------------------------------------


def test_a_token_authenticates_as_its_name_and_role(platform: Platform) -> None:
    token = issue_token(platform.store, platform.clock, "clerk", Role.COUNCIL)
    assert token.startswith("chr_") and len(token) > 40
    actor = authenticate(platform.store, token)
    assert actor is not None and (actor.name, actor.role) == ("clerk", "council")
    assert authenticate(platform.store, token + "x") is None
    assert authenticate(platform.store, "") is None


def test_tokens_are_unique(platform: Platform) -> None:
    tokens = {issue_token(platform.store, platform.clock, "same", Role.AUDITOR) for _ in range(20)}
    assert len(tokens) == 20


def test_only_the_digest_of_a_token_is_stored(platform: Platform) -> None:
    token = issue_token(platform.store, platform.clock, "ops", Role.OPERATOR)
    db = platform.settings.database_path
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT digest, name, role FROM tokens").fetchall()
    conn.close()
    assert rows == [(digest(token), "ops", "operator")]
    raw = b"".join(p.read_bytes() for p in db.parent.glob("charter.db*"))
    assert token.encode() not in raw
    assert token.removeprefix("chr_").encode() not in raw


def test_a_revoked_token_is_refused(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    token = issue_token(platform.store, platform.clock, "leaver", Role.AUDITOR)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/readings", headers=headers).status_code == 200
    with sqlite3.connect(platform.settings.database_path) as conn:
        conn.execute("UPDATE tokens SET revoked = 1 WHERE digest = ?", (digest(token),))
    conn.close()
    r = client.get("/readings", headers=headers)
    assert_problem(r, 401, "UNAUTHENTICATED")
    assert r.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer chr_not-a-real-token", id="unknown-token"),
        pytest.param("Bearer", id="no-token"),
        pytest.param("Bearer ", id="blank-token"),
        pytest.param("Basic dXNlcjpwYXNz", id="basic-scheme"),
        pytest.param("chr_abc", id="no-scheme"),
    ],
)
def test_a_bad_authorization_header_is_401(
    client: TestClient, city: SampleCity, header: str
) -> None:
    r = client.get("/readings", headers={"Authorization": header})
    assert_problem(r, 401, "UNAUTHENTICATED")
    assert r.headers["www-authenticate"] == "Bearer"


def test_the_scheme_is_case_insensitive(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    token = issue_token(platform.store, platform.clock, "a", Role.AUDITOR)
    assert client.get("/readings", headers={"Authorization": f"bearer {token}"}).status_code == 200
    assert client.get("/readings", headers={"Authorization": f"BEARER {token}"}).status_code == 200


# --- the role matrix ---------------------------------------------------------------

NEW_VENDOR = {"id": urn("Vendor", "v"), "name": "V", "jurisdiction": "NL"}

# Every route that changes something, with a body that would be valid.
OPERATOR_ROUTES = [
    ("POST", "/vendors", NEW_VENDOR),
    (
        "PUT",
        f"/vendors/{sample.TRUSTED}",
        {"id": sample.TRUSTED, "name": "N", "jurisdiction": "NL"},
    ),
    ("POST", "/projects", {"id": urn("Project", "p")}),
    ("PUT", f"/projects/{sample.AIR}", {"id": sample.AIR}),
    ("POST", f"/projects/{sample.FLOOD}/consultation", {"why": "w"}),
    ("POST", f"/projects/{sample.AIR}/status", {"status": "suspended", "why": "w"}),
    ("POST", "/devices", {"id": urn("Device", "d")}),
    ("POST", "/devices/urn:ngsi-ld:Device:air/status", {"status": "suspended", "why": "w"}),
    ("POST", "/quarantine/1/replay", {"why": "w"}),
]
COUNCIL_ROUTES = [
    ("POST", f"/projects/{sample.FLOOD}/decision", {"outcome": "approve", "why": "w"})
]
READER_ROUTES = [("GET", "/readings", None), ("GET", "/quarantine", None)]


def _routes(routes: list[tuple[str, str, Any]]) -> list[Any]:
    return [pytest.param(m, p, b, id=f"{m} {p}") for m, p, b in routes]


def _call(client: TestClient, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    return client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(("method", "path", "body"), _routes(OPERATOR_ROUTES + COUNCIL_ROUTES))
def test_a_change_without_a_token_is_401(
    client: TestClient, platform: Platform, city: SampleCity, method: str, path: str, body: Any
) -> None:
    size = platform.ledger.size
    r = _call(client, method, path, body, {})
    assert_problem(r, 401, "UNAUTHENTICATED")
    assert r.headers["www-authenticate"] == "Bearer"
    assert platform.ledger.size == size


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.COUNCIL])
@pytest.mark.parametrize(("method", "path", "body"), _routes(OPERATOR_ROUTES))
def test_an_operator_route_refuses_other_roles_with_403(
    client: TestClient,
    platform: Platform,
    city: SampleCity,
    method: str,
    path: str,
    body: Any,
    role: Role,
) -> None:
    size = platform.ledger.size
    r = _call(client, method, path, body, bearer(platform, role))
    body_ = assert_problem(r, 403, "FORBIDDEN")
    assert role.value in body_["detail"]
    assert platform.ledger.size == size


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.OPERATOR])
def test_only_the_council_approves(
    client: TestClient, platform: Platform, city: SampleCity, role: Role
) -> None:
    path = f"/projects/{sample.FLOOD}/decision"
    size = platform.ledger.size
    body = {"outcome": "approve", "why": "w"}
    assert_problem(client.post(path, json=body, headers=bearer(platform, role)), 403, "FORBIDDEN")
    assert client.get(f"/projects/{sample.FLOOD}").json()["status"] == "consultation"
    assert platform.ledger.size == size
    body = {"outcome": "approve", "why": "vote"}
    r = client.post(path, json=body, headers=bearer(platform, Role.COUNCIL, "cllr-x"))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved"


def test_the_council_cannot_do_an_operators_job(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    # Approval is the council's; taking the project live afterwards is the operator's.
    council = bearer(platform, Role.COUNCIL)
    vote = {"outcome": "approve", "why": "vote"}
    client.post(f"/projects/{sample.FLOOD}/decision", json=vote, headers=council)
    r = client.post(
        f"/projects/{sample.FLOOD}/status", json={"status": "live", "why": "w"}, headers=council
    )
    assert_problem(r, 403, "FORBIDDEN")


@pytest.mark.parametrize(("method", "path", "body"), _routes(READER_ROUTES))
def test_readings_and_quarantine_are_for_auditors_and_operators(
    client: TestClient, platform: Platform, city: SampleCity, method: str, path: str, body: Any
) -> None:
    assert_problem(_call(client, method, path, body, {}), 401, "UNAUTHENTICATED")
    assert_problem(
        _call(client, method, path, body, bearer(platform, Role.COUNCIL)), 403, "FORBIDDEN"
    )
    assert_problem(
        _call(client, method, path, body, bearer(platform, Role.PUBLIC)), 401, "UNAUTHENTICATED"
    )
    for role in (Role.AUDITOR, Role.OPERATOR):
        assert _call(client, method, path, body, bearer(platform, role)).status_code == 200


PUBLIC_ROUTES = [
    "/vendors",
    "/projects",
    "/devices",
    "/stats",
    "/health",
    "/metrics",
    "/ledger/checkpoint",
    "/ledger/key",
    "/ledger/entries?start=0&end=5",
    "/ledger/proof/inclusion?index=0&size=2",
    "/ledger/proof/consistency?old=1&new=2",
    "/openapi.json",
    "/docs",
]


@pytest.mark.parametrize("path", PUBLIC_ROUTES)
def test_public_routes_need_no_token(client: TestClient, city: SampleCity, path: str) -> None:
    assert client.get(path).status_code == 200


def test_the_actor_on_the_ledger_is_the_tokens_holder(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    r = client.post(
        f"/projects/{sample.FLOOD}/decision",
        json={"outcome": "approve", "why": "unanimous"},
        headers=bearer(platform, Role.COUNCIL, "alderman-jones"),
    )
    assert r.status_code == 200
    last = client.get(
        "/ledger/entries", params={"start": platform.ledger.size - 1, "end": platform.ledger.size}
    ).json()[0]
    assert last["data"]["actor"] == {"name": "alderman-jones", "role": "council"}
    assert last["data"]["why"] == "unanimous"
