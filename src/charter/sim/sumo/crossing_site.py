"""The accessible crossing's site on a SUMO network: the network with sidewalks and
crosswalks (netconvert, cached), the signalised crosswalks with permissive turns, and
the one chosen (where a 0.9 m/s pedestrian falls furthest short of its clearance)."""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.services.crossing import (
    ASSISTED_SPEED_MS,
    MIN_WALK_S,
    STANDARD_SPEED_MS,
)
from charter.sim.sumo.controller import PlanPhases, fixed_time_plan
from charter.sim.sumo.network import sumo_home
from charter.sim.sumo.safety import SignalRules, colour

SLOW_MS = ASSISTED_SPEED_MS


# -- the network with sidewalks and crosswalks ---------------------------------------
def pedestrian_net(net_file: Path, cache_dir: Path | None = None) -> Path:
    """`net_file` with sidewalks and crosswalks guessed by netconvert (cached by content)."""
    digest = hashlib.sha256(net_file.read_bytes()).hexdigest()[:16]
    cache = cache_dir or Path(tempfile.gettempdir()) / "charter-sumo"
    cache.mkdir(parents=True, exist_ok=True)
    out = cache / f"{net_file.stem.removesuffix('.net')}-ped-{digest}.net.xml"
    if out.exists():
        return out
    tmp = out.with_suffix(".tmp.xml")
    argv = [
        str(sumo_home() / "bin" / "netconvert"),
        "-s", str(net_file),
        "--sidewalks.guess", "--crossings.guess",
        "--no-warnings",
        "-o", str(tmp),
    ]  # fmt: skip
    subprocess.run(argv, check=True, capture_output=True, timeout=300)  # noqa: S603
    tmp.replace(out)
    return out


# -- the site ------------------------------------------------------------------------
@dataclass(frozen=True)
class Site:
    tls: str
    link: int  # the crosswalk's link index in its signal's state
    edge: str  # the crosswalk's (internal) edge
    length_m: float
    walk_s: float
    clearance_s: float  # its walk ends → the first conflicting stream's green
    foes: tuple[int, ...]  # conflicting vehicle links red when the walk ends
    crossers: tuple[int, ...]  # every vehicle link whose path crosses the crosswalk
    approach: tuple[str, ...]  # the lanes those vehicles come in on
    inbound: tuple[str, ...]  # every vehicle lane into the junction (its delay)
    sides: tuple[str, str]  # a sidewalk edge on each side
    kerbs: tuple[str, ...]  # the walking areas at its ends (where the reader reads)
    xy: tuple[float, float]
    programmed: tuple[float, float]  # walk and clearance as the net file's program has them
    plan: tuple[tuple[str, float], ...]  # the program retimed to the standard (1.07 m/s)
    permissive: tuple[int, ...] = ()  # vehicle links green across it during its walk (turns)

    @property
    def shortfall_s(self) -> float:
        """What a 0.9 m/s pedestrian lacks under the net file's own program."""
        return self.length_m / SLOW_MS - self.programmed[1]


def standard_plan(
    plan: PlanPhases, walk_end: int, walk_s: float, clearance_s: float, length_m: float
) -> tuple[PlanPhases, float, float]:
    """The program retimed to MUTCD 4E.06 for 1.07 m/s: walk at least 7 s, and from the
    walk's end to a conflicting green at least length / 1.07 m/s. Only phases that
    already show the walk (or the clearance after it) are lengthened, never shortened,
    so the signal's safety rules still hold."""
    out = list(plan)
    more_walk = max(0.0, MIN_WALK_S - walk_s)
    more_clear = max(0.0, round(length_m / STANDARD_SPEED_MS, 1) - clearance_s)
    state, d = out[walk_end]
    out[walk_end] = (state, d + more_walk)
    nxt = (walk_end + 1) % len(out)
    state, d = out[nxt]
    out[nxt] = (state, d + more_clear)
    return out, walk_s + more_walk, clearance_s + more_clear


def _walk_and_clearance(
    plan: PlanPhases, k: int, rules: SignalRules
) -> tuple[float, float, tuple[int, ...], int] | None:
    n = len(plan)
    cyc = plan * 2
    for p in range(n):
        if colour(cyc[p][0][k]) == "g" and colour(cyc[p + 1][0][k]) != "g":
            walk, q = 0.0, p
            while q >= 0 and colour(cyc[q][0][k]) == "g":
                walk += cyc[q][1]
                q -= 1
            at_end = cyc[p][0]
            foes = tuple(
                i
                for i in range(len(at_end))
                if i != k and rules.conflicting(i, k) and colour(at_end[i]) == "r"
            )
            t, q = 0.0, p + 1
            while q < len(cyc) and not any(colour(cyc[q][0][f]) == "g" for f in foes):
                t += cyc[q][1]
                q += 1
            if not foes or q >= len(cyc) or t <= 0:
                return None
            return walk, t, foes, p
    return None


def find_sites(net: Any, rules: dict[str, SignalRules]) -> list[Site]:
    sites = []
    for tls in net.getTrafficLights():
        tid = tls.getID()
        if tid not in rules:
            continue
        plan = fixed_time_plan(net, tid)
        conns = tls.getConnections()
        for _in, out, k in conns:
            edge = out.getEdge()
            if edge.getFunction() != "crossing":
                continue
            timing = _walk_and_clearance(plan, k, rules[tid])
            if timing is None:
                continue
            walk, clear, foes, walk_end = timing
            std, std_walk, std_clear = standard_plan(
                plan, walk_end, walk, clear, float(edge.getLength())
            )
            crossers = tuple(
                sorted(
                    {
                        i
                        for a, _o, i in conns
                        if a.getEdge().getFunction() != "walkingarea"
                        and rules[tid].conflicting(i, k)
                    }
                )
            )
            approach = tuple(
                sorted(
                    {
                        a.getID()
                        for a, _o, i in conns
                        if i in crossers and a.getID()[0] != ":" and a.allows("passenger")
                    }
                )
            )
            inbound = tuple(
                sorted(
                    {
                        a.getID()
                        for a, _o, _i in conns
                        if a.getID()[0] != ":" and a.allows("passenger")
                    }
                )
            )
            sides, kerbs = [], []
            for w in (*edge.getIncoming(), *edge.getOutgoing()):
                kerbs.append(w.getID())
                near = sorted(
                    e.getID()
                    for e in (*w.getIncoming(), *w.getOutgoing())
                    if e.getFunction() == "" and e.allows("pedestrian")
                )
                if near:
                    sides.append(near[0])
            if len(sides) != 2 or sides[0] == sides[1]:
                continue
            shape = edge.getLanes()[0].getShape()
            mid = ((shape[0][0] + shape[-1][0]) / 2, (shape[0][1] + shape[-1][1]) / 2)
            permissive = tuple(
                sorted(
                    {
                        i
                        for state, _d in std
                        if colour(state[k]) == "g"
                        for i in crossers
                        if colour(state[i]) == "g"
                    }
                )
            )
            sites.append(
                Site(
                    tid, k, edge.getID(), float(edge.getLength()), std_walk, std_clear, foes,
                    crossers, approach, inbound, (sides[0], sides[1]), tuple(kerbs), mid,
                    (walk, clear), tuple(std), permissive,
                )
            )  # fmt: skip
    return sites


def choose_site(sites: list[Site], crossing: str | None = None, cap_s: float = 15.0) -> Site:
    if crossing is not None:
        for s in sites:
            if s.edge == crossing:
                return s
        raise CharterError(Reason.NO_CROSSWALK, f"no signalised crosswalk {crossing!r}")
    fits = [s for s in sites if 0 < s.shortfall_s <= cap_s and s.approach]
    if not fits:
        raise CharterError(Reason.NO_CROSSWALK)
    # Turning vehicles that may cross during the walk (permissive turns) are where
    # drivers and pedestrians meet most; among those, where 0.9 m/s falls furthest short.
    return max(
        fits,
        key=lambda s: (bool(s.permissive), round(s.shortfall_s, 1), len(s.approach), s.edge),
    )
