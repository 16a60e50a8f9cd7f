"""A SUMO signal as an actuator: verified commands, safe transitions, its own plan alone.

Remote mode runs the plan (or the target state) the platform sent; safe mode
runs the signal's own fixed-time plan (its program's phases at their
programmed durations). Every change, into either mode and back, goes through
`SafeTransitioner`, so neither an outage nor a command can make it unsafe.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from charter.commands.command import Command
from charter.domain.clock import Clock
from charter.services.actuator import Actuator
from charter.sim.sumo.safety import SignalRules
from charter.sim.sumo.transition import SafeTransitioner

PlanPhases = list[tuple[str, float]]  # (state, seconds)


class SumoSignal(Actuator):
    def __init__(
        self,
        device_id: str,
        tls_id: str,
        traci: Any,
        rules: SignalRules,
        local_plan: PlanPhases,
        platform_key_b64: str,
        clock: Clock,
        max_silence: timedelta,
    ) -> None:
        super().__init__(device_id, platform_key_b64, clock, max_silence)
        self.tls_id, self.traci, self.local_plan = tls_id, traci, local_plan
        state = traci.trafficlight.getRedYellowGreenState(tls_id)
        self.transitioner = SafeTransitioner(rules, len(state))
        self.clock = clock
        self.plan: PlanPhases = local_plan
        self.plan_t0 = self._now()
        self.target: str | None = None
        self.target_until = 0.0
        self.mode_changes: list[tuple[float, str]] = []
        self.transitioner.start(state, self._now())

    def _now(self) -> float:
        return self.clock.now().timestamp()

    # -- commands -----------------------------------------------------------
    def apply(self, cmd: Command) -> None:
        p = cmd.params
        if cmd.action == "signal.plan":
            self.plan = [(str(s), float(d)) for s, d in p["phases"]]
            self.plan_t0 = float(p["t0_s"])
        elif cmd.action == "signal.target":
            self.target = str(p["state"])
            self.target_until = self._now() + float(p["hold_s"])
        elif cmd.action == "signal.release":
            self.target = None

    def enter_safe_mode(self, why: str) -> None:
        self.target, self.plan, self.plan_t0 = None, self.local_plan, self._now()
        self.mode_changes.append((self._now(), "safe"))

    def leave_safe_mode(self) -> None:
        self.mode_changes.append((self._now(), "remote"))

    # -- every simulation step ----------------------------------------------
    def step(self) -> str:
        self.tick()
        now = self._now()
        if self.target is not None and now >= self.target_until:
            self.target = None
        want = self.target if self.target is not None else plan_state(self.plan, now - self.plan_t0)
        state = self.transitioner.next_state(want, now)
        self.traci.trafficlight.setRedYellowGreenState(self.tls_id, state)
        return state


def plan_state(plan: Sequence[tuple[str, float]], t_s: float) -> str:
    cycle = sum(d for _, d in plan)
    t = t_s % cycle if cycle > 0 else 0.0
    for state, d in plan:
        if t < d:
            return state
        t -= d
    return plan[-1][0]


def fixed_time_plan(net: Any, tls_id: str) -> PlanPhases:
    """The signal's program as a fixed-time plan: its phases at their programmed durations."""
    program = next(iter(net.getTLS(tls_id).getPrograms().values()))
    return [(ph.state, float(ph.duration)) for ph in program.getPhases()]
