"""The two-person rule guards residents' data: bulk personal reads and mass erasure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.security.approvals import ActionKind
from charter.settings import Settings
from charter.sim import city as sample
from tests.conftest import COUNCIL, OPERATOR, SampleCity
from tests.rights.support import CROSSING, PURPOSE, as_resident, crossing, resident

APP = Actor(name="crossing-app", role="consumer", subject="urn:ngsi-ld:Consumer:crossing-app")
THRESHOLD = 3


@pytest.fixture
def platform(tmp_path: Path, clock: FixedClock) -> Iterator[Platform]:
    settings = Settings(data_dir=tmp_path / "data", bulk_read_threshold=THRESHOLD)
    p = build(settings, clock=clock)
    yield p
    p.close()


def _grant(platform: Platform) -> str:
    access = platform.rights.access
    req = access.request(
        APP, dataset=sample.TRAFFIC, categories=[CROSSING], purpose=PURPOSE, why="timing study"
    )
    done = access.decide(
        req.id,
        COUNCIL,
        grant=True,
        why="crossing study",
        expires_at=platform.clock.now() + timedelta(days=7),
    )
    assert done.grant is not None
    return done.grant


def _residents(platform: Platform, city: SampleCity, n: int) -> list[str]:
    fobs = [f"FOB-bulk-{i:04d}" for i in range(n)]
    ids = [resident(platform, fob)[0] for fob in fobs]
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.traffic, [crossing(now, f) for f in fobs])])
    return ids


def test_a_personal_read_beyond_the_threshold_needs_a_second_person(
    platform: Platform, city: SampleCity
) -> None:
    _residents(platform, city, THRESHOLD + 2)
    token = _grant(platform)
    read = platform.rights.access.read
    with pytest.raises(CharterError) as err:
        read(APP, token, category=CROSSING, purpose=PURPOSE)
    assert err.value.reason is Reason.BULK_READ_REFUSED
    kinds = [e.kind for e in platform.store.iter_ledger_entries()]
    assert "bulk_read.refused" in kinds and "personal.read" not in kinds
    assert platform.security.bulk_reads.alerts == 1

    # The consumer asks; a second person (the council) agrees; the read goes through once.
    approvals = platform.security.approvals
    params = {"dataset": sample.TRAFFIC, "max_records": THRESHOLD + 2}
    action = approvals.propose(ActionKind.BULK_READ, params, APP, "yearly crossing study")
    approvals.approve(action.id, COUNCIL, "study approved by the council")
    out = read(APP, token, category=CROSSING, purpose=PURPOSE, approval=action.id)
    assert len(out["readings"]) == THRESHOLD + 2
    with pytest.raises(CharterError) as err:  # the approval is single-use
        read(APP, token, category=CROSSING, purpose=PURPOSE, approval=action.id)
    assert err.value.reason is Reason.NEEDS_SECOND_PERSON


def test_a_small_read_needs_no_approval(platform: Platform, city: SampleCity) -> None:
    _residents(platform, city, THRESHOLD)
    out = platform.rights.access.read(APP, _grant(platform), category=CROSSING, purpose=PURPOSE)
    assert len(out["readings"]) == THRESHOLD


def test_mass_erasure_runs_only_after_a_second_person_approves(
    platform: Platform, city: SampleCity
) -> None:
    ids = _residents(platform, city, 3)
    approvals = platform.security.approvals
    action = approvals.propose(
        ActionKind.MASS_ERASURE, {"scope": ids}, OPERATOR, "court order 2026/17"
    )
    for rid in ids:  # proposing alone erases nothing
        assert platform.store.get_resident(rid).status == "active"  # type: ignore[union-attr]
    with pytest.raises(CharterError) as err:
        approvals.approve(action.id, OPERATOR, "I approve my own proposal")
    assert err.value.reason is Reason.SAME_PERSON
    done = approvals.approve(action.id, COUNCIL, "checked the order")
    assert done.to_json()["result"] == {"erased": 3, "skipped": 0}
    for rid in ids:
        assert platform.store.get_resident(rid).status == "erased"  # type: ignore[union-attr]
        with pytest.raises(CharterError) as err:
            platform.rights.subject.export(rid, as_resident(rid))
        assert err.value.reason is Reason.ALREADY_ERASED
