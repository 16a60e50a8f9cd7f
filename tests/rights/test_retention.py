"""Retention: data past its declared retention goes, on the platform's clock, and the
run is recorded with what it removed; the pseudonymisation key rotates on schedule."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import msgspec

from charter.bootstrap import Platform, build
from charter.domain.clock import FixedClock
from charter.settings import Settings
from charter.sim import city as sample
from tests.conftest import OPERATOR, SampleCity, air_reading
from tests.rights.support import CROSSING, crossing, resident

FOB = "FOB-retain-0001"


def test_readings_past_their_retention_are_removed_and_the_run_is_recorded(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    rid, _ = resident(platform, FOB)
    now = clock.now()
    platform.gate.ingest([city.envelope(city.traffic, [crossing(now, FOB)])])
    platform.gate.ingest([city.envelope(city.air, [air_reading(now)])])
    first = platform.rights.retention.run(OPERATOR)
    assert first.removed == 0
    clock.advance(timedelta(days=1, seconds=1))  # crossing requests are kept one day
    run = platform.rights.retention.run(OPERATOR)
    assert run.removed == 1
    assert run.detail["readings"] == {sample.TRAFFIC: {CROSSING: 1}}
    assert platform.store.personal_readings(subject=rid) == []
    assert platform.store.count_readings() == 1  # air quality is kept 730 days
    runs = platform.store.retention_runs()
    assert [r.removed for r in runs] == [1, 0]
    assert [e.kind for e in platform.store.iter_ledger_entries()].count("retention.ran") == 2


def test_the_pseudonym_key_rotates_on_schedule_and_seen_identifiers_are_rekeyed(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    rid, _ = resident(platform, FOB)
    pseudonyms = platform.rights.ctx.pseudonyms
    v1 = pseudonyms.current_version
    clock.advance(timedelta(days=platform.settings.pseudonym_key_days))
    run = platform.rights.retention.run(OPERATOR)
    assert run.detail["pseudonym_key"]["rotated_to"] == v1 + 1
    # During the grace period the old link still works.
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(clock.now(), FOB)])])
    assert out.admitted == 1
    # Seen during the grace period, the fob was re-keyed: no need to link it again.
    assert sorted(link.key_version for link in platform.store.links(rid)) == [v1, v1 + 1]
    clock.advance(timedelta(days=platform.settings.pseudonym_grace_days))
    run = platform.rights.retention.run(OPERATOR)
    assert run.detail["pseudonym_key"]["destroyed"] == [v1]
    assert run.detail["pseudonym_key"]["links_removed"] == 1
    assert [link.key_version for link in platform.store.links(rid)] == [v1 + 1]
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(clock.now(), FOB)])])
    assert out.admitted == 1


def test_an_identifier_not_seen_during_the_grace_period_must_be_linked_again(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    rid, _ = resident(platform, FOB)
    clock.advance(timedelta(days=platform.settings.pseudonym_key_days))
    platform.rights.retention.run(OPERATOR)
    clock.advance(timedelta(days=platform.settings.pseudonym_grace_days))
    platform.rights.retention.run(OPERATOR)
    assert platform.store.links(rid) == []
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(clock.now(), FOB)])])
    assert out.rejected == {"NO_CONSENT": 1}
    platform.rights.residents.link_verified(rid, FOB, "fob", OPERATOR, "shown")
    [out] = platform.gate.ingest([city.envelope(city.traffic, [crossing(clock.now(), FOB)])])
    assert out.admitted == 1


def test_quarantine_is_purged_on_its_declared_retention_and_the_run_says_so(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    now = clock.now()
    platform.gate.ingest([city.envelope(city.air, [air_reading(now, pm25=-5)])])
    platform.gate.ingest([city.envelope(city.untrusted)])
    assert platform.store.count_quarantine() == 2
    days = platform.settings.quarantine_retention_days
    clock.advance(timedelta(days=days) - timedelta(seconds=1))
    assert platform.rights.retention.run(OPERATOR).detail["quarantine"] == 0
    clock.advance(timedelta(seconds=2))
    run = platform.rights.retention.run(OPERATOR)
    assert run.detail["quarantine"] == 2 and run.removed == 2
    assert platform.store.count_quarantine() == 0
    [entry, *_] = [
        msgspec.json.decode(e.data)
        for e in reversed(list(platform.store.iter_ledger_entries()))
        if e.kind == "retention.ran"
    ]
    assert entry["detail"]["quarantine"] == 2


def test_quarantine_goes_with_its_project_retention_when_that_is_shorter(
    tmp_path: Path, clock: FixedClock
) -> None:
    # A setting longer than the air project's 730 days: the project's retention wins.
    p = build(Settings(data_dir=tmp_path / "d", quarantine_retention_days=3650), clock=clock)
    try:
        city = SampleCity(p)
        p.gate.ingest([city.envelope(city.air, [air_reading(clock.now(), pm25=-5)])])
        clock.advance(timedelta(days=730) - timedelta(seconds=1))
        assert p.rights.retention.run(OPERATOR).detail["quarantine"] == 0
        clock.advance(timedelta(seconds=1))
        assert p.rights.retention.run(OPERATOR).detail["quarantine"] == 1
    finally:
        p.close()
