"""Helpers shared by the API tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from httpx import Response

from charter.auth import Role, issue_token
from charter.bootstrap import Platform
from charter.device import SimReading

PROBLEM = "application/problem+json"


def assert_problem(r: Response, status: int, reason: str) -> dict[str, Any]:
    """An RFC 9457 problem with Charter's reason code and a matching status."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body: dict[str, Any] = r.json()
    assert (body["status"], body["reason"]) == (status, reason)
    assert body["type"] == "https://charter.example.city/problems/" + reason.lower().replace(
        "_", "-"
    )
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def bearer(platform: Platform, role: Role, name: str | None = None) -> dict[str, str]:
    token = issue_token(platform.store, platform.clock, name or f"{role.value}-carol", role)
    return {"Authorization": f"Bearer {token}"}


def water(t: datetime, level: float = 42.0) -> SimReading:
    return SimReading("water.level", t, {"level": level}, {"level": "cm"})
