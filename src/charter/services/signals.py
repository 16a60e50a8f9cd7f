"""Adaptive signal timing from aggregated counts (Webster's method).

Each detector is an induction loop on one approach lane that reports how many
vehicles passed per interval (category `traffic.count`, not personal). Every
`update_s` the service computes, per junction, the flow ratio of each green
phase (the busiest lane it serves over the lane's saturation flow), Webster's
optimal cycle C0 = (1.5 L + 5) / (1 - Y) and green splits in proportion to the
flow ratios, each kept within the phase's minimum and maximum green, and sends
the controller the new plan. Between updates it sends nothing but heartbeats;
a controller that hears nothing runs its own fixed-time plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from charter.services.base import Intent, Reading, Service

SATURATION_VPH = 1800.0  # vehicles per hour of green, per lane (HCM base value)
MAX_CYCLE_S = 150.0


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


@dataclass(frozen=True)
class Junction:
    """What the service knows of one signal: its phases and which loop feeds which link."""

    controller: str  # the controller's device URN
    phases: tuple[PlanPhase, ...]
    loops: dict[str, tuple[int, ...]]  # loop device URN → link indices its lane feeds


@dataclass
class _Counts:
    vehicles: float = 0.0
    seconds: float = 0.0


@dataclass
class AdaptiveSignals(Service):
    junctions: Sequence[Junction]
    update_s: float = 300.0
    interval_s: float = 60.0  # the loops' counting interval
    name: str = "adaptive-signals"
    categories: frozenset[str] = frozenset({"traffic.count"})
    _counts: dict[str, _Counts] = field(default_factory=lambda: defaultdict(_Counts))
    _last_update_ms: int | None = None
    plans_sent: int = 0

    @property
    def actuators(self) -> Sequence[str]:
        return [j.controller for j in self.junctions]

    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        for r in readings:
            c = self._counts[r.device_id]
            c.vehicles += float(r.values.get("vehicles", 0))
            c.seconds += self.interval_s
        return self._maybe_update(now_ms)

    def on_tick(self, now_ms: int) -> list[Intent]:
        return self._maybe_update(now_ms)

    def _maybe_update(self, now_ms: int) -> list[Intent]:
        if self._last_update_ms is None:
            self._last_update_ms = now_ms
            return []
        if now_ms - self._last_update_ms < self.update_s * 1000:
            return []
        self._last_update_ms = now_ms
        intents = []
        for j in self.junctions:
            plan = webster_plan(j, self._flows(j))
            if plan is not None:
                phases = [[p.state, round(p.duration_s, 1)] for p in plan]
                intents.append(
                    Intent(j.controller, "signal.plan", {"phases": phases, "t0_s": now_ms / 1000})
                )
        self._counts.clear()
        self.plans_sent += len(intents)
        return intents

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
