"""The resident app's and the console's forms refuse bad input with the translated error
page and store nothing: a forged CSRF token, another resident's pages, the public on the
console, oversized fields; script in a comment is shown as text."""

from __future__ import annotations

import re
import warnings
from datetime import timedelta

import pytest

from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform
from charter.domain.clock import FixedClock
from charter.domain.consultation import Stance
from charter.domain.model import Actor
from charter.sim import city as sample
from tests.conftest import OPERATOR, SampleCity

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CROSSING = "pedestrian.crossing_request"
APP = Actor(name="crossing-app", role="consumer", subject="urn:ngsi-ld:Consumer:crossing-app")


def _csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found.group(1)


def _signed_in(platform: Platform, token: str) -> TestClient:
    client = TestClient(create_app(platform), base_url="http://testserver")
    r = client.post(
        "/signin",
        data={"csrf": _csrf(client, "/signin"), "token": token, "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    return client


@pytest.fixture
def resident(platform: Platform, city: SampleCity) -> tuple[str, str]:
    rid = platform.rights.residents.create(OPERATOR).id
    platform.rights.access.request(
        APP, dataset=sample.TRAFFIC, categories=[CROSSING], purpose="crossing-assistance", why="t"
    )
    return rid, platform.security.issuer.issue("aiko", Role.RESIDENT, subject=rid)


def test_a_forged_csrf_token_changes_no_consent(
    platform: Platform, resident: tuple[str, str]
) -> None:
    rid, token = resident
    client = _signed_in(platform, token)
    [choice] = platform.rights.choices.of(rid, Actor(name="aiko", role="resident", subject=rid))
    r = client.post(
        f"/me/{rid}/consents", data={"csrf": "0" * 64, "choice": choice.key, "turn": "on"}
    )
    assert r.status_code == 403 and "FORBIDDEN" in r.text and "Traceback" not in r.text
    assert platform.store.consents(rid) == []
    ok = client.post(
        f"/me/{rid}/consents",
        data={"csrf": _csrf(client, f"/me/{rid}/consents"), "choice": choice.key, "turn": "on"},
    )
    assert ok.status_code == 200 and len(platform.store.consents(rid)) == 1


def test_another_residents_pages_and_the_console_are_refused(
    platform: Platform, resident: tuple[str, str]
) -> None:
    _rid, token = resident
    other = platform.rights.residents.create(OPERATOR).id
    client = _signed_in(platform, token)
    for path in (f"/me/{other}", f"/me/{other}/access", f"/me/{other}/export", "/console"):
        r = client.get(path, headers={"accept-language": "ja"})
        assert r.status_code == 403, path
        assert "このページは開けません" in r.text and "Traceback" not in r.text
    anonymous = TestClient(create_app(platform), base_url="http://testserver")
    for path in ("/console", "/console/quarantine", "/console/approvals"):
        assert anonymous.get(path).status_code == 403


def test_oversized_and_missing_fields_store_nothing(platform: Platform, city: SampleCity) -> None:
    token = platform.security.issuer.issue("op", Role.OPERATOR)
    client = _signed_in(platform, token)
    size = platform.ledger.size
    r = client.post(
        "/console/approvals",
        data={
            "csrf": _csrf(client, "/console/approvals"),
            "kind": "enable_service",
            "params": "service=hazard",
            "why": "x" * 2001,
        },
    )
    assert r.status_code == 422 and "VALIDATION_FAILED" in r.text
    r = client.post(
        "/console/approvals",
        data={"csrf": _csrf(client, "/console/approvals"), "kind": "no_such_action", "why": "x"},
    )
    assert r.status_code == 422
    assert platform.ledger.size == size and platform.security.approvals.list() == []


def test_script_in_a_comment_is_shown_as_text_in_the_console(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    clock.step(-timedelta(days=1))  # while the consultation still ran
    platform.registry.feedback.comment(
        sample.FLOOD, "<script>alert(1)</script> no gauge here", Stance.OPPOSE, "192.0.2.1"
    )
    clock.step(timedelta(days=1))
    client = _signed_in(platform, platform.security.issuer.issue("op", Role.OPERATOR))
    page = client.get(f"/console/consultations/{sample.FLOOD}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; no gauge here" in page
