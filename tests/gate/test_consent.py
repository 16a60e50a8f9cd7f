"""Stage 6, consent: a reading about a person is admitted only with that person's consent,
and until consent can be recorded, nothing personal is admitted or kept."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select

from charter.bootstrap import Platform
from charter.device import SimReading
from charter.domain.envelope import ReadingIn
from charter.domain.reasons import Reason
from charter.gate.directory import CategoryRule, DeviceView
from charter.gate.pipeline import Gate
from charter.store import schema
from charter.store.base import Tx
from charter.store.sqlite import SqliteStore
from tests.conftest import SampleCity

FOB = "FOB-5c1e-93ab-resident-0042"


def crossing(t: datetime, fob: str = FOB, extra: int = 10) -> SimReading:
    return SimReading(
        "pedestrian.crossing_request",
        t,
        {"fob": fob, "extra_seconds": extra},
        {"extra_seconds": "s"},
    )


def count(t: datetime, vehicles: int = 7) -> SimReading:
    return SimReading("traffic.count", t, {"vehicles": vehicles}, {"vehicles": "count"})


def test_a_personal_reading_without_consent_is_refused_and_dropped(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.traffic, [count(now), crossing(now)])])
    assert out.rejection is None
    assert out.admitted == 1
    assert out.rejected == {"NO_CONSENT": 1}
    assert out.dropped == 1 and out.quarantined == 0
    assert out.reading_reasons == [(1, "NO_CONSENT", "")]
    [row] = platform.store.readings()
    assert row.category == "traffic.count"
    assert platform.store.count_quarantine() == 0
    assert platform.store.rejections_by_reason() == {"NO_CONSENT": 1}
    assert FOB not in msgspec.json.encode(out.to_json()).decode()


def test_the_consent_decision_is_recorded_at_the_consent_stage(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.traffic, [crossing(now)])])
    assert isinstance(platform.store, SqliteStore)
    d = schema.decisions
    with platform.store.engine.connect() as conn:
        rows = list(conn.execute(select(d.c.stage, d.c.reason, d.c.count, d.c.outcome)))
    assert [tuple(r) for r in rows] == [("consent", "NO_CONSENT", 1, "dropped")]


def test_every_personal_reading_in_an_envelope_is_refused(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    readings = [crossing(now, fob=f"FOB-{i}") for i in range(5)]
    [out] = platform.gate.ingest([city.envelope(city.traffic, readings)])
    assert out.admitted == 0 and out.rejected == {"NO_CONSENT": 5} and out.dropped == 5
    assert platform.store.rejections_by_reason() == {"NO_CONSENT": 5}


def test_invalid_personal_readings_are_refused_for_the_first_problem_and_dropped(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(now, extra=99)])])
    assert out.rejected == {"OUT_OF_RANGE": 1}
    assert out.dropped == 1 and out.reading_reasons == [(0, "OUT_OF_RANGE", "")]
    assert platform.store.count_quarantine() == 0


RESIDENT = "urn:ngsi-ld:Person:0042"


class Consented:
    """A consent register in which exactly one fob has opted in; bodies kept in clear."""

    def __init__(self, fob: str) -> None:
        self.fob = fob
        self.asked: list[tuple[str, str]] = []

    def subject(self, device: DeviceView, reading: ReadingIn, now_ms: int) -> str | None:
        self.asked.append((device.id, reading.category))
        return RESIDENT if reading.values.get("fob") == self.fob else None

    def confirm(self, tx: Tx) -> None:
        return None

    def resolve(self, rule: CategoryRule, reading: ReadingIn) -> str | None:
        return None

    def seal(self, resident_id: str, category: str, plaintext: bytes) -> str | None:
        return plaintext.decode()


def test_the_gate_asks_the_consent_policy_only_about_personal_readings(
    platform: Platform, city: SampleCity
) -> None:
    policy = Consented(FOB)
    gate = Gate(
        platform.store,
        platform.bus,
        platform.clock,
        platform.directory,
        consent=policy,
        personal=policy,
    )
    now = platform.clock.now()
    env = city.envelope(city.traffic, [crossing(now), crossing(now, fob="FOB-other"), count(now)])
    [out] = gate.ingest([env])
    assert out.admitted == 2
    assert out.reading_reasons == [(1, "NO_CONSENT", "")]
    assert policy.asked == [(city.traffic.device_id, "pedestrian.crossing_request")] * 2
    [personal] = platform.store.personal_readings()
    # The identifier field is never stored; the row names the resident instead.
    assert msgspec.json.decode(personal[7]) == {"extra_seconds": 10}
    assert personal[8] == RESIDENT
    bodies = "".join(r.body for r in platform.store.readings())
    assert FOB not in bodies and "FOB-other" not in bodies


def test_consent_is_not_asked_about_readings_already_refused(
    platform: Platform, city: SampleCity
) -> None:
    policy = Consented(FOB)
    gate = Gate(platform.store, platform.bus, platform.clock, platform.directory, consent=policy)
    now = platform.clock.now()
    [out] = gate.ingest([city.envelope(city.traffic, [crossing(now, extra=-1)])])
    assert out.rejected == {"OUT_OF_RANGE": 1}
    assert policy.asked == []
    assert platform.store.count_readings() == 0


def test_without_a_way_to_seal_personal_data_the_gate_keeps_none(
    platform: Platform, city: SampleCity
) -> None:
    policy = Consented(FOB)
    gate = Gate(platform.store, platform.bus, platform.clock, platform.directory, consent=policy)
    now = platform.clock.now()
    [out] = gate.ingest([city.envelope(city.traffic, [crossing(now)])])
    assert out.rejected == {"NO_CONSENT": 1} and out.dropped == 1
    assert platform.store.count_readings() == 0


def test_the_default_gate_records_no_consent(platform: Platform, city: SampleCity) -> None:
    # The platform as built refuses every personal reading.
    now = platform.clock.now()
    for i in range(3):
        [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(now, fob=str(i))])])
        assert out.rejected == {Reason.NO_CONSENT.value: 1}
    assert platform.store.count_readings() == 0
