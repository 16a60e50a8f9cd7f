"""Residents, consents, grants and subject rights over HTTP, with nothing leaking.

One walk through the whole story: a resident enrols, links a fob, opts in; the
gate admits their readings; a consumer gets a grant and reads; the resident
sees who read what, exports and erases. Every response and every log line is
scanned for the raw identifier.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from charter.auth import Role, issue_token
from charter.bootstrap import Platform
from charter.device import FobKey
from charter.domain.clock import FixedClock
from charter.sim import city as sample
from tests.api.support import assert_problem, bearer
from tests.conftest import SampleCity
from tests.rights.support import CROSSING, PURPOSE, crossing

FOB_KEY, OTHER_FOB_KEY = FobKey(), FobKey()
FOB, OTHER_FOB = FOB_KEY.identifier, OTHER_FOB_KEY.identifier


class Recorder:
    """Keeps every response, to scan them all for raw identifiers at the end."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.seen: list[str] = []

    def __getattr__(self, method: str):  # type: ignore[no-untyped-def]
        call = getattr(self.client, method)

        def wrapped(*a: object, **kw: object) -> Response:
            r: Response = call(*a, **kw)
            self.seen.append(r.text)
            return r

        return wrapped


def _proof(http: Recorder, rid: str, me: dict[str, str], fob: FobKey) -> dict[str, str]:
    r = http.post(f"/residents/{rid}/identifiers/challenge", headers=me)
    assert r.status_code == 200, r.text
    challenge = r.json()["challenge"]
    return {
        "public_key": fob.public_key_b64,
        "challenge": challenge,
        "signature": fob.answer(challenge),
    }


def _enrol(http: Recorder, platform: Platform, fob: FobKey) -> tuple[str, dict[str, str]]:
    r = http.post("/residents", headers=bearer(platform, Role.OPERATOR))
    assert r.status_code == 201, r.text
    rid, token = r.json()["id"], r.json()["token"]
    me = {"Authorization": f"Bearer {token}"}
    link = {"identifier": fob.identifier, "kind": "fob", "proof": _proof(http, rid, me, fob)}
    r = http.post(f"/residents/{rid}/identifiers", json=link, headers=me)
    assert r.status_code == 201, r.text
    assert r.json()["proof"] == "key"
    return rid, me


def test_the_residents_story_over_http_leaks_no_identifier(
    client: TestClient, platform: Platform, city: SampleCity, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    http = Recorder(client)
    rid, me = _enrol(http, platform, FOB_KEY)
    other, them = _enrol(http, platform, OTHER_FOB_KEY)
    assert (
        http.post(
            f"/residents/{rid}/identifiers", json={"identifier": FOB}, headers=them
        ).status_code
        == 403
    )
    # Knowing a fob's identifier is not holding it.
    r = http.post(f"/residents/{other}/identifiers", json={"identifier": FOB}, headers=them)
    assert_problem(r, 403, "NO_PROOF_OF_POSSESSION")

    # Opt in; bad consents are refused with their reasons.
    consent = {"category": CROSSING, "purpose": PURPOSE, "projects": [sample.TRAFFIC]}
    r = http.post(f"/residents/{rid}/consents", json=consent, headers=me)
    assert r.status_code == 201, r.text
    cid = r.json()["consent"]["id"]
    assert r.json()["receipt"]["jws"].count(".") == 2
    check = http.post("/receipts/verify", json={"jws": r.json()["receipt"]["jws"]})
    assert check.json()["valid"] is True
    assert check.json()["receipt"]["piiPrincipalId"] == rid
    assert_problem(
        http.post(f"/residents/{rid}/consents", json={**consent, "category": "x.y"}, headers=me),
        422,
        "UNDECLARED_CATEGORY",
    )
    assert_problem(
        http.post(
            f"/residents/{rid}/consents", json={**consent, "projects": [sample.FLOOD]}, headers=me
        ),
        403,
        "PROJECT_NOT_LIVE",
    )
    assert_problem(
        http.post(f"/residents/{rid}/consents", json=consent, headers=them), 403, "FORBIDDEN"
    )

    # The gate admits the consenting resident's reading only.
    now = platform.clock.now()
    r = http.post(
        "/ingest",
        content=city.envelope(city.traffic, [crossing(now, FOB), crossing(now, OTHER_FOB)]),
    )
    assert r.json()["admitted"] == 1 and r.json()["rejected"] == {"NO_CONSENT": 1}

    # A consumer asks, the council grants, the consumer reads.
    app = {
        "Authorization": "Bearer "
        + issue_token(
            platform.store,
            platform.clock,
            "crossing-app",
            Role.CONSUMER,
            subject="urn:ngsi-ld:Consumer:crossing-app",
        )
    }
    r = http.post(
        "/access-requests",
        json={
            "dataset": sample.TRAFFIC,
            "categories": [CROSSING],
            "purpose": PURPOSE,
            "why": "timing",
        },
        headers=app,
    )
    assert r.status_code == 201, r.text
    req = r.json()["id"]
    expires = (now + timedelta(days=30)).isoformat()
    assert_problem(
        http.post(
            f"/access-requests/{req}/grant", json={"why": "x", "expires_at": expires}, headers=app
        ),
        403,
        "FORBIDDEN",
    )
    r = http.post(
        f"/access-requests/{req}/grant",
        json={"why": "approved", "expires_at": expires, "constraints": {"max_readings": 100}},
        headers=bearer(platform, Role.COUNCIL),
    )
    grant = r.json()["grant"]
    r = http.get(
        "/personal-data",
        params={"category": CROSSING, "purpose": PURPOSE},
        headers={**app, "X-Charter-Grant": grant},
    )
    assert r.status_code == 200, r.text
    assert [x["values"] for x in r.json()["readings"]] == [{"extra_seconds": 10}]
    assert_problem(
        http.get(
            "/personal-data",
            params={"category": CROSSING, "purpose": "advertising"},
            headers={**app, "X-Charter-Grant": grant},
        ),
        403,
        "PURPOSE_NOT_GRANTED",
    )
    assert_problem(
        http.get(
            "/personal-data",
            params={"category": CROSSING, "purpose": PURPOSE},
            headers={**app, "X-Charter-Grant": grant[:-6] + "AAAAAA"},
        ),
        403,
        "GRANT_INVALID",
    )
    assert_problem(
        http.get(
            "/personal-data",
            params={"category": CROSSING, "purpose": PURPOSE},
            headers={**me, "X-Charter-Grant": grant},
        ),
        403,
        "FORBIDDEN",
    )

    # The resident sees it all; the neighbour sees none of it.
    log = http.get(f"/residents/{rid}/access-log", headers=me).json()
    assert [(x["consumer"], x["purpose"]) for x in log] == [
        ("urn:ngsi-ld:Consumer:crossing-app", PURPOSE)
    ]
    assert_problem(http.get(f"/residents/{rid}", headers=them), 403, "FORBIDDEN")
    assert_problem(http.get(f"/residents/{rid}/export", headers=them), 403, "FORBIDDEN")
    assert_problem(http.get(f"/residents/{rid}"), 401, "UNAUTHENTICATED")
    export = http.get(f"/residents/{rid}/export", headers=me)
    assert export.status_code == 200
    body = export.json()
    assert len(body["readings"]) == 1 and len(body["consents"]) == 1
    assert len(http.get(f"/residents/{rid}/receipts", headers=me).json()) == 1
    stats = http.get("/rights/stats").json()
    assert stats["consents_by_category"][CROSSING] == {"given": 1, "withdrawn": 0}
    assert stats["access_requests_by_purpose"] == {PURPOSE: {"granted": 1}}

    # Withdraw, then withdraw again; erase, then erase again.
    r = http.post(f"/residents/{rid}/consents/{cid}/withdraw", headers=me)
    assert r.status_code == 200 and r.json()["receipt"]["action"] == "withdrawn"
    assert_problem(
        http.post(f"/residents/{rid}/consents/{cid}/withdraw", headers=me), 409, "CONSENT_WITHDRAWN"
    )
    r = http.delete(f"/residents/{rid}", headers=me)
    assert r.status_code == 200 and r.json()["key_destroyed"] is True
    # The erased resident's token is revoked with everything else.
    assert_problem(http.delete(f"/residents/{rid}", headers=me), 401, "UNAUTHENTICATED")
    r = http.post("/retention/run", headers=bearer(platform, Role.OPERATOR))
    assert r.status_code == 200
    assert len(http.get("/retention/runs").json()) == 1

    for text in http.seen:
        assert FOB not in text and OTHER_FOB not in text
    assert FOB not in caplog.text and OTHER_FOB not in caplog.text


def test_erasing_twice_answers_already_erased(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    from charter.domain.model import Actor

    http = Recorder(client)
    rid, _me = _enrol(http, platform, FOB_KEY)
    platform.rights.subject.erase(rid, Actor(name="r", role="resident", subject=rid))
    # A token issued before a crash that left it unrevoked still cannot erase twice.
    token = issue_token(platform.store, platform.clock, "r", Role.RESIDENT, subject=rid)
    r = http.delete(f"/residents/{rid}", headers={"Authorization": f"Bearer {token}"})
    assert_problem(r, 410, "ALREADY_ERASED")


def test_staff_reading_readings_see_personal_rows_only_as_ciphertext(
    client: TestClient, platform: Platform, city: SampleCity
) -> None:
    from tests.rights.support import resident

    resident(platform, FOB)
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.traffic, [crossing(now, FOB, extra=13)])])
    r = client.get("/readings", headers=bearer(platform, Role.AUDITOR))
    [row] = r.json()["readings"]
    assert row["category"] == CROSSING and set(row["values"]) == {"enc"}
    assert FOB not in r.text and "extra_seconds" not in r.text


def test_a_resident_cannot_link_a_fob_they_do_not_hold(
    client: TestClient, platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    """Knowing a fob's identifier (seen on the air, read off a reader) is not enough:
    linking needs the fob's answer to a challenge for this resident, or an operator."""
    http = Recorder(client)
    holder, me = _enrol(http, platform, FOB_KEY)
    r = http.post("/residents", headers=bearer(platform, Role.OPERATOR))
    snoop, snoop_token = r.json()["id"], r.json()["token"]
    them = {"Authorization": f"Bearer {snoop_token}"}
    victim = FobKey()  # not linked yet: its holder has not enrolled
    path = f"/residents/{snoop}/identifiers"

    r = http.post(path, json={"identifier": victim.identifier}, headers=them)
    assert_problem(r, 403, "NO_PROOF_OF_POSSESSION")
    # Their own key does not answer for another fob's identifier.
    forged = {**_proof(http, snoop, them, FobKey())}
    r = http.post(path, json={"identifier": victim.identifier, "proof": forged}, headers=them)
    assert_problem(r, 403, "NO_PROOF_OF_POSSESSION")
    # The fob's answer to a challenge made for someone else does not link it here.
    theirs = _proof(http, holder, me, victim)
    r = http.post(path, json={"identifier": victim.identifier, "proof": theirs}, headers=them)
    assert_problem(r, 403, "NO_PROOF_OF_POSSESSION")
    # A tampered challenge does not verify; an expired one neither.
    good = _proof(http, snoop, them, victim)
    payload, _, sig = good["challenge"].partition(".")
    bad = {**good, "challenge": payload + "x." + sig}
    bad["signature"] = victim.answer(bad["challenge"])
    r = http.post(path, json={"identifier": victim.identifier, "proof": bad}, headers=them)
    assert_problem(r, 403, "NO_PROOF_OF_POSSESSION")
    garbage = {"public_key": "%%%", "challenge": "a.b", "signature": "%%%"}
    r = http.post(path, json={"identifier": victim.identifier, "proof": garbage}, headers=them)
    assert_problem(r, 403, "NO_PROOF_OF_POSSESSION")
    clock.advance(timedelta(minutes=6))
    r = http.post(path, json={"identifier": victim.identifier, "proof": good}, headers=them)
    assert_problem(r, 403, "NO_PROOF_OF_POSSESSION")
    assert platform.store.links(snoop) == []
    # Residents cannot vouch for themselves as operators.
    r = http.post(
        f"{path}/verified", json={"identifier": victim.identifier, "why": "mine"}, headers=them
    )
    assert_problem(r, 403, "FORBIDDEN")

    # With the fob in hand: a fresh challenge, answered by the fob, links it.
    fresh = _proof(http, snoop, them, victim)
    r = http.post(path, json={"identifier": victim.identifier, "proof": fresh}, headers=them)
    assert r.status_code == 201, r.text

    # A fob without a key: an operator who saw it links it, on the record under their name.
    r = http.post(
        f"/residents/{holder}/identifiers/verified",
        json={"identifier": "CARD-legacy-0042", "kind": "card", "why": "card shown at the desk"},
        headers=bearer(platform, Role.OPERATOR),
    )
    assert r.status_code == 201 and r.json()["proof"] == "operator", r.text
    links = [e for e in platform.store.iter_ledger_entries() if e.kind == "identifier.linked"]
    bodies = [json.loads(e.data) for e in links]
    assert [b["proof"] for b in bodies] == ["key", "key", "operator"]
    assert bodies[-1]["actor"]["role"] == "operator" and "why" in bodies[-1]
    assert all(holder not in str(b) and snoop not in str(b) for b in bodies)
