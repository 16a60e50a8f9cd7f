"""Properties of the gate over generated input: it never crashes, never admits what a
device did not sign, and never admits a reading that breaks a rule."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from charter.bootstrap import Platform
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import to_ms
from charter.domain.envelope import SignedEnvelope
from charter.domain.model import DataCategory, FieldSpec
from tests.conftest import SampleCity, air_reading

SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- (a) random bytes and random JSON ------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def envelope_shaped(draw: st.DrawFn) -> bytes:
    """JSON that looks like an envelope, with any part of it wrong."""
    device = draw(
        st.sampled_from(
            ["urn:ngsi-ld:Device:air", "urn:ngsi-ld:Device:traffic", "urn:ngsi-ld:Device:nobody"]
        )
        | st.text(max_size=10)
    )
    reading = st.fixed_dictionaries(
        {
            "category": st.sampled_from(["air.quality", "traffic.count"]) | st.text(max_size=5),
            "t": st.just("2026-11-29T12:00:00Z") | json_values,
            "values": st.dictionaries(st.sampled_from(["pm25", "no2", "x"]), json_values)
            | json_values,
        },
    )
    env = draw(
        st.fixed_dictionaries(
            {
                "v": st.just(1) | json_values,
                "device": st.just(device) | json_values,
                "seq": st.integers(-5, 2**64) | json_values,
                "sent_at": st.just("2026-11-29T12:00:00Z") | json_values,
                "readings": st.lists(reading, max_size=3) | json_values,
            },
        )
    )
    sig = draw(
        st.text(max_size=100)
        | st.binary(min_size=64, max_size=64).map(lambda b: base64.b64encode(b).decode())
        | json_values
    )
    top: dict[str, Any] = {"envelope": env, "sig": sig}
    if draw(st.booleans()):
        top = draw(st.dictionaries(st.sampled_from(["envelope", "sig", "x"]), json_values)) | top
    return json.dumps(top).encode()


bodies = (
    st.binary(max_size=600) | json_values.map(lambda v: json.dumps(v).encode()) | envelope_shaped()
)


def nothing_admitted(platform: Platform, outs: list[Any], n: int) -> None:
    assert len(outs) == n
    assert all(o.admitted == 0 for o in outs)
    assert all(o.quarantined == 0 for o in outs)  # no stranger fills the quarantine
    assert platform.store.count_readings() == 0
    assert platform.store.count_quarantine() == 0


@SETTINGS
@given(batch=st.lists(bodies, min_size=1, max_size=4))
def test_random_input_never_raises_and_never_admits(
    platform: Platform, city: SampleCity, batch: list[bytes]
) -> None:
    outs = platform.gate.ingest(batch)
    nothing_admitted(platform, outs, len(batch))


# -- (b) a signed envelope, mutated --------------------------------------------------

byte_edits = st.lists(
    st.one_of(
        st.tuples(st.just("flip"), st.integers(0, 10_000), st.integers(1, 255)),
        st.tuples(st.just("insert"), st.integers(0, 10_000), st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("delete"), st.integers(0, 10_000), st.integers(1, 16)),
    ),
    min_size=1,
    max_size=3,
)


def apply_edits(data: bytes, edits: list[tuple[str, int, Any]]) -> bytes:
    out = bytearray(data)
    for kind, where, arg in edits:
        if kind == "flip" and out:
            out[where % len(out)] ^= arg
        elif kind == "insert":
            i = where % (len(out) + 1)
            out[i:i] = arg
        elif kind == "delete" and out:
            i = where % len(out)
            del out[i : i + arg]
    return bytes(out)


def signed_part(body: bytes) -> tuple[bytes, bytes] | None:
    """The envelope bytes and the signature the gate would verify, if it can read them."""
    try:
        signed = msgspec.json.decode(body, type=SignedEnvelope)
        return bytes(signed.envelope), base64.b64decode(signed.sig, validate=True)
    except (msgspec.DecodeError, ValueError):
        return None


def original(city: SampleCity) -> bytes:
    now = city.platform.clock.now()
    return city.envelope(city.air, [air_reading(now), air_reading(now, pm25=30.0)])


def check_mutant(platform: Platform, honest: bytes, mutant: bytes) -> None:
    before = platform.store.count_readings()
    [out] = platform.gate.ingest([mutant])
    admitted = platform.store.count_readings() - before
    assert admitted == out.admitted
    if signed_part(mutant) != signed_part(honest):
        assert out.admitted == 0, (mutant, out.to_json())
        assert out.quarantined == 0


@SETTINGS
@example(edits=[("flip", 30, 0x80)])  # a byte of the device id becomes invalid UTF-8
@given(edits=byte_edits)
def test_a_mutated_envelope_is_never_admitted(
    platform: Platform, city: SampleCity, edits: list[tuple[str, int, Any]]
) -> None:
    honest = original(city)
    check_mutant(platform, honest, apply_edits(honest, edits))


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def edit(env: dict[str, Any]) -> None:
        target: Any = env
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        except (IndexError, KeyError, TypeError):
            pass  # an earlier edit removed what this one would change

    return edit


field_edits = st.one_of(
    st.integers(0, 2**62).map(lambda v: _set(("seq",), v)),
    st.sampled_from(["urn:ngsi-ld:Device:traffic", "urn:ngsi-ld:Device:ghost"]).map(
        lambda v: _set(("device",), v)
    ),
    st.sampled_from(
        ["2026-11-29T12:00:01Z", "2026-11-29T11:59:59Z", "2026-11-29T12:00:00+00:00"]
    ).map(lambda v: _set(("sent_at",), v)),
    st.sampled_from([0, 2]).map(lambda v: _set(("v",), v)),
    json_values.map(lambda v: _set(("readings", 0, "values", "pm25"), v)),
    st.sampled_from(["traffic.count", "water.level"]).map(
        lambda v: _set(("readings", 1, "category"), v)
    ),
    st.just("2026-11-29T11:00:00Z").map(lambda v: _set(("readings", 0, "t"), v)),
    json_values.map(lambda v: _set(("readings", 1, "values", "extra"), v)),
    st.just(None).map(lambda v: _set(("readings", 0, "units"), v)),
    st.just(lambda env: env["readings"].extend(env["readings"][:1])),
    st.just(lambda env: env["readings"][1:] and env["readings"].pop()),
    st.just(lambda env: env.update(note="hello")),
)


@SETTINGS
@given(edits=st.lists(field_edits, min_size=1, max_size=3))
def test_an_envelope_changed_inside_its_signed_part_is_never_admitted(
    platform: Platform, city: SampleCity, edits: list[Any]
) -> None:
    honest = original(city)
    top = msgspec.json.decode(honest)
    for edit in edits:
        edit(top["envelope"])
    mutant = b'{"envelope":%s,"sig":"%s"}' % (
        msgspec.json.encode(top["envelope"]),
        top["sig"].encode(),
    )
    check_mutant(platform, honest, mutant)


# -- (c) signed random readings: what is admitted obeys every rule -------------------

CATEGORIES = [
    "air.quality",
    "traffic.count",
    "pedestrian.crossing_request",
    "water.level",
    "noise.level",
    "parking.occupancy",
]
FIELDS = [
    "pm25",
    "no2",
    "temperature",
    "vehicles",
    "mean_speed",
    "fob",
    "extra_seconds",
    "level",
    "occupied",
    "firmware_debug",
]
UNITS = ["ug/m3", "Cel", "count", "km/h", "s", "cm", "mg/m3", ""]


def _nest(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-50, 12_000),
    st.integers(-(2**80), 2**80),
    st.floats(-100, 2_100),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=80),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.integers(1, 200).map(_nest),
)

WEEK_MS = 7 * 24 * 3600 * 1000
offsets = st.one_of(
    st.integers(-WEEK_MS, 60_000),  # within the window
    st.integers(-2 * WEEK_MS, 3_600_000),  # around it
    st.sampled_from([-WEEK_MS, -WEEK_MS - 1, 60_000, 60_001]),  # on its edges
)
zones = st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))

# What each declared field accepts, so that a good share of readings is admissible.
PLAUSIBLE = {
    "pm25": st.floats(0, 1000) | st.integers(0, 1000),
    "no2": st.floats(0, 2000),
    "temperature": st.floats(-60, 70),
    "vehicles": st.integers(0, 10_000),
    "mean_speed": st.floats(0, 300) | st.integers(0, 300),
    "fob": st.text(max_size=64),
    "extra_seconds": st.integers(0, 30),
    "level": st.floats(-100, 2000),
    "occupied": st.booleans(),
    "firmware_debug": values,
}
RIGHT_UNIT = {
    "pm25": "ug/m3",
    "no2": "ug/m3",
    "temperature": "Cel",
    "vehicles": "count",
    "mean_speed": "km/h",
    "extra_seconds": "s",
    "level": "cm",
}


@st.composite
def readings(draw: st.DrawFn, sent_at: datetime, allowed: list[str]) -> SimReading:
    """Mostly plausible readings of the device's own categories, each part sometimes wrong."""
    likely = draw(st.integers(0, 3)) > 0
    category = draw(st.sampled_from(allowed if likely else CATEGORIES))
    t = (sent_at + timedelta(milliseconds=draw(offsets))).astimezone(draw(zones))
    if draw(st.integers(0, 20)) == 0:
        t = draw(
            st.sampled_from(
                [
                    datetime(1, 1, 1, tzinfo=UTC),
                    datetime(9999, 12, 31, tzinfo=timezone(timedelta(hours=-5))),
                ]
            )
        )
    names = draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True))
    vals = {
        name: draw(PLAUSIBLE[name] if draw(st.integers(0, 4)) > 0 else values) for name in names
    }
    units: dict[str, str] | None = None
    if draw(st.booleans()):
        units = {
            name: draw(st.just(RIGHT_UNIT.get(name, "")) | st.sampled_from(UNITS))
            for name in draw(st.lists(st.sampled_from(FIELDS), max_size=3, unique=True))
        }
    return SimReading(category, t, vals, units)


def value_ok(spec: FieldSpec, value: Any, unit: str | None) -> bool:
    kinds = {"number": (int, float), "integer": (int,), "string": (str,), "boolean": (bool,)}
    if type(value) not in kinds[spec.type]:
        return False
    if spec.type in ("number", "integer"):
        if isinstance(value, float) and not math.isfinite(value):
            return False
        lo = -math.inf if spec.minimum is None else spec.minimum
        hi = math.inf if spec.maximum is None else spec.maximum
        if not lo <= value <= hi:
            return False
    if spec.type == "string" and len(value) > spec.max_length:
        return False
    return unit is None or spec.unit is None or unit == spec.unit


def admissible(
    r: SimReading, sent_at: datetime, declared: dict[str, DataCategory], allowed: list[str]
) -> bool:
    """The rules, written out independently of the gate."""
    category = declared.get(r.category)
    if category is None or r.category not in allowed or category.personal:
        return False
    t, sent = to_ms(r.t), to_ms(sent_at)
    if not sent - 7 * 24 * 3600 * 1000 <= t <= sent + 60_000:
        return False
    units = r.units or {}
    present = [k for k in r.values if k in category.fields]
    return bool(present) and all(
        value_ok(category.fields[k], r.values[k], units.get(k)) for k in present
    )


@SETTINGS
@given(data=st.data())
def test_every_admitted_row_obeys_every_rule(
    platform: Platform, city: SampleCity, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(["air", "traffic"]))
    signer: DeviceSigner = getattr(city, name)
    device = platform.store.get_device(signer.device_id)
    assert device is not None
    project = platform.store.get_project(device.project_id)
    assert project is not None
    declared = {c.name: c for c in project.categories}
    sent_at = platform.clock.now()
    batch = data.draw(st.lists(readings(sent_at, device.categories), min_size=1, max_size=6))
    last = max((r.id for r in platform.store.readings(limit=100_000)), default=0)

    [out] = platform.gate.ingest([city.envelope(signer, batch)])

    assert out.rejection is None
    event("some admitted" if out.admitted else "none admitted")
    rows = platform.store.readings(after_id=last)
    refused = {i for i, _, _ in out.reading_reasons}
    admitted = [i for i in range(len(batch)) if i not in refused]
    assert len(rows) == out.admitted == len(admitted)
    for i, row in zip(admitted, rows, strict=True):
        r = batch[i]
        category = declared[row.category]
        assert row.category == r.category
        assert row.category in device.categories
        assert not category.personal
        assert (row.device_id, row.project_id, row.seq) == (device.id, project.id, out.seq)
        body = msgspec.json.decode(row.body)
        assert body, "an admitted row carries at least one declared field"
        assert set(body) <= set(category.fields)
        assert body == {k: v for k, v in r.values.items() if k in category.fields}
        units = r.units or {}
        for k, v in body.items():
            assert value_ok(category.fields[k], v, units.get(k)), (k, v, units.get(k))
        assert to_ms(sent_at) - 7 * 24 * 3600 * 1000 <= row.observed_at <= to_ms(sent_at) + 60_000
        assert row.observed_at == to_ms(r.t)
    # and nothing that obeys every rule was refused
    expected = [
        i for i, r in enumerate(batch) if admissible(r, sent_at, declared, device.categories)
    ]
    assert admitted == expected
