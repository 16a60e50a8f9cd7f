"""Replaying a quarantined item applies every rule again, judged at its arrival, except the
one rule the operator names as an override; the override is on the ledger entry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charter.bootstrap import Platform, build
from charter.cli import app
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.settings import Settings
from charter.transport.redelivery import deliver
from tests.conftest import OPERATOR, SampleCity, air_reading
from tests.gate.test_quarantine import make_flood_live, only_held, replayed_entries, warm, water

A_YEAR = timedelta(days=365)
# The last second datetime can spell, with the offset that carries it past year 9999 in UTC.
BEYOND = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=23, minutes=59)))


def test_an_envelope_held_for_a_time_a_year_ahead_is_not_admitted_on_replay(
    platform: Platform, city: SampleCity
) -> None:
    ahead = platform.clock.now() + A_YEAR
    [out] = platform.gate.ingest([city.envelope(city.air, [air_reading(ahead)], sent_at=ahead)])
    assert out.rejection is not None and out.rejection.reason is Reason.FUTURE_TIMESTAMP
    item = only_held(platform)
    warm(platform, city.air)
    for extra in ({}, {"override": "freshness"}):  # a future time is never overridden
        again = platform.quarantine.replay(item.id, OPERATOR, "try", **extra)
        assert again.admitted == 0
        assert again.rejection is not None
        assert again.rejection.reason is Reason.FUTURE_TIMESTAMP
        assert only_held(platform).reason == "FUTURE_TIMESTAMP"
    assert platform.store.count_readings() == 0


def test_a_time_past_year_9999_in_utc_is_never_admitted(
    platform: Platform, city: SampleCity
) -> None:
    [out] = platform.gate.ingest([city.envelope(city.air, [air_reading(BEYOND)], sent_at=BEYOND)])
    assert out.rejection is not None and out.rejection.reason is Reason.FUTURE_TIMESTAMP
    item = only_held(platform)
    warm(platform, city.air)
    for extra in ({}, {"override": "freshness"}):
        assert platform.quarantine.replay(item.id, OPERATOR, "try", **extra).admitted == 0
    assert platform.store.count_readings() == 0


def test_a_late_copy_from_a_transport_cannot_bring_a_future_time_either(
    platform: Platform, city: SampleCity
) -> None:
    """The transports decide an overtaken envelope in replay mode, without the sent_at
    window: the observation time is still bounded by the platform's clock."""
    ahead = platform.clock.now() + A_YEAR
    late = city.envelope(city.air, [air_reading(ahead)], sent_at=ahead, seq=1)
    platform.gate.ingest([city.envelope(city.air, seq=2)])
    got = deliver(platform.gate, [late], [True])
    [out] = got.outcomes
    assert out.admitted == 0 and out.rejected == {"FUTURE_TIMESTAMP": 1}
    assert platform.store.count_readings() == 1


def test_a_stale_envelope_stays_held_unless_freshness_is_overridden_on_the_record(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    sent = clock.now() - timedelta(minutes=30)  # a gateway's backlog
    [out] = platform.gate.ingest([city.envelope(city.air, [air_reading(sent)], sent_at=sent)])
    assert out.rejection is not None and out.rejection.reason is Reason.STALE_TIMESTAMP
    item = only_held(platform)
    warm(platform, city.air)
    clock.advance(timedelta(hours=1))
    again = platform.quarantine.replay(item.id, OPERATOR, "backlog?")
    assert again.admitted == 0
    assert again.rejection is not None and again.rejection.reason is Reason.STALE_TIMESTAMP
    assert only_held(platform).id == item.id
    done = platform.quarantine.replay(item.id, OPERATOR, "gateway backlog", "freshness")
    assert done.admitted == 1
    first, second = replayed_entries(platform)
    assert (first["override"], first["result"]) == (None, "held")
    assert (second["override"], second["result"]) == ("freshness", "replayed")
    assert second["why"] == "gateway backlog"


def test_a_buffered_reading_observed_long_before_sent_at_needs_the_override(
    platform: Platform, city: SampleCity
) -> None:
    now = platform.clock.now()
    platform.gate.ingest([city.envelope(city.air, [air_reading(now - timedelta(days=30))])])
    item = only_held(platform)
    assert item.reason == "STALE_TIMESTAMP"
    warm(platform, city.air)
    assert platform.quarantine.replay(item.id, OPERATOR, "again").admitted == 0
    assert platform.quarantine.replay(item.id, OPERATOR, "offline", "freshness").admitted == 1
    [row] = platform.store.readings()
    assert row.observed_at == int((now - timedelta(days=30)).timestamp() * 1000)


def test_the_floor_is_never_overridden(platform: Platform, city: SampleCity) -> None:
    # A device whose clock reset to 1999 sends readings of "long ago".
    old = datetime(1999, 12, 31, 23, 59, tzinfo=UTC)
    platform.gate.ingest([city.envelope(city.air, [air_reading(old)])])
    item = only_held(platform)
    warm(platform, city.air)
    out = platform.quarantine.replay(item.id, OPERATOR, "offline", "freshness")
    assert out.admitted == 0
    assert out.reading_reasons == [(0, "STALE_TIMESTAMP", "observed before the floor")]


def test_an_unknown_override_is_refused(platform: Platform, city: SampleCity) -> None:
    platform.gate.ingest([city.envelope(city.untrusted)])
    item = only_held(platform)
    with pytest.raises(CharterError) as err:
        platform.quarantine.replay(item.id, OPERATOR, "why not", "trust")
    assert err.value.reason is Reason.VALIDATION_FAILED
    assert replayed_entries(platform) == []


def test_a_held_envelope_is_refused_if_its_key_was_revoked_since(
    platform: Platform, city: SampleCity
) -> None:
    platform.gate.ingest([city.envelope(city.flood, [water(platform.clock.now())])])
    item = only_held(platform)
    [key] = platform.security.device_keys.keys(city.flood.device_id)
    platform.security.device_keys.revoke(city.flood.device_id, key.key_id, OPERATOR, "key leaked")
    make_flood_live(platform)
    warm(platform, city.flood)
    out = platform.quarantine.replay(item.id, OPERATOR, "approved")
    assert out.admitted == 0
    assert out.rejection is not None and out.rejection.reason is Reason.KEY_REVOKED
    assert platform.store.count_readings() == 0


def test_a_key_rotated_out_after_arrival_still_vouches_for_what_it_signed(
    platform: Platform, city: SampleCity, clock: FixedClock
) -> None:
    """As authenticate judges a replay: by the keys as they were at arrival."""
    platform.gate.ingest([city.envelope(city.flood, [water(clock.now())])])
    item = only_held(platform)
    successor = DeviceSigner(city.flood.device_id)
    keys = platform.security.device_keys
    keys.rotate(city.flood.device_id, successor.public_key_b64, OPERATOR, "yearly", overlap_s=60)
    clock.advance(timedelta(hours=1))  # the old key's overlap has ended
    make_flood_live(platform)
    warm(platform, city.flood)
    assert platform.quarantine.replay(item.id, OPERATOR, "approved").admitted == 1


def test_the_cli_names_the_override_and_retention_reports_the_quarantine(tmp_path: Path) -> None:
    data = tmp_path / "d"
    p = build(Settings(data_dir=data))  # the CLI runs on the system clock
    try:
        city = SampleCity(p)
        sent = p.clock.now() - timedelta(minutes=20)
        p.gate.ingest([city.envelope(city.air, [air_reading(sent)], sent_at=sent)])
        [item] = p.quarantine.list()
    finally:
        p.close()
    runner = CliRunner()
    args = ["quarantine", "replay", str(item.id), "--why", "backlog", "--data-dir", str(data)]
    held = runner.invoke(app, args)
    assert held.exit_code == 0, held.output
    assert json.loads(held.output)["admitted"] == 0
    done = runner.invoke(app, [*args, "--override", "freshness"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["admitted"] == 1
    ran = runner.invoke(app, ["retention", "run", "--data-dir", str(data)])
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.output)["detail"]["quarantine"] == 0  # not due yet
