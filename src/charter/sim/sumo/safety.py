"""The signals' safety invariant, checked at every simulation step.

Never conflicting greens: two links that SUMO's junction model knows as foes
both on priority green ('G': neither has to yield; a permissive 'g' yields to
every foe, as a permissive left turn does). Never a skipped yellow or a
shortened one, never a skipped or shortened all-red clearance, never a green
shorter than its minimum. "As the program defines": each rule is read off the
signal's own program (its yellow and all-red phases, its minimum greens), so a
controller is never less safe than the plan the traffic engineers signed off.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

GREEN, YELLOW = frozenset("Gg"), frozenset("yY")


def colour(c: str) -> str:
    """g(reen), y(ellow) or r(ed); SUMO's 'off' and red-yellow count as not green."""
    return "g" if c in GREEN else "y" if c in YELLOW else "r"


@dataclass(frozen=True)
class Phase:
    state: str
    min_s: float  # the shortest this phase may run (its duration if fixed)


@dataclass(frozen=True)
class Violation:
    tls: str
    kind: str  # conflicting_green | skipped_yellow | short_yellow | short_all_red | short_green
    links: tuple[int, ...]
    t_s: float


@dataclass(frozen=True)
class SignalRules:
    tls: str
    conflicts: frozenset[tuple[int, int]]  # (a, b), a < b
    min_green_s: dict[int, float]
    min_yellow_s: dict[int, float]  # links that get a yellow when leaving green
    clearance_s: dict[tuple[int, int], float]  # a's red onset → b's green onset

    def conflicting(self, a: int, b: int) -> bool:
        return (min(a, b), max(a, b)) in self.conflicts

    @classmethod
    def from_program(
        cls, tls: str, conflicts: Iterable[tuple[int, int]], phases: Sequence[Phase]
    ) -> SignalRules:
        pairs = frozenset((min(a, b), max(a, b)) for a, b in conflicts)
        n = len(phases[0].state)
        cycle = list(phases) * 2  # runs that wrap around the cycle's end
        min_green: dict[int, float] = {}
        min_yellow: dict[int, float] = {}
        for link in range(n):
            for kind, out in (("g", min_green), ("y", min_yellow)):
                runs = _runs(cycle, len(phases), link, kind)
                if runs:
                    out[link] = min(runs)
        clearance: dict[tuple[int, int], float] = {}
        for a, b in pairs:
            for x, y in ((a, b), (b, a)):
                gap = _gap(cycle, len(phases), x, y)
                if gap is not None:
                    clearance[(x, y)] = gap
        return cls(tls, pairs, min_green, min_yellow, clearance)


def _runs(cycle: list[Phase], n: int, link: int, kind: str) -> list[float]:
    """Total minimum durations of the maximal runs of phases where link shows `kind`."""
    runs = []
    for start in range(n):
        prev = cycle[start - 1] if start else cycle[n - 1]
        if colour(cycle[start].state[link]) != kind or colour(prev.state[link]) == kind:
            continue
        total, i = 0.0, start
        while i < len(cycle) and colour(cycle[i].state[link]) == kind:
            total += cycle[i].min_s
            i += 1
        if i < len(cycle):  # a run that never ends is no constraint
            runs.append(total)
    return runs


def _gap(cycle: list[Phase], n: int, a: int, b: int) -> float | None:
    """Shortest programmed time from a turning red (after green or yellow) to b turning green."""
    gaps = []
    for p in range(1, n + 1):
        before, now = colour(cycle[p - 1].state[a]), colour(cycle[p].state[a])
        if before == "r" or now != "r":
            continue
        total, i = 0.0, p
        while i < len(cycle) and colour(cycle[i].state[b]) != "g":
            total += cycle[i].min_s
            i += 1
        if i < len(cycle):
            gaps.append(total)
    return min(gaps) if gaps else None


@dataclass
class _Link:
    colour: str
    since: float | None  # None: it showed this colour when monitoring began
    red_since: float | None = None


@dataclass
class SafetyMonitor:
    """Feed it every signal's state at every step; it keeps every violation it saw."""

    rules: dict[str, SignalRules]
    tolerance_s: float
    violations: list[Violation] = field(default_factory=list)
    _links: dict[str, list[_Link]] = field(default_factory=dict)
    _conflicting_now: dict[str, set[tuple[int, int]]] = field(default_factory=dict)

    def observe(self, tls: str, state: str, t_s: float) -> list[Violation]:
        rules = self.rules[tls]
        found: list[Violation] = []
        links = self._links.get(tls)
        if links is None:
            self._links[tls] = [_Link(colour(c), None) for c in state]
            self._conflicting_now[tls] = set()
            found += self._conflicts(rules, state, t_s)
            self.violations += found
            return found
        for i, c in enumerate(state):
            new = colour(c)
            if new != links[i].colour:
                found += self._changed(rules, links, i, new, t_s)
        found += self._conflicts(rules, state, t_s)
        self.violations += found
        return found

    def _changed(
        self, rules: SignalRules, links: list[_Link], i: int, new: str, t_s: float
    ) -> list[Violation]:
        """Link i changes colour: was its green, yellow or the clearance before it too short?"""
        tls, tol, link = rules.tls, self.tolerance_s, links[i]
        held = None if link.since is None else t_s - link.since
        short = held is not None and held < {
            "g": rules.min_green_s, "y": rules.min_yellow_s, "r": {}
        }[link.colour].get(i, 0.0) - tol  # fmt: skip
        found = []
        if link.colour == "g" and new == "r" and i in rules.min_yellow_s:
            found.append(Violation(tls, "skipped_yellow", (i,), t_s))
        if short and link.colour == "g":
            found.append(Violation(tls, "short_green", (i,), t_s))
        if short and link.colour == "y" and new == "r":
            found.append(Violation(tls, "short_yellow", (i,), t_s))
        if new == "g":
            for a, other in enumerate(links):
                need = rules.clearance_s.get((a, i))
                if need is None or other.red_since is None or other.colour != "r":
                    continue
                if t_s - other.red_since < need - tol:
                    found.append(Violation(tls, "short_all_red", (a, i), t_s))
        if new == "r":
            link.red_since = t_s
        link.colour, link.since = new, t_s
        return found

    def _conflicts(self, rules: SignalRules, state: str, t_s: float) -> list[Violation]:
        greens = [i for i, c in enumerate(state) if c == "G"]
        now = {
            (a, b)
            for ai, a in enumerate(greens)
            for b in greens[ai + 1 :]
            if rules.conflicting(a, b)
        }
        new = now - self._conflicting_now[rules.tls]
        self._conflicting_now[rules.tls] = now
        return [Violation(rules.tls, "conflicting_green", pair, t_s) for pair in sorted(new)]


def rules_from_net(net: Any, tls_id: str, program_id: str | None = None) -> SignalRules:
    """A signal's rules from a sumolib network: foes from its junctions, timing from its program."""
    tls = net.getTLS(tls_id)
    programs = tls.getPrograms()
    if not programs:
        raise ValueError(f"signal {tls_id} has no program in the network file")
    program = programs[program_id] if program_id else next(iter(programs.values()))
    phases = [
        Phase(ph.state, float(ph.minDur if ph.minDur not in (None, -1) else ph.duration))
        for ph in program.getPhases()
    ]
    by_index: dict[int, list[Any]] = {}
    for in_lane, out_lane, index in tls.getConnections():
        for conn in in_lane.getOutgoing():
            if conn.getToLane() == out_lane and conn.getTLLinkIndex() == index:
                by_index.setdefault(index, []).append(conn)
    conflicts = set()
    indices = sorted(by_index)
    for ai, a in enumerate(indices):
        for b in indices[ai + 1 :]:
            if any(_foes(ca, cb) for ca in by_index[a] for cb in by_index[b]):
                conflicts.add((a, b))
    return SignalRules.from_program(tls_id, conflicts, phases)


def _foes(ca: Any, cb: Any) -> bool:
    """Two connections through one junction whose paths conflict (its request's foes)."""
    node = ca.getJunction()
    if node is not cb.getJunction():
        return False
    ia, ib = node.getLinkIndex(ca), node.getLinkIndex(cb)
    return ia >= 0 and ib >= 0 and bool(node.areFoes(ia, ib))
