"""A SUMO signal as an actuator: verified commands, safe transitions, its own plan alone.

Remote mode runs the plan (or the target state) the platform sent; safe mode
runs the signal's own fixed-time plan (its program's phases at their
programmed durations). Every change, into either mode and back, goes through
`SafeTransitioner`, so neither an outage nor a command can make it unsafe.

A `signal.timing` command (the strategic parameters, as SCATS sends them to
its field controllers) hands the signal to its own program: SUMO's actuated
logic with its own detectors, the cabinet's local vehicle actuation (gap-out),
while the command sets a maximum green per phase. The controller ends (forces
off) a green phase once it has run its maximum, never before the program's
minimum; the program's own yellow and all-red follow. It hands over only at one
of the program's green phases, exactly as shown, with every minimum and
clearance still running kept; while the program drives, the transitioner
follows what it shows, so a fall-back to the fixed-time plan (or a preemption)
takes over from the true onsets of every green, yellow and red.
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
        # Local actuation (`signal.timing`): the program's phases and their bounds.
        tl = traci.trafficlight
        logic = None
        if hasattr(tl, "getAllProgramLogics"):  # the built-in junction model runs plans only
            self.program_id = str(tl.getProgram(tls_id))
            logic = next(
                (p for p in tl.getAllProgramLogics(tls_id) if p.programID == self.program_id),
                None,
            )
        self.program = [
            (str(ph.state), float(ph.minDur), float(ph.maxDur))
            for ph in (logic.phases if logic is not None else ())
        ]
        self.max_green: list[float | None] | None = None  # None: no timing command yet
        # The program drives (the transitioner follows): so it does when the controller
        # starts, and it goes on if the first word from the platform is a timing.
        self.actuated = logic is not None
        self.force_offs = 0
        self.handovers = 0

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
        elif cmd.action == "signal.timing":
            caps = list(p["max_green_s"])
            if len(caps) == len(self.program):
                self.max_green = [None if c is None else float(c) for c in caps]

    def enter_safe_mode(self, why: str) -> None:
        self.target, self.plan, self.plan_t0 = None, self.local_plan, self._now()
        self.mode_changes.append((self._now(), "safe"))

    def leave_safe_mode(self) -> None:
        self.mode_changes.append((self._now(), "remote"))

    # -- every simulation step ----------------------------------------------
    def step(self) -> str:
        safe = self.tick()
        now = self._now()
        if self.target is not None and now >= self.target_until:
            self.target = None
        local = not safe and self.target is None and self.max_green is not None
        if self.actuated and local:
            return self._actuate(now)
        self.actuated = False
        want = self.target if self.target is not None else plan_state(self.plan, now - self.plan_t0)
        state = self.transitioner.next_state(want, now)
        tl = self.traci.trafficlight
        tl.setRedYellowGreenState(self.tls_id, state)
        if local and state == want:
            k = self._green_phase(state)
            if k is not None:
                self._hand_over(k, now)
        return state

    # -- local actuation under the platform's maximum greens -----------------
    def _actuate(self, now: float) -> str:
        tl = self.traci.trafficlight
        state = str(tl.getRedYellowGreenState(self.tls_id))
        self.transitioner.follow(state, now)
        k = int(tl.getPhase(self.tls_id))
        caps = self.max_green
        if caps is not None and 0 <= k < len(caps) and caps[k] is not None:
            _, min_s, max_s = self.program[k]
            cap = min(max_s, max(min_s, float(caps[k] or 0.0)))
            if float(tl.getSpentDuration(self.tls_id)) >= cap:
                tl.setPhaseDuration(self.tls_id, 0.0)  # force-off: its yellow comes next
                self.force_offs += 1
        return state

    def _green_phase(self, state: str) -> int | None:
        """The program's green phase showing exactly `state` (one it may hand over at)."""
        rules = self.transitioner.rules
        for k, (ph, _, _) in enumerate(self.program):
            if ph != state or any(c in "yY" for c in ph) or not any(c in "Gg" for c in ph):
                continue
            greens = [i for i, c in enumerate(ph) if c == "G"]
            if any(rules.conflicting(a, b) for a in greens for b in greens if a < b):
                continue
            return k
        return None

    def _hand_over(self, k: int, now: float) -> None:
        """Give the signal to its program at phase k, which it shows now."""
        tl, tr = self.traci.trafficlight, self.transitioner
        want = self.program[k][0]
        tl.setProgram(self.tls_id, self.program_id)
        tl.setPhase(self.tls_id, k)
        # The program counts phase k from now; every minimum green and every clearance
        # still running ends before it moves on.
        need = [
            tr.rules.min_green_s.get(i, 0.0) - (now - tr._since[i])
            for i, c in enumerate(want)
            if c in "Gg"
        ]
        need += [
            gap - (now - tr._red_since[a])
            for (a, _b), gap in tr.rules.clearance_s.items()
            if want[a] not in "Gg"
        ]
        tl.setPhaseDuration(self.tls_id, max([self.program[k][1], *need]))
        self.actuated = True
        self.handovers += 1


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
