"""Adaptive signal timing from aggregated counts: Webster's splits, gap-out, max-pressure.

Each detector is an induction loop on one approach lane that reports, per
counting interval, how many vehicles passed and how much of the interval a
vehicle stood or drove over it (its occupancy; category `traffic.count`, not
personal: no plate, no trace of a vehicle). Every controller runs its
program's phases in their programmed order; yellows, all-reds and the phases
without a minimum and maximum green run at their programmed durations. The
service decides only how long each adjustable green phase lasts:

- **Webster** (every `update_s`): from the counts since the last update, the
  flow ratio of each green phase (the busiest lane it serves over the lane's
  saturation flow), the optimal cycle C0 = (1.5 L + 5) / (1 - Y) and green
  splits in proportion to the flow ratios, each within the phase's minimum and
  maximum green. A split is the phase's default duration: what the controller
  runs if no further word comes.
- **Gap-out** (every counting interval): after its minimum, a green ends when
  no vehicle passed any loop it serves in the last interval. That covers an
  empty approach and a blocked one alike (a queue standing on green because
  its exit is full: spill-back), so a green is never held for nobody.
- **Max-pressure** (every counting interval): past its Webster split, a green
  ends when another phase's pressure is higher than its own. A phase's
  pressure is the sum over its links of the demand upstream (occupancy of the
  approach loop, or its flow over the saturation flow when it is green) minus
  the occupancy of the loop on the link's exit lane: a movement into a full
  street has no pressure, so spill-back does not spread through the network.
- **Bounds**: never below a phase's minimum or above its maximum; every phase
  comes in its turn each cycle, so none is starved. A green is not ended
  before its minimum plus `lag_s`: the controller may show it a little later
  than the plan says (it waits for its foes' clearance), and a green cut at
  its planned minimum would show shorter than that.

Each decision is a `signal.plan` (the program's phases from the current one,
with their durations and the time the current one began); the controller
gets there through its safe transitioner. Between changes only heartbeats go
out; a controller that hears nothing runs its own fixed-time plan.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from charter.services.base import Intent, Reading, Service

SATURATION_VPH = 1800.0  # vehicles per hour of green, per lane (HCM base value)
MAX_CYCLE_S = 150.0
MARGIN_S = 1.0  # an extension lasts until just after the next decision is due


@dataclass(frozen=True)
class PlanPhase:
    state: str
    duration_s: float
    min_s: float
    max_s: float

    @property
    def is_green(self) -> bool:
        """A phase that serves traffic (not a yellow or all-red transition)."""
        return any(c in "Gg" for c in self.state) and not any(c in "yY" for c in self.state)

    @property
    def adjustable(self) -> bool:
        """A green the service may lengthen or shorten (its program gives it a range)."""
        return self.is_green and self.max_s > self.min_s

    @property
    def default_s(self) -> float:
        return min(self.max_s, max(self.min_s, self.duration_s))


@dataclass(frozen=True)
class Junction:
    """What the service knows of one signal: its phases and which loop feeds which link."""

    controller: str  # the controller's device URN
    phases: tuple[PlanPhase, ...]
    loops: dict[str, tuple[int, ...]]  # loop device URN → link indices its lane feeds
    #: link index → loops on the lane it leads into (the next signal's approach), if any
    exits: dict[int, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class _Counts:
    vehicles: float = 0.0
    seconds: float = 0.0


@dataclass
class _Last:
    """A loop's last interval: vehicles passed and occupancy (0..1)."""

    vehicles: float = 0.0
    occupancy: float = 0.0


@dataclass
class _Control:
    """The plan a junction's controller runs, as the service sent it."""

    durations: list[float]
    splits: list[float]
    k: int  # the phase the plan starts at
    t0: float  # when phase k began (s, the platform's clock)


@dataclass
class AdaptiveSignals(Service):
    junctions: Sequence[Junction]
    update_s: float = 300.0
    interval_s: float = 60.0  # the loops' counting interval
    name: str = "adaptive-signals"
    categories: frozenset[str] = frozenset({"traffic.count"})
    _counts: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))
    _last: dict[str, _Last] = field(default_factory=dict)
    _control: dict[str, _Control] = field(default_factory=dict)
    _last_update_ms: int | None = None
    pressure: bool = True  # the max-pressure element (False: gap-out alone)
    lag_s: float = 3.0  # how late a plan's green may show (its transitions' clearance)
    plans_sent: int = 0
    gap_outs: int = 0
    pressure_ends: int = 0
    max_outs: int = 0

    @property
    def actuators(self) -> Sequence[str]:
        return [j.controller for j in self.junctions]

    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        fresh = set()
        for r in readings:
            vehicles = float(r.values.get("vehicles", 0))
            c = self._counts[r.device_id]
            c.vehicles += vehicles
            c.seconds += self.interval_s
            occ = r.values.get("occupancy")
            self._last[r.device_id] = _Last(
                vehicles, min(1.0, max(0.0, float(occ) / 100.0)) if occ is not None else 0.0
            )
            fresh.add(r.device_id)
        self._maybe_update(now_ms)
        now_s = now_ms / 1000
        intents = []
        for j in self.junctions:
            if any(loop in fresh for loop in j.loops):
                intent = self._decide(j, now_s)
                if intent is not None:
                    intents.append(intent)
        self.plans_sent += len(intents)
        return intents

    def on_tick(self, now_ms: int) -> list[Intent]:
        self._maybe_update(now_ms)
        return []

    def report(self) -> dict[str, object]:
        return {
            "plans_sent": self.plans_sent,
            "gap_outs": self.gap_outs,
            "pressure_ends": self.pressure_ends,
            "max_outs": self.max_outs,
        }

    # -- Webster, every update_s --------------------------------------------
    def _maybe_update(self, now_ms: int) -> None:
        if self._last_update_ms is None:
            self._last_update_ms = now_ms
            return
        if now_ms - self._last_update_ms < self.update_s * 1000:
            return
        self._last_update_ms = now_ms
        for j in self.junctions:
            plan = webster_plan(j, self._flows(j))
            control = self._control.get(j.controller)
            if plan is not None and control is not None:
                control.splits = [p.duration_s for p in plan]
        self._counts.clear()

    def _flows(self, j: Junction) -> dict[int, float]:
        """Vehicles per hour on the busiest loop feeding each link."""
        flows: dict[int, float] = {}
        for loop, links in j.loops.items():
            c = self._counts.get(loop)
            if c is None or c.seconds <= 0:
                continue
            vph = c.vehicles * 3600.0 / c.seconds
            for link in links:
                flows[link] = max(flows.get(link, 0.0), vph)
        return flows

    # -- the green phase's end, every counting interval ---------------------
    def _decide(self, j: Junction, now_s: float) -> Intent | None:
        control = self._control.get(j.controller)
        if control is None:
            first = next((i for i, p in enumerate(j.phases) if p.is_green), 0)
            defaults = [p.default_s if p.adjustable else p.duration_s for p in j.phases]
            control = _Control(list(defaults), list(defaults), first, now_s)
            self._control[j.controller] = control
            return self._plan(j, control)
        before = (control.k, control.t0, list(control.durations))
        i, start = _position(control, now_s)
        if i != control.k:  # the plan moved on: anchor it at the phase running now
            for m, p in enumerate(j.phases):
                if m != i and p.adjustable:
                    control.durations[m] = control.splits[m]
            control.k, control.t0 = i, start
        phase = j.phases[i]
        if phase.adjustable and self._served_loops(j, i):
            elapsed = now_s - start
            control.durations[i] = self._green_end(j, control, i, elapsed)
        if (control.k, control.t0, control.durations) == before:
            return None
        return self._plan(j, control)

    def _green_end(self, j: Junction, control: _Control, i: int, elapsed: float) -> float:
        """How long phase i (green for `elapsed` s) should last, as far as we know now."""
        phase = j.phases[i]
        extend = min(phase.max_s, max(phase.min_s, elapsed + self.interval_s + MARGIN_S))
        if elapsed < phase.min_s + self.lag_s:
            return max(control.durations[i], phase.min_s)
        if elapsed + self.interval_s >= phase.max_s:
            if elapsed >= phase.max_s - 1e-6:
                self.max_outs += 1
            return phase.max_s
        if not self._flowing(j, i):
            self.gap_outs += 1
            return elapsed
        if self.pressure and elapsed >= control.splits[i]:
            own = self._pressure(j, i, green=True)
            others = max(
                (self._pressure(j, m) for m, p in enumerate(j.phases) if p.is_green and m != i),
                default=0.0,
            )
            if others > own:
                self.pressure_ends += 1
                return elapsed
        return extend

    def _served_loops(self, j: Junction, i: int) -> list[str]:
        served = _served(j.phases[i].state)
        return [loop for loop, links in j.loops.items() if served.intersection(links)]

    def _flowing(self, j: Junction, i: int) -> bool:
        """Did any vehicle pass a loop phase i serves in the last interval?"""
        return any(
            (last := self._last.get(loop)) is not None and last.vehicles > 0
            for loop in self._served_loops(j, i)
        )

    def _pressure(self, j: Junction, i: int, *, green: bool = False) -> float:
        """Demand on phase i's links minus how full their exits are."""
        served = _served(j.phases[i].state)
        sat = SATURATION_VPH / 3600.0 * self.interval_s  # vehicles a lane passes per interval
        demand: dict[int, float] = {}
        for loop, links in j.loops.items():
            last = self._last.get(loop)
            if last is None:
                continue
            q = last.occupancy
            if green:
                q = max(q, min(1.0, last.vehicles / sat))
            for link in served.intersection(links):
                demand[link] = max(demand.get(link, 0.0), q)
        total = 0.0
        for link, q in demand.items():
            out = max(
                (self._last[e].occupancy for e in j.exits.get(link, ()) if e in self._last),
                default=0.0,
            )
            total += max(0.0, q - out)
        return total

    @staticmethod
    def _plan(j: Junction, control: _Control) -> Intent:
        n = len(j.phases)
        order = [(control.k + off) % n for off in range(n)]
        phases = [[j.phases[m].state, round(control.durations[m], 2)] for m in order]
        return Intent(j.controller, "signal.plan", {"phases": phases, "t0_s": control.t0})


def _served(state: str) -> set[int]:
    return {k for k, c in enumerate(state) if c in "Gg"}


def _position(control: _Control, t_s: float) -> tuple[int, float]:
    """The phase the sent plan shows at t_s, and when it began."""
    n = len(control.durations)
    total = sum(control.durations)
    elapsed = t_s - control.t0
    if total <= 0 or elapsed < 0:
        return control.k, control.t0
    if elapsed >= total:
        cycles = math.floor(elapsed / total)
        control.t0 += cycles * total
        elapsed -= cycles * total
    start = control.t0
    for off in range(n):
        m = (control.k + off) % n
        if elapsed < control.durations[m]:
            return m, start
        elapsed -= control.durations[m]
        start += control.durations[m]
    return control.k, control.t0


def webster_plan(j: Junction, flows: dict[int, float]) -> list[PlanPhase] | None:
    """New durations for the junction's phases, or None without counts to go on."""
    if not flows:
        return None
    greens = [i for i, p in enumerate(j.phases) if p.is_green]
    lost = sum(p.duration_s for p in j.phases if not p.is_green)
    ratios = {}
    for i in greens:
        served = [k for k, c in enumerate(j.phases[i].state) if c in "Gg"]
        ratios[i] = max((flows.get(k, 0.0) / SATURATION_VPH for k in served), default=0.0)
    y = min(sum(ratios.values()), 0.9)
    cycle = min(MAX_CYCLE_S, (1.5 * lost + 5.0) / (1.0 - y))
    effective = max(cycle - lost, sum(j.phases[i].min_s for i in greens))
    total_ratio = sum(ratios.values())
    out = list(j.phases)
    for i in greens:
        p = j.phases[i]
        share = ratios[i] / total_ratio if total_ratio > 0 else 1.0 / len(greens)
        out[i] = PlanPhase(p.state, min(p.max_s, max(p.min_s, effective * share)), p.min_s, p.max_s)
    return out
