"""Stage 1, decode: bytes become an envelope, or a reason why not, without ever crashing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import select

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.model import urn
from charter.domain.reasons import Reason
from charter.gate.batch import Outcome
from charter.settings import Settings
from charter.store import schema
from charter.store.sqlite import SqliteStore
from tests.conftest import SampleCity, air_reading

MakeCity = Callable[..., SampleCity]


@pytest.fixture
def limited(tmp_path: Path, clock: FixedClock) -> Iterator[MakeCity]:
    """A sample city on a platform with its own settings (smaller limits)."""
    made: list[Platform] = []

    def make(**settings: int) -> SampleCity:
        p = build(Settings(data_dir=tmp_path / f"limited{len(made)}", **settings), clock=clock)
        made.append(p)
        return SampleCity(p)

    yield make
    for p in made:
        p.close()


def seal_raw(city: SampleCity, signer: DeviceSigner, readings: bytes, *, v: int = 1) -> bytes:
    """A correctly signed envelope whose readings are given as raw JSON bytes."""
    seq = city.seqs.get(signer.device_id, 0) + 1
    city.seqs[signer.device_id] = seq
    sent_at = msgspec.json.encode(city.platform.clock.now())
    body = b'{"v":%d,"device":%s,"seq":%d,"sent_at":%s,"readings":%s}' % (
        v,
        msgspec.json.encode(signer.device_id),
        seq,
        sent_at,
        readings,
    )
    return signer.seal(body)


def reading_json(city: SampleCity, values: bytes = b'{"pm25":12.5}') -> bytes:
    t = msgspec.json.encode(city.platform.clock.now())
    return b'{"category":"air.quality","t":%s,"values":%s}' % (t, values)


def rejected_at_decode(out: Outcome, reason: Reason, readings: int = 1) -> None:
    """Rejected whole at decode, and dropped: every reading counted, none kept."""
    assert out.rejection is not None, out.to_json()
    assert (out.rejection.stage, out.rejection.reason) == ("decode", reason)
    assert out.admitted == 0 and out.quarantined == 0 and out.dropped == readings
    assert out.rejected == {reason.value: readings}
    assert out.to_json()["reason"] == reason.value and out.to_json()["stage"] == "decode"


def nothing_kept(platform: Platform) -> None:
    assert platform.store.count_readings() == 0
    assert platform.store.count_quarantine() == 0


# -- malformed JSON ------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"not json at all",
        b'{"envelope": {"v": 1}, "sig": "abc"',
        b'{"envelope": {}, "sig": "x"} trailing',
        b"\xff\xfe\x00",
        b'{"envelope": {}, "sig": "\xff"}',
    ],
    ids=["empty", "open-brace", "text", "truncated", "trailing", "binary", "bad-utf8-sig"],
)
def test_bytes_that_are_not_json_are_malformed(
    platform: Platform, city: SampleCity, body: bytes
) -> None:
    [out] = platform.gate.ingest([body])
    rejected_at_decode(out, Reason.MALFORMED_JSON)
    assert out.device_id is None and out.seq is None
    nothing_kept(platform)
    assert platform.store.rejections_by_reason() == {"MALFORMED_JSON": 1}


def test_a_nan_literal_is_named_non_finite(platform: Platform, city: SampleCity) -> None:
    # JSON has no NaN: the envelope cannot be parsed, but the gate says why.
    [out] = platform.gate.ingest([b'{"envelope": NaN, "sig": "x"}'])
    rejected_at_decode(out, Reason.NON_FINITE)
    env = seal_raw(city, city.air, b"[%s]" % reading_json(city, b'{"pm25":NaN}'))
    [out] = platform.gate.ingest([env])
    rejected_at_decode(out, Reason.NON_FINITE)
    nothing_kept(platform)


def test_nan_as_a_string_is_not_mistaken_for_a_non_finite_number(
    platform: Platform, city: SampleCity
) -> None:
    [out] = platform.gate.ingest([b'{"envelope": {"v": "NaN", "sig": "x"}'])
    rejected_at_decode(out, Reason.MALFORMED_JSON)


# -- envelope shape --------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'"envelope"',
        b"{}",
        b'{"envelope": {}}',
        b'{"sig": "abc"}',
        b'{"envelope": {}, "sig": "abc", "extra": 1}',
        b'{"envelope": {}, "sig": 5}',
        b'{"envelope": {}, "sig": "%s"}' % (b"A" * 129),
        b'{"envelope": 5, "sig": "abc"}',
        b'{"envelope": [], "sig": "abc"}',
        b'{"envelope": {"v": 1}, "sig": "abc"}',
    ],
    ids=[
        "array",
        "string",
        "empty-object",
        "no-sig",
        "no-envelope",
        "unknown-member",
        "sig-not-string",
        "sig-too-long",
        "envelope-number",
        "envelope-array",
        "no-header",
    ],
)
def test_json_of_the_wrong_shape_is_an_invalid_envelope(
    platform: Platform, city: SampleCity, body: bytes
) -> None:
    [out] = platform.gate.ingest([body])
    rejected_at_decode(out, Reason.INVALID_ENVELOPE)
    nothing_kept(platform)


def _header(city: SampleCity, **fields: object) -> bytes:
    body: dict[str, object] = {
        "v": 1,
        "device": city.air.device_id,
        "seq": 1,
        "sent_at": city.platform.clock.now(),
        "readings": [air_reading(city.platform.clock.now()).to_wire()],
    }
    body.update(fields)
    return city.air.seal(msgspec.json.encode({k: v for k, v in body.items() if v is not None}))


@pytest.mark.parametrize(
    "fields",
    [
        {"v": 2},
        {"v": "1"},
        {"seq": -1},
        {"seq": 2**62 + 1},
        {"seq": "1"},
        {"device": ""},
        {"device": "x" * 201},
        {"sent_at": "2026-11-29T12:00:00"},
        {"sent_at": "yesterday"},
        {"readings": {"category": "air.quality"}},
        {"readings": "none"},
    ],
    ids=[
        "version-2",
        "version-string",
        "negative-seq",
        "seq-too-big",
        "seq-string",
        "empty-device",
        "device-too-long",
        "naive-sent-at",
        "sent-at-not-a-time",
        "readings-object",
        "readings-string",
    ],
)
def test_a_signed_envelope_with_a_bad_header_is_invalid(
    platform: Platform, city: SampleCity, fields: dict[str, object]
) -> None:
    [out] = platform.gate.ingest([_header(city, **fields)])
    rejected_at_decode(out, Reason.INVALID_ENVELOPE)
    assert out.rejection is not None and out.rejection.detail  # says what is wrong
    nothing_kept(platform)


def test_a_missing_header_field_is_an_invalid_envelope(
    platform: Platform, city: SampleCity
) -> None:
    for name in ("v", "device", "seq", "sent_at", "readings"):
        body = {
            "v": 1,
            "device": city.air.device_id,
            "seq": 1,
            "sent_at": city.platform.clock.now(),
            "readings": [],
        }
        del body[name]
        [out] = platform.gate.ingest([city.air.seal(msgspec.json.encode(body))])
        rejected_at_decode(out, Reason.INVALID_ENVELOPE)
    nothing_kept(platform)


# -- size ----------------------------------------------------------------------------


def _padded(city: SampleCity, pad: int) -> bytes:
    now = city.platform.clock.now()
    return city.air.envelope(1, now, [air_reading(now, padding="x" * pad)])


def test_the_size_limit_is_inclusive(limited: MakeCity) -> None:
    small = limited(max_envelope_bytes=1024)
    base = len(_padded(small, 0))
    exact = _padded(small, 1024 - base)
    assert len(exact) == 1024
    [out] = small.platform.gate.ingest([exact])
    assert out.rejection is None and out.admitted == 1
    # the padding is not a declared field: it was not stored
    [row] = small.platform.store.readings()
    assert "padding" not in row.body


def test_an_envelope_over_the_size_limit_is_too_large(limited: MakeCity) -> None:
    small = limited(max_envelope_bytes=1024)
    over = _padded(small, 1025 - len(_padded(small, 0)))
    assert len(over) == 1025
    [out] = small.platform.gate.ingest([over])
    rejected_at_decode(out, Reason.ENVELOPE_TOO_LARGE)
    nothing_kept(small.platform)


def test_size_is_checked_before_parsing(limited: MakeCity) -> None:
    small = limited(max_envelope_bytes=100)
    [out] = small.platform.gate.ingest([b"{" * 101])
    rejected_at_decode(out, Reason.ENVELOPE_TOO_LARGE)


def test_the_default_size_limit_is_four_mebibytes(platform: Platform, city: SampleCity) -> None:
    assert platform.settings.max_envelope_bytes == 4 * 1024 * 1024
    [out] = platform.gate.ingest([b" " * (4 * 1024 * 1024 + 1)])
    rejected_at_decode(out, Reason.ENVELOPE_TOO_LARGE)


# -- depth ---------------------------------------------------------------------------


def test_a_hundred_thousand_nested_arrays_are_too_deep(
    platform: Platform, city: SampleCity
) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    env = seal_raw(city, city.air, b"[%s]" % reading_json(city, b'{"pm25":1,"x":%s}' % deep))
    good = city.envelope(city.air)
    outs = platform.gate.ingest([env, good])
    rejected_at_decode(outs[0], Reason.TOO_DEEP)
    assert outs[1].admitted == 1  # the rest of the batch is unaffected
    assert platform.store.count_readings() == 1
    assert platform.store.count_quarantine() == 0


def test_deep_objects_anywhere_in_the_body_are_too_deep(platform: Platform) -> None:
    deep_objects = b'{"a":' * 50_000 + b"1" + b"}" * 50_000
    [out] = platform.gate.ingest([b'{"envelope":%s,"sig":"x"}' % deep_objects])
    rejected_at_decode(out, Reason.TOO_DEEP)


def test_modest_nesting_in_an_undeclared_field_is_decoded_and_dropped(
    platform: Platform, city: SampleCity
) -> None:
    nested = b"[" * 50 + b"1" + b"]" * 50
    env = seal_raw(city, city.air, b"[%s]" % reading_json(city, b'{"pm25":1,"x":%s}' % nested))
    [out] = platform.gate.ingest([env])
    assert out.rejection is None and out.admitted == 1
    [row] = platform.store.readings()
    assert msgspec.json.decode(row.body) == {"pm25": 1}


# -- counts --------------------------------------------------------------------------


def test_an_envelope_without_readings_is_empty(platform: Platform, city: SampleCity) -> None:
    [out] = platform.gate.ingest([city.envelope(city.air, [])])
    rejected_at_decode(out, Reason.EMPTY_ENVELOPE)
    nothing_kept(platform)


def test_more_readings_than_the_limit_are_too_many(limited: MakeCity) -> None:
    small = limited(max_readings=3)
    now = small.platform.clock.now()
    [ok] = small.platform.gate.ingest([small.envelope(small.air, [air_reading(now)] * 3)])
    assert ok.admitted == 3
    [out] = small.platform.gate.ingest([small.envelope(small.air, [air_reading(now)] * 4)])
    rejected_at_decode(out, Reason.TOO_MANY_READINGS, readings=4)
    assert out.rejection is not None and out.rejection.detail == "4 readings, at most 3"
    assert small.platform.store.count_readings() == 3
    assert small.platform.store.count_quarantine() == 0


def test_the_default_limit_is_ten_thousand_readings(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.air, [air_reading(now)] * 10_001)])
    rejected_at_decode(out, Reason.TOO_MANY_READINGS, readings=10_001)
    assert platform.store.count_readings() == 0
    assert platform.store.rejections_by_reason() == {"TOO_MANY_READINGS": 10_001}


# -- one reading of the wrong shape --------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        b'{"category":"air.quality","values":{"pm25":1}}',
        b'{"category":"air.quality","t":"2026-11-29T12:00:00Z"}',
        b'{"t":"2026-11-29T12:00:00Z","values":{"pm25":1}}',
        b'{"category":"","t":"2026-11-29T12:00:00Z","values":{"pm25":1}}',
        b'{"category":"%s","t":"2026-11-29T12:00:00Z","values":{"pm25":1}}' % (b"a" * 65),
        b'{"category":"air.quality","t":"2026-11-29T12:00:00","values":{"pm25":1}}',
        b'{"category":"air.quality","t":"2026-11-29T12:00:00Z","values":[1]}',
        b'{"category":"air.quality","t":"2026-11-29T12:00:00Z","values":{"pm25":1},'
        b'"units":{"pm25":1}}',
        b"5",
        b'"air.quality"',
        b"null",
    ],
    ids=[
        "missing-t",
        "missing-values",
        "missing-category",
        "empty-category",
        "category-too-long",
        "naive-t",
        "values-array",
        "unit-not-string",
        "number",
        "string",
        "null",
    ],
)
def test_a_reading_of_the_wrong_shape_costs_only_itself(
    platform: Platform, city: SampleCity, bad: bytes
) -> None:
    env = seal_raw(city, city.air, b"[%s,%s,%s]" % (reading_json(city), bad, reading_json(city)))
    [out] = platform.gate.ingest([env])
    assert out.rejection is None
    assert out.admitted == 2
    assert out.rejected == {"INVALID_READING": 1}
    assert [(i, r) for i, r, _ in out.reading_reasons] == [(1, "INVALID_READING")]
    # a reading the gate could not read cannot be classified, so it is not kept
    assert out.dropped == 1 and out.quarantined == 0
    assert platform.store.count_readings() == 2
    assert platform.store.count_quarantine() == 0
    assert platform.store.rejections_by_reason() == {"INVALID_READING": 1}


def test_a_reading_missing_its_time_is_rejected_at_decode(
    platform: Platform, city: SampleCity
) -> None:
    bad = b'{"category":"air.quality","values":{"pm25":1}}'
    env = seal_raw(city, city.air, b"[%s]" % bad)
    [out] = platform.gate.ingest([env])
    assert out.rejection is None and out.admitted == 0
    assert out.rejected == {"INVALID_READING": 1}
    assert platform.store.rejections_by_reason() == {"INVALID_READING": 1}
    # the decision names the stage
    assert _decision_stages(platform) == [("decode", "INVALID_READING", "dropped")]


def _decision_stages(platform: Platform) -> list[tuple[str, str, str]]:
    d = schema.decisions
    assert isinstance(platform.store, SqliteStore)
    with platform.store.engine.connect() as conn:
        rows = conn.execute(select(d.c.stage, d.c.reason, d.c.outcome).order_by(d.c.id))
        return [(r[0], r[1], r[2]) for r in rows]


def test_an_unknown_device_is_refused_before_its_readings_are_decoded(
    platform: Platform, city: SampleCity
) -> None:
    ghost = DeviceSigner(urn("Device", "ghost"))
    [out] = platform.gate.ingest([ghost.envelope(1, platform.clock.now(), [])])
    # decode reads the header, then identity is checked: the readings (here an
    # empty list, which the full decode refuses) are read only for a device
    # whose signature is good.
    assert out.rejection is not None
    assert (out.rejection.stage, out.rejection.reason) == ("authenticate", Reason.NOT_REGISTERED)


# -- no input crashes the gate -------------------------------------------------------


def test_invalid_utf8_inside_the_signed_envelope_is_rejected_not_raised(
    platform: Platform, city: SampleCity
) -> None:
    """The outer decode skips over the envelope member without checking its UTF-8;
    the typed decode of that member then raises a DecodeError the gate must catch.
    No one needs a key for this: it happens before authentication."""
    bad = seal_raw(city, city.air, b"[%s]" % reading_json(city, b'{"pm25":1,"note":"\xff\xfe"}'))
    good = city.envelope(city.air)
    outs = platform.gate.ingest([good, bad])  # must not raise
    assert outs[0].admitted == 1
    assert outs[1].admitted == 0
    reasons = {outs[1].rejection.reason} if outs[1].rejection else set(outs[1].rejected)
    assert reasons <= {Reason.MALFORMED_JSON, Reason.INVALID_READING}
    assert platform.store.count_readings() == 1


def test_an_empty_batch_is_fine(platform: Platform) -> None:
    assert platform.gate.ingest([]) == []
    assert platform.store.count_readings() == 0
