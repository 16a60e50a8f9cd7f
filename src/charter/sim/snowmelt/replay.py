"""Replay an hourly weather record through the platform: sensors, gate, service, heaters.

Six heated segments across the record's stations (in the New York record,
one each near EWR, JFK and LGA), each with a road weather sensor (a device
of the sample city's "Warm sidewalks" project, signing its readings and
sending them through the gate) and a heater (`SegmentHeater`, verifying every
command). Each hour: every sensor reports its slab's surface and the hour's
weather, the gate admits them, the `snow-melt` service decides, the signed
commands reach the heaters, then the slab model runs the hour with each
heater's state. The baseline runs the same slabs on the heaters' own
thermostats alone (heat whenever the air is below the set point).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from charter.bootstrap import build
from charter.device import DeviceSigner, SimReading
from charter.domain.algorithm import AlgorithmEntry, Figure, Risk
from charter.domain.clock import FixedClock
from charter.domain.disclosure import Area
from charter.domain.model import Actor, Device, Location, urn
from charter.services.sensors import flag_reporter, released_in
from charter.services.snowmelt import CATEGORY, Segment, SegmentHeater, SnowMelt
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.snowmelt.slab import Slab, SlabParams
from charter.sim.snowmelt.weather import Forecaster, Hour

# The record's place: New York's airports, where the city is consulted on this replay.
NEW_YORK = Area(
    coordinates=[[(-74.3, 40.5), (-73.6, 40.5), (-73.6, 40.95), (-74.3, 40.95), (-74.3, 40.5)]]
)
PLACES = {
    "EWR": Location(lat=40.6925, lon=-74.1687),
    "JFK": Location(lat=40.6398, lon=-73.7789),
    "LGA": Location(lat=40.7772, lon=-73.8726),
}
OPERATOR = Actor(name="sim-operator", role="operator")
UNITS = {"surface_temp": "Cel", "air_temp": "Cel", "wind_speed": "m/s", "precip": "mm/h",
         "moisture": "kg/m2"}  # fmt: skip

#: name, station index (sorted stations), priority, area m²
SEGMENTS = [
    ("hospital-entrance", 1, 100, 200.0),
    ("metro-stairs", 0, 90, 120.0),
    ("school-steps", 2, 80, 150.0),
    ("shopping-street", 2, 50, 400.0),
    ("park-path", 1, 30, 300.0),
    ("car-park-ramp", 0, 10, 500.0),
]


def segments() -> list[tuple[Segment, int]]:
    return [
        (
            Segment(name, urn("Device", f"heater-{name}"), urn("Device", f"rws-{name}"), prio, a),
            station,
        )
        for name, station, prio, a in SEGMENTS
    ]


def entry() -> AlgorithmEntry:
    return AlgorithmEntry(
        service="snow-melt",
        project_id=sample.SIDEWALKS,
        name="Snow-melting sidewalks",
        purpose="Keep priority sidewalks free of ice, heating only when ice is likely.",
        data_used=[CATEGORY],
        how_it_decides=(
            "Each hour, a segment is heated when its surface is wet or snowy, it is "
            "precipitating, or snow is forecast within four hours, and its surface is below "
            "1 °C (a heated one stops above 4 °C or when the risk is gone). Within the city's "
            "energy budget, segments are kept in order of priority and the lowest shed first."
        ),
        human_oversight=(
            "The streets department sets priorities and the budget; flagged sensors are "
            "reported to the operator, and every heater runs its own thermostat alone."
        ),
        risks=[
            Risk(
                risk="A missed forecast leaves a cold slab when snow starts.",
                mitigation="Falling snow and a wet surface are acted on when measured.",
            ),
            Risk(
                risk="A broken sensor could keep a segment cold.",
                mitigation="Stuck, out-of-range or jumping sensors are flagged; their segment "
                "falls back to the thermostat rule.",
            ),
        ],
        figures=[
            Figure(
                name="energy saved vs a thermostat, New York, winter 2013",
                value=78.8,
                unit="%",
                measured_by="charter sim snowmelt",
            ),
            Figure(
                name="icy segment-hours, New York, winter 2013 (thermostat: 33.5)",
                value=25.3,
                unit="h",
                measured_by="charter sim snowmelt",
            ),
        ],
        actuators=["sidewalk heater"],
        accountable="Streets department",
        contact="streets@example.org",
    )


def aligned(hours: dict[str, list[Hour]]) -> tuple[list[str], list[list[Hour]]]:
    """The stations and, per common hour, each station's hour."""
    names = sorted(hours)
    by_time = [{h.at: h for h in hours[n]} for n in names]
    common = sorted(set.intersection(*(set(b) for b in by_time)))
    return names, [[b[t] for b in by_time] for t in common]


@dataclass
class Run:
    icy_hours: float = 0.0
    energy_kwh: float = 0.0
    icy_by_segment: dict[str, float] = field(default_factory=dict)
    heated_hours: dict[str, int] = field(default_factory=dict)
    #: segment → its hours: (surface °C at the hour's end, heating on, icy fraction)
    traces: dict[str, list[tuple[float, bool, float]]] = field(default_factory=dict)
    times: list[datetime] = field(default_factory=list)


def baseline(
    hours: dict[str, list[Hour]], *, setpoint_c: float = 2.0, params: SlabParams | None = None
) -> Run:
    """The heaters' own thermostats alone: heat whenever the air is below the set point."""
    params = params or SlabParams()
    names, rows = aligned(hours)
    run = Run(times=[r[0].at for r in rows])
    for seg, st in segments():
        at = st % len(names)  # a table with fewer stations: segments share them
        slab = Slab(params, rows[0][at].weather.air_c)
        for row in rows:
            w = row[at].weather
            on = w.air_c < setpoint_c
            icy = slab.hour(w, on)
            run.traces.setdefault(seg.name, []).append((round(slab.temp_c, 2), on, icy))
            run.icy_hours += icy
            run.icy_by_segment[seg.name] = run.icy_by_segment.get(seg.name, 0.0) + icy
            run.energy_kwh += seg.area_m2 * params.power_w_m2 / 1000.0 if on else 0.0
    return run


@dataclass
class CharterRun(Run):
    shed_hours: int = 0
    outage: tuple[int, int] | None = None
    fell_back: int = 0  # heaters on their thermostat during the outage
    rejoined: int = 0  # back on remote control after it
    commands_refused: int = 0
    flagged: dict[str, str] = field(default_factory=dict)
    admitted: int = 0
    shed_by_segment: dict[str, int] = field(default_factory=dict)
    safe_by_hour: list[int] = field(default_factory=list)  # heaters on their thermostat


def replay(
    hours: dict[str, list[Hour]],
    data_dir: Path,
    *,
    budget_kw: float = math.inf,
    setpoint_c: float = 2.0,
    seed: int = 1,
    outage: tuple[int, int] | None = None,
    params: SlabParams | None = None,
    tamper: Callable[[int, str, dict[str, float]], dict[str, float]] | None = None,
) -> CharterRun:
    """The record through the platform; `outage` = (first hour, hours) with no platform.

    `tamper(hour, segment, values)` may change what a sensor sends (a broken sensor).
    """
    params = params or SlabParams()
    names, rows = aligned(hours)
    clock = FixedClock(rows[0][0].at)
    platform = build(Settings(data_dir=data_dir, service_heartbeat_s=60.0), clock=clock)
    run = CharterRun(outage=outage, times=[r[0].at for r in rows])
    try:
        sample.register_projects(platform.registry, area=NEW_YORK, services=True)
        segs = segments()
        signers: dict[str, DeviceSigner] = {}
        heaters: dict[str, SegmentHeater] = {}
        key = platform.security.commands.public_key_b64
        for seg, st in segs:
            for device, modality in ((seg.sensor, "road weather sensor"), (seg.heater, "heater")):
                signer = DeviceSigner(device)
                platform.registry.register_device(
                    Device(
                        id=device,
                        vendor_id=sample.TRUSTED,
                        project_id=sample.SIDEWALKS,
                        modality=modality,
                        location=PLACES.get(names[st % len(names)], Location(lat=40.7, lon=-73.9)),
                        categories=[CATEGORY],
                        public_key=signer.public_key_b64,
                    ),
                    OPERATOR,
                )
                signers[device] = signer
            heater = SegmentHeater(seg.heater, key, clock, setpoint_c=setpoint_c)
            heaters[seg.heater] = heater
            platform.services.channel.attach(heater)  # type: ignore[attr-defined]
        platform.algorithms.register(entry(), OPERATOR, "snow-melting sidewalks")
        index = {"i": 0}
        forecaster = Forecaster({n: [r[i] for r in rows] for i, n in enumerate(names)}, seed=seed)
        station_of = {seg.sensor: names[st % len(names)] for seg, st in segs}

        def forecast(sensor: str, _now_ms: int) -> Any:
            return forecaster.issue(station_of[sensor], index["i"])

        service = SnowMelt(
            [s for s, _ in segs], forecast, budget_kw=budget_kw, setpoint_c=setpoint_c,
            on_flag=flag_reporter(platform.ledger, "snow-melt"),
            released=released_in(platform.store),
        )  # fmt: skip
        platform.services.add(service)
        slabs = {seg.name: Slab(params, rows[0][st % len(names)].weather.air_c) for seg, st in segs}
        seqs: dict[str, int] = {}
        platform.services.start()
        for i, row in enumerate(rows):
            index["i"] = i
            if i:
                clock.advance(timedelta(hours=1))
            down = outage is not None and outage[0] <= i < outage[0] + outage[1]
            now = clock.now()
            bodies = []
            for seg, st in segs:
                w = row[st % len(names)].weather
                heaters[seg.heater].air_c = w.air_c
                slab = slabs[seg.name]
                values = {
                    "surface_temp": round(slab.temp_c, 1),
                    "air_temp": round(w.air_c, 1),
                    "wind_speed": round(w.wind_m_s, 1),
                    "precip": round(w.precip_mm, 2),
                    "moisture": round(slab.moisture_kg_m2, 2),
                }
                if tamper is not None:
                    values = tamper(i, seg.name, values)
                seqs[seg.sensor] = seqs.get(seg.sensor, 0) + 1
                reading = SimReading(CATEGORY, now, values, UNITS)
                bodies.append(signers[seg.sensor].envelope(seqs[seg.sensor], now, [reading]))
            if not down:
                run.admitted += sum(o.admitted for o in platform.gate.ingest(bodies))
                platform.services.tick()
            for seg, st in segs:
                heater = heaters[seg.heater]
                heater.tick()
                on = heater.on
                icy = slabs[seg.name].hour(row[st % len(names)].weather, on)
                trace = run.traces.setdefault(seg.name, [])
                trace.append((round(slabs[seg.name].temp_c, 2), on, icy))
                run.icy_hours += icy
                run.icy_by_segment[seg.name] = run.icy_by_segment.get(seg.name, 0.0) + icy
                if on:
                    run.energy_kwh += seg.load_kw
                    run.heated_hours[seg.name] = run.heated_hours.get(seg.name, 0) + 1
                if not down and service.why.get(seg.heater) == "shed":
                    run.shed_hours += 1
                    run.shed_by_segment[seg.name] = run.shed_by_segment.get(seg.name, 0) + 1
            run.safe_by_hour.append(sum(h.state == "safe" for h in heaters.values()))
            if outage is not None and i == outage[0] + outage[1] - 1:
                run.fell_back = sum(h.state == "safe" for h in heaters.values())
            if outage is not None and i == outage[0] + outage[1]:
                run.rejoined = sum(h.state == "remote" for h in heaters.values())
        run.commands_refused = sum(sum(h.refused.values()) for h in heaters.values())
        run.flagged = dict(service.report()["flagged_sensors"])
    finally:
        platform.close()
    return run
