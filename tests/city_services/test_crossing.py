"""The accessible crossing: the consent rule end to end, the extension, the anonymous alert."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from charter.bootstrap import Platform
from charter.commands.command import Command
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock, to_ms
from charter.domain.reasons import Reason
from charter.services.actuator import Actuator
from charter.services.base import Reading
from charter.services.crossing import (
    CATEGORY,
    EXTEND,
    NAME,
    PURPOSE,
    Crossing,
    CrossingService,
    RoadsideUnit,
    entry,
    extension,
    standard_clearance_s,
    verify_alert,
)
from charter.sim import city as sample
from charter.store import schema
from tests.city_services.helpers import OPERATOR
from tests.conftest import SampleCity
from tests.rights.support import as_resident

CONTROLLER = "urn:ngsi-ld:Device:crossing-signal-1"
RSU = "urn:ngsi-ld:Device:crossing-rsu-1"


class Controller(Actuator):
    def __init__(self, key: str, clock: FixedClock) -> None:
        super().__init__(CONTROLLER, key, clock, timedelta(seconds=3))
        self.applied: list[Command] = []

    def apply(self, cmd: Command) -> None:
        self.applied.append(cmd)

    def enter_safe_mode(self, why: str) -> None:
        return None

    def leave_safe_mode(self) -> None:
        return None


def _reader(city: SampleCity) -> DeviceSigner:
    """The crossing's fob reader, registered for mobility assistance."""
    return city.device("fob-reader-1", sample.TRUSTED, sample.TRAFFIC, [CATEGORY])


def crossing(t: datetime, fob: str) -> SimReading:
    """A fob read at the kerb."""
    return SimReading(CATEGORY, t, {"fob": fob, "extra_seconds": 0}, {"extra_seconds": "s"})


def resident(
    p: Platform, fob: str, *, consent: bool = True, purpose: str = PURPOSE
) -> tuple[str, str | None]:
    """A resident with `fob` linked and (optionally) consent to mobility assistance."""
    rid = p.rights.residents.create(OPERATOR).id
    p.rights.residents.link_verified(rid, fob, "fob", OPERATOR, "fob shown at the desk")
    if not consent:
        return rid, None
    done = p.rights.consents.grant(
        rid, category=CATEGORY, purpose=purpose, projects=[sample.TRAFFIC], actor=as_resident(rid)
    )
    return rid, done.consent.id


def _crossing(detector: str, **kw: float) -> Crossing:
    base = {"length_m": 12.0, "walk_s": 7.0, "clearance_s": standard_clearance_s(12.0)}
    base.update(kw)
    return Crossing("crossing-1", detector, CONTROLLER, RSU, lat=52.43, lon=13.53, **base)  # type: ignore[arg-type]


class Seen(CrossingService):
    def __init__(self, crossings: list[Crossing]) -> None:
        super().__init__(crossings)
        self.seen: list[Reading] = []

    def on_readings(self, readings, now_ms):  # type: ignore[no-untyped-def]
        self.seen.extend(readings)
        return super().on_readings(readings, now_ms)


def _hosted(p: Platform, city: SampleCity) -> tuple[Seen, Controller, RoadsideUnit, DeviceSigner]:
    p.algorithms.register(entry(sample.TRAFFIC), OPERATOR, "accessible crossing")
    reader = _reader(city)
    service = Seen([_crossing(reader.device_id)])
    key = p.security.commands.public_key_b64
    ctrl, rsu = Controller(key, p.clock), RoadsideUnit(RSU, key, p.clock, timedelta(seconds=3))  # type: ignore[arg-type]
    for a in (ctrl, rsu):
        p.services.channel.attach(a)  # type: ignore[attr-defined]
    p.services.add(service)
    p.services.start()
    return service, ctrl, rsu, reader


def _everything_stored(p: Platform) -> str:
    """Every row of every table, as text."""
    out = []
    with p.store.engine.connect() as conn:  # type: ignore[attr-defined]
        for t in schema.metadata.sorted_tables:
            out += [repr(tuple(row)) for row in conn.execute(select(t))]
    return "\n".join(out)


def _subject_rows(p: Platform, rid: str) -> int:
    with p.store.engine.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(select(schema.readings).where(schema.readings.c.subject == rid))
        return len(list(rows))


def test_without_consent_the_fob_read_is_refused_and_nothing_is_stored(
    any_platform: Platform, clock: FixedClock
) -> None:
    p = any_platform
    city = SampleCity(p)
    service, ctrl, rsu, reader = _hosted(p, city)
    ben, _ = resident(p, "fob-ben-0001", consent=False)
    before = _everything_stored(p)
    [out] = p.gate.ingest([city.envelope(reader, [crossing(clock.now(), "fob-ben-0001")])])
    assert out.admitted == 0
    assert [r for _, r, _ in out.reading_reasons] == [Reason.NO_CONSENT.value]
    assert out.dropped == 1 and out.quarantined == 0
    # Nothing used: the service saw nothing, the crossing keeps its standard timing.
    assert service.seen == []
    assert [c.action for c in ctrl.applied] == []
    assert rsu.broadcasts == []
    # Nothing stored about him: no reading, no quarantined copy, the raw fob nowhere.
    after = _everything_stored(p)
    assert _subject_rows(p, ben) == 0
    assert "fob-ben-0001" not in after
    new = set(after.splitlines()) - set(before.splitlines())
    # What the batch added: the gate's decision (counts, no payload) and nothing else.
    assert not any(ben in line or "extra_seconds" in line for line in new), new
    assert all("NO_CONSENT" in line or "dropped" in line for line in new), new


def test_with_consent_the_service_gets_a_pseudonym_and_extends_and_alerts(
    any_platform: Platform, clock: FixedClock
) -> None:
    p = any_platform
    city = SampleCity(p)
    service, ctrl, rsu, reader = _hosted(p, city)
    aiko, _ = resident(p, "fob-aiko-0001")
    [out] = p.gate.ingest([city.envelope(reader, [crossing(clock.now(), "fob-aiko-0001")])])
    assert out.admitted == 1
    [seen] = service.seen
    assert set(seen.values) == {"extra_seconds", "subject"}  # minimised: no fob
    assert aiko not in json.dumps(seen.values) and "fob-aiko" not in json.dumps(seen.values)
    [cmd] = ctrl.applied
    assert cmd.action == EXTEND
    ext = extension(_crossing(reader.device_id))
    assert cmd.params == {
        "crossing": "crossing-1",
        "walk_s": ext.walk_s,
        "clearance_s": ext.clearance_s,
    }
    [alert] = rsu.broadcasts
    message = verify_alert(alert, rsu.public_key)
    assert message is not None and message["crossing"] == "crossing-1"
    # The read is in her access history, by the service, for its purpose.
    history = p.rights.subject.view(aiko, as_resident(aiko))["access_log"]
    assert [(h["consumer"], h["purpose"]) for h in history] == [
        (f"service:{NAME}", "crossing-assistance")
    ]


def test_consent_withdrawn_a_moment_ago_is_refused_at_the_next_read(
    any_platform: Platform, clock: FixedClock
) -> None:
    p = any_platform
    city = SampleCity(p)
    service, ctrl, _, reader = _hosted(p, city)
    chiyo, consent = resident(p, "fob-chiyo-001")
    assert consent is not None
    [first] = p.gate.ingest([city.envelope(reader, [crossing(clock.now(), "fob-chiyo-001")])])
    assert first.admitted == 1
    p.rights.consents.withdraw(chiyo, consent, as_resident(chiyo))
    clock.advance(timedelta(milliseconds=1))
    [then] = p.gate.ingest([city.envelope(reader, [crossing(clock.now(), "fob-chiyo-001")])])
    assert then.admitted == 0
    assert [r for _, r, _ in then.reading_reasons] == [Reason.NO_CONSENT.value]
    assert len(service.seen) == 1 and len(ctrl.applied) == 1
    assert _subject_rows(p, chiyo) == 1  # the first read, kept as her consent allowed


def test_consent_for_another_purpose_does_not_reach_the_crossing(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    service, ctrl, rsu, reader = _hosted(platform, city)
    resident(platform, "fob-daan-0001", purpose="research")
    [out] = platform.gate.ingest([city.envelope(reader, [crossing(clock.now(), "fob-daan-0001")])])
    assert out.admitted == 1  # the gate admits it for the purpose he chose…
    assert service.seen == [] and ctrl.applied == [] and rsu.broadcasts == []  # …not this one


def test_a_service_without_a_declared_purpose_gets_no_personal_reading(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    service, _, _, reader = _hosted(platform, city)
    service.purposes = {}  # as a service that never declared one
    platform.services.add(service)  # re-hosted: decided again
    resident(platform, "fob-erin-0001")
    platform.gate.ingest([city.envelope(reader, [crossing(clock.now(), "fob-erin-0001")])])
    assert service.seen == []


def test_the_extension_lets_a_slow_pedestrian_cross_and_is_capped() -> None:
    c = _crossing("urn:ngsi-ld:Device:reader")
    assert c.clearance_s == pytest.approx(11.3)  # the standard: 12 m at 1.07 m/s
    ext = extension(c)
    # Clearance: 12 m at 0.9 m/s = 13.33 s and the 3 s buffer, 5.1 s more (rounded up).
    assert ext.clearance_s == pytest.approx(5.1)
    assert c.clearance_s + ext.clearance_s >= 12.0 / 0.9 + 3.0
    # Walk: 7 s scaled by 1.07 / 0.9 = 8.33 s, 1.4 s more (rounded up to a tenth).
    assert ext.walk_s == pytest.approx(1.4)
    assert c.walk_s + ext.walk_s + c.clearance_s + ext.clearance_s >= (12.0 + 1.8) / 0.9
    assert not ext.capped
    # A wide road: 30 m needs 36.4 s of clearance; the programmed 10 s plus the 15 s cap.
    wide = _crossing("urn:ngsi-ld:Device:reader", length_m=30.0, clearance_s=10.0)
    capped = extension(wide)
    assert capped.capped and capped.total_s == pytest.approx(15.0)
    assert capped.clearance_s == pytest.approx(15.0) and capped.walk_s == 0.0
    # A crossing whose program already gives enough: nothing more.
    generous = _crossing("urn:ngsi-ld:Device:reader", walk_s=10.0, clearance_s=20.0)
    assert extension(generous).total_s == 0.0


def test_the_alert_carries_no_identity_and_is_signed(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    _, _, rsu, reader = _hosted(platform, city)
    for i, fob in enumerate(("fob-fay-00001", "fob-gus-00001")):
        rid, _ = resident(platform, fob)
        clock.advance(timedelta(seconds=200))  # the first alert expired: a new one
        platform.gate.ingest([city.envelope(reader, [crossing(clock.now(), fob)])])
        alert = rsu.broadcasts[i]
        message = verify_alert(alert, rsu.public_key)
        assert message is not None
        text = alert.body.decode()
        assert rid not in text and fob not in text and "subject" not in text
        assert set(message) == {
            "type", "basicType", "msgCnt", "crossing", "position", "crossRequest",
            "extraTime_s", "validFrom_ms", "validUntil_ms",
        }  # fmt: skip
        assert message["position"] == {"lat": 52.43, "lon": 13.53}  # the crossing's
        assert message["validFrom_ms"] == to_ms(clock.now())
    # Two people's alerts share nothing that could link them but the crossing.
    a, b = (json.loads(x.body) for x in rsu.broadcasts)
    assert {k for k in a if a[k] != b[k]} <= {"msgCnt", "validFrom_ms", "validUntil_ms"}
    # A forged or altered broadcast does not verify.
    forged = type(rsu.broadcasts[0])(rsu.broadcasts[0].body.replace(b"52.43", b"52.44"),
                                      rsu.broadcasts[0].sig)  # fmt: skip
    assert verify_alert(forged, rsu.public_key) is None


def test_the_pseudonym_differs_per_service_and_per_day() -> None:
    from charter.rights.feed import DAY_MS, pseudonym

    a = pseudonym(NAME, "resident-1", 5 * DAY_MS + 10)
    assert a == pseudonym(NAME, "resident-1", 5 * DAY_MS + 20_000)  # the same day
    assert a != pseudonym(NAME, "resident-1", 6 * DAY_MS)  # the next day
    assert a != pseudonym("other-service", "resident-1", 5 * DAY_MS + 10)
    assert "resident-1" not in a and len(a) == 16


def test_the_crossing_uses_mobility_assistance_for_crossing_assistance(
    platform: Platform, city: SampleCity
) -> None:
    # The category and purpose the resident opts in to, as the register has them.
    assert (CATEGORY, PURPOSE) == ("mobility.assistance", "crossing-assistance")
    project = platform.store.get_project(sample.TRAFFIC)
    assert project is not None
    [declared] = [c for c in project.categories if c.name == CATEGORY]
    assert declared.personal and declared.identifier == "fob"
    assert declared.retention_days == 1 and declared.ngsi is None  # never over NGSI-LD
    assert entry(sample.TRAFFIC).data_used == [CATEGORY]
    assert dict(CrossingService([]).purposes) == {CATEGORY: PURPOSE}
