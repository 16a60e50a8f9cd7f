"""Stage 7, minimise: an admitted row keeps only the fields its category declared."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from charter.bootstrap import Platform
from charter.device import SimReading
from charter.domain.clock import to_ms
from charter.sim import city as sample
from tests.conftest import SampleCity, air_reading


def bodies(platform: Platform) -> list[dict[str, object]]:
    return [msgspec.json.decode(r.body) for r in platform.store.readings()]


def test_undeclared_fields_are_dropped(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    r = air_reading(
        now,
        firmware_debug="core dump 0xdeadbeef",
        mac="00:11:22:33:44:55",
        nested={"wifi": [{"ssid": "home"}]},
    )
    [out] = platform.gate.ingest([city.envelope(city.air, [r])])
    assert out.admitted == 1 and out.rejected == {}
    assert bodies(platform) == [{"pm25": 12.5, "no2": 20.0}]
    [row] = platform.store.readings()
    for secret in ("firmware_debug", "deadbeef", "00:11:22", "ssid", "home"):
        assert secret not in row.body


def test_units_are_not_stored_they_are_implied_by_the_declaration(
    platform: Platform, city: SampleCity
) -> None:
    platform.gate.ingest([city.envelope(city.air)])
    [row] = platform.store.readings()
    assert "ug/m3" not in row.body and "units" not in row.body


def test_a_declared_field_that_was_not_sent_is_not_invented(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    r = SimReading("air.quality", now, {"temperature": -3.5, "humidity": 80})
    platform.gate.ingest([city.envelope(city.air, [r])])
    assert bodies(platform) == [{"temperature": -3.5}]


def test_values_are_kept_as_sent(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    r = SimReading("traffic.count", now, {"vehicles": 9999, "mean_speed": 0, "plate": "AB-123"})
    platform.gate.ingest([city.envelope(city.traffic, [r])])
    [body] = bodies(platform)
    assert body == {"vehicles": 9999, "mean_speed": 0}
    assert type(body["vehicles"]) is int and type(body["mean_speed"]) is int


def test_the_row_says_who_what_and_when(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    observed = now - timedelta(minutes=3)
    platform.gate.ingest([city.envelope(city.air, [air_reading(observed)], seq=41)])
    [row] = platform.store.readings()
    assert (row.device_id, row.project_id, row.category) == (
        city.air.device_id,
        sample.AIR,
        "air.quality",
    )
    assert row.observed_at == to_ms(observed)
    assert row.received_at == to_ms(now)
    assert row.seq == 41


def test_each_reading_is_minimised_by_its_own_category(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    readings = [
        SimReading("traffic.count", now, {"vehicles": 3, "pm25": 1.0}),
        SimReading("traffic.count", now, {"mean_speed": 50.5, "vehicles": 4, "extra": True}),
    ]
    platform.gate.ingest([city.envelope(city.traffic, readings)])
    assert bodies(platform) == [{"vehicles": 3}, {"mean_speed": 50.5, "vehicles": 4}]


def test_minimising_never_turns_a_rejected_reading_into_an_admitted_one(
    platform: Platform, city: SampleCity
) -> None:
    # The bad value is in a declared field: dropping undeclared fields cannot save it.
    now = platform.clock.now()
    r = air_reading(now, pm25="high", firmware_debug=1)
    [out] = platform.gate.ingest([city.envelope(city.air, [r])])
    assert out.admitted == 0 and out.rejected == {"WRONG_TYPE": 1}
    assert platform.store.count_readings() == 0
