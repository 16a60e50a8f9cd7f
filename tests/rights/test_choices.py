"""The resident app's consent switches: one per live project, personal category and purpose."""

from __future__ import annotations

from charter.bootstrap import Platform
from charter.domain.model import Actor
from charter.sim import city as sample
from tests.conftest import OPERATOR, SampleCity

CROSSING = "pedestrian.crossing_request"
APP = Actor(name="crossing-app", role="consumer", subject="urn:ngsi-ld:Consumer:crossing-app")


def test_a_switch_per_purpose_asked_for_and_it_follows_the_consent(
    platform: Platform, city: SampleCity
) -> None:
    rights = platform.rights
    rid = rights.residents.create(OPERATOR).id
    me = Actor(name="aiko", role="resident", subject=rid)
    assert rights.choices.of(rid, me) == []  # nobody asked for personal data yet
    rights.access.request(
        APP, dataset=sample.TRAFFIC, categories=[CROSSING], purpose="crossing-assistance", why="t"
    )
    [choice] = rights.choices.of(rid, me)
    assert (choice.project_id, choice.category, choice.purpose) == (
        sample.TRAFFIC,
        CROSSING,
        "crossing-assistance",
    )
    assert not choice.on and "fob" in choice.collected and choice.retention_days == 1
    done = rights.consents.grant(
        rid, category=CROSSING, purpose="crossing-assistance", projects=[sample.TRAFFIC], actor=me
    )
    on = rights.choices.find(rid, choice.key, me)
    assert on is not None and on.consent_id == done.consent.id
    rights.consents.withdraw(rid, done.consent.id, me)
    off = rights.choices.find(rid, choice.key, me)
    assert off is not None and not off.on


def test_only_the_resident_sees_their_switches(platform: Platform, city: SampleCity) -> None:
    import pytest

    from charter.domain.errors import CharterError

    rights = platform.rights
    aiko = rights.residents.create(OPERATOR).id
    ben = rights.residents.create(OPERATOR).id
    with pytest.raises(CharterError):
        rights.choices.of(aiko, Actor(name="ben", role="resident", subject=ben))
