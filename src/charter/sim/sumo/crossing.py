"""The accessible crossing on a real street network with pedestrians (SUMO).

The network gets sidewalks and crosswalks from SUMO's own netconvert
(`--sidewalks.guess --crossings.guess`, cached). One signalised crosswalk is
the site: among those where turning vehicles may cross during the walk
(permissive turns, where drivers and pedestrians meet most), the one where a
pedestrian at 0.9 m/s falls furthest short of its programmed clearance
(within what the cap can cover), unless one is named. Pedestrians cross it
both ways: normal walkers (1.3 m/s ± 10 %) and slow ones at 0.9 m/s, some of
whom opted in to mobility assistance and some not. Every slow pedestrian
carries a fob linked to a resident; the crossing's reader reads it at the
kerb and sends the read through the gate, as a real reader does. Vehicles
come from SUMO's randomTrips, flows through the site and a stream on each
permissive turn.

Three paired runs (same routes, same seed):

- `standard`: the crossing's controller runs its programmed timing alone;
- `extension`: the platform runs the accessible-crossing service; consented
  reads extend walk and clearance through the controller's safe transitioner;
  vehicles ignore the alert;
- `charter`: the same, and connected vehicles (`connected_share` of them) act
  on the signed, anonymous alert while it is valid: within `ALERT_RANGE_M` of
  the crosswalk, while someone is on it in their path or walking towards it,
  they hold a speed from which they can stop `STOP_GAP_M` short of them at
  `COMFORT_DECEL`, at most `CAREFUL_SPEED_MS`.

Measured: slow pedestrians still on the crosswalk at the moment a conflicting
vehicle stream gets green (by consent); vehicle–pedestrian conflicts, from
SUMO's positions and speeds at every step: a vehicle headed over the
crosswalk (on green, or already in the junction) and a person on it, or
stepping onto it while it shows walk, whose time to collision is below 1.5 s
(the vehicle along its path at its speed, the person in a straight line at
theirs, until the person stands inside the vehicle's footprint), each pair
once; the mean time loss of the vehicles that came through the junction;
and the safety invariant at every step at the crossing's signal.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import math
import random
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from pathlib import Path
from typing import Any

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner, FobKey, SimReading
from charter.domain.clock import FixedClock
from charter.domain.errors import CharterError
from charter.domain.model import Actor, Device, urn
from charter.domain.reasons import Reason
from charter.report.page import STYLE
from charter.services.crossing import (
    ASSISTED_SPEED_MS,
    CATEGORY,
    EXTEND,
    MIN_WALK_S,
    PURPOSE,
    STANDARD_SPEED_MS,
    Crossing,
    CrossingService,
    RoadsideUnit,
    entry,
    extension,
    verify_alert,
)
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.demo_residents import link_fob
from charter.sim.sumo.city import START, _lat_lon, _net_area, safe_id
from charter.sim.sumo.controller import PlanPhases, SumoSignal, fixed_time_plan
from charter.sim.sumo.network import random_trips, read_net, sumo_home
from charter.sim.sumo.run import signal_rules, simulation
from charter.sim.sumo.safety import SignalRules, colour

MODES = ("standard", "extension", "charter")
OPERATOR = Actor(name="sim-operator", role="operator")
DESK = Actor(name="sim-service-desk", role="operator")
TTC_S = 1.5  # a vehicle–pedestrian conflict: time to collision below this
TTC_STEP_S = 0.1  # the time to collision's resolution
MOVING_MS = 0.5  # slower than this a vehicle counts as standing
PERSON_HALF_M = 0.25  # half a pedestrian's width
CROSSWALK_HALF_M = 2.0  # half a crosswalk's width (netconvert's default is 4 m)
ALERT_RANGE_M = 60.0  # how far before the crosswalk a connected vehicle heeds the alert
CAREFUL_SPEED_MS = 8.3  # 30 km/h: an alerted vehicle's most when someone is crossing
COMFORT_DECEL = 2.0  # m/s², what a careful driver brakes at
STOP_GAP_M = 4.0  # how far short of a pedestrian a careful driver means to stop
CLEAR_M = 1.0  # beyond its half width, what a careful driver keeps clear of a pedestrian
LOOK_S = 3.0  # a careful driver gives way to someone reaching its path within this
CONNECTED_SHARE = 1.0  # vehicles that receive and act on the alert in the charter run
SLOW_MS, NORMAL_MS = ASSISTED_SPEED_MS, 1.3


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


# -- the crossing's controller ----------------------------------------------------
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


# -- demand ------------------------------------------------------------------------
@dataclass(frozen=True)
class Walker:
    id: str
    kind: str  # "slow-consented" | "slow" | "normal"
    depart: float


def demand(
    site: Site,
    net: Any,
    out: Path,
    *,
    seed: int,
    end_s: float,
    ped_period_s: float,
    slow_share: float,
    consent_share: float,
    flow_period_s: float,
    turn_period_s: float = 10.0,
) -> tuple[Path, list[Walker]]:
    rng = random.Random(seed)
    walkers: list[Walker] = []
    t = rng.expovariate(1 / ped_period_s)
    while t < end_s:
        slow = rng.random() < slow_share
        kind = ("slow-consented" if rng.random() < consent_share else "slow") if slow else "normal"
        walkers.append(Walker(f"{kind}-{len(walkers)}", kind, round(t, 1)))
        t += rng.expovariate(1 / ped_period_s)
    lines = [
        "<routes>",
        f'  <vType id="slow" vClass="pedestrian" maxSpeed="{SLOW_MS}" speedDev="0"/>',
        f'  <vType id="normal" vClass="pedestrian" maxSpeed="{NORMAL_MS}" speedDev="0.1"/>',
    ]
    tls = net.getTLS(site.tls)
    links: dict[tuple[str, str], set[int]] = {}
    right_turns: set[int] = set()
    for a, o, i in tls.getConnections():
        if (
            i in site.crossers
            and a.getEdge().getFunction() == ""
            and a.allows("passenger")
            and o.allows("passenger")
        ):
            links.setdefault((a.getEdge().getID(), o.getEdge().getID()), set()).add(i)
            if any(c.getTLLinkIndex() == i and c.getDirection() in "rR" for c in a.getOutgoing()):
                right_turns.add(i)
    pairs = sorted(links)
    for j, (a, b) in enumerate(pairs):
        # A right turn that may cross during the walk gets its own stream of vehicles
        # (it yields to nobody but the pedestrians; a permissive left turn also yields to
        # the oncoming traffic, and a stream of them jams); the rest share one.
        turning = bool(links[(a, b)] & set(site.permissive) & right_turns)
        period = turn_period_s if turning else flow_period_s * len(pairs)
        lines.append(
            f'  <flow id="site{j}" from="{a}" to="{b}" begin="0" end="{end_s}" '
            f'period="{period:.1f}" departLane="best" departSpeed="max"/>'
        )
    for n, w in enumerate(walkers):
        a, b = site.sides if n % 2 == 0 else site.sides[::-1]
        vtype = "normal" if w.kind == "normal" else "slow"
        lines.append(
            f'  <person id="{w.id}" depart="{w.depart}" type="{vtype}">'
            f'<walk from="{a}" to="{b}"/></person>'
        )
    lines.append("</routes>")
    # SUMO wants persons and flows sorted by departure.
    body = lines[3:-1]
    body.sort(key=lambda s: 0.0 if "<flow" in s else float(s.split('depart="')[1].split('"')[0]))
    out.write_text("\n".join([*lines[:3], *body, lines[-1]]) + "\n")
    return out, walkers


# -- the platform's side ------------------------------------------------------------
@dataclass
class CrossingCity:
    platform: Platform
    clock: FixedClock
    crossing: Crossing
    reader: DeviceSigner
    fobs: dict[str, FobKey]  # walker id -> fob (slow walkers only)
    residents: dict[str, str]  # walker id -> resident id
    seq: int = 0

    def read(self, walker_ids: list[str]) -> list[tuple[int, str, str]]:
        """The reader sends the fobs it read at the kerb through the gate."""
        now = self.clock.now()
        self.seq += 1
        readings = [
            SimReading(CATEGORY, now, {"fob": self.fobs[w].identifier, "extra_seconds": 0})
            for w in walker_ids
        ]
        [out] = self.platform.gate.ingest([self.reader.envelope(self.seq, now, readings)])
        return out.reading_reasons


def build_crossing_city(
    net: Any, site: Site, walkers: list[Walker], data_dir: Path, *, heartbeat_s: float = 1.0
) -> CrossingCity:
    clock = FixedClock(START)
    platform = build(Settings(data_dir=data_dir, service_heartbeat_s=heartbeat_s), clock=clock)
    sample.register_projects(platform.registry, area=_net_area(net))
    short = safe_id(site.edge.lstrip(":"))[:60]
    where = _lat_lon(net, *site.xy)
    reader = DeviceSigner(urn("Device", f"fob-reader-{short}"))
    controller = urn("Device", f"crossing-signal-{short}")
    rsu = urn("Device", f"roadside-unit-{short}")
    for device_id, modality, key, cats in (
        (reader.device_id, "crossing fob reader", reader.public_key_b64, [CATEGORY]),
        (controller, "signal-controller", DeviceSigner(controller).public_key_b64, []),
        (rsu, "roadside unit", DeviceSigner(rsu).public_key_b64, []),
    ):
        platform.registry.register_device(
            Device(
                id=device_id,
                vendor_id=sample.TRUSTED,
                project_id=sample.TRAFFIC,
                modality=modality,
                location=where,
                categories=cats or ["traffic.count"],
                public_key=key,
            ),
            OPERATOR,
        )
    lat, lon = (where.lat, where.lon) if where is not None else (0.0, 0.0)
    crossing = Crossing(
        site.edge, reader.device_id, controller, rsu, site.length_m, site.walk_s,
        site.clearance_s, lat, lon,
    )  # fmt: skip
    platform.algorithms.register(entry(sample.TRAFFIC), OPERATOR, "accessible crossing")
    rights = platform.rights
    fobs: dict[str, FobKey] = {}
    residents: dict[str, str] = {}
    for w in walkers:
        if w.kind == "normal":
            continue
        rid = rights.residents.create(DESK).id
        me = Actor(name="resident", role="resident", subject=rid)
        fob = FobKey()
        link_fob(rights.residents, rid, fob, me)
        if w.kind == "slow-consented":
            rights.consents.grant(
                rid, category=CATEGORY, purpose=PURPOSE, projects=[sample.TRAFFIC], actor=me
            )
        fobs[w.id], residents[w.id] = fob, rid
    return CrossingCity(platform, clock, crossing, reader, fobs, residents)


# -- the vehicles' paths over the crosswalk ------------------------------------------
@dataclass(frozen=True)
class VehiclePath:
    """A vehicle link's path over the crosswalk: its approach lane then its way through
    the junction, as one polyline in the network's coordinates (metres)."""

    link: int
    approach_m: float  # where the approach lane's stop line is along the path
    points: tuple[tuple[float, float], ...]
    cum: tuple[float, ...]  # distance along the path at each point
    internal: dict[str, tuple[float, float]]  # junction lane -> (offset on the path, scale)
    cross_m: float  # where the path meets the crosswalk's centre line

    def project(self, x: float, y: float) -> tuple[float, float]:
        """A point as (distance along the path, distance from it)."""
        best_d2, best_s = math.inf, 0.0
        pts = self.points
        for k in range(len(pts) - 1):
            (ax, ay), (bx, by) = pts[k], pts[k + 1]
            dx, dy = bx - ax, by - ay
            seg2 = dx * dx + dy * dy
            u = 0.0 if seg2 == 0 else max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / seg2))
            px, py = ax + u * dx - x, ay + u * dy - y
            d2 = px * px + py * py
            if d2 < best_d2:
                best_d2, best_s = d2, self.cum[k] + u * math.sqrt(seg2)
        return best_s, math.sqrt(best_d2)


def _polyline(points: list[tuple[float, float]]) -> tuple[float, ...]:
    cum = [0.0]
    for (ax, ay), (bx, by) in itertools.pairwise(points):
        cum.append(cum[-1] + math.hypot(bx - ax, by - ay))
    return tuple(cum)


def vehicle_paths(net: Any, site: Site) -> dict[int, VehiclePath]:
    """Every crossing vehicle link's path, where it meets the crosswalk (sumolib geometry)."""
    walk = net.getEdge(site.edge).getLanes()[0].getShape()
    (wx0, wy0), (wx1, wy1) = walk[0], walk[-1]
    out: dict[int, VehiclePath] = {}
    for a, o, i in net.getTLS(site.tls).getConnections():
        if i not in site.crossers or a.getID()[0] == ":":
            continue
        conns = [c for c in a.getOutgoing() if c.getToLane() == o and c.getTLLinkIndex() == i]
        if not conns or not conns[0].getViaLaneID():
            continue
        points: list[tuple[float, float]] = [(float(x), float(y)) for x, y in a.getShape()]
        approach = _polyline(points)[-1]
        internal: dict[str, tuple[float, float]] = {}
        lane = net.getLane(conns[0].getViaLaneID())
        while lane.getID()[0] == ":" and lane.getID() not in internal:
            shape = [(float(x), float(y)) for x, y in lane.getShape()]
            geo = _polyline(shape)[-1]
            internal[lane.getID()] = (_polyline(points)[-1], geo / max(lane.getLength(), 1e-6))
            points += shape[1:]
            nxt = lane.getOutgoing()
            if not nxt:
                break
            via = nxt[0].getViaLaneID()
            lane = net.getLane(via) if via else nxt[0].getToLane()
        cum = _polyline(points)
        path = VehiclePath(i, approach, tuple(points), cum, internal, math.nan)
        ends = ((wx0, wy0), (wx1, wy1))
        centre = VehiclePath(-1, 0.0, ends, _polyline(list(ends)), {}, 0.0)
        # where the path crosses the crosswalk's centre line: its point nearest to it
        _, at = min((centre.project(x, y)[1], s) for s, (x, y) in _samples(path))
        out[i] = VehiclePath(i, approach, path.points, cum, internal, at)
    return out


def _samples(path: VehiclePath, every_m: float = 0.25) -> list[tuple[float, tuple[float, float]]]:
    out = []
    for k in range(len(path.points) - 1):
        (ax, ay), (bx, by) = path.points[k], path.points[k + 1]
        seg = path.cum[k + 1] - path.cum[k]
        n = max(1, int(seg / every_m))
        for j in range(n):
            u = j / n
            out.append((path.cum[k] + u * seg, (ax + u * (bx - ax), ay + u * (by - ay))))
    return out


@dataclass(frozen=True)
class Mover:
    id: str
    x: float
    y: float
    vx: float
    vy: float


@dataclass(frozen=True)
class OnPath:
    id: str
    path: VehiclePath
    s: float  # its front along the path
    speed: float
    length: float
    half_width: float


class Paths:
    """The site's vehicle paths and the lanes to watch for vehicles on them."""

    def __init__(self, net: Any, site: Site) -> None:
        self.site = site
        self.by_link = vehicle_paths(net, site)
        self.internal = {
            lane: (p, off, scale)
            for p in self.by_link.values()
            for lane, (off, scale) in p.internal.items()
        }
        # The approach lanes and the lanes before them, to ALERT_RANGE_M before the stop line.
        seen: dict[str, float] = {}
        todo = [(net.getLane(lane), 0.0) for lane in site.approach]
        while todo:
            lane, before = todo.pop()
            if seen.get(lane.getID(), math.inf) <= before:
                continue
            seen[lane.getID()] = before
            if before + lane.getLength() < ALERT_RANGE_M:
                todo += [(up, before + lane.getLength()) for up in lane.getIncoming()]
        self.lanes = sorted({*seen, *self.internal})

    def vehicles(self, traci: Any) -> list[OnPath]:
        """Vehicles headed over the crosswalk on green or already on their way through
        the junction (a vehicle facing red or yellow stops for the signal)."""
        out, seen = [], set()
        for lane in self.lanes:
            for v in traci.lane.getLastStepVehicleIDs(lane):
                if v in seen:
                    continue
                seen.add(v)
                speed = traci.vehicle.getSpeed(v)
                where = traci.vehicle.getLaneID(v)
                if where in self.internal:
                    path, off, scale = self.internal[where]
                    s = off + traci.vehicle.getLanePosition(v) * scale
                else:
                    ahead = traci.vehicle.getNextTLS(v)
                    if not ahead or ahead[0][0] != self.site.tls:
                        continue
                    path = self.by_link.get(ahead[0][1])  # type: ignore[assignment]
                    if path is None or ahead[0][3] not in "Gg":
                        continue
                    s = path.approach_m - float(ahead[0][2])
                if s > path.cross_m + CROSSWALK_HALF_M:
                    continue  # its front is past the crosswalk
                out.append(
                    OnPath(
                        v, path, s, speed, traci.vehicle.getLength(v),
                        traci.vehicle.getWidth(v) / 2,
                    )
                )  # fmt: skip
        return out


def pedestrians(traci: Any, site: Site, walk: bool) -> list[Mover]:
    """People on the crosswalk or, while it shows walk, stepping onto it (at a red
    crosswalk they stop at the kerb), with their velocity."""
    out = []
    ids = set(traci.edge.getLastStepPersonIDs(site.edge))
    for kerb in site.kerbs if walk else ():
        ids.update(
            p
            for p in traci.edge.getLastStepPersonIDs(kerb)
            if traci.person.getNextEdge(p) == site.edge and traci.person.getSpeed(p) > 0.1
        )
    for p in sorted(ids):
        x, y = traci.person.getPosition(p)
        speed, angle = traci.person.getSpeed(p), math.radians(traci.person.getAngle(p))
        out.append(Mover(p, x, y, speed * math.sin(angle), speed * math.cos(angle)))
    return out


def time_to_collision(v: OnPath, p: Mover, horizon_s: float = TTC_S) -> float | None:
    """When `v`, at its speed along its path, would reach `p` walking at theirs: the first
    moment, within `horizon_s`, that the person stands inside the vehicle's footprint
    (its width and length, and the person's own half width); None if not within it."""
    reach = v.half_width + PERSON_HALF_M
    t = 0.0
    while t < horizon_s:
        s, off = v.path.project(p.x + p.vx * t, p.y + p.vy * t)
        front = v.s + v.speed * t
        if off <= reach and front - v.length - PERSON_HALF_M <= s <= front + PERSON_HALF_M:
            return t
        t += TTC_STEP_S
    return None


def conflicts(vehicles: list[OnPath], people: list[Mover]) -> set[tuple[str, str]]:
    """Vehicle–pedestrian pairs whose time to collision is below TTC_S (constant speeds,
    the vehicle along its path, the person in a straight line)."""
    return {
        (v.id, p.id)
        for v in vehicles
        if v.speed >= MOVING_MS  # a vehicle standing still collides with nobody
        for p in people
        if time_to_collision(v, p) is not None
    }


class CarefulDrivers:
    """What a connected vehicle does with a valid alert for the crosswalk it is about to
    drive over (within ALERT_RANGE_M of it): while someone is on the crosswalk in its
    path or walking towards it, it holds a speed from which it can stop STOP_GAP_M short
    of them at COMFORT_DECEL, and never more than CAREFUL_SPEED_MS; once they are clear,
    it drives on as it would have."""

    def __init__(self, traci: Any, share: float, seed: int) -> None:
        self.traci, self.share, self.seed = traci, share, seed
        self.held: set[str] = set()
        self._connected: dict[str, bool] = {}

    def connected(self, v: str) -> bool:
        got = self._connected.get(v)
        if got is None:
            digest = hashlib.sha256(f"{self.seed}|{v}".encode()).digest()
            got = self._connected[v] = int.from_bytes(digest[:4], "big") / 2**32 < self.share
        return got

    def step(self, vehicles: list[OnPath], people: list[Mover], alerted: bool) -> None:
        traci, hold = self.traci, set()
        for v in vehicles if alerted else ():
            if not self.connected(v.id) or v.path.cross_m - v.s > ALERT_RANGE_M:
                continue
            stop_at = math.inf
            for p in people:
                s, off = v.path.project(p.x, p.y)
                _, later = v.path.project(p.x + p.vx * LOOK_S, p.y + p.vy * LOOK_S)
                in_path = off <= v.half_width + CLEAR_M
                if s > v.s and (in_path or later < off - 0.1):
                    stop_at = min(stop_at, s)
            if stop_at == math.inf:
                continue
            room = max(0.0, stop_at - v.s - STOP_GAP_M)
            cap = min(CAREFUL_SPEED_MS, math.sqrt(2 * COMFORT_DECEL * room))
            traci.vehicle.setSpeed(v.id, min(cap, traci.vehicle.getAllowedSpeed(v.id)))
            hold.add(v.id)
        live = set(traci.vehicle.getIDList())
        for vid in self.held - hold:
            if vid in live:
                traci.vehicle.setSpeed(vid, -1)  # back to its own driving
        self.held = hold


# -- one run -------------------------------------------------------------------------
@dataclass
class RunResult:
    caught: dict[str, set[str]] = field(default_factory=dict)  # kind -> walkers caught
    crossed: dict[str, set[str]] = field(default_factory=dict)  # kind -> walkers who crossed
    occupancy: list[tuple[float, int]] = field(default_factory=list)  # (t, on the crosswalk)
    # (vehicle, pedestrian) -> when their time to collision first fell below TTC_S
    conflicts: dict[tuple[str, str], float] = field(default_factory=dict)
    alerted_conflicts: dict[tuple[str, str], float] = field(default_factory=dict)  # alert on
    entered: set[str] = field(default_factory=set)  # walkers who set foot on the crosswalk
    time_loss_s: float = 0.0
    vehicles: int = 0
    violations: int = 0
    extensions: int = 0
    alerts: int = 0
    refused: int = 0
    admitted: int = 0
    stored_unconsented: int = 0


def run_mode(
    mode: str,
    net_file: Path,
    routes: list[Path],
    site: Site,
    walkers: list[Walker],
    work: Path,
    *,
    seed: int,
    end_s: float,
    step_s: float = 0.5,
    heartbeat_s: float = 1.0,
    connected_share: float = CONNECTED_SHARE,
    progress: Callable[[float], None] | None = None,
) -> RunResult:
    net = read_net(net_file)
    rules = signal_rules(net_file)
    kinds = {w.id: w.kind for w in walkers}
    res = RunResult()
    tripinfo = work / f"tripinfo-{mode}.xml"
    data_dir = work / f"city-{mode}"
    shutil.rmtree(data_dir, ignore_errors=True)  # a run starts from an empty platform
    city = build_crossing_city(net, site, walkers, data_dir, heartbeat_s=heartbeat_s)
    host, channel = city.platform.services, city.platform.services.channel
    platform_on = mode != "standard"
    try:
        with simulation(
            net_file, routes, step_s=step_s, seed=seed, end_s=end_s + 600,
            rules={site.tls: rules[site.tls]}, tripinfo=tripinfo,
        ) as sim:  # fmt: skip
            traci = sim.traci
            key = city.platform.security.commands.public_key_b64
            ctrl = CrossingSignal(
                city.crossing.controller, site.tls, traci, rules[site.tls],
                list(site.plan), key, city.clock,
                timedelta(seconds=2 * heartbeat_s), link=site.link,
                crosswalk_empty=lambda: not traci.edge.getLastStepPersonIDs(site.edge),
                kerb_waiting=lambda: _waiting(traci, site, res.entered),
            )  # fmt: skip
            rsu = RoadsideUnit(
                city.crossing.broadcaster, key, city.clock, timedelta(seconds=2 * heartbeat_s)
            )
            channel.attach(ctrl)  # type: ignore[attr-defined]
            channel.attach(rsu)  # type: ignore[attr-defined]
            if platform_on:
                host.add(CrossingService([city.crossing]))
                host.start()
            _drive(
                mode, sim, city, site, ctrl, rsu, kinds, res, end_s, progress,
                paths=Paths(net, site), connected_share=connected_share, seed=seed,
            )  # fmt: skip
            res.violations = len(sim.monitor.violations)
            res.extensions = len(ctrl.extensions)
            res.alerts = len(rsu.broadcasts)
        res.stored_unconsented = _stored_about(city, kinds)
    finally:
        city.platform.close()
    res.time_loss_s, res.vehicles = _time_loss(tripinfo, res.caught.pop("_through", set()))
    return res


def _stored_about(city: CrossingCity, kinds: dict[str, str]) -> int:
    """Readings held about residents who did not consent (read from the store)."""
    n = 0
    for wid, rid in city.residents.items():
        if kinds[wid] != "slow-consented":
            n += len(city.platform.store.personal_readings(subject=rid))
    return n


def _drive(
    mode: str,
    sim: Any,
    city: CrossingCity,
    site: Site,
    ctrl: CrossingSignal,
    rsu: RoadsideUnit,
    kinds: dict[str, str],
    res: RunResult,
    end_s: float,
    progress: Callable[[float], None] | None,
    *,
    paths: Paths,
    connected_share: float,
    seed: int,
) -> None:
    traci = sim.traci
    host = city.platform.services
    step = timedelta(seconds=sim.step_s)
    read: set[str] = set()
    through: set[str] = set()
    careful = CarefulDrivers(traci, connected_share, seed)
    heard = 0
    alert_until = float("-inf")
    t0 = START.timestamp()
    last = ""
    kerbs = set(site.kerbs)
    platform_on = mode != "standard"
    while sim.time_s < end_s + 600 and traci.simulation.getMinExpectedNumber() > 0:
        t = sim.time_s
        if t >= end_s and not traci.person.getIDList():
            break
        # 1. the reader: slow walkers at the kerb, once each
        if platform_on:
            kerb = [
                p
                for p in traci.person.getIDList()
                if p not in read
                and kinds.get(p, "normal") != "normal"
                and traci.person.getRoadID(p) in kerbs
            ]
            if kerb:
                read.update(kerb)
                reasons = city.read(kerb)
                res.refused += len(reasons)
                res.admitted += len(kerb) - len(reasons)
            host.tick()
        state = ctrl.step()
        # 2. vehicles hear the alerts they verify; they act on them in the charter run
        for alert in rsu.broadcasts[heard:]:
            msg = verify_alert(alert, rsu.public_key)
            if msg is not None and msg["crossing"] == site.edge:
                alert_until = max(alert_until, msg["validUntil_ms"] / 1000 - t0)
        heard = len(rsu.broadcasts)
        alerted = t < alert_until
        people = pedestrians(traci, site, colour(state[site.link]) == "g")
        vehicles = paths.vehicles(traci) if people else []
        if mode == "charter":
            # A connected vehicle that heard a valid alert takes care at the crosswalk.
            careful.step(vehicles, people, alerted)
        # 3. measures
        on = list(traci.edge.getLastStepPersonIDs(site.edge))
        res.entered.update(on)
        for p in on:
            res.crossed.setdefault(kinds.get(p, "normal"), set()).add(p)
        if last:
            turned = any(colour(last[f]) == "r" and colour(state[f]) == "g" for f in site.foes)
            if turned:
                res.occupancy.append((t, len(on)))
                for p in on:
                    res.caught.setdefault(kinds.get(p, "normal"), set()).add(p)
        last = state
        for lane in site.inbound:
            through.update(traci.lane.getLastStepVehicleIDs(lane))
        for pair in conflicts(vehicles, people) if people else ():
            res.conflicts.setdefault(pair, t)  # each pair once, when it first came close
            if alerted:
                res.alerted_conflicts.setdefault(pair, t)
        sim.step()
        city.clock.advance(step)
        if progress is not None:
            progress(min(1.0, t / end_s))
    res.caught["_through"] = through


def _waiting(traci: Any, site: Site, entered: set[str]) -> bool:
    """The signal's kerbside detector: someone at either kerb yet to cross."""
    return any(
        p not in entered for kerb in site.kerbs for p in traci.edge.getLastStepPersonIDs(kerb)
    )


def _time_loss(tripinfo: Path, vehicles: set[str]) -> tuple[float, int]:
    losses = [
        float(trip.get("timeLoss", "0"))
        for trip in ET.parse(tripinfo).getroot().iter("tripinfo")  # noqa: S314
        if trip.get("id") in vehicles
    ]
    return (sum(losses) / len(losses) if losses else 0.0), len(losses)


# -- the comparison ------------------------------------------------------------------
def run_crossing(
    net_file: Path,
    work: Path,
    *,
    seed: int = 1,
    end_s: float = 3600.0,
    period_s: float = 2.0,
    ped_period_s: float = 6.0,
    slow_share: float = 0.4,
    consent_share: float = 0.6,
    flow_period_s: float = 6.0,
    turn_period_s: float = 10.0,
    connected_share: float = CONNECTED_SHARE,
    crossing: str | None = None,
    modes: tuple[str, ...] = MODES,
    cache_dir: Path | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> tuple[dict[str, Any], dict[str, RunResult]]:
    ped_net = pedestrian_net(net_file, cache_dir)
    net = read_net(ped_net)
    site = choose_site(find_sites(net, signal_rules(ped_net)), crossing)
    bg = random_trips(ped_net, work / "bg.rou.xml", period_s=period_s, end_s=end_s, seed=seed)
    site_routes, walkers = demand(
        site, net, work / "site.rou.xml", seed=seed, end_s=end_s, ped_period_s=ped_period_s,
        slow_share=slow_share, consent_share=consent_share, flow_period_s=flow_period_s,
        turn_period_s=turn_period_s,
    )  # fmt: skip
    results: dict[str, RunResult] = {}
    for mode in modes:
        report = (lambda f, m=mode: progress(m, f)) if progress is not None else None
        results[mode] = run_mode(
            mode, ped_net, [bg, site_routes], site, walkers, work, seed=seed, end_s=end_s,
            connected_share=connected_share, progress=report,
        )  # fmt: skip
    return figures(site, walkers, results, connected_share), results


def figures(
    site: Site,
    walkers: list[Walker],
    results: dict[str, RunResult],
    connected_share: float = CONNECTED_SHARE,
) -> dict[str, Any]:
    std, ext, ch = (results.get(m) for m in MODES)

    def caught(r: RunResult | None, kind: str) -> int | None:
        return None if r is None else len(r.caught.get(kind, set()))

    served = ch or ext or std or RunResult()
    base = std.time_loss_s if std is not None else 0.0
    after = ch if ch is not None else ext
    delay = (
        round((after.time_loss_s - base) / base, 4)
        if after is not None and std is not None and base > 0
        else None
    )
    ex = extension(
        Crossing(site.edge, "", "", "", site.length_m, site.walk_s, site.clearance_s, 0, 0)
    )
    return {
        "slow_caught_standard": caught(std, "slow-consented"),
        "slow_caught_charter": caught(ch or ext, "slow-consented"),
        "conflicts_without_alert": len(ext.alerted_conflicts) if ext is not None else None,
        "conflicts_with_alert": len(ch.alerted_conflicts) if ch is not None else None,
        "vehicle_delay_increase": delay,
        "conflicts_all_standard": len(std.conflicts) if std is not None else None,
        "conflicts_all_extension": len(ext.conflicts) if ext is not None else None,
        "conflicts_all_charter": len(ch.conflicts) if ch is not None else None,
        "unconsented_slow_caught_standard": caught(std, "slow"),
        "unconsented_slow_caught_charter": caught(ch or ext, "slow"),
        "consented_slow_crossed": len(served.crossed.get("slow-consented", set())),
        "fob_reads_refused": served.refused,
        "stored_about_unconsented": sum(r.stored_unconsented for r in results.values()),
        "extensions": served.extensions,
        "time_loss_standard_s": round(base, 2),
        "time_loss_extension_s": round(ext.time_loss_s, 2) if ext is not None else None,
        "time_loss_charter_s": round(after.time_loss_s, 2) if after is not None else None,
        "vehicles": std.vehicles if std is not None else None,
        "safety_violations": sum(r.violations for r in results.values()),
        "connected_share": connected_share,
        "crossing": site.edge,
        "length_m": round(site.length_m, 1),
        "programmed_walk_s": site.programmed[0],
        "programmed_clearance_s": site.programmed[1],
        "walk_s": site.walk_s,
        "clearance_s": site.clearance_s,
        "extra_walk_s": ex.walk_s,
        "extra_clearance_s": ex.clearance_s,
        "pedestrians": len(walkers),
    }


# -- the report ------------------------------------------------------------------------
def _occupancy_svg(results: dict[str, RunResult]) -> str:
    """People on the crosswalk when a conflicting stream got green, per run (inline SVG)."""
    try:
        import matplotlib
    except ImportError:
        return _occupancy_svg_plain(results)
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    for mode, colour_, marker in (("standard", "#b33", "o"), ("charter", "#3b6ea5", "s")):
        r = results.get(mode) or (results.get("extension") if mode == "charter" else None)
        if r is None:
            continue
        xs = [t / 60 for t, _ in r.occupancy]
        ys = [n for _, n in r.occupancy]
        label = "standard timing" if mode == "standard" else "Charter (extension + alert)"
        ax.step(xs, ys, where="post", color=colour_, label=label, alpha=0.8)
        ax.plot(xs, ys, marker, color=colour_, markersize=3)
    ax.set_xlabel("simulated minute")
    ax.set_ylabel("on the crosswalk")
    ax.set_title("Pedestrians still on the crosswalk when a conflicting stream gets green")
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


CONFLICT_RUNS = (
    ("standard", "#888", "standard timing"),
    ("extension", "#b33", "extension, vehicles ignore the alert"),
    ("charter", "#3b6ea5", "extension, connected vehicles heed the alert"),
)


def _conflicts_svg(results: dict[str, RunResult]) -> str:
    """Vehicle–pedestrian conflicts (time to collision below 1.5 s) as they add up, per
    run (inline SVG)."""
    runs = [(m, c, label, results[m]) for m, c, label in CONFLICT_RUNS if m in results]
    try:
        import matplotlib
    except ImportError:
        return _steps_svg_plain([(c, label, _cumulative(r.conflicts)) for _m, c, label, r in runs])
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2))
    ax = fig.add_subplot()
    for _m, colour_, label, r in runs:
        pts = _cumulative(r.conflicts)
        ax.step([t / 60 for t, _ in pts], [n for _, n in pts], where="post", color=colour_,
                label=f"{label} ({len(r.conflicts)})")  # fmt: skip
    ax.set_xlabel("simulated minute")
    ax.set_ylabel("conflicts so far")
    ax.set_title("Vehicle–pedestrian conflicts at the crosswalk (time to collision < 1.5 s)")
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def _cumulative(found: dict[tuple[str, str], float]) -> list[tuple[float, int]]:
    return [(0.0, 0)] + [(t, n + 1) for n, t in enumerate(sorted(found.values()))]


def _steps_svg_plain(series: list[tuple[str, str, list[tuple[float, int]]]]) -> str:
    """Step lines by hand, when matplotlib is not installed."""
    w, h, pad = 720, 240, 30
    t_max = max((t for _, _, pts in series for t, _ in pts), default=1.0) or 1.0
    n_max = max((n for _, _, pts in series for _, n in pts), default=1) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}">']
    for col, label, pts in series:
        xy = " ".join(
            f"{pad + t / t_max * (w - 2 * pad):.1f},{h - pad - n / n_max * (h - 2 * pad):.1f}"
            for t, n in pts
        )
        parts.append(f'<polyline fill="none" stroke="{col}" points="{xy}"><title>'
                     f"{escape(label)}</title></polyline>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def _occupancy_svg_plain(results: dict[str, RunResult]) -> str:
    """The same plot by hand, when matplotlib is not installed."""
    w, h, pad = 720, 240, 30
    runs = [(m, results[m]) for m in ("standard", "charter") if m in results]
    t_max = max((t for _, r in runs for t, _ in r.occupancy), default=1.0) or 1.0
    n_max = max((n for _, r in runs for _, n in r.occupancy), default=1) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}">']
    for (mode, r), col in zip(runs, ("#b33", "#3b6ea5"), strict=False):
        pts = " ".join(
            f"{pad + t / t_max * (w - 2 * pad):.1f},{h - pad - n / n_max * (h - 2 * pad):.1f}"
            for t, n in r.occupancy
        )
        parts.append(f'<polyline fill="none" stroke="{col}" points="{pts}"><title>{mode}'
                     "</title></polyline>")  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def report_html(figs: dict[str, Any], results: dict[str, RunResult]) -> str:
    """A self-contained page: the figures and the occupancy plot (no external assets)."""
    rows = "".join(
        f"<tr><td>{escape(k.replace('_', ' '))}</td><td class='n'>{escape(str(v))}</td></tr>"
        for k, v in figs.items()
    )
    caught = "".join(
        f"<tr><td>{escape(m)}</td>"
        + "".join(
            f"<td class='n'>{len(r.caught.get(k, set()))} of {len(r.crossed.get(k, set()))}</td>"
            for k in ("slow-consented", "slow", "normal")
        )
        + "</tr>"
        for m, r in results.items()
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>Accessible crossing</title><style>{STYLE}</style></head><body>"
        "<h1>Accessible crossing on SUMO</h1>"
        f"<p class='muted'>Crosswalk <code>{escape(str(figs['crossing']))}</code>: "
        f"{figs['length_m']} m, walk {figs['walk_s']} s, clearance {figs['clearance_s']} s "
        f"as programmed; for 0.9 m/s the service adds {figs['extra_walk_s']} s of walk and "
        f"up to {figs['extra_clearance_s']} s of clearance.</p>"
        f"<div class='plot'>{_occupancy_svg(results)}</div>"
        f"<div class='plot'>{_conflicts_svg(results)}</div>"
        "<p class='muted'>A conflict: a vehicle heading over the crosswalk (on green, or "
        "already in the junction) and a pedestrian on it or stepping onto it whose time to "
        "collision, at their present speeds, falls below 1.5 s; each pair counted once. "
        f"Connected vehicles in the last run: {escape(str(figs.get('connected_share')))} "
        "of all.</p>"
        "<h2>Caught on the crosswalk when a conflicting stream got green</h2>"
        "<table><thead><tr><th>run</th><th>slow, consented</th><th>slow, not consented</th>"
        f"<th>normal</th></tr></thead><tbody>{caught}</tbody></table>"
        f"<h2>Figures</h2><table><tbody>{rows}</tbody></table></body></html>"
    )
