"""NGSI-LD fixtures: an HTTP client over a real platform, and tokens."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform

BASE = "/ngsi-ld/v1"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
ERRORS = "https://uri.etsi.org/ngsi-ld/errors/"


class Ngsi:
    """A client speaking NGSI-LD to Charter, as an operator unless told otherwise."""

    def __init__(self, platform: Platform, token: str) -> None:
        self.platform = platform
        self.http = TestClient(create_app(platform))
        self.token = token

    def headers(self, token: str | None = None, **extra: str) -> dict[str, str]:
        out = {"Content-Type": "application/json"}
        if token != "":
            out["Authorization"] = f"Bearer {token or self.token}"
        out.update(extra)
        return out

    def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = None,
        **headers: str,
    ) -> Any:  # fmt: skip
        h = self.headers(token, **{k.replace("_", "-"): v for k, v in headers.items()})
        return self.http.request(method, BASE + path, json=body, headers=h)

    def create(self, entity: dict[str, Any], **kw: Any) -> Any:
        return self.call("POST", "/entities", entity, **kw)

    def get(self, entity_id: str, query: str = "", **kw: Any) -> Any:
        return self.call("GET", f"/entities/{entity_id}{query}", **kw)


def token(platform: Platform, role: Role = Role.OPERATOR, **kw: Any) -> str:
    return platform.security.issuer.issue(f"test-{role.value}", role, **kw)


@pytest.fixture
def ngsi(platform: Platform) -> Iterator[Ngsi]:
    yield Ngsi(platform, token(platform))


@pytest.fixture
def any_ngsi(any_platform: Platform) -> Iterator[Ngsi]:
    """The same client on SQLite, then on PostgreSQL."""
    yield Ngsi(any_platform, token(any_platform))


def thing(n: int = 1, **attrs: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Thing:{n}",
        "type": "Thing",
        "speed": {"type": "Property", "value": 5, "unitCode": "KMH",
                  "observedAt": "2026-11-29T11:00:00Z"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [4.9, 52.3]}},
        "near": {"type": "Relationship", "object": "urn:ngsi-ld:Thing:2"},
    }  # fmt: skip
    body.update(attrs)
    return body


def problem(resp: Any, status: int, kind: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert resp.headers["content-type"].startswith("application/json")
    assert body["status"] == status
    if kind is not None:
        assert body["type"] == ERRORS + kind
    return body
