"""The experiment's signal controller: the signal's own program until a preemption,
then the safe transitions, and back to the program at the phase closest to it."""

from __future__ import annotations

import math
from typing import Any

from charter.sim.sumo.controller import SumoSignal


class ProgramSignal(SumoSignal):
    """A controller whose normal plan is the signal's own program (DRT's are actuated).

    While nobody asks for anything it only watches what its program shows (so its
    transitioner knows when every green, yellow and red began). A target (from a
    verified command, or from the cabinet's own field preemption) takes over through
    the safe transitions; afterwards it steers to the program's green phase closest
    to what it shows, and hands back to the program at exactly that phase.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        tl = self.traci.trafficlight
        self.program_id = tl.getProgram(self.tls_id)
        logic = next(
            p for p in tl.getAllProgramLogics(self.tls_id) if p.programID == self.program_id
        )
        self.phases = [ph.state for ph in logic.phases]
        rules = self.transitioner.rules
        # The green phases it can hand back at: no two foes on priority green together
        # (a joined cluster's program may show such a phase only as SUMO's own step).
        self.reachable = {
            k
            for k, ph in enumerate(self.phases)
            if not any(c in "yY" for c in ph)
            and any(c in "Gg" for c in ph)
            and not any(
                rules.conflicting(a, b)
                for a, ca in enumerate(ph)
                for b, cb in enumerate(ph)
                if a < b and ca == "G" and cb == "G"
            )
        } or {0}
        self.min_durs = [float(ph.minDur if ph.minDur > 0 else ph.duration) for ph in logic.phases]
        self.following = True
        self.handback: int | None = None
        self.handback_since = 0.0
        self.takeovers = 0
        self.events: list[tuple[float, str]] = []

    def enter_safe_mode(self, why: str) -> None:
        self.target = None  # its own program is its safe mode
        self.mode_changes.append((self._now(), "safe"))

    def step(self) -> str:
        self.tick()
        now = self._now()
        tl = self.traci.trafficlight
        if self.target is not None and now >= self.target_until:
            self.target = None
        if self.following:
            # What the program shows now (it may have changed phase in the last step):
            # a take-over starts from this, never from what it showed a step ago.
            state = str(tl.getRedYellowGreenState(self.tls_id))
            self.transitioner.follow(state, now)
            if self.target is None:
                return state
        if self.target is not None:
            if self.following:
                self.takeovers += 1
                self.events.append((now, "takeover"))
            self.following, self.handback = False, None
            want = self.target
        else:
            if self.handback is None or now - self.handback_since > 60.0:
                self.handback, self.handback_since = self._closest_green(), now
            want = self.phases[self.handback]
        state = self.transitioner.next_state(want, now)
        tl.setRedYellowGreenState(self.tls_id, state)
        if self.target is None and self.handback is not None and state == want:
            tl.setProgram(self.tls_id, self.program_id)
            tl.setPhase(self.tls_id, self.handback)
            # The program counts its phase from now; each green keeps its minimum.
            tr = self.transitioner
            need = [
                tr.rules.min_green_s.get(i, 0.0) - (now - tr._since[i])
                for i, c in enumerate(want)
                if c in "Gg"
            ]
            # …and every clearance still running ends before the program moves on.
            need += [
                gap - (now - tr._red_since[a])
                for (a, _b), gap in tr.rules.clearance_s.items()
                if want[a] not in "Gg"
            ]
            tl.setPhaseDuration(self.tls_id, max([self.min_durs[self.handback], *need]))
            self.events.append((now, f"handback {self.handback}"))
            self.following, self.handback = True, None
        return state

    def _closest_green(self) -> int:
        """The program's green phase the signal can reach soonest from what it shows:
        the longest wait is for a green it must end (its minimum, then its yellow)."""
        tr = self.transitioner
        now = self._now()
        best, best_cost = 0, (math.inf, 0)
        for k, ph in enumerate(self.phases):
            if k not in self.reachable:
                continue
            wait, same = 0.0, 0
            for i, (want, shown) in enumerate(zip(ph, tr._shown, strict=False)):
                if shown in "Gg" and want not in "Gg":
                    left = tr.rules.min_green_s.get(i, 0.0) - (now - tr._since[i])
                    wait = max(wait, max(0.0, left) + tr.rules.min_yellow_s.get(i, 0.0))
                elif shown not in "Gg" and want in "Gg":
                    for (f, to), need in tr.rules.clearance_s.items():
                        if to == i and tr._shown[f] not in "Gg" and need > 0:
                            wait = max(wait, need - (now - tr._red_since[f]))
                        elif to == i and tr._shown[f] in "Gg":
                            left = tr.rules.min_green_s.get(f, 0.0) - (now - tr._since[f])
                            yellow = tr.rules.min_yellow_s.get(f, 0.0)
                            wait = max(wait, max(0.0, left) + yellow + need)
                else:
                    same += 1
            cost = (wait, -same)
            if cost < best_cost:
                best, best_cost = k, cost
        return best
