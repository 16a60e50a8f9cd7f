"""Seismic readings from ObsPy's real example seismogram through the gate."""

from __future__ import annotations

import pytest

from charter.sim.hazard import seismic
from tests.services import need


@pytest.fixture(autouse=True)
def _obspy() -> None:
    need(seismic.available(), "ObsPy (the charter[hazard] extra) is not installed")


def test_the_record_is_the_real_example_seismogram_in_physical_units() -> None:
    seconds = seismic.record()
    assert len(seconds) == 30  # 30 s of BW.RJOB at 100 Hz, one peak a second
    peak = max(seconds, key=lambda s: s.pga)
    assert 4 <= peak.t_s <= 7  # the S waves of the 2009-08-24 event
    noise = max(s.pga for s in seismic.quiet())
    assert peak.pga / noise > 15  # the real record's signal-to-noise ratio, kept
    assert all(s.pgv > 0 for s in seconds)


def test_the_quiet_seconds_raise_nothing_and_the_shaking_raises_danger_at_once() -> None:
    quiet = seismic.replay_seismic(seismic.quiet())
    assert quiet["raised"] == [] and quiet["flags"] == 0
    event = seismic.replay_seismic(seismic.event())
    assert [(z, lvl) for z, lvl, _ in event["raised"]] == [("centre", "danger")]
    assert event["flags"] == 0  # a real jump of the ground is not a sensor fault
    figures = seismic.run_seismic()
    assert figures["seismic_false_alerts"] == 0 and figures["seismic_missed_alerts"] == 0
    assert figures["seismic_first_alert_s"] == 4.0  # the first second of strong shaking
