"""Access by purpose: requests, grants, reads of personal data, and the access log."""

from __future__ import annotations

from datetime import timedelta

import pytest

from charter.bootstrap import Platform
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.rights import jws
from charter.rights.access import GRANT_TYPE
from charter.sim import city as sample
from tests.conftest import COUNCIL, OPERATOR, SampleCity
from tests.rights.support import CROSSING, PURPOSE, as_resident, crossing, resident

APP = Actor(name="crossing-app", role="consumer", subject="urn:ngsi-ld:Consumer:crossing-app")
OTHER = Actor(name="ad-broker", role="consumer", subject="urn:ngsi-ld:Consumer:ad-broker")


def _granted(platform: Platform, clock: FixedClock, **constraints: object) -> str:
    access = platform.rights.access
    req = access.request(
        APP, dataset=sample.TRAFFIC, categories=[CROSSING], purpose=PURPOSE, why="timing study"
    )
    assert req.status == "pending"
    done = access.decide(
        req.id,
        COUNCIL,
        grant=True,
        why="approved for the crossing study",
        expires_at=clock.now() + timedelta(days=7),
        constraints=constraints,
    )
    assert done.grant is not None and done.request.status == "granted"
    return done.grant


def _population(platform: Platform, city: SampleCity) -> tuple[str, str, str]:
    """Three residents: consented to the purpose, to another purpose, not at all."""
    yes, _ = resident(platform, "FOB-yes-0001")
    other, _ = resident(platform, "FOB-other-0002", purpose="statistics")
    no, _ = resident(platform, "FOB-no-0003", consent=False)
    now = platform.clock.now()
    readings = [crossing(now, f) for f in ("FOB-yes-0001", "FOB-other-0002", "FOB-no-0003")]
    platform.gate.ingest([city.envelope(city.traffic, readings)])
    return yes, other, no


def test_a_grant_reads_only_residents_who_consented_to_its_purpose_and_is_logged(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    yes, other, no = _population(platform, city)
    token = _granted(platform, clock)
    out = platform.rights.access.read(APP, token, category=CROSSING, purpose=PURPOSE)
    assert [r["values"] for r in out["readings"]] == [{"extra_seconds": 10}]
    assert yes not in str(out) and "FOB-yes-0001" not in str(out)
    [entry] = platform.store.access_log(yes)
    assert (entry.consumer, entry.purpose, entry.category, entry.readings) == (
        APP.subject,
        PURPOSE,
        CROSSING,
        1,
    )
    assert platform.store.access_log(other) == [] and platform.store.access_log(no) == []
    history = platform.rights.subject.history(yes, as_resident(yes))
    assert history[0]["consumer"] == APP.subject and history[0]["purpose"] == PURPOSE
    kinds = [e.kind for e in platform.store.iter_ledger_entries()]
    assert "personal.read" in kinds and "access.granted" in kinds


def test_constraints_limit_what_a_grant_returns(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    _population(platform, city)
    resident(platform, "FOB-yes-0004")
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.traffic, [crossing(now, "FOB-yes-0004")])])
    token = _granted(platform, clock, max_readings=1, fields=[])
    out = platform.rights.access.read(APP, token, category=CROSSING, purpose=PURPOSE)
    assert [r["values"] for r in out["readings"]] == [{}]


def test_forged_expired_revoked_and_borrowed_grants_are_refused(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    _population(platform, city)
    token = _granted(platform, clock)
    read = platform.rights.access.read

    def reason(actor: Actor, tok: str, **kw: str) -> Reason:
        args = {"category": CROSSING, "purpose": PURPOSE, **kw}
        with pytest.raises(CharterError) as err:
            read(actor, tok, **args)  # type: ignore[arg-type]
        return err.value.reason

    head, body, sig = token.split(".")
    assert reason(APP, f"{head}.{body}.{sig[::-1]}") is Reason.GRANT_INVALID
    # A grant the consumer made up, signed with a key of its own.
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from charter.keys import SigningKey

    fake = jws.sign(
        {"jti": "x", "sub": APP.subject, "purpose": PURPOSE},
        SigningKey("charter.example.city", Ed25519PrivateKey.generate()),
        GRANT_TYPE,
    )
    assert reason(APP, fake) is Reason.GRANT_INVALID
    assert reason(APP, "not-a-token") is Reason.GRANT_INVALID
    assert reason(OTHER, token) is Reason.GRANT_INVALID  # someone else's grant
    assert reason(APP, token, purpose="advertising") is Reason.PURPOSE_NOT_GRANTED
    assert reason(APP, token, category="traffic.count") is Reason.PURPOSE_NOT_GRANTED
    with pytest.raises(CharterError) as err:
        read(as_resident("x"), token, category=CROSSING, purpose=PURPOSE)
    assert err.value.reason is Reason.FORBIDDEN
    clock.advance(timedelta(days=7))
    assert reason(APP, token) is Reason.GRANT_INVALID  # expired
    token2 = _granted(platform, clock)
    req_id = jws.verify(token2, platform.ledger.key.public_key, GRANT_TYPE)["jti"]  # type: ignore[index]
    platform.rights.access.revoke(req_id, OPERATOR, "study ended")
    assert reason(APP, token2) is Reason.GRANT_INVALID


def test_requests_are_decided_once_by_the_owner(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    access = platform.rights.access
    with pytest.raises(CharterError) as err:
        access.request(
            APP, dataset=sample.TRAFFIC, categories=["body.temperature"], purpose=PURPOSE, why="x"
        )
    assert err.value.reason is Reason.UNDECLARED_CATEGORY
    req = access.request(
        APP, dataset=sample.TRAFFIC, categories=[CROSSING], purpose="advertising", why="ads"
    )
    with pytest.raises(CharterError) as err:
        access.decide(req.id, APP, grant=True, why="self-service")
    assert err.value.reason is Reason.FORBIDDEN
    done = access.decide(req.id, COUNCIL, grant=False, why="not a public task")
    assert done.grant is None and done.request.status == "rejected"
    with pytest.raises(CharterError) as err:
        access.decide(req.id, COUNCIL, grant=True, why="changed my mind")
    assert err.value.reason is Reason.INVALID_TRANSITION
    assert platform.store.access_requests_by_purpose() == {"advertising": {"rejected": 1}}


def test_reads_are_paged_and_each_page_is_logged(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    fobs = [f"FOB-page-{i:04d}" for i in range(3)]
    ids = [resident(platform, f)[0] for f in fobs]
    now = clock.now()
    platform.gate.ingest([city.envelope(city.traffic, [crossing(now, f) for f in fobs])])
    token = _granted(platform, clock)
    seen, after = [], 0
    while True:
        page = platform.rights.access.read(
            APP, token, category=CROSSING, purpose=PURPOSE, after=after, limit=1
        )
        seen += page["readings"]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert len(seen) == 3 and len({r["id"] for r in seen}) == 3
    assert all(len(platform.store.access_log(r)) == 1 for r in ids)
