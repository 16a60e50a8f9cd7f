"""Seismic readings from a real seismogram, replayed through the gate.

The record is ObsPy's bundled example (`obspy.read()` with no argument): the
three components of station BW.RJOB (Jochberg, Bavaria) on 2009-08-24 from
00:20:03 UTC, 30 s at 100 Hz, a small local earthquake, with the station's
real instrument response (`obspy.read_inventory()`, the same station). The
response is removed to give ground velocity (m/s) and acceleration (m/s²);
each second, a seismometer reports its peak ground acceleration (`pga`, m/s²)
and velocity (`pgv`, m/s), the largest of the three components in that
second.

That earthquake was small and far: its real peak is 3.9e-5 m/s², far below
anything a city warns of. The replay multiplies the whole record, noise and
all, by `GAIN` (so its peak is about 1 m/s², strong shaking): the waveform's
shape, timing and signal-to-noise ratio are the real record's, its amplitude is
not. Documented in docs/services.md. The quiet record is the same record's
quiet seconds: before the first arrival (0–3 s) and the coda from 14 s on,
the same gain; the event record is the whole 30 s.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from charter.bench.services import p99_ms
from charter.bootstrap import build
from charter.bus.base import TOPIC_READINGS
from charter.device import DeviceSigner, SimReading
from charter.domain.algorithm import AlgorithmEntry, Figure, Risk
from charter.domain.clock import FixedClock, to_ms
from charter.domain.consultation import APPROVE
from charter.domain.disclosure import Access, CategoryDisclosure, Indicator, Processing
from charter.domain.model import (
    DataCategory,
    Device,
    FieldSpec,
    Location,
    Project,
    ProjectStatus,
    urn,
)
from charter.registry.service import Registry
from charter.services.hazard import (
    HazardPlan,
    HazardWatch,
    Threshold,
    Zone,
    publish_plan,
    zones_of_devices,
)
from charter.services.hazard_delivery import ZoneSiren
from charter.services.hazard_subscriptions import AlertSubscriptions
from charter.services.sensors import flag_reporter, released_in
from charter.settings import Settings
from charter.sim import city as sample

QUAKE = urn("Project", "quake-watch")
CATEGORY = "seismic.motion"
GAIN = 25_000.0  # documented above: the real record's amplitude times this
QUIET_SECONDS = [*range(0, 4), *range(14, 30)]

SEISMIC = DataCategory(
    name=CATEGORY,
    description="Peak ground acceleration and velocity each second at a seismometer.",
    personal=False,
    retention_days=3650,
    fields={
        "pga": FieldSpec(type="number", unit="m/s2", minimum=0, maximum=100),
        "pgv": FieldSpec(type="number", unit="m/s", minimum=0, maximum=10),
    },
    disclosure=CategoryDisclosure(
        collected="The largest ground acceleration and velocity of each second.",
        processing=[Processing.AGGREGATED],
        access=[Access.RESIDENTS, Access.CITY, Access.THIRD_PARTIES],
        third_parties=["National seismological service"],
        storage="City data centre, Example (EU)",
    ),
)


def quake_project() -> Project:
    return Project(
        id=QUAKE,
        name="Quake watch",
        purpose="Sound the sirens of the city's zones when strong shaking is measured.",
        benefits=["Seconds of warning before strong shaking reaches the next zone"],
        categories=[SEISMIC],
        vendor_ids=[sample.TRUSTED],
        disclosure=sample.disclosure(
            ["strong-motion seismometer", "zone siren"],
            [Indicator(name="Alert after strong shaking", unit="seconds", baseline=60, target=3)],
        ),
        **sample.COMMON,
    )


def register_quake_project(registry: Registry) -> None:
    """Proposed, consulted for the full period, approved and live (the sample city's
    vendors already registered)."""
    days = registry.rules.consultation_days
    with sample.back_then(registry, timedelta(days=days + 30)):
        registry.create_project(quake_project(), sample.SEEDER)
        registry.open_consultation(QUAKE, sample.SEEDER, "public exhibition opened")
    registry.decide(QUAKE, APPROVE, sample.COUNCIL, "approved after consultation")
    registry.set_project_status(QUAKE, ProjectStatus.LIVE, sample.SEEDER, "seismometer installed")


def quake_plan() -> HazardPlan:
    """One zone, the whole centre, its own siren; shaking thresholds (m/s²)."""
    west, east, south, north = 4.85, 4.99, 52.33, 52.47
    ring = [(west, south), (east, south), (east, north), (west, north), (west, south)]
    zone = Zone(id="centre", name="Centre", polygon=ring, actuator=urn("Device", "siren-quake"))
    pga = Threshold(
        category=CATEGORY, field="pga", unit="m/s2", sub_category="earthquake",
        warning=0.1, danger=0.5, debounce=1,  # shaking does not wait: one second counts
        minimum=0, maximum=30, max_step_per_s=30.0, stuck_n=10,
    )  # fmt: skip
    return HazardPlan(project_id=QUAKE, zones=[zone], thresholds=[pga])


@dataclass(frozen=True)
class Second:
    t_s: int
    pga: float  # m/s², after GAIN
    pgv: float  # m/s, after GAIN


def _obspy() -> Any:
    """ObsPy, imported without its own deprecation noise (importlib.metadata's, on 3.11)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import obspy

    return obspy


def available() -> bool:
    try:
        _obspy()
    except ImportError:
        return False
    return True


@cache
def record() -> tuple[Second, ...]:
    """The example seismogram, second by second (ObsPy, the charter[hazard] extra)."""
    obspy = _obspy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        st = obspy.read()
        inv = obspy.read_inventory()
        acc = st.copy().remove_response(inventory=inv, output="ACC")
        vel = st.copy().remove_response(inventory=inv, output="VEL")
    n = min(len(tr.data) for tr in st) // 100
    out = []
    for k in range(n):
        a = max(float(abs(tr.data[k * 100 : (k + 1) * 100]).max()) for tr in acc)
        v = max(float(abs(tr.data[k * 100 : (k + 1) * 100]).max()) for tr in vel)
        out.append(Second(k, float(f"{a * GAIN:.6g}"), float(f"{v * GAIN:.6g}")))
    return tuple(out)


def quiet() -> list[Second]:
    return [s for s in record() if s.t_s in QUIET_SECONDS]


def event() -> list[Second]:
    return list(record())


def quake_entry() -> AlgorithmEntry:
    return AlgorithmEntry(
        service="quake-watch",
        project_id=QUAKE,
        name="Strong-shaking alert",
        purpose="Sound the zone's sirens and tell its subscribers when the ground shakes hard.",
        data_used=[CATEGORY],
        how_it_decides=(
            "A zone warns when a seismometer inside it measures a peak ground acceleration "
            "at or above the published warning level in one second, and is in danger at the "
            "danger level. Readings out of range, jumping beyond physics or stuck are flagged."
        ),
        human_oversight=(
            "The duty officer sees every alert and flagged seismometer on the ledger and can "
            "disable the service; sirens keep their last alert without the platform."
        ),
        risks=[
            Risk(risk="Traffic or works shake a sensor.", mitigation="Strong-motion thresholds."),
        ],
        figures=[
            Figure(
                name="false alerts on the quiet record", value=0, measured_by="charter sim hazard"
            )
        ],
        actuators=["zone siren and signs"],
        accountable="Civil protection department",
        contact="quake@example.city",
    )


def replay_seismic(seconds: list[Second]) -> dict[str, Any]:
    """The seconds through the gate, one reading a second from a seismometer in the centre."""
    from charter.sim.hazard.scenario import START, Stopwatch, live_flood

    with tempfile.TemporaryDirectory() as tmp:
        clock = FixedClock(START)
        watch = Stopwatch()
        p = build(Settings(data_dir=Path(tmp)), clock=clock, channel=watch)
        try:
            live_flood(p)  # the sample city, its vendors
            register_quake_project(p.registry)
            plan = quake_plan()
            publish_plan(p.store, p.ledger, plan, sample.SEEDER, "strong-shaking plan adopted")
            watch.subscriptions = AlertSubscriptions(p.store, p.ledger, p.settings)
            watch.ledger = p.ledger
            key = p.security.commands.public_key_b64
            for z in plan.zones:
                watch.attach(ZoneSiren(z.actuator, key, clock, local_danger=0.5))
            signer = DeviceSigner(urn("Device", "seismometer-rjob"))
            p.registry.register_device(
                Device(id=signer.device_id, vendor_id=sample.TRUSTED, project_id=QUAKE,
                       modality="strong-motion seismometer", location=Location(lat=52.40, lon=4.92),
                       categories=[CATEGORY], public_key=signer.public_key_b64),
                sample.SEEDER,
            )  # fmt: skip
            p.algorithms.register(quake_entry(), sample.SEEDER, "strong-shaking alert")
            service = HazardWatch(
                plan, zones_of_devices(p.store, plan), name="quake-watch",
                on_flag=flag_reporter(p.ledger, "quake-watch"), released=released_in(p.store),
            )  # fmt: skip
            p.bus.subscribe(TOPIC_READINGS, watch.stamp)
            p.services.add(service)
            p.services.start()
            for seq, s in enumerate(seconds, start=1):
                clock.advance(timedelta(seconds=1))
                now = clock.now()
                reading = SimReading(CATEGORY, now, {"pga": s.pga, "pgv": s.pgv},
                                     {"pga": "m/s2", "pgv": "m/s"})  # fmt: skip
                assert p.gate.ingest([signer.envelope(seq, now, [reading])])[0].admitted
            return {"raised": service.raised, "flags": len(service.flags),
                    "samples": watch.samples, "seconds": seconds,
                    "first_ms": to_ms(START)}  # fmt: skip
        finally:
            p.close()


def run_seismic(runs: dict[str, Any] | None = None) -> dict[str, Any]:
    """0 false alerts on the quiet seconds, 0 missed (warning or danger) on the event."""
    if not available():
        return {"seismic_record": None, "why": "ObsPy (the charter[hazard] extra) is not installed"}
    from charter.sim.hazard.scenario import START

    q = replay_seismic(quiet())
    e = replay_seismic(event())
    if runs is not None:
        runs.update(seismic_quiet=q, seismic_event=e)
    levels = [lvl for _, lvl, _ in e["raised"]]
    first = (e["raised"][0][2] - to_ms(START)) / 1000 - 1 if e["raised"] else None
    return {
        "seismic_record": f"ObsPy example BW.RJOB 2009-08-24 (real, amplitude x{GAIN:g})",
        "seismic_quiet_seconds": len(q["seconds"]),
        "seismic_false_alerts": len(q["raised"]),
        "seismic_missed_alerts": 0 if "danger" in levels else 1,
        "seismic_first_alert_s": first,  # seconds into the record
        "seismic_sensors_flagged": q["flags"] + e["flags"],
        "seismic_alert_p99_ms": p99_ms(e["samples"]) if e["samples"] else None,
    }
