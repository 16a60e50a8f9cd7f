"""Stage 4, purpose: a reading is admitted only in a category the device's project declared
and the device was registered to send."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select

from charter.bootstrap import Platform
from charter.device import SimReading
from charter.domain.reasons import Reason
from charter.gate.batch import Outcome
from charter.sim import city as sample
from charter.store import schema
from charter.store.sqlite import SqliteStore
from tests.conftest import SampleCity, air_reading


def only_reading_rejected(
    platform: Platform,
    out: Outcome,
    index: int,
    reason: Reason,
    detail: str,
    *,
    kept: bool,
    echoed: bool | None = None,
) -> None:
    """One reading refused at purpose, the envelope otherwise fine. A reading certainly
    not personal has its detail echoed to the device (kept or not); another's is not."""
    assert out.rejection is None, out.to_json()
    assert out.rejected == {reason.value: 1}
    echo = kept if echoed is None else echoed
    assert out.reading_reasons == [(index, reason.value, detail if echo else "")]
    assert (out.quarantined, out.dropped) == ((1, 0) if kept else (0, 1))
    assert decisions(platform) == [
        ("purpose", reason.value, 1, "quarantined" if kept else "dropped")
    ]


def decisions(platform: Platform) -> list[tuple[str, str, int, str]]:
    d = schema.decisions
    assert isinstance(platform.store, SqliteStore)
    with platform.store.engine.connect() as conn:
        rows = conn.execute(select(d.c.stage, d.c.reason, d.c.count, d.c.outcome).order_by(d.c.id))
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def reading(category: str, t: datetime, **values: object) -> SimReading:
    return SimReading(category, t, values)


def test_a_category_the_project_never_declared_is_undeclared(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    env = city.envelope(
        city.air, [air_reading(now), reading("noise.level", now, db=70.0), air_reading(now)]
    )
    [out] = platform.gate.ingest([env])
    assert out.admitted == 2
    # no project declares noise.level: the gate cannot tell it is not personal, so drops it
    only_reading_rejected(platform, out, 1, Reason.UNDECLARED_CATEGORY, "noise.level", kept=False)
    assert [r.category for r in platform.store.readings()] == ["air.quality"] * 2


def test_a_category_declared_by_another_project_is_undeclared_for_this_device(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    [out] = platform.gate.ingest(
        [city.envelope(city.air, [reading("water.level", now, level=3.0)])]
    )
    assert out.admitted == 0
    # Not personal, but this project declares none of its fields: only the decision is kept.
    only_reading_rejected(
        platform, out, 0, Reason.UNDECLARED_CATEGORY, "water.level", kept=False, echoed=True
    )
    assert platform.store.count_readings() == 0
    assert platform.store.count_quarantine() == 0


def test_categories_are_matched_exactly(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    for name in ("Air.Quality", "air.quality ", "air", "air.quality.pm25"):
        [out] = platform.gate.ingest([city.envelope(city.air, [reading(name, now, pm25=1.0)])])
        assert out.rejected == {"UNDECLARED_CATEGORY": 1}, name
    assert platform.store.count_readings() == 0


def test_a_declared_category_the_device_was_not_enrolled_for_is_not_allowed(
    platform: Platform, city: SampleCity
) -> None:
    # A crossing button of the traffic project, enrolled for crossing requests only.
    button = city.device("button", sample.TRUSTED, sample.TRAFFIC, ["pedestrian.crossing_request"])
    now = platform.clock.now()
    [out] = platform.gate.ingest(
        [city.envelope(button, [SimReading("traffic.count", now, {"vehicles": 3}, None)])]
    )
    only_reading_rejected(platform, out, 0, Reason.CATEGORY_NOT_ALLOWED, "traffic.count", kept=True)
    assert platform.store.count_readings() == 0


def test_purpose_is_judged_before_consent(platform: Platform, city: SampleCity) -> None:
    # A loop counter sending a personal category it was not enrolled for: refused
    # for purpose, and (being personal) not kept.
    counter = city.device("counter", sample.TRUSTED, sample.TRAFFIC, ["traffic.count"])
    now = platform.clock.now()
    crossing = SimReading("pedestrian.crossing_request", now, {"fob": "F-1", "extra_seconds": 5})
    [out] = platform.gate.ingest([city.envelope(counter, [crossing])])
    only_reading_rejected(
        platform, out, 0, Reason.CATEGORY_NOT_ALLOWED, "pedestrian.crossing_request", kept=False
    )
    assert platform.store.count_quarantine() == 0


def test_each_device_sends_what_it_was_enrolled_for(platform: Platform, city: SampleCity) -> None:
    now = platform.clock.now()
    count = SimReading(
        "traffic.count",
        now,
        {"vehicles": 12, "mean_speed": 31.5},
        {"vehicles": "count", "mean_speed": "km/h"},
    )
    outs = platform.gate.ingest([city.envelope(city.traffic, [count]), city.envelope(city.air)])
    assert [o.admitted for o in outs] == [1, 1]
    rows = {r.category: r for r in platform.store.readings()}
    assert rows["traffic.count"].project_id == sample.TRAFFIC
    assert rows["air.quality"].project_id == sample.AIR
    assert msgspec.json.decode(rows["traffic.count"].body) == {"vehicles": 12, "mean_speed": 31.5}
