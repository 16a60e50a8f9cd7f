"""Benchmark: decision latency of the city services, in process.

From the moment the gate announces a committed batch to the moment the
service's signed command reaches the actuator: the adaptive-signals service
recomputing every junction's plan on every batch (its worst case; in use it
does so every few minutes), beside a service that asks for nothing but one
command per batch (the framework's own cost: feed, sign, send, verify), and
the flood early warning: from an admitted water-level reading to its zone's
alert sent (signed, at the siren, at each subscriber, on the ledger).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from charter.bench.seed import BENCH, enrol
from charter.bootstrap import build
from charter.bus.base import TOPIC_READINGS
from charter.commands.command import Command
from charter.device import SimReading
from charter.domain.clock import FixedClock
from charter.runtime import settle_heap
from charter.services.actuator import Actuator, InProcessChannel
from charter.services.base import Intent, Reading, Service
from charter.services.signals import AdaptiveSignals, Junction, PlanPhase
from charter.settings import Settings
from charter.sim.city import TRAFFIC, register_projects
from charter.sim.sumo.city import adaptive_entry

START = datetime(2026, 1, 1, 6, tzinfo=UTC)
PHASES = (
    PlanPhase("GGGgrrrr", 30, 10, 60),
    PlanPhase("yyyyrrrr", 3, 3, 3),
    PlanPhase("rrrrrrrr", 2, 2, 2),
    PlanPhase("rrrrGGGg", 30, 10, 60),
    PlanPhase("rrrryyyy", 3, 3, 3),
    PlanPhase("rrrrrrrr", 2, 2, 2),
)


class _Controller(Actuator):
    def apply(self, cmd: Command) -> None:
        pass

    def enter_safe_mode(self, why: str) -> None:
        pass

    def leave_safe_mode(self) -> None:
        pass


@dataclass
class _OneCommand(Service):
    target: str
    name: str = "noop-service"
    categories: frozenset[str] = frozenset({"traffic.count"})

    @property
    def actuators(self) -> Sequence[str]:
        return [self.target]

    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        return [Intent(self.target, "signal.noop", {})]


class _Stopwatch(InProcessChannel):
    """Times the first command after each announced batch."""

    def __init__(self) -> None:
        super().__init__()
        self.started: float | None = None
        self.samples: list[float] = []

    def stamp(self, _topic: str, _rows: Any) -> None:
        self.started = time.perf_counter()

    def send(self, target: str, wire: bytes) -> None:
        super().send(target, wire)
        if self.started is not None:
            self.samples.append(time.perf_counter() - self.started)
            self.started = None


def p99_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3)


def _run(which: str, rounds: int, junctions: int, loops_per_junction: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        clock = FixedClock(START)
        watch = _Stopwatch()
        p = build(Settings(data_dir=Path(tmp)), clock=clock, channel=watch)
        try:
            register_projects(p.registry)
            n = junctions * loops_per_junction
            loops = enrol(
                p.registry, [f"loop-{i}" for i in range(n)], project=TRAFFIC,
                categories=("traffic.count",), modality="induction-loop",
            )  # fmt: skip
            ctrls = [f"urn:ngsi-ld:Device:signal-{j}" for j in range(junctions)]
            key = p.security.commands.public_key_b64
            for c in ctrls:
                watch.attach(_Controller(c, key, clock, timedelta(seconds=3)))
            entry = adaptive_entry()
            service: Service
            if which == "signals":
                model = [
                    Junction(
                        ctrls[j],
                        PHASES,
                        {
                            loops[j * loops_per_junction + k].device_id: (k % 8,)
                            for k in range(loops_per_junction)
                        },
                    )
                    for j in range(junctions)
                ]
                service = AdaptiveSignals(model, update_s=0.0)
            else:
                service = _OneCommand(ctrls[0])
                entry = entry.model_copy(update={"service": service.name})
            p.algorithms.register(entry, BENCH, "benchmark")
            p.bus.subscribe(TOPIC_READINGS, watch.stamp)  # before the host: it stamps first
            p.services.add(service)
            p.services.start()
            settle_heap()  # as `charter serve` does: no full collection under load
            seqs = [0] * n
            for r in range(rounds + 1):
                clock.advance(timedelta(seconds=60))
                now = clock.now()
                bodies = []
                for i, loop in enumerate(loops):
                    seqs[i] += 1
                    reading = SimReading(
                        "traffic.count", now, {"vehicles": 10 + (i + r) % 30, "mean_speed": 30.0},
                        {"vehicles": "count", "mean_speed": "km/h"},
                    )  # fmt: skip
                    bodies.append(loop.envelope(seqs[i], now, [reading]))
                p.gate.ingest(bodies)
            return watch.samples[1:]  # the first round only starts the service's clock
        finally:
            p.close()


def _run_preemption(rounds: int, signals: int = 8) -> list[float]:
    """An emergency vehicle's signed request through the gate → the SSM and the signal
    commands (signed, verified); every round a new request, so every batch decides."""
    from charter.device import DeviceSigner
    from charter.domain.model import Device, Location
    from charter.services.j2735 import CATEGORY, OnBoardUnit, record_status
    from charter.services.preemption import Preemption
    from charter.services.preemption_network import Movement, Road, RoadModel, SignalModel
    from charter.services.preemption_register import RegisterCheck
    from charter.sim.city import EMERGENCY, TRUSTED
    from charter.sim.sumo.evp_model import preemption_entry

    edges = [f"e{i}" for i in range(signals + 1)]
    roads = {
        e: Road(e, 150.0, 13.9, ((150.0 * i, 0.0), (150.0 * (i + 1), 0.0)),
                frozenset(edges[i + 1 : i + 2]))
        for i, e in enumerate(edges)
    }  # fmt: skip
    ctrls = [f"urn:ngsi-ld:Device:signal-{j}" for j in range(signals)]
    model = RoadModel(
        roads,
        {(edges[j], edges[j + 1]): (Movement(ctrls[j], (0,), (0,)),) for j in range(signals)},
        {c: SignalModel(c, 2, frozenset({(0, 1)})) for c in ctrls},
    )
    with tempfile.TemporaryDirectory() as tmp:
        clock = FixedClock(START)
        watch = _Stopwatch()
        p = build(Settings(data_dir=Path(tmp), device_rate_per_s=10_000.0), clock=clock,
                  channel=watch)  # fmt: skip
        try:
            register_projects(p.registry, services=True)
            signer = DeviceSigner("urn:ngsi-ld:Device:ambulance-bench")
            p.registry.register_device(
                Device(
                    id=signer.device_id, vendor_id=TRUSTED, project_id=EMERGENCY,
                    modality="emergency-vehicle", location=Location(lat=52.36, lon=4.9),
                    categories=[CATEGORY],
                    public_key=signer.public_key_b64,
                ),
                BENCH,
            )  # fmt: skip
            key = p.security.commands.public_key_b64
            for c in [*ctrls, signer.device_id]:
                watch.attach(_Controller(c, key, clock, timedelta(seconds=3)))
            p.algorithms.register(preemption_entry(), BENCH, "benchmark")
            p.bus.subscribe(TOPIC_READINGS, watch.stamp)
            service = Preemption(
                model,
                vehicle_check=RegisterCheck(p.store, EMERGENCY),
                on_status=lambda st: record_status(p.ledger, st),
            )
            p.services.add(service)
            p.services.start()
            settle_heap()
            unit = OnBoardUnit(signer)
            for r in range(rounds + 1):
                clock.advance(timedelta(seconds=1))
                values = {
                    "message": "request" if r % 2 == 0 else "cancel", "request_id": r,
                    "priority": 5, "role": "ambulance", "x": 10.0, "y": 0.0, "speed": 12.0,
                    "heading": 90.0, "edge": "e0", "lane": "e0_0", "edge_pos": 10.0,
                    "route": " ".join(edges),
                }  # fmt: skip
                p.gate.ingest([unit.envelope(values, clock.now())])
            return watch.samples[1:]
        finally:
            p.close()


def run_services(
    rounds: int = 200,
    junctions: int = 15,
    loops_per_junction: int = 8,
    alert_zones: int = 40,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    for which in ("noop", "signals"):
        if progress is not None:
            progress(f"{which}: {rounds} batches of {junctions * loops_per_junction} counts")
        samples = _run(which, rounds, junctions, loops_per_junction)
        figures[f"{which}_p99_ms"] = p99_ms(samples)
        figures[f"{which}_p50_ms"] = round(sorted(samples)[len(samples) // 2] * 1000, 3)
        figures[f"{which}_decisions"] = len(samples)
    if progress is not None:
        progress(f"hazard: an event on each of {alert_zones} zones' gauges, through the gate")
    from charter.sim.hazard.scenario import alert_latency

    alerts = alert_latency(alert_zones)
    figures["alert_p99_ms"] = p99_ms(alerts)
    figures["alert_p50_ms"] = round(sorted(alerts)[len(alerts) // 2] * 1000, 3)
    figures["alerts"] = len(alerts)
    if progress is not None:
        progress(f"preemption: {rounds} signal requests through the gate")
    preempt = _run_preemption(rounds)
    figures["preemption_p99_ms"] = p99_ms(preempt)
    figures["preemption_p50_ms"] = round(sorted(preempt)[len(preempt) // 2] * 1000, 3)
    figures["junctions"] = junctions
    return figures
