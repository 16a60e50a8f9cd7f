"""Adversarial: forged envelopes, replays, revoked and rotated-out keys, a flooding device."""

from __future__ import annotations

from datetime import timedelta

import pytest

from charter.bootstrap import Platform
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from tests.conftest import OPERATOR, SampleCity


def reason(platform: Platform, body: bytes) -> Reason | None:
    [out] = platform.gate.ingest([body])
    return out.rejection.reason if out.rejection else None


def test_a_forged_envelope_is_refused_and_nothing_is_kept(
    platform: Platform, city: SampleCity
) -> None:
    forger = DeviceSigner(city.air.device_id)  # right id, wrong key
    assert reason(platform, city.envelope(forger)) is Reason.BAD_SIGNATURE
    assert platform.store.count_readings() == 0
    assert platform.store.count_quarantine() == 0
    # The real device is unaffected, sequence numbers included.
    assert reason(platform, city.envelope(city.air)) is None


def test_a_replayed_envelope_is_refused(platform: Platform, city: SampleCity) -> None:
    body = city.envelope(city.air)
    assert reason(platform, body) is None
    assert reason(platform, body) is Reason.REPLAYED_SEQUENCE
    assert platform.store.count_readings() == 1


def test_rotation_keeps_the_old_key_during_the_overlap_only(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    keys = platform.security.device_keys
    new = DeviceSigner(city.air.device_id)
    keys.rotate(city.air.device_id, new.public_key_b64, OPERATOR, "yearly", overlap_s=600)
    assert reason(platform, city.envelope(city.air)) is None  # old key, inside the overlap
    assert reason(platform, city.envelope(new)) is None
    clock.advance(timedelta(seconds=601))
    assert reason(platform, city.envelope(city.air)) is Reason.KEY_EXPIRED
    assert reason(platform, city.envelope(new)) is None
    kinds = [e.kind for e in platform.store.ledger_entries(0, platform.ledger.size)]
    assert "device.key_rotated" in kinds


def test_replay_protection_survives_rotation(platform: Platform, city: SampleCity) -> None:
    captured = city.envelope(city.air)
    assert reason(platform, captured) is None
    new = DeviceSigner(city.air.device_id)
    platform.security.device_keys.rotate(
        city.air.device_id, new.public_key_b64, OPERATOR, "rotate", overlap_s=600
    )
    assert reason(platform, captured) is Reason.REPLAYED_SEQUENCE
    # The new key cannot reuse a sequence number the old key spent either.
    seq = city.seqs[city.air.device_id]
    assert reason(platform, city.envelope(new, seq=seq)) is Reason.REPLAYED_SEQUENCE


def test_revocation_is_effective_at_once(platform: Platform, city: SampleCity) -> None:
    keys = platform.security.device_keys
    [enrolment] = keys.keys(city.air.device_id)
    assert reason(platform, city.envelope(city.air)) is None
    keys.revoke(city.air.device_id, enrolment.key_id, OPERATOR, "key leaked")
    assert reason(platform, city.envelope(city.air)) is Reason.KEY_REVOKED
    assert platform.store.count_readings() == 1
    # Other devices carry on.
    assert reason(platform, city.envelope(city.traffic, [])) is not Reason.KEY_REVOKED


def test_a_revoked_key_stays_revoked_even_inside_a_rotation_overlap(
    platform: Platform, city: SampleCity
) -> None:
    keys = platform.security.device_keys
    [old] = keys.keys(city.air.device_id)
    new = DeviceSigner(city.air.device_id)
    keys.rotate(city.air.device_id, new.public_key_b64, OPERATOR, "compromise", overlap_s=3600)
    keys.revoke(city.air.device_id, old.key_id, OPERATOR, "it was stolen")
    assert reason(platform, city.envelope(city.air)) is Reason.KEY_REVOKED
    assert reason(platform, city.envelope(new)) is None


def test_a_key_cannot_be_reused_or_malformed(platform: Platform, city: SampleCity) -> None:
    keys = platform.security.device_keys
    with pytest.raises(CharterError) as e:
        keys.rotate(city.air.device_id, city.air.public_key_b64, OPERATOR, "same")
    assert e.value.reason is Reason.CONFLICT
    with pytest.raises(CharterError) as e:
        keys.rotate(city.air.device_id, "bm90IGEga2V5", OPERATOR, "junk")
    assert e.value.reason is Reason.VALIDATION_FAILED


def test_a_flooding_device_cannot_starve_the_others(platform: Platform, city: SampleCity) -> None:
    """Counts, not timing: per second of the gate's clock, what each device gets in."""
    others = [city.air, city.device("air-2", *_air_device_args())]
    flooder = city.device("flooder", *_air_device_args())
    baseline = _round(platform, city, others, flooder, flood=0)
    flooded = _round(platform, city, others, flooder, flood=2000)
    for s in others:
        assert flooded[s.device_id] >= 0.9 * baseline[s.device_id] > 0
    # The flooder gets its burst and its rate, nothing more.
    s = platform.settings
    assert flooded[flooder.device_id] <= s.device_burst + 10 * s.device_rate_per_s
    assert flooded["rate_limited"] > 0
    assert platform.store.count_quarantine() == 0  # a flood fills no quarantine


def _air_device_args() -> tuple[str, str, list[str]]:
    from charter.sim import city as sample

    return sample.TRUSTED, sample.AIR, ["air.quality"]


def _round(
    platform: Platform,
    city: SampleCity,
    others: list[DeviceSigner],
    flooder: DeviceSigner,
    flood: int,
) -> dict[str, int]:
    """Ten seconds of gate time; each honest device sends 5 envelopes a second."""
    clock = platform.clock
    assert isinstance(clock, FixedClock)
    counts: dict[str, int] = {"rate_limited": 0}
    for _ in range(10):
        bodies = [city.envelope(s) for s in others for _ in range(5)]
        bodies += [city.envelope(flooder) for _ in range(flood // 10)]
        for out in platform.gate.ingest(bodies):
            if out.rejection is None:
                counts[out.device_id or ""] = counts.get(out.device_id or "", 0) + 1
            elif out.rejection.reason is Reason.RATE_LIMITED:
                counts["rate_limited"] += 1
        clock.advance(timedelta(seconds=1))
    return counts


def test_replaying_captured_envelopes_does_not_spend_the_devices_allowance(
    platform: Platform, city: SampleCity
) -> None:
    captured = city.envelope(city.air)
    assert reason(platform, captured) is None
    burst = platform.settings.device_burst
    outs = platform.gate.ingest([captured] * (burst * 3))
    assert {o.rejection.reason for o in outs if o.rejection} == {Reason.REPLAYED_SEQUENCE}
    assert reason(platform, city.envelope(city.air)) is None


def test_a_rate_limited_envelope_can_be_sent_again_after_retry_after(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    burst = platform.settings.device_burst
    bodies = [city.envelope(city.air) for _ in range(burst + 1)]
    outs = platform.gate.ingest(bodies)
    last = outs[-1].rejection
    assert last is not None and last.reason is Reason.RATE_LIMITED
    clock.advance(timedelta(seconds=1))
    assert reason(platform, bodies[-1]) is None  # its sequence number was not spent


def test_a_spent_allowance_is_refused_before_the_signature_is_checked(
    platform: Platform, city: SampleCity
) -> None:
    burst = platform.settings.device_burst
    platform.gate.ingest([city.envelope(city.air) for _ in range(burst)])
    # Garbage claiming to be the device is refused as rate-limited (cheaply) ...
    forged = city.envelope(DeviceSigner(city.air.device_id))
    assert reason(platform, forged) is Reason.RATE_LIMITED
    # ... but garbage can never spend the allowance of a device that has some left.
    outs = platform.gate.ingest([city.envelope(DeviceSigner(city.traffic.device_id))] * 500)
    assert {o.rejection.reason for o in outs if o.rejection} == {Reason.BAD_SIGNATURE}
