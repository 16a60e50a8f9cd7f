"""The accessible crossing's controller on SUMO: a signal that holds one crosswalk's
walk and clearance when the platform asks (`extend`), through its safe transitions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from charter.services.crossing import EXTEND
from charter.sim.sumo.controller import PlanPhases, SumoSignal
from charter.sim.sumo.safety import colour


class CrossingSignal(SumoSignal):
    """A signal that can lengthen one crosswalk's next walk and clearance.

    Its plan's clock is held: at the end of the walk (walk still shown) for the
    extra walk, then just after it (crosswalk red, conflicting streams still
    red) for the extra clearance. As a UK Puffin crossing's own detectors do
    (local sensors; nothing leaves the signal), the extra walk ends early once
    nobody waits at the kerb to start, and the extra clearance once the
    crosswalk is empty. Holding a
    state only lengthens greens and reds, and every state still goes through
    the safe transitioner. Alone it runs the same plan without holds; its
    plan's clock never jumps.
    """

    def __init__(
        self,
        *args: Any,
        link: int,
        crosswalk_empty: Callable[[], bool],
        kerb_waiting: Callable[[], bool],
        **kw: Any,
    ) -> None:
        super().__init__(*args, **kw)
        self.link, self.crosswalk_empty, self.kerb_waiting = link, crosswalk_empty, kerb_waiting
        self.pt = 0.0  # the plan's own clock
        self._last = self._now()
        self._pending: tuple[float, float] | None = None  # extra walk, extra clearance
        self._holds: list[tuple[float, float]] = []  # (plan time held at, seconds left)
        self.extensions: list[tuple[float, float, float]] = []  # (t, walk, clearance)
        self._clearing = False  # holding the extra clearance (not the walk)
        self.cycle_s = sum(d for _, d in self.local_plan)
        self._ends = self._walk_ends()

    def _walk_ends(self) -> list[float]:
        """Plan times (within a cycle) where the crosswalk's walk ends."""
        ends, t, n = [], 0.0, len(self.local_plan)
        for i, (state, d) in enumerate(self.local_plan):
            t += d
            nxt = self.local_plan[(i + 1) % n][0]
            if colour(state[self.link]) == "g" and colour(nxt[self.link]) != "g":
                ends.append(t)
        return ends

    def apply(self, cmd: Any) -> None:
        if cmd.action == EXTEND:
            walk, clear = float(cmd.params["walk_s"]), float(cmd.params["clearance_s"])
            if self._pending is None:
                self._pending = (walk, clear)
            else:  # many ask for one walk: it is served once, at the most asked for
                self._pending = (max(walk, self._pending[0]), max(clear, self._pending[1]))
            return
        super().apply(cmd)

    def enter_safe_mode(self, why: str) -> None:
        self.target = None  # its own plan, on the same clock (no jump)
        self.mode_changes.append((self._now(), "safe"))

    def _plan_time(self, now: float) -> float:
        dt, self._last = now - self._last, now
        if self._holds:
            at, left = self._holds[0]
            if self._clearing and self.crosswalk_empty():
                left = 0.0  # nobody left to protect: the rest of the plan's clearance follows
            elif not self._clearing and not self.kerb_waiting():
                left = 0.0  # nobody waiting to start: on to the (held) clearance
            if left - dt > 1e-9:
                self._holds[0] = (at, left - dt)
                return self.pt
            self._holds.pop(0)
            if self._holds:
                self.pt = self._holds[0][0]
                self._clearing = True
            return self.pt
        before = self.pt
        self.pt += dt
        if self._pending is None or self.cycle_s <= 0:
            return self.pt
        for end in self._ends:
            b = end + ((before - end) // self.cycle_s + 1) * self.cycle_s  # next end
            if before < b <= self.pt:
                walk, clear = self._pending
                self._pending = None
                self.extensions.append((now, walk, clear))
                holds = [(b - 0.01, walk), (b + 0.01, clear)]
                self._holds = [h for h in holds if h[1] > 0]
                self._clearing = walk <= 0
                if self._holds:
                    self.pt = self._holds[0][0]
                break
        return self.pt

    def step(self) -> str:
        self.tick()
        now = self._now()
        if self.target is not None and now >= self.target_until:
            self.target = None
        pt = self._plan_time(now)
        want = self.target if self.target is not None else _state_at(self.plan, pt)
        state = self.transitioner.next_state(want, now)
        self.traci.trafficlight.setRedYellowGreenState(self.tls_id, state)
        return state


def _state_at(plan: PlanPhases, t_s: float) -> str:
    cycle = sum(d for _, d in plan)
    t = t_s % cycle if cycle > 0 else 0.0
    for state, d in plan:
        if t < d:
            return state
        t -= d
    return plan[-1][0]
