"""Helpers for rights tests: residents with fobs and consents on the sample city."""

from __future__ import annotations

from datetime import datetime

from charter.bootstrap import Platform
from charter.device import SimReading
from charter.domain.model import Actor
from charter.sim import city as sample
from tests.conftest import OPERATOR

CROSSING = "pedestrian.crossing_request"
PURPOSE = "crossing-assistance"


def crossing(t: datetime, fob: str, extra: int = 10) -> SimReading:
    return SimReading(CROSSING, t, {"fob": fob, "extra_seconds": extra}, {"extra_seconds": "s"})


def as_resident(resident_id: str) -> Actor:
    return Actor(name="resident", role="resident", subject=resident_id)


def resident(
    platform: Platform, fob: str, *, consent: bool = True, purpose: str = PURPOSE
) -> tuple[str, str | None]:
    """A resident with `fob` linked and (optionally) consent; returns (id, consent id)."""
    rights = platform.rights
    rid = rights.residents.create(OPERATOR).id
    me = as_resident(rid)
    # The service desk saw the fob (the tests' fobs are plain strings, without a key).
    rights.residents.link_verified(rid, fob, "fob", OPERATOR, "fob shown at the desk")
    if not consent:
        return rid, None
    done = rights.consents.grant(
        rid, category=CROSSING, purpose=purpose, projects=[sample.TRAFFIC], actor=me
    )
    return rid, done.consent.id
