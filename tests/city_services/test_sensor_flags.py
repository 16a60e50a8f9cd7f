"""A snow-melt sensor the service distrusts: on the record, in the store, released by an
operator from another process, trusted again."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from charter.bootstrap import Platform, build
from charter.cli import app
from charter.services.sensors import flag_reporter, release_sensor, released_in
from charter.settings import Settings
from charter.sim import city as sample
from tests.city_services.test_snowmelt import Street
from tests.conftest import SampleCity


@pytest.fixture
def warm(platform: Platform) -> SampleCity:
    """The sample city with the warm-sidewalks project live."""
    return SampleCity(platform, services=True)


def _street(warm: SampleCity) -> Street:
    street = Street(warm, budget_kw=math.inf)
    p = warm.platform
    street.service.on_flag = flag_reporter(p.ledger, "snow-melt")
    street.service.released = released_in(p.store)
    return street


def test_a_flagged_snow_melt_sensor_is_reported_and_released_from_another_process(
    warm: SampleCity,
) -> None:
    street = _street(warm)
    sensor = street.sensors["hospital"].device_id
    street.send("hospital", -2.0, -3.0)
    street.hour()
    street.send("hospital", 75.0, -3.0)  # out of physical range
    p = warm.platform
    kinds = [json.loads(e.data) for e in p.store.iter_ledger_entries()]
    flagged = [e for e in kinds if e["kind"] == "hazard.sensor_flagged"]
    assert [(e["device"], e["why"], e["service"]) for e in flagged] == [
        (sensor, "out_of_range", "snow-melt")
    ]
    args = ["--data-dir", str(p.settings.data_dir)]
    listed = CliRunner().invoke(app, ["services", "flags", "--json", *args])
    [row] = json.loads(listed.output.strip().splitlines()[-1])["flags"]
    assert row["device"] == sensor and row["released_at"] is None
    # Not acted on: the segment runs on the thermostat rule until released.
    street.hour()
    street.send("hospital", 5.0, -3.0, wet=0.5)
    assert "flagged" in street.service.why[street.heaters["hospital"].device_id]
    other = build(Settings(data_dir=p.settings.data_dir), clock=p.clock)  # another process
    try:
        release_sensor(other.store, other.ledger, sensor, sample.SEEDER, "sensor replaced")
    finally:
        other.close()
    street.hour()
    street.send("hospital", 2.0, -3.0, wet=0.5)
    assert street.service.report()["flagged_sensors"] == {}
    assert street.service.why[street.heaters["hospital"].device_id] == "wet surface"
    street.hour()
    street.send("hospital", 70.0, -3.0)  # out of range again: flagged again, once
    kinds = [json.loads(e.data)["kind"] for e in p.store.iter_ledger_entries()]
    assert kinds.count("hazard.sensor_flagged") == 2 and kinds.count("hazard.sensor_released") == 1
