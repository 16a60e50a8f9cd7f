"""Stage 5, validate: values have the declared type, unit and range, and each reading was
observed at a plausible time relative to its envelope."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import msgspec
import pytest
from sqlalchemy import select

from charter.bootstrap import Platform
from charter.device import SimReading
from charter.domain.reasons import Reason
from charter.gate.batch import Outcome
from charter.gate.directory import CategoryRule
from charter.gate.validate import check_values
from charter.sim import city as sample
from charter.store import schema
from charter.store.sqlite import SqliteStore
from tests.conftest import SampleCity, air_reading


def one_rejected(platform: Platform, out: Outcome, reason: Reason) -> str:
    """The envelope went through; its one reading was refused at validate. Returns the detail."""
    assert out.rejection is None, out.to_json()
    assert out.admitted == 0
    assert out.rejected == {reason.value: 1}, out.to_json()
    [(index, got, detail)] = out.reading_reasons
    assert (index, got) == (0, reason.value)
    assert decision_stages(platform) == [("validate", reason.value)]
    return detail


def decision_stages(platform: Platform) -> list[tuple[str, str]]:
    d = schema.decisions
    assert isinstance(platform.store, SqliteStore)
    with platform.store.engine.connect() as conn:
        return [(r[0], r[1]) for r in conn.execute(select(d.c.stage, d.c.reason).order_by(d.c.id))]


def send(platform: Platform, city: SampleCity, r: SimReading) -> Outcome:
    signer = city.traffic if r.category.startswith(("traffic", "pedestrian")) else city.air
    [out] = platform.gate.ingest([city.envelope(signer, [r])])
    return out


def count(t: datetime, vehicles: object = 10, units: dict[str, str] | None = None) -> SimReading:
    return SimReading("traffic.count", t, {"vehicles": vehicles}, units)


def held_stages(platform: Platform) -> list[str]:
    """The stage of each reading held in quarantine."""
    held = platform.store.quarantine()
    return [q.stage for q in held]


# -- type ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["12.5", True, False, None, [12.5], {"v": 12.5}],
    ids=["string", "true", "false", "null", "list", "object"],
)
def test_a_number_field_refuses_other_types(
    platform: Platform, city: SampleCity, value: object
) -> None:
    out = send(platform, city, air_reading(platform.clock.now(), pm25=value))
    detail = one_rejected(platform, out, Reason.WRONG_TYPE)
    assert detail == "field 'pm25' must be a number"
    # A boolean carries nothing but itself; text or a structure where a number belongs
    # could carry anything: quarantine keeps only the decision (gate/hold.py).
    assert held_stages(platform) == (["validate"] if type(value) is bool else [])


@pytest.mark.parametrize(
    "value", [10.0, 1e3, "10", True, None], ids=["float", "exp", "string", "bool", "null"]
)
def test_an_integer_field_refuses_non_integers(
    platform: Platform, city: SampleCity, value: object
) -> None:
    out = send(platform, city, count(platform.clock.now(), vehicles=value))
    assert one_rejected(platform, out, Reason.WRONG_TYPE) == "field 'vehicles' must be an integer"


def test_an_integer_is_a_number(platform: Platform, city: SampleCity) -> None:
    out = send(platform, city, air_reading(platform.clock.now(), pm25=12))
    assert out.admitted == 1
    [row] = platform.store.readings()
    assert msgspec.json.decode(row.body) == {"pm25": 12, "no2": 20.0}


def test_the_detail_names_the_field_never_the_value(platform: Platform, city: SampleCity) -> None:
    out = send(platform, city, air_reading(platform.clock.now(), pm25="SECRET-VALUE-123"))
    detail = one_rejected(platform, out, Reason.WRONG_TYPE)
    assert "SECRET" not in detail and "pm25" in detail


# -- unit ----------------------------------------------------------------------------


def test_a_value_in_another_unit_is_refused(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    r = SimReading("air.quality", now, {"pm25": 12.5}, {"pm25": "mg/m3"})
    assert one_rejected(platform, send(platform, city, r), Reason.WRONG_UNIT) == (
        "field 'pm25' must be in ug/m3"
    )


def test_units_are_compared_exactly(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    for unit in ("UG/M3", "ug/m3 ", "µg/m3", ""):
        r = SimReading("air.quality", now, {"pm25": 12.5}, {"pm25": unit})
        assert send(platform, city, r).rejected == {"WRONG_UNIT": 1}, unit
    assert platform.store.count_readings() == 0


def test_the_declared_unit_or_no_unit_is_accepted(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    declared = SimReading("air.quality", now, {"pm25": 1.0}, {"pm25": "ug/m3"})
    bare = SimReading("air.quality", now, {"pm25": 1.0}, None)
    # a unit for a field the category does not declare is ignored, like the field
    extra = SimReading("air.quality", now, {"pm25": 1.0, "rh": 50}, {"rh": "%"})
    for r in (declared, bare, extra):
        assert send(platform, city, r).admitted == 1
    assert platform.store.count_readings() == 3


# -- finite --------------------------------------------------------------------------


AIR_RULE = CategoryRule.of(sample.AIR_QUALITY)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_check_values_refuses_nan_and_infinity(value: float) -> None:
    assert check_values({"pm25": value}, None, AIR_RULE) == (
        Reason.NON_FINITE,
        "field 'pm25' is not finite",
    )


@pytest.mark.parametrize("literal", [b"1e999", b"-1e999"])
def test_an_infinite_number_on_the_wire_is_non_finite(
    platform: Platform, city: SampleCity, literal: bytes
) -> None:
    """JSON has no Infinity, but 1e999 is valid JSON that overflows a double: the
    decoder refuses it, and the gate names it NON_FINITE for that reading alone."""
    now = platform.clock.now()
    env = city.envelope(city.air, [air_reading(now, pm25=123456.5)])
    env = city.air.seal(
        msgspec.json.encode(msgspec.json.decode(env)["envelope"]).replace(b"123456.5", literal)
    )
    out, _other = platform.gate.ingest([env, city.envelope(city.air)])
    assert out.rejection is None and out.admitted == 0
    assert out.rejected == {Reason.NON_FINITE.value: 1}
    assert decision_stages(platform) == [("decode", Reason.NON_FINITE.value)]
    assert platform.store.count_readings() == 1  # the other envelope is unaffected


# -- range ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pm25", -0.001),
        ("pm25", 1000.001),
        ("pm25", 10**30),
        ("no2", 2001),
        ("temperature", -60.5),
        ("temperature", 70.5),
    ],
)
def test_a_value_outside_the_declared_range_is_refused(
    platform: Platform, city: SampleCity, field: str, value: float
) -> None:
    r = SimReading("air.quality", platform.clock.now(), {field: value})
    detail = one_rejected(platform, send(platform, city, r), Reason.OUT_OF_RANGE)
    assert detail == f"field {field!r} is outside its declared range"


@pytest.mark.parametrize(
    ("field", "value"),
    [("pm25", 0), ("pm25", 1000), ("pm25", -0.0), ("temperature", -60), ("temperature", 70)],
)
def test_the_range_includes_its_bounds(
    platform: Platform, city: SampleCity, field: str, value: float
) -> None:
    r = SimReading("air.quality", platform.clock.now(), {field: value})
    assert send(platform, city, r).admitted == 1


def test_an_integer_field_has_a_range_too(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    assert send(platform, city, count(now, vehicles=-1)).rejected == {"OUT_OF_RANGE": 1}
    assert send(platform, city, count(now, vehicles=10_001)).rejected == {"OUT_OF_RANGE": 1}
    assert send(platform, city, count(now, vehicles=2**70)).rejected == {"OUT_OF_RANGE": 1}
    assert send(platform, city, count(now, vehicles=10_000)).admitted == 1


def test_a_string_longer_than_declared_is_out_of_range(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    r = SimReading("pedestrian.crossing_request", now, {"fob": "F" * 65, "extra_seconds": 5})
    out = send(platform, city, r)
    assert out.rejected == {"OUT_OF_RANGE": 1}
    # personal: dropped, and its detail not echoed
    assert out.dropped == 1 and out.reading_reasons == [(0, "OUT_OF_RANGE", "")]


def test_the_first_problem_is_reported(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    r = SimReading("air.quality", now, {"pm25": "x", "no2": -1}, {"no2": "ppm"})
    assert one_rejected(platform, send(platform, city, r), Reason.WRONG_TYPE).startswith(
        "field 'pm25'"
    )


# -- shape ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values", [{}, {"firmware_debug": "x"}, {"PM25": 1.0}], ids=["empty", "undeclared", "case"]
)
def test_a_reading_with_none_of_the_declared_fields_is_invalid(
    platform: Platform, city: SampleCity, values: dict[str, object]
) -> None:
    r = SimReading("air.quality", platform.clock.now(), values)
    detail = one_rejected(platform, send(platform, city, r), Reason.INVALID_READING)
    assert detail == "the reading carries none of the declared fields"
    assert held_stages(platform) == ["validate"]


def test_one_declared_field_is_enough(platform: Platform, city: SampleCity) -> None:
    r = SimReading("air.quality", platform.clock.now(), {"temperature": 21.5})
    assert send(platform, city, r).admitted == 1


# -- time of observation -------------------------------------------------------------


MAX_AGE = timedelta(days=7)
SKEW = timedelta(seconds=60)


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (-MAX_AGE, None),
        (-MAX_AGE - timedelta(milliseconds=1), Reason.STALE_TIMESTAMP),
        (-timedelta(days=400), Reason.STALE_TIMESTAMP),
        (SKEW, None),
        (SKEW + timedelta(milliseconds=1), Reason.FUTURE_TIMESTAMP),
        (timedelta(days=1), Reason.FUTURE_TIMESTAMP),
    ],
    ids=["oldest", "too-old", "last-year", "latest", "too-late", "tomorrow"],
)
def test_a_reading_is_observed_within_its_window_around_sent_at(
    platform: Platform, city: SampleCity, offset: timedelta, reason: Reason | None
) -> None:
    now = platform.clock.now()
    [out] = platform.gate.ingest(
        [city.envelope(city.air, [air_reading(now + offset), air_reading(now)], sent_at=now)]
    )
    if reason is None:
        assert out.admitted == 2 and out.rejected == {}
    else:
        assert out.admitted == 1
        assert out.rejected == {reason.value: 1}
        [(index, got, detail)] = out.reading_reasons
        assert (index, got) == (0, reason.value)
        assert detail in ("observed too long ago", "observed after sent_at")
        assert held_stages(platform) == ["validate"]


def test_the_window_follows_sent_at_not_the_gate_clock(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    early = now - timedelta(seconds=200)  # an envelope sent 200 s ago is still on time
    [out] = platform.gate.ingest(
        [city.envelope(city.air, [air_reading(early + timedelta(seconds=90))], sent_at=early)]
    )
    assert out.rejected == {"FUTURE_TIMESTAMP": 1}


def test_the_stored_time_is_the_observation_time(platform: Platform, city: SampleCity) -> None:
    t = platform.clock.now() - timedelta(hours=5, milliseconds=250)
    assert send(platform, city, air_reading(t)).admitted == 1
    [row] = platform.store.readings()
    assert row.observed_at == round(t.timestamp() * 1000)
    assert row.received_at == round(platform.clock.now().timestamp() * 1000)
