"""Strategic timing for signal controllers that actuate locally (SCATS-like).

As SCATS and SCOOT do in the field, the controller keeps its local actuation
(a green ends on a gap in its own detectors, never before the program's
minimum) and the platform sets the strategic parameters from the aggregated
counts that reach it through the gate: a maximum green per adjustable phase,
sent as `signal.timing`. Each loop reports, per counting interval, how many
vehicles passed it and its occupancy (the share of the interval a vehicle was
over it): `traffic.count`, never personal.

- **Saturation** (optional, `saturation=True`; off by default, as measured it
  made a gridlock likelier): an approach loop (30 m before the stop
  line) occupied for at least `saturated_occupancy` of the update window has a
  queue standing over it, cycle after cycle: its counts are what the green let
  through, not the demand. A phase serving such a lane keeps the program's own
  maximum: the service never gives a saturated phase less than plain
  actuation would.
  So does a phase whose approach loop has had a queue standing over it for
  `queue_occupancy` of the last `queue_s` (smoothed), at once: the queue is
  there now, whatever the last window said.
- **Webster** (every `update_s`, the other phases): from the counts since the
  last update, each green phase's flow ratio (its busiest lane over the
  saturation flow), the optimal cycle C0 = (1.5 L + 5) / (1 - Y) and splits in
  proportion to the flow ratios; a phase's maximum green is its split times
  `headroom`, never below its programmed green and never above the program's
  maximum. Before the first counts: the program's own maxima.
- **Spill-back** (every counting interval): a link whose exit lane's loop (just
  past the junction, another signal's approach) has been occupied for at least
  `blocked_occupancy` of the last `spill_s` is blocked: a queue stands there
  back to the junction. A phase whose waiting traffic is mostly on blocked
  links (at least `blocked_share` of its served links with vehicles at their
  approach loop) gets its minimum green only, until the exits clear: under
  plain actuation a queue standing over the detectors holds such a green to
  its maximum while it moves nobody and the cross streets wait.

A command goes out only when a junction's maxima change by more than a second;
between them only heartbeats. A controller that hears nothing runs its own
fixed-time plan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from charter.services.base import Intent, Reading, Service
from charter.services.signals import Junction, PlanPhase, webster_plan


@dataclass
class _Window:
    """A loop's counts since the last update: vehicles, seconds, occupancy-seconds."""

    vehicles: float = 0.0
    seconds: float = 0.0
    occupied_s: float = 0.0


@dataclass
class AdaptiveTiming(Service):
    """Maximum greens for controllers that run their own vehicle actuation (module doc)."""

    junctions: Sequence[Junction]
    update_s: float = 300.0
    interval_s: float = 60.0  # the loops' counting interval
    name: str = "adaptive-signals"
    categories: frozenset[str] = frozenset({"traffic.count"})
    headroom: float = 1.3
    saturated_occupancy: float = 0.3
    queue_occupancy: float = 0.5
    queue_s: float = 30.0
    blocked_occupancy: float = 0.5
    spill_s: float = 10.0
    blocked_share: float = 0.5
    demand_occupancy: float = 0.05  # an approach loop this occupied (smoothed) has a queue
    webster: bool = True
    # Off by default: measured on DRT (seed 2 at 1.2 s), giving saturated phases back the
    # program's maximum let the busiest cluster lock (330.5 s against 65.2 s without it).
    saturation: bool = False
    spillback: bool = True
    floor_programmed: bool = True  # a maximum never below the phase's programmed duration
    _window: dict[str, _Window] = field(default_factory=lambda: defaultdict(_Window))
    _occ: dict[str, float] = field(default_factory=dict)  # smoothed occupancy (0..1)
    _veh: dict[str, float] = field(default_factory=dict)  # smoothed vehicles per interval
    _queue: dict[str, float] = field(default_factory=dict)  # occupancy smoothed over queue_s
    _webster: dict[str, list[float | None]] = field(default_factory=dict)
    _sent: dict[str, list[float | None]] = field(default_factory=dict)
    _cut: set[tuple[str, int]] = field(default_factory=set)
    _last_update_ms: int | None = None
    plans_sent: int = 0
    spill_cuts: int = 0  # times a phase was cut to its minimum (each cut counted once)
    updates: int = 0
    saturated: int = 0  # phase-updates that kept the program's maximum: saturated
    shortened: int = 0  # phase-updates with a maximum below the program's

    @property
    def actuators(self) -> Sequence[str]:
        return [j.controller for j in self.junctions]

    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        fresh = set()
        a = min(1.0, self.interval_s / max(self.spill_s, self.interval_s))
        b = min(1.0, self.interval_s / max(self.queue_s, self.interval_s))
        for r in readings:
            vehicles = float(r.values.get("vehicles", 0))
            occ = r.values.get("occupancy")
            q = min(1.0, max(0.0, float(occ) / 100.0)) if occ is not None else 0.0
            w = self._window[r.device_id]
            w.vehicles += vehicles
            w.seconds += self.interval_s
            w.occupied_s += q * self.interval_s
            for smooth, x, k in ((self._occ, q, a), (self._veh, vehicles, a), (self._queue, q, b)):
                prev = smooth.get(r.device_id)
                smooth[r.device_id] = x if prev is None else prev + k * (x - prev)
            fresh.add(r.device_id)
        self._maybe_update(now_ms)
        intents = []
        for j in self.junctions:
            if j.controller in self._sent and not any(loop in fresh for loop in j.loops):
                continue
            caps = self._caps(j)
            sent = self._sent.get(j.controller)
            if sent is not None and not _changed(sent, caps):
                continue
            self._sent[j.controller] = caps
            intents.append(Intent(j.controller, "signal.timing", {"max_green_s": caps}))
        self.plans_sent += len(intents)
        return intents

    def on_tick(self, now_ms: int) -> list[Intent]:
        self._maybe_update(now_ms)
        # The program's own maxima to every controller not yet told anything.
        intents = []
        for j in self.junctions:
            if j.controller not in self._sent:
                caps = self._caps(j)
                self._sent[j.controller] = caps
                intents.append(Intent(j.controller, "signal.timing", {"max_green_s": caps}))
        self.plans_sent += len(intents)
        return intents

    def report(self) -> dict[str, object]:
        return {
            "plans_sent": self.plans_sent,
            "spill_cuts": self.spill_cuts,
            "updates": self.updates,
            "saturated": self.saturated,
            "shortened": self.shortened,
        }

    # -- Webster and saturation, every update_s -----------------------------
    def _maybe_update(self, now_ms: int) -> None:
        if self._last_update_ms is None:
            self._last_update_ms = now_ms
            return
        if now_ms - self._last_update_ms < self.update_s * 1000:
            return
        self._last_update_ms = now_ms
        self.updates += 1
        for j in self.junctions:
            plan = webster_plan(j, self._flows(j))
            if plan is None or not self.webster:
                continue
            caps: list[float | None] = []
            for i, (p, q) in enumerate(zip(plan, j.phases, strict=True)):
                if not q.adjustable:
                    caps.append(None)
                elif self.saturation and self._saturated(j, i):
                    self.saturated += 1
                    caps.append(q.max_s)
                else:
                    cap = round(min(q.max_s, max(self._floor(q), p.duration_s * self.headroom)), 1)
                    self.shortened += cap < q.max_s
                    caps.append(cap)
            self._webster[j.controller] = caps
        self._window.clear()

    def _flows(self, j: Junction) -> dict[int, float]:
        flows: dict[int, float] = {}
        for loop, links in j.loops.items():
            w = self._window.get(loop)
            if w is None or w.seconds <= 0:
                continue
            vph = w.vehicles * 3600.0 / w.seconds
            for link in links:
                flows[link] = max(flows.get(link, 0.0), vph)
        return flows

    def _saturated(self, j: Junction, i: int) -> bool:
        """Does a lane phase i serves have a queue over its loop most of the window?"""
        served = _served(j.phases[i].state)
        for loop, links in j.loops.items():
            w = self._window.get(loop)
            if w is None or w.seconds <= 0 or not served.intersection(links):
                continue
            if w.occupied_s / w.seconds >= self.saturated_occupancy:
                return True
        return False

    def _floor(self, p: PlanPhase) -> float:
        """The lowest maximum green Webster may set for phase p."""
        return max(p.min_s, p.duration_s) if self.floor_programmed else p.min_s

    # -- spill-back, every counting interval --------------------------------
    def _caps(self, j: Junction) -> list[float | None]:
        base = self._webster.get(j.controller) or [
            p.max_s if p.adjustable else None for p in j.phases
        ]
        caps = list(base)
        for i, p in enumerate(j.phases):
            if not p.adjustable:
                continue
            if self.saturation and caps[i] != p.max_s and self._queued(j, i):
                caps[i] = p.max_s
            if not self.spillback:
                continue
            key = (j.controller, i)
            if self._blocked(j, i):
                caps[i] = p.min_s
                if key not in self._cut:
                    self._cut.add(key)
                    self.spill_cuts += 1
            else:
                self._cut.discard(key)
        return caps

    def _queued(self, j: Junction, i: int) -> bool:
        """Does a queue stand over a loop of a lane phase i serves (smoothed over queue_s)?"""
        served = _served(j.phases[i].state)
        return any(
            self._queue.get(loop, 0.0) >= self.queue_occupancy
            for loop, links in j.loops.items()
            if served.intersection(links)
        )

    def _blocked(self, j: Junction, i: int) -> bool:
        """Is most of phase i's waiting traffic on links whose exit is full to the junction?"""
        waiting = blocked = 0
        for link in _served(j.phases[i].state):
            exits = j.exits.get(link)
            if not exits or not self._waiting(j, link):
                continue
            waiting += 1
            if max((self._occ.get(e, 0.0) for e in exits), default=0.0) >= self.blocked_occupancy:
                blocked += 1
        return waiting > 0 and blocked >= self.blocked_share * waiting

    def _waiting(self, j: Junction, link: int) -> bool:
        """Are there vehicles at the approach loop of a lane feeding this link?"""
        return any(
            self._occ.get(loop, 0.0) >= self.demand_occupancy or self._veh.get(loop, 0.0) > 0
            for loop, links in j.loops.items()
            if link in links
        )


def _served(state: str) -> set[int]:
    return {k for k, c in enumerate(state) if c in "Gg"}


def _changed(a: Sequence[float | None], b: Sequence[float | None]) -> bool:
    return any(
        (x is None) != (y is None) or (x is not None and y is not None and abs(x - y) > 1.0)
        for x, y in zip(a, b, strict=True)
    )
