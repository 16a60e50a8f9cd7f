"""Safe transitions from what a signal shows to what it is asked to show.

The controller's side of the safety invariant (`safety.py` checks it from
outside): a green ends only after its minimum and through its yellow; a link
turns green only when every foe has been red for the clearance its program
defines; two foes are never on priority green together. Whatever it is asked
for (a preemption, a new plan, its own fixed-time plan after an outage), the
signal gets there by these steps, so no command can make it unsafe.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from charter.sim.sumo.safety import SignalRules, colour


@dataclass
class SafeTransitioner:
    rules: SignalRules
    n_links: int
    _colour: list[str] = field(default_factory=list)
    _since: list[float] = field(default_factory=list)
    _red_since: list[float] = field(default_factory=list)
    _shown: str = ""

    def start(self, state: str, t_s: float) -> None:
        """What the signal shows when the controller takes over (its minimums count from now)."""
        self._colour = [colour(c) for c in state]
        self._since = [t_s] * self.n_links
        self._red_since = [t_s - 1e9 if c == "r" else float("nan") for c in self._colour]
        self._shown = state

    def follow(self, state: str, t_s: float) -> None:
        """Keep the history of what the signal shows while another controller (its own
        program) drives it, so that taking over later counts every minimum from its onset."""
        self._show(state, t_s)

    def next_state(self, target: str, t_s: float) -> str:
        """The state to show at t_s on the way to `target` (G/g/r per link)."""
        r = self.rules
        out = list(self._shown)
        held = [t_s - s for s in self._since]
        # 1. end greens and yellows that the target does not want
        for i in range(self.n_links):
            c, want = self._colour[i], colour(target[i])
            if c == "g" and want != "g" and held[i] >= r.min_green_s.get(i, 0.0):
                out[i] = "y" if i in r.min_yellow_s else "r"
            elif c == "g" and want == "g" and target[i] == "g":
                out[i] = "g"  # from priority to permissive: always safe
            elif c == "y" and held[i] >= r.min_yellow_s.get(i, 0.0):
                out[i] = "r"
        # 2. start greens whose foes are all red and cleared; make a permissive green
        #    priority only when no foe is on priority green
        for i in range(self.n_links):
            if target[i] == "G" and out[i] == "g" and self._colour[i] == "g":
                if not any(out[a] == "G" for a in range(self.n_links) if r.conflicting(a, i)):
                    out[i] = "G"
                continue
            if self._colour[i] != "r" or colour(target[i]) != "g" or out[i] != self._shown[i]:
                continue
            if self._may_start(i, target[i], out, t_s):
                out[i] = target[i]
        return self._show("".join(out), t_s)

    def time_to_green(self, links: Iterable[int], t_s: float) -> float:
        """The soonest every one of `links` could be green, from what is shown at t_s: a
        foe on green first runs out its minimum, then its yellow, then the all-red."""
        r, worst = self.rules, 0.0
        for i in links:
            if i >= self.n_links or self._colour[i] == "g":
                continue
            for a in range(self.n_links):
                if a == i or not r.conflicting(a, i):
                    continue
                gap = r.clearance_s.get((a, i), 0.0)
                held = t_s - self._since[a]
                if self._colour[a] == "g":
                    left = max(0.0, r.min_green_s.get(a, 0.0) - held)
                    wait = left + r.min_yellow_s.get(a, 0.0) + gap
                elif self._colour[a] == "y":
                    wait = max(0.0, r.min_yellow_s.get(a, 0.0) - held) + gap
                else:
                    wait = gap - (t_s - self._red_since[a])
                worst = max(worst, wait)
        return worst

    def _may_start(self, i: int, light: str, out: list[str], t_s: float) -> bool:
        r = self.rules
        for a in range(self.n_links):
            if a == i or not r.conflicting(a, i):
                continue
            if light == "G" and out[a] == "G":
                return False
            if light == "G" and colour(out[a]) == "y":
                return False  # wait for the foe's yellow and clearance
            if colour(out[a]) == "r" and self._colour[a] != "r":
                return False  # turning red this very step: its clearance starts now
            need = r.clearance_s.get((a, i), 0.0)
            if colour(out[a]) == "r" and t_s - self._red_since[a] < need:
                return False
        return True

    def _show(self, state: str, t_s: float) -> str:
        for i, c in enumerate(state):
            new = colour(c)
            if new != self._colour[i]:
                if new == "r":
                    self._red_since[i] = t_s
                self._colour[i], self._since[i] = new, t_s
        self._shown = state
        return state
