"""Stage 2, authenticate: the registered device signed exactly these bytes, once, recently."""

from __future__ import annotations

import base64
from datetime import timedelta, timezone

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.model import urn
from charter.domain.reasons import Reason
from charter.gate.batch import Outcome
from tests.conftest import SampleCity, air_reading


def rejected(out: Outcome, reason: Reason, stage: str = "authenticate") -> None:
    assert out.rejection is not None, out.to_json()
    assert (out.rejection.stage, out.rejection.reason) == (stage, reason)
    assert out.admitted == 0


def unauthenticated(platform: Platform, out: Outcome, reason: Reason) -> None:
    """Rejected at authenticate and dropped: a stranger's bytes are counted, not kept."""
    rejected(out, reason)
    assert out.quarantined == 0 and out.dropped == 1
    assert platform.store.count_readings() == 0
    assert platform.store.count_quarantine() == 0
    assert platform.store.rejections_by_reason() == {reason.value: 1}


def split(env: bytes) -> tuple[bytes, str]:
    signed = msgspec.json.decode(env)
    return msgspec.json.encode(signed["envelope"]), signed["sig"]


def with_sig(env: bytes, sig: str) -> bytes:
    body, _ = split(env)
    return b'{"envelope":' + body + b',"sig":' + msgspec.json.encode(sig) + b"}"


# -- who -----------------------------------------------------------------------------


def test_an_honest_envelope_is_admitted(platform: Platform, city: SampleCity) -> None:
    [out] = platform.gate.ingest([city.envelope(city.air)])
    assert out.rejection is None and out.admitted == 1
    assert (out.device_id, out.seq) == (city.air.device_id, 1)


def test_a_device_not_on_the_register_is_unknown(platform: Platform, city: SampleCity) -> None:
    ghost = DeviceSigner(urn("Device", "ghost"))
    [out] = platform.gate.ingest([city.envelope(ghost)])
    unauthenticated(platform, out, Reason.NOT_REGISTERED)
    assert out.device_id == ghost.device_id  # the claim is echoed so the sender can debug


def test_an_envelope_forged_with_another_key_has_a_bad_signature(
    platform: Platform, city: SampleCity
) -> None:
    forger = DeviceSigner(city.air.device_id)  # same id, a key the register never saw
    [out] = platform.gate.ingest([city.envelope(forger)])
    unauthenticated(platform, out, Reason.BAD_SIGNATURE)


def test_a_device_cannot_speak_for_another_device(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    env = city.air.envelope(1, now, [air_reading(now)], device_id=city.traffic.device_id)
    [out] = platform.gate.ingest([env])
    unauthenticated(platform, out, Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"pm25":12.5', b'"pm25":13.5'),
        (b'"seq":1', b'"seq":2'),
        (b'"air.quality"', b'"air.qualitY"'),
        (b'"sent_at":"2026-11-29T12:00:00Z"', b'"sent_at":"2026-11-29T12:00:01Z"'),
        (b'"pm25":12.5', b'"pm25": 12.5'),  # even whitespace is part of what was signed
    ],
    ids=["value", "seq", "category", "sent-at", "whitespace"],
)
def test_a_byte_changed_after_signing_breaks_the_signature(
    platform: Platform, city: SampleCity, old: bytes, new: bytes
) -> None:
    env = city.envelope(city.air)
    assert env.count(old) == 1
    [out] = platform.gate.ingest([env.replace(old, new)])
    unauthenticated(platform, out, Reason.BAD_SIGNATURE)


def test_a_flipped_bit_in_the_signature_breaks_it(platform: Platform, city: SampleCity) -> None:
    env = city.envelope(city.air)
    _, sig = split(env)
    raw = bytearray(base64.b64decode(sig))
    raw[10] ^= 0x01
    [out] = platform.gate.ingest([with_sig(env, base64.b64encode(bytes(raw)).decode())])
    unauthenticated(platform, out, Reason.BAD_SIGNATURE)


@pytest.mark.parametrize(
    "sig",
    ["", "not base64!", "AAAA", base64.b64encode(b"\0" * 64).decode(), "A" * 128],
    ids=["empty", "not-base64", "short", "zeros", "long-garbage"],
)
def test_a_signature_that_is_not_one_is_bad(platform: Platform, city: SampleCity, sig: str) -> None:
    [out] = platform.gate.ingest([with_sig(city.envelope(city.air), sig)])
    unauthenticated(platform, out, Reason.BAD_SIGNATURE)


def test_a_signature_from_another_envelope_is_bad(platform: Platform, city: SampleCity) -> None:
    first = city.envelope(city.air)
    second = city.envelope(city.air)
    _, sig_of_first = split(first)
    [out] = platform.gate.ingest([with_sig(second, sig_of_first)])
    unauthenticated(platform, out, Reason.BAD_SIGNATURE)


def test_a_signature_without_the_signing_context_is_bad(
    platform: Platform, city: SampleCity
) -> None:
    # A device key signing the bare envelope bytes (e.g. for another protocol)
    # must not produce something the gate accepts.
    env = city.envelope(city.air)
    body, _ = split(env)
    key = Ed25519PrivateKey.from_private_bytes(city.air.private_bytes())
    bare = base64.b64encode(key.sign(body)).decode()
    [out] = platform.gate.ingest([with_sig(env, bare)])
    unauthenticated(platform, out, Reason.BAD_SIGNATURE)


# -- once ----------------------------------------------------------------------------


def test_the_same_envelope_twice_is_a_replay(platform: Platform, city: SampleCity) -> None:
    env = city.envelope(city.air)
    [first] = platform.gate.ingest([env])
    [again] = platform.gate.ingest([env])
    assert first.admitted == 1
    rejected(again, Reason.REPLAYED_SEQUENCE)
    assert again.rejection is not None and again.rejection.detail == "last accepted seq is 1"
    assert again.quarantined == 0 and again.dropped == 1
    assert platform.store.count_readings() == 1
    assert platform.store.count_quarantine() == 0
    assert platform.store.rejections_by_reason() == {"REPLAYED_SEQUENCE": 1}


def test_the_same_envelope_twice_in_one_batch_is_a_replay(
    platform: Platform, city: SampleCity
) -> None:
    env = city.envelope(city.air)
    first, again = platform.gate.ingest([env, env])
    assert first.admitted == 1
    rejected(again, Reason.REPLAYED_SEQUENCE)
    assert platform.store.count_readings() == 1


def test_a_lower_or_equal_sequence_number_is_a_replay(platform: Platform, city: SampleCity) -> None:
    [ten] = platform.gate.ingest([city.envelope(city.air, seq=10)])
    assert ten.admitted == 1
    for seq in (10, 9, 1, 0):
        [out] = platform.gate.ingest([city.envelope(city.air, seq=seq)])
        rejected(out, Reason.REPLAYED_SEQUENCE)
    # gaps are fine: devices lose envelopes
    [later] = platform.gate.ingest([city.envelope(city.air, seq=25)])
    assert later.admitted == 1
    assert platform.store.count_readings() == 2


def test_out_of_order_in_one_batch_the_lower_one_is_a_replay(
    platform: Platform, city: SampleCity
) -> None:
    outs = platform.gate.ingest(
        [
            city.envelope(city.air, seq=5),
            city.envelope(city.air, seq=4),
            city.envelope(city.air, seq=6),
        ]
    )
    assert [o.admitted for o in outs] == [1, 0, 1]
    rejected(outs[1], Reason.REPLAYED_SEQUENCE)


def test_sequence_zero_is_a_valid_first_envelope(platform: Platform, city: SampleCity) -> None:
    [out] = platform.gate.ingest([city.envelope(city.air, seq=0)])
    assert out.admitted == 1


def test_sequence_numbers_are_per_device(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    a = city.envelope(city.air, seq=3)
    b = city.envelope(city.traffic, [_count(now)], seq=3)
    assert [o.admitted for o in platform.gate.ingest([a, b])] == [1, 1]


def _count(now: object) -> dict[str, object]:
    return {"category": "traffic.count", "t": now, "values": {"vehicles": 4}}


def test_sequence_numbers_survive_a_restart(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    env = city.envelope(city.air)
    [out] = platform.gate.ingest([env])
    assert out.admitted == 1
    platform.close()
    again = build(platform.settings, clock=clock)
    try:
        [out] = again.gate.ingest([env])
        rejected(out, Reason.REPLAYED_SEQUENCE)
        assert again.store.count_readings() == 1
    finally:
        again.close()


# -- recently ------------------------------------------------------------------------


def test_an_envelope_exactly_at_the_age_limit_is_on_time(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    env = city.envelope(city.air)
    clock.advance(timedelta(seconds=300))
    [out] = platform.gate.ingest([env])
    assert out.rejection is None and out.admitted == 1


def test_an_envelope_older_than_the_window_is_stale(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    env = city.envelope(city.air)
    clock.advance(timedelta(seconds=300, milliseconds=1))
    [out] = platform.gate.ingest([env])
    rejected(out, Reason.STALE_TIMESTAMP)
    assert platform.store.count_readings() == 0


def test_a_stale_envelope_uses_up_its_sequence_number(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    # Otherwise a second copy of a stale envelope would be quarantined twice,
    # and replaying both would store its readings twice.
    stale = city.envelope(city.air, seq=7, sent_at=clock.now() - timedelta(minutes=10))
    [out] = platform.gate.ingest([stale])
    rejected(out, Reason.STALE_TIMESTAMP)
    [again] = platform.gate.ingest([stale])
    rejected(again, Reason.REPLAYED_SEQUENCE)
    [same_seq] = platform.gate.ingest([city.envelope(city.air, seq=7)])
    rejected(same_seq, Reason.REPLAYED_SEQUENCE)
    [next_seq] = platform.gate.ingest([city.envelope(city.air, seq=8)])
    assert next_seq.admitted == 1


def test_an_envelope_sent_within_the_skew_is_on_time(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    ahead = clock.now() + timedelta(seconds=60)
    [out] = platform.gate.ingest([city.envelope(city.air, [air_reading(ahead)], sent_at=ahead)])
    assert out.rejection is None and out.admitted == 1


def test_an_envelope_from_the_future_is_rejected(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    ahead = clock.now() + timedelta(seconds=60, milliseconds=1)
    [out] = platform.gate.ingest([city.envelope(city.air, [air_reading(ahead)], sent_at=ahead)])
    rejected(out, Reason.FUTURE_TIMESTAMP)
    # once the gate's clock catches up, a new envelope with that time is fine
    clock.advance(timedelta(seconds=2))
    [out] = platform.gate.ingest([city.envelope(city.air, [air_reading(ahead)], sent_at=ahead)])
    assert out.admitted == 1


def test_time_zones_are_honoured(platform: Platform, city: SampleCity) -> None:
    local = platform.clock.now().astimezone(timezone(timedelta(hours=-7)))
    [out] = platform.gate.ingest([city.envelope(city.air, [air_reading(local)], sent_at=local)])
    assert out.admitted == 1
    [row] = platform.store.readings()
    assert row.observed_at == int(platform.clock.now().timestamp() * 1000)


def test_random_device_ids_do_not_grow_the_gates_memory(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    strangers = [DeviceSigner(urn("Device", f"stranger-{i}")) for i in range(200)]
    outs = platform.gate.ingest([s.envelope(1, now, [air_reading(now)]) for s in strangers])
    assert {o.rejection.reason for o in outs if o.rejection} == {Reason.NOT_REGISTERED}
    assert len(platform.directory._views) == 0
    # A registered device is still remembered, so honest traffic stays fast.
    [ok] = platform.gate.ingest([city.envelope(city.air)])
    assert ok.admitted == 1 and city.air.device_id in platform.directory._views
