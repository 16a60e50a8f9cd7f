"""The accessible crossing on a real street network with pedestrians (SUMO).

The network gets sidewalks and crosswalks from SUMO's own netconvert
(`--sidewalks.guess --crossings.guess`, cached). One signalised crosswalk is
the site: the one where a pedestrian at 0.9 m/s falls furthest short of its
programmed clearance (within what the cap can cover), unless one is named.
Pedestrians cross it both ways: normal walkers (1.3 m/s ± 10 %) and slow ones
at 0.9 m/s, some of whom opted in to crossing assistance and some not. Every
slow pedestrian carries a fob linked to a resident; the crossing's reader
reads it at the kerb and sends the read through the gate, as a real reader
does. Vehicles come from SUMO's randomTrips plus flows through the site.

Three paired runs (same routes, same seed):

- `standard`: the crossing's controller runs its programmed timing alone;
- `extension`: the platform runs the accessible-crossing service; consented
  reads extend walk and clearance through the controller's safe transitioner;
  vehicles ignore the alert;
- `charter`: the same, and connected vehicles act on the signed, anonymous
  alert: within `ALERT_RANGE_M` of the crossing while it is valid, they keep to
  `CAREFUL_SPEED_MS`.

Measured: slow pedestrians still on the crosswalk at the moment a conflicting
vehicle stream gets green (by consent), vehicle–pedestrian conflicts (a
vehicle heading for the crosswalk on green, time to reach it below 1.5 s,
while a pedestrian is on it), the mean time loss of the vehicles that came
through the junction, and the safety invariant at every step.
"""

from __future__ import annotations

import hashlib
import io
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
TTC_S = 1.5  # a vehicle–pedestrian conflict: time to reach the crosswalk below this
ALERT_RANGE_M = 50.0
CAREFUL_SPEED_MS = 8.3  # 30 km/h while an alert is valid
COMFORT_DECEL = 3.0  # m/s², what a careful driver brakes at
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
            sites.append(
                Site(
                    tid, k, edge.getID(), float(edge.getLength()), std_walk, std_clear, foes,
                    crossers, approach, inbound, (sides[0], sides[1]), tuple(kerbs), mid,
                    (walk, clear), tuple(std),
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
    return max(fits, key=lambda s: (round(s.shortfall_s, 1), len(s.approach), s.edge))


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
    pairs = sorted(
        {
            (a.getEdge().getID(), o.getEdge().getID())
            for a, o, i in tls.getConnections()
            if i in site.crossers
            and a.getEdge().getFunction() == ""
            and a.allows("passenger")
            and o.allows("passenger")
        }
    )
    for j, (a, b) in enumerate(pairs):
        lines.append(
            f'  <flow id="site{j}" from="{a}" to="{b}" begin="0" end="{end_s}" '
            f'period="{flow_period_s * len(pairs):.1f}" departLane="best" departSpeed="max"/>'
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


# -- one run -------------------------------------------------------------------------
@dataclass
class RunResult:
    caught: dict[str, set[str]] = field(default_factory=dict)  # kind -> walkers caught
    crossed: dict[str, set[str]] = field(default_factory=dict)  # kind -> walkers who crossed
    occupancy: list[tuple[float, int]] = field(default_factory=list)  # (t, on the crosswalk)
    conflicts: set[tuple[str, str]] = field(default_factory=set)
    alerted_conflicts: set[tuple[str, str]] = field(default_factory=set)  # while alerted
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
            net_file, routes, step_s=step_s, seed=seed, end_s=end_s + 600, rules=rules,
            tripinfo=tripinfo,
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
            _drive(mode, sim, city, site, ctrl, rsu, kinds, res, end_s, progress)
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
) -> None:
    traci = sim.traci
    host = city.platform.services
    step = timedelta(seconds=sim.step_s)
    read: set[str] = set()
    through: set[str] = set()
    slowed: dict[str, float] = {}
    stopping: set[str] = set()
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
        if mode == "charter":
            occupied = bool(traci.edge.getLastStepPersonIDs(site.edge))
            # A driver who was alerted takes care when someone is on the crosswalk.
            _careful(traci, site, slowed, stopping, alerted and occupied, occupied)
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
        if on:
            _conflicts(traci, site, on, res.conflicts)
            if alerted:
                _conflicts(traci, site, on, res.alerted_conflicts)
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


def _careful(
    traci: Any,
    site: Site,
    slowed: dict[str, float],
    stopping: set[str],
    alerted: bool,
    occupied: bool,
) -> None:
    """What a connected vehicle does with a valid alert for the crosswalk it is about to
    drive over, within ALERT_RANGE_M of it, while someone is on it: it keeps to
    CAREFUL_SPEED_MS and stops short of it if it can do so comfortably."""
    near: dict[str, float] = {}
    if alerted:
        for lane in site.approach:
            for v in traci.lane.getLastStepVehicleIDs(lane):
                ahead = traci.vehicle.getNextTLS(v)
                if not ahead or ahead[0][0] != site.tls or ahead[0][1] not in site.crossers:
                    continue
                if ahead[0][2] <= ALERT_RANGE_M:
                    near[v] = float(ahead[0][2])
    live = set(traci.vehicle.getIDList())
    for v in list(slowed):
        if v not in near:
            if v in live:
                traci.vehicle.setMaxSpeed(v, slowed[v])
            del slowed[v]
    for v in list(stopping):
        if v not in near or not occupied:
            if v in live:
                traci.vehicle.setSpeed(v, -1)  # back to its own driving
            stopping.discard(v)
    for v, gap in near.items():
        if v not in slowed:
            slowed[v] = traci.vehicle.getMaxSpeed(v)
            traci.vehicle.setMaxSpeed(v, min(slowed[v], CAREFUL_SPEED_MS))
        speed = traci.vehicle.getSpeed(v)
        if occupied and v not in stopping and speed * speed / (2 * COMFORT_DECEL) < gap:
            traci.vehicle.setSpeed(v, 0.0)  # it brakes within its own limits
            stopping.add(v)


def _conflicts(traci: Any, site: Site, on: list[str], out: set[tuple[str, str]]) -> None:
    """Vehicles heading for the crosswalk on green that would reach it within TTC_S at
    their speed and are not braking hard enough to stop short of it.

    The distance is to the signal's stop line, the nearest the crosswalk can be."""
    for lane in site.approach:
        for v in traci.lane.getLastStepVehicleIDs(lane):
            speed = traci.vehicle.getSpeed(v)
            if speed < 0.5:
                continue
            ahead = traci.vehicle.getNextTLS(v)
            if not ahead or ahead[0][0] != site.tls or ahead[0][1] not in site.crossers:
                continue
            if ahead[0][3] not in "Gg":
                continue
            gap = float(ahead[0][2])
            braking = -traci.vehicle.getAcceleration(v)
            if gap > 0 and braking >= speed * speed / (2 * gap):
                continue  # it stops short of the crosswalk
            if gap / speed < TTC_S:
                out.update((v, p) for p in on)


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
    end_s: float = 1800.0,
    period_s: float = 2.0,
    ped_period_s: float = 12.0,
    slow_share: float = 0.4,
    consent_share: float = 0.6,
    flow_period_s: float = 6.0,
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
    )  # fmt: skip
    results: dict[str, RunResult] = {}
    for mode in modes:
        report = (lambda f, m=mode: progress(m, f)) if progress is not None else None
        results[mode] = run_mode(
            mode, ped_net, [bg, site_routes], site, walkers, work, seed=seed, end_s=end_s,
            progress=report,
        )  # fmt: skip
    return figures(site, walkers, results), results


def figures(site: Site, walkers: list[Walker], results: dict[str, RunResult]) -> dict[str, Any]:
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
        "<h2>Caught on the crosswalk when a conflicting stream got green</h2>"
        "<table><thead><tr><th>run</th><th>slow, consented</th><th>slow, not consented</th>"
        f"<th>normal</th></tr></thead><tbody>{caught}</tbody></table>"
        f"<h2>Figures</h2><table><tbody>{rows}</tbody></table></body></html>"
    )
