"""The wall clock is stepped (NTP, an operator, a VM resumed): no rule may come undone.

Revocation is a state, effective at once and for good; a key on the register
may sign from the moment it is there. Only the end of a rotation's overlap is a
time. Rate-limit buckets refill on the monotonic clock, which a step of the
wall clock does not move (`FixedClock.step`), so they are neither pinned nor
refilled by it. docs/security.md, "Time rules", lists what each rule does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from charter.api.app import create_app
from charter.auth import Role
from charter.bootstrap import Platform, build
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.settings import Settings
from tests.api.support import bearer
from tests.conftest import OPERATOR, START, SampleCity

HOUR = timedelta(hours=1)


def reason(platform: Platform, body: bytes) -> Reason | None:
    [out] = platform.gate.ingest([body])
    return out.rejection.reason if out.rejection else None


def test_a_revoked_key_stays_revoked_when_the_clock_steps_back(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    keys = platform.security.device_keys
    [enrolment] = keys.keys(city.air.device_id)
    keys.revoke(city.air.device_id, enrolment.key_id, OPERATOR, "key leaked")
    assert reason(platform, city.envelope(city.air)) is Reason.KEY_REVOKED
    clock.step(-HOUR)  # the clock was an hour fast, and is corrected
    assert reason(platform, city.envelope(city.air)) is Reason.KEY_REVOKED
    assert platform.store.count_readings() == 0
    # And the register agrees with the gate: the key is revoked, so not again.
    with pytest.raises(CharterError) as e:
        keys.revoke(city.air.device_id, enrolment.key_id, OPERATOR, "again")
    assert e.value.reason is Reason.CONFLICT


def test_a_key_rotated_while_the_clock_was_ahead_signs_after_the_step_back(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    keys = platform.security.device_keys
    new = DeviceSigner(city.air.device_id)
    clock.step(HOUR)
    keys.rotate(city.air.device_id, new.public_key_b64, OPERATOR, "yearly", overlap_s=600)
    clock.step(-HOUR)
    assert reason(platform, city.envelope(new)) is None
    # The old key's overlap is a time: it ends 600 s after the (fast) rotation stamp.
    assert reason(platform, city.envelope(city.air)) is None
    clock.advance(HOUR + timedelta(seconds=601))
    assert reason(platform, city.envelope(city.air)) is Reason.KEY_EXPIRED
    assert reason(platform, city.envelope(new)) is None


@pytest.fixture
def limited(tmp_path: Path, clock: FixedClock) -> Iterator[Platform]:
    settings = Settings(
        data_dir=tmp_path / "d",
        device_burst=3,
        device_rate_per_s=1,
        token_burst=3,
        token_rate_per_s=1,
    )
    p = build(settings, clock=clock)
    yield p
    p.close()


def test_a_clock_step_neither_pins_nor_refills_a_device_bucket(
    limited: Platform, clock: FixedClock
) -> None:
    city = SampleCity(limited)
    got = [reason(limited, city.envelope(city.air)) for _ in range(4)]
    assert got == [None, None, None, Reason.RATE_LIMITED]
    clock.step(HOUR)  # no time passed: no new allowance
    assert reason(limited, city.envelope(city.air)) is Reason.RATE_LIMITED
    clock.step(-HOUR)
    clock.advance(timedelta(seconds=2))  # two seconds pass: two envelopes' worth
    got = [reason(limited, city.envelope(city.air)) for _ in range(3)]
    assert got == [None, None, Reason.RATE_LIMITED]


def test_a_clock_step_does_not_pin_a_token_bucket(limited: Platform, clock: FixedClock) -> None:
    with TestClient(create_app(limited)) as c:
        auditor = bearer(limited, Role.AUDITOR, "auditor")
        codes = [c.get("/quarantine", headers=auditor).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        clock.step(HOUR)
        assert c.get("/quarantine", headers=auditor).status_code == 429
        clock.step(-HOUR)
        clock.advance(timedelta(seconds=2))
        assert c.get("/quarantine", headers=auditor).status_code == 200


def test_the_monotonic_side_of_the_clock_never_goes_back() -> None:
    clock = FixedClock(START)
    clock.advance(HOUR)
    assert clock.monotonic() == 3600.0
    clock.step(-HOUR)
    clock.advance(-HOUR)  # only a step can set a clock back
    assert clock.monotonic() == 3600.0 and clock.now() == START - HOUR
