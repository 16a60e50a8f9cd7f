"""A small built-in junction model: the signal services without SUMO.

A four-arm junction (north, east, south, west; one approach lane each, one
link per lane) in pure Python: vehicles arrive at random (Poisson, a rate per
arm that changes over the scenario, so the busy road changes), queue at the
stop line, and leave on green at the saturation flow (1800 vehicles per hour
of green) after a start-up lost time; a yellow still lets vehicles leave, red
stops them. North–south and east–west are foes. Its program: north–south
green (5–50 s, 30 s programmed), yellow 3 s, all-red 2 s, east–west the same.

Each approach has a counting loop 30 m before the stop line: per interval it
reports the vehicles that passed it and its occupancy (a queue longer than
four cars stands on it). The model speaks the part of SUMO's TraCI interface
the SUMO scenarios use (`simulation`, `trafficlight`, `inductionloop`), so the
very same code drives it: each loop a registered device signing its counts
and sending them through the gate, the adaptive-signals service deciding,
signed commands to a `SumoSignal` controller that verifies each one, keeps the
fail-safe contract and reaches every state through the safe transitioner,
and the safety invariant (`sim/sumo/safety.py`) checked at every step.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from charter.bootstrap import build
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.model import Location, urn
from charter.services.signals import AdaptiveSignals, Junction, PlanPhase
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.sumo.city import (
    COUNT_PERIOD_S,
    OPERATOR,
    START,
    Loop,
    SignalCity,
    _register,
    adaptive_entry,
    drive,
)
from charter.sim.sumo.controller import SumoSignal
from charter.sim.sumo.safety import Phase, SafetyMonitor, SignalRules

ARMS = ("north", "east", "south", "west")
TLS = "junction-1"
SATURATION_VEH_S = 0.5  # 1800 vehicles per hour of green
STARTUP_LOST_S = 2.0
CARS_OVER_LOOP = 4  # a loop 30 m back is covered by a queue of more than four cars
#: The program: (state, programmed s, min s, max s); links are the arms in ARMS order.
PROGRAM = (
    ("GrGr", 30.0, 5.0, 50.0),
    ("yryr", 3.0, 3.0, 3.0),
    ("rrrr", 2.0, 2.0, 2.0),
    ("rGrG", 30.0, 5.0, 50.0),
    ("ryry", 3.0, 3.0, 3.0),
    ("rrrr", 2.0, 2.0, 2.0),
)
WHERE = Location(lat=52.372, lon=4.893)  # inside the sample city's area
CONFLICTS = frozenset({(0, 1), (0, 3), (1, 2), (2, 3)})  # north–south against east–west


def demand(t_s: float, duration_s: float) -> tuple[float, ...]:
    """Arrivals per second on each arm: the main road north–south, then a peak east–west."""
    if t_s < duration_s / 2:
        return (0.22, 0.08, 0.20, 0.07)
    return (0.10, 0.21, 0.09, 0.23)


def rules() -> SignalRules:
    phases = [Phase(state, min_s) for state, _d, min_s, _max in PROGRAM]
    return SignalRules.from_program(TLS, CONFLICTS, phases)


def fixed_plan() -> list[tuple[str, float]]:
    return [(state, d) for state, d, _min, _max in PROGRAM]


@dataclass
class _Arm:
    queue: float = 0.0  # vehicles waiting (fractions: a flow model)
    green_for: float = 0.0
    passed: float = 0.0  # in the current counting interval
    covered_s: float = 0.0
    interval: tuple[int, float, float] = (0, -1.0, 0.0)  # last interval: vehicles, speed, occ


class _TrafficLight:
    def __init__(self, model: JunctionModel) -> None:
        self.model = model

    def getRedYellowGreenState(self, tls: str) -> str:
        return self.model.state

    def setRedYellowGreenState(self, tls: str, state: str) -> None:
        self.model.state = state


class _Loops:
    def __init__(self, model: JunctionModel) -> None:
        self.model = model

    def _arm(self, loop: str) -> _Arm:
        return self.model.arms[ARMS.index(loop.removeprefix("loop_"))]

    def getLastIntervalVehicleNumber(self, loop: str) -> int:
        return self._arm(loop).interval[0]

    def getLastIntervalMeanSpeed(self, loop: str) -> float:
        return self._arm(loop).interval[1]

    def getLastIntervalOccupancy(self, loop: str) -> float:
        return self._arm(loop).interval[2]


class _Simulation:
    def __init__(self, model: JunctionModel) -> None:
        self.model = model

    def getTime(self) -> float:
        return self.model.t_s

    def getMinExpectedNumber(self) -> int:
        return 1 if self.model.t_s < self.model.end_s else 0


@dataclass
class JunctionModel:
    """The junction's traffic; `step()` advances it by `step_s` and checks the invariant."""

    end_s: float
    seed: int = 1
    step_s: float = 0.5
    count_period_s: float = COUNT_PERIOD_S
    state: str = PROGRAM[0][0]
    t_s: float = 0.0
    arms: list[_Arm] = field(default_factory=lambda: [_Arm() for _ in ARMS])
    delay_s: float = 0.0  # vehicle-seconds spent queued
    arrived: int = 0
    departed: float = 0.0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.simulation = _Simulation(self)
        self.trafficlight = _TrafficLight(self)
        self.inductionloop = _Loops(self)
        self.monitor = SafetyMonitor({TLS: rules()}, tolerance_s=self.step_s * 1.01)
        self._next_interval = self.count_period_s
        self.check()

    @property
    def traci(self) -> JunctionModel:
        return self  # what the SUMO scenarios call the simulation's interface

    @property
    def time_s(self) -> float:
        return self.t_s

    def check(self) -> None:
        self.monitor.observe(TLS, self.state, self.t_s)

    def step(self) -> None:
        dt = self.step_s
        rates = demand(self.t_s, self.end_s)
        for i, arm in enumerate(self.arms):
            n = _poisson(self.rng, rates[i] * dt)
            arm.queue += n
            self.arrived += n
            light = self.state[i]
            if light in "Gg" or (light in "yY" and arm.green_for > 0):
                arm.green_for += dt
                if arm.green_for > STARTUP_LOST_S:
                    out = min(arm.queue, SATURATION_VEH_S * dt)
                    arm.queue -= out
                    arm.passed += out
                    self.departed += out
            else:
                arm.green_for = 0.0
            if arm.queue > CARS_OVER_LOOP:
                arm.covered_s += dt
            self.delay_s += arm.queue * dt
        self.t_s += dt
        if self.t_s >= self._next_interval - 1e-9:
            for arm in self.arms:
                occupancy = 100.0 * arm.covered_s / self.count_period_s
                if arm.passed > 0 and arm.queue <= CARS_OVER_LOOP:
                    occupancy = max(occupancy, 100.0 * arm.passed * 0.3 / self.count_period_s)
                vehicles = math.floor(arm.passed + 1e-9)
                speed = 8.0 if vehicles else -1.0
                arm.interval = (vehicles, speed, min(100.0, occupancy))
                arm.passed -= vehicles  # fractions of a car carry into the next interval
                arm.covered_s = 0.0
            self._next_interval += self.count_period_s
        self.check()

    @property
    def mean_delay_s(self) -> float:
        return self.delay_s / self.arrived if self.arrived else 0.0


def _poisson(rng: random.Random, mean: float) -> int:
    k, p, limit = 0, 1.0, math.exp(-mean)
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def build_junction_city(data_dir: Path, *, heartbeat_s: float = 1.0) -> SignalCity:
    """The sample city on the model: its traffic project, a loop per arm, one controller."""
    clock = FixedClock(START)
    platform = build(Settings(data_dir=data_dir, service_heartbeat_s=heartbeat_s), clock=clock)
    sample.register_projects(platform.registry)
    controller = urn("Device", f"signal-{TLS}")
    _register(platform, controller, "signal-controller", WHERE)
    loops: list[Loop] = []
    loop_map: dict[str, tuple[int, ...]] = {}
    for i, arm in enumerate(ARMS):
        signer = DeviceSigner(urn("Device", f"loop-{TLS}-{arm}"))
        _register(platform, signer, "induction-loop", WHERE)
        loops.append(Loop(f"loop_{arm}", arm, signer, (i,), TLS))
        loop_map[signer.device_id] = (i,)
    phases = tuple(PlanPhase(s, d, lo, hi) for s, d, lo, hi in PROGRAM)
    platform.algorithms.register(adaptive_entry(), OPERATOR, "adaptive signal timing")
    city = SignalCity(
        platform, clock, loops, [Junction(controller, phases, loop_map)], data_dir / "none",
        count_period_s=COUNT_PERIOD_S,
    )  # fmt: skip
    city._tls_ids = {TLS: TLS}
    return city


def attach_controller(city: SignalCity, model: JunctionModel, silence_s: float) -> SumoSignal:
    """The junction's controller: the SUMO scenarios' own, on the model's signal."""
    key = city.platform.security.commands.public_key_b64
    ctrl = SumoSignal(
        city.junctions[0].controller, TLS, model, rules(), fixed_plan(), key, city.clock,
        timedelta(seconds=silence_s),
    )  # fmt: skip
    city.controllers[TLS] = ctrl
    city.platform.services.channel.attach(ctrl)  # type: ignore[attr-defined]
    return ctrl


@dataclass
class JunctionRun:
    mean_delay_s: float
    vehicles: int
    violations: int
    plans_sent: int
    commands_refused: int
    mode_changes: list[tuple[float, str]]


def run_junction(
    mode: str,
    *,
    end_s: float = 1200.0,
    seed: int = 1,
    heartbeat_s: float = 1.0,
    platform_up: Callable[[float], bool] | None = None,
    data_dir: Path | None = None,
) -> JunctionRun:
    """One run of the junction: `fixed` (the controller alone, its own plan) or `adaptive`
    (the platform's service driving it; `platform_up(t)` may take the platform away)."""
    with tempfile.TemporaryDirectory(prefix="charter-junction-") as tmp:
        city = build_junction_city(data_dir or Path(tmp), heartbeat_s=heartbeat_s)
        try:
            model = JunctionModel(end_s=end_s, seed=seed)
            ctrl = attach_controller(city, model, 2 * heartbeat_s)
            service = None
            if mode == "adaptive":
                # plans (gap-out, max-pressure): the model has no actuated program to hand to
                service = AdaptiveSignals(
                    city.junctions, update_s=120.0, interval_s=city.count_period_s
                )
                city.platform.services.add(service)
                city.platform.services.start()
                up = platform_up or (lambda _t: True)
            else:
                up = None
            drive(city, model, end_s, platform_up=up)
            t0 = START.timestamp()
            return JunctionRun(
                mean_delay_s=model.mean_delay_s,
                vehicles=model.arrived,
                violations=len(model.monitor.violations),
                plans_sent=service.plans_sent if service is not None else 0,
                commands_refused=sum(ctrl.refused.values()),
                mode_changes=[(t - t0, m) for t, m in ctrl.mode_changes],
            )
        finally:
            city.platform.close()


def compare(end_s: float = 1200.0, seed: int = 1) -> dict[str, Any]:
    """Fixed-time against adaptive on the same arrivals: mean delay per vehicle."""
    fixed = run_junction("fixed", end_s=end_s, seed=seed)
    adaptive = run_junction("adaptive", end_s=end_s, seed=seed)
    return {
        "model": "built-in junction (4 arms, pure Python)",
        "delay_fixed_s": round(fixed.mean_delay_s, 1),
        "delay_adaptive_s": round(adaptive.mean_delay_s, 1),
        "reduction_vs_fixed": round(1 - adaptive.mean_delay_s / fixed.mean_delay_s, 3)
        if fixed.mean_delay_s
        else 0.0,
        "vehicles": adaptive.vehicles,
        "plans_sent": adaptive.plans_sent,
        "safety_violations": fixed.violations + adaptive.violations,
    }
