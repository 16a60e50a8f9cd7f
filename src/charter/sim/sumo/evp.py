"""Emergency-vehicle preemption on a real network: paired trips, a baseline and the limit.

One simulation of background traffic (SUMO's randomTrips.py) runs its warm-up
with every signal on its fixed-time plan. At each emergency trip's start the
simulation process forks (libsumo's saved states diverge; a fork is an
identical twin), and the same trip is driven from that same state:

- `none`: no preemption, the signals keep their plans;
- `baseline`: the simple preemption field systems do: once the vehicle is
  within 200 m of a signal, green for every link of its approach, red for the
  rest after a yellow, the plan back once the vehicle has left the junction,
  released after 90 s at the latest;
- `charter`: the preemption service; the vehicle's on-board unit signs its
  signal requests and sends them through the gate, the platform signs its
  commands and each signal controller verifies them;

and, in a simulation of its own, `free`: the same route alone on the empty
network, the vehicle driving as if every signal were green (it disregards
signals and right of way; nobody else is there), the cut no controller can beat.

Others' cost is their extra time loss over a fixed window from the fork
(every other vehicle's, those that arrived and those still driving), paired
per trip against `none`, with a bootstrap 95% confidence interval. The
signals' safety invariant is checked at every step of every variant.
"""

from __future__ import annotations

import json
import math
import os
import random
import select
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from charter.bootstrap import build
from charter.device import DeviceSigner
from charter.domain.algorithm import AlgorithmEntry, Figure, Risk
from charter.domain.clock import FixedClock
from charter.domain.disclosure import DeviceDisclosure
from charter.domain.model import Device, DeviceStatus, ProjectStatus, urn
from charter.domain.reasons import Reason
from charter.services.actuator import Actuator, InProcessChannel
from charter.services.j2735 import CATEGORY, MessageType, OnBoardUnit, record_status
from charter.services.preemption import Preemption, slots_of
from charter.services.preemption_network import (
    ApproachState,
    Movement,
    Road,
    RoadModel,
    SignalModel,
)
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.sumo.city import OPERATOR, START, _net_area, build_city
from charter.sim.sumo.controller import SumoSignal, fixed_time_plan
from charter.sim.sumo.network import random_trips, read_net
from charter.sim.sumo.run import Simulation, signal_rules, simulation
from charter.sim.sumo.safety import SignalRules

VARIANTS = ("none", "baseline", "charter")
EV_TYPE = "emergency"
DETECT_M = 200.0
BASELINE_MAX_S = 90.0
POOL_FACTOR = 4  # candidate routes per trip, for the trips a gridlock would block
TELEPORT_S = 300.0  # sumo_args: --time-to-teleport
SRM_EVERY_S = 1.0


# -- the service's register entry -------------------------------------------------------


def preemption_entry() -> AlgorithmEntry:
    return AlgorithmEntry(
        service="emergency-preemption",
        project_id=sample.EMERGENCY,
        name="Emergency-vehicle preemption",
        purpose="Traffic signals clear the way for ambulances and fire engines on a call, so "
        "first responders reach the scene sooner.",
        data_used=[CATEGORY],
        how_it_decides=(
            "An emergency vehicle on a call sends its position, speed, route and priority "
            "every second. For each signal on its route the service estimates when it will "
            "arrive (later if queues at the signals before it must drive off first); as "
            "early as that signal's own clearances and the queue in front of the vehicle "
            "need, and no less than 15 nor more than 40 seconds before, it asks that signal "
            "for green for the whole "
            "road the vehicle comes from (so the queue in front of it drives off first), and "
            "keeps green whatever does not cross that road. The signal gets there through "
            "its own yellow and all-red. When two vehicles want one signal, the higher "
            "priority goes first, then the one arriving sooner. As soon as the vehicle has "
            "left the junction the signal goes back to its normal plan, in step with its "
            "neighbours."
        ),
        human_oversight=(
            "Traffic engineers set every signal's minimum greens, yellows and all-reds, which "
            "no request can shorten; the controller refuses unsigned or expired commands and "
            "runs its own plan alone; the dispatch centre sees every request and its status "
            "on the record, and the service can be stopped by two people."
        ),
        risks=[
            Risk(
                risk="Everyone else on the crossing roads waits longer.",
                mitigation="Green is asked for only as early as the vehicle's arrival needs, "
                "released the moment it has passed, and at most 90 s at one signal; the extra "
                "delay is measured (charter sim evp).",
            ),
            Risk(
                risk="A forged, replayed or confused vehicle could hold signals at green.",
                mitigation="Only registered vehicles of the live project are heard, each request "
                "is signed by the vehicle; stale, future, jumping, reversed, off-route and "
                "flooding requests are refused with a reason; a silent vehicle times out.",
            ),
            Risk(
                risk="Losing the platform during a preemption.",
                mitigation="A controller keeps a target only a few seconds without hearing "
                "again and falls back to its own plan through its yellow and all-red.",
            ),
        ],
        figures=[
            Figure(name="safety violations", value=0, measured_by="charter sim evp"),
        ],
        actuators=["signal controller", "emergency vehicle on-board unit"],
        accountable="Traffic department with the emergency services' dispatch centre",
        contact="traffic@example.org",
    )


def register_check(store: Any, project_id: str) -> Callable[[str], Reason | None]:
    """The register's answer for a vehicle: may it ask for priority now?"""

    def check(device_id: str) -> Reason | None:
        device = store.get_device(device_id)
        if device is None or device.project_id != project_id:
            return Reason.NOT_REGISTERED
        if device.status is DeviceStatus.SUSPENDED:
            return Reason.DEVICE_SUSPENDED
        if device.status is DeviceStatus.REVOKED:
            return Reason.DEVICE_REVOKED
        project = store.get_project(project_id)
        if project is None or project.status is not ProjectStatus.LIVE:
            return Reason.PROJECT_NOT_LIVE
        return None

    return check


# -- the network as the service sees it -------------------------------------------------


def road_model(net: Any, rules: dict[str, SignalRules], controllers: dict[str, str]) -> RoadModel:
    """Roads, the signals' movements and approaches, and their foes (from sumolib)."""
    roads: dict[str, Road] = {}
    for edge in net.getEdges(withInternal=False):
        lane = edge.getLanes()[0]
        shape = tuple((float(x), float(y)) for x, y, *_ in lane.getShape())
        roads[edge.getID()] = Road(
            edge.getID(),
            float(lane.getLength()),
            float(edge.getSpeed()),
            shape,
            frozenset(e.getID() for e in edge.getOutgoing()),
        )
    movements: dict[tuple[str, str], list[Movement]] = {}
    signals: dict[str, SignalModel] = {}
    for tls_id, controller in controllers.items():
        tls = net.getTLS(tls_id)
        approach: dict[str, set[int]] = {}
        pairs: dict[tuple[str, str], set[int]] = {}
        n = 0
        for in_lane, out_lane, index in tls.getConnections():
            a, b = in_lane.getEdge().getID(), out_lane.getEdge().getID()
            approach.setdefault(a, set()).add(index)
            pairs.setdefault((a, b), set()).add(index)
            n = max(n, index + 1)
        program = next(iter(tls.getPrograms().values()))
        n = max(n, len(program.getPhases()[0].state))
        for (a, b), links in pairs.items():
            movements.setdefault((a, b), []).append(
                Movement(controller, tuple(sorted(links)), tuple(sorted(approach[a])))
            )
        signals[controller] = SignalModel(controller, n, rules[tls_id].conflicts)
    return RoadModel(roads, {k: tuple(v) for k, v in movements.items()}, signals)


@dataclass(frozen=True)
class Trip:
    index: int
    start_s: float
    route: tuple[str, ...]
    length_m: float
    signals: int


def emergency_trips(
    net: Any, model: RoadModel, n: int, *, seed: int, first_s: float, every_s: float
) -> list[Trip]:
    """n routes of 1–2.4 km that cross 3–10 signals, starting `every_s` apart."""
    rng = random.Random(seed)
    edges = [
        e
        for e in net.getEdges(withInternal=False)
        if e.allows("emergency") and e.allows("passenger") and e.getLength() > 20
    ]
    trips: list[Trip] = []
    tries = 0
    while len(trips) < n and tries < 20_000:
        tries += 1
        a, b = rng.choice(edges), rng.choice(edges)
        if a is b:
            continue
        path, _cost = net.getShortestPath(a, b, vClass="emergency")
        if not path:
            continue
        route = tuple(e.getID() for e in path)
        length = sum(e.getLength() for e in path)
        crossed = len(slots_of(model, route))
        if 1000 <= length <= 2400 and 3 <= crossed <= 10:
            trips.append(Trip(len(trips), first_s + every_s * len(trips), route, length, crossed))
    return trips


# -- a signal that runs its own program until a preemption ------------------------------


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


# -- one variant of one trip, in a forked twin ------------------------------------------------


@dataclass
class World:
    """What the parent and every twin share: the network, its signals, the platform's files."""

    net_file: Path
    net: Any
    rules: dict[str, SignalRules]
    model: RoadModel
    controllers: dict[str, ProgramSignal]  # tls id → controller
    urns: dict[str, str]  # tls id → controller URN
    clock: FixedClock
    settings: Settings
    vehicles: dict[int, DeviceSigner]  # trip index → its on-board unit's key
    step_s: float
    window_s: float
    link_edge: dict[str, dict[int, str]] = field(default_factory=dict)  # tls → link → in edge
    link_lane: dict[str, dict[int, str]] = field(default_factory=dict)  # tls → link → in lane
    tls_of: dict[str, str] = field(default_factory=dict)  # controller URN → tls id

    def step(self, sim: Simulation) -> None:
        for ctrl in self.controllers.values():
            ctrl.step()
        sim.step()
        self.clock.advance(timedelta(seconds=self.step_s))


def _time_loss(traci: Any, skip: str) -> float:
    """Total time loss so far of every vehicle but `skip`: arrived ones and driving ones."""
    stats = "device.tripinfo.vehicleTripStatistics."
    count = float(traci.simulation.getParameter("", stats + "count") or 0)
    mean = float(traci.simulation.getParameter("", stats + "timeLoss") or 0)
    driving = sum(traci.vehicle.getTimeLoss(v) for v in traci.vehicle.getIDList() if v != skip)
    return float(count * mean + driving)


class _Vehicle(Actuator):
    """The on-board unit's receiving side: it verifies each signal status it is sent."""

    def __init__(self, device_id: str, key: str, clock: FixedClock) -> None:
        super().__init__(device_id, key, clock, timedelta(seconds=5))
        self.ssm: list[dict[str, Any]] = []

    def apply(self, cmd: Any) -> None:
        self.ssm.append(dict(cmd.params))

    def enter_safe_mode(self, why: str) -> None:
        pass

    def leave_safe_mode(self) -> None:
        pass


def run_variant(
    world: World, sim: Simulation, trip: Trip, variant: str, *, trace: bool = False
) -> dict[str, Any]:
    traci = sim.traci
    ev = f"ev{trip.index}"
    t0 = sim.time_s
    violations0 = len(sim.monitor.violations)
    takeovers0 = sum(c.takeovers for c in world.controllers.values())
    traci.route.add(f"r-{ev}", list(trip.route))
    traci.vehicle.add(ev, f"r-{ev}", typeID=EV_TYPE, departLane="best", departSpeed="max")
    loss0 = _time_loss(traci, ev)
    clock0 = world.clock.now().timestamp()

    def idle(_t: float) -> None:
        pass

    drive: Callable[[float], None] = idle
    charter: _Charter | None = None
    if variant == "baseline":
        drive = _Baseline(world, traci, ev).step
    elif variant == "charter":
        charter = _Charter(world, traci, ev, trip)
        drive = charter.step
    depart = arrive = None
    ev_loss = 0.0
    loss1: float | None = None
    path: list[tuple[float, float]] = []
    lights: list[tuple[float, str]] = []
    end = t0 + world.window_s
    cap = end + world.window_s
    while sim.time_s < cap:
        t = sim.time_s
        if loss1 is None and t >= end:
            loss1 = _time_loss(traci, ev)
        if arrive is not None and loss1 is not None:
            break
        drive(t)
        world.step(sim)
        if depart is None and ev in traci.simulation.getDepartedIDList():
            depart = sim.time_s
        if arrive is None and ev in traci.simulation.getArrivedIDList():
            arrive = sim.time_s
            if charter is not None:
                charter.arrived()
        elif depart is not None and arrive is None:
            ev_loss = traci.vehicle.getTimeLoss(ev)
            if trace:
                path.append((sim.time_s - t0, traci.vehicle.getDistance(ev)))
                lights.append((sim.time_s - t0, _next_light(traci, ev)))
    if loss1 is None:
        loss1 = _time_loss(traci, ev)
    if arrive is not None and loss1 is not None and arrive <= end:
        loss1 -= ev_loss  # it is in the arrived vehicles' statistics by now
    out: dict[str, Any] = {
        "variant": variant,
        "trip": trip.index,
        "travel_s": (arrive - depart) if arrive is not None and depart is not None else None,
        "others_loss_s": loss1 - loss0,
        "violations": len(sim.monitor.violations) - violations0,
        "violation_kinds": sorted({v.kind for v in sim.monitor.violations[violations0:]}),
        "violation_list": [
            (v.tls, v.kind, list(v.links), round(v.t_s - t0, 1))
            for v in sim.monitor.violations[violations0:][:30]
        ],
        "takeovers": sum(c.takeovers for c in world.controllers.values()) - takeovers0,
    }
    # Each signal's take-overs and hand-backs in this variant (seconds from the fork).
    out["signal_events"] = {
        tls: [(round(t - clock0, 1), e) for t, e in c.events if t >= clock0]
        for tls, c in world.controllers.items()
        if any(t >= clock0 for t, _e in c.events)
    }
    if charter is not None:
        out.update(charter.summary())
    if trace:
        out["path"] = path[::4]
        out["lights"] = lights[::2]
    return out


def _next_light(traci: Any, ev: str) -> str:
    nxt = traci.vehicle.getNextTLS(ev)
    return f"{nxt[0][0]}|{nxt[0][2]:.0f}|{nxt[0][3]}" if nxt else ""


class _Baseline:
    """Field preemption in the controller cabinet: detection within 200 m, the whole approach
    green, the rest red after a yellow; the plan back once the vehicle has left, or after 90 s."""

    def __init__(self, world: World, traci: Any, ev: str) -> None:
        self.world, self.traci, self.ev = world, traci, ev
        self.active: dict[str, float] = {}  # tls → since
        self.done: set[str] = set()
        self.wanted: dict[str, set[int]] = {}  # tls → the links it holds green

    def step(self, t: float) -> None:
        traci, ev = self.traci, self.ev
        if ev not in traci.vehicle.getIDList():
            for tls in list(self.active):
                self._release(tls)
            return
        ahead: dict[str, set[int]] = {}
        for tls, link, dist, _state in traci.vehicle.getNextTLS(ev):
            if dist <= DETECT_M and tls in self.world.controllers and tls not in self.done:
                ahead.setdefault(tls, set()).add(int(link))
        inside = traci.vehicle.getRoadID(ev).startswith(":")
        for tls, since in list(self.active.items()):
            if t - since >= BASELINE_MAX_S or (tls not in ahead and not inside):
                self._release(tls)
        for tls, links in ahead.items():
            # A joined cluster is one signal over several junctions, listed once for each
            # junction still ahead: each junction's approach joins the green as the vehicle
            # comes within 200 m of it, and the whole cluster is held until it has left.
            edges = self.world.link_edge[tls]
            wanted = {k for k, e in edges.items() if e in {edges.get(x) for x in links}}
            held = self.wanted.get(tls, set())
            if tls in self.active and wanted <= held:
                continue
            wanted |= held
            self.wanted[tls] = wanted
            ctrl = self.world.controllers[tls]
            n = self.world.model.signals[self.world.urns[tls]].n_links
            ctrl.target = "".join("G" if k in wanted else "r" for k in range(n))
            since = self.active.setdefault(tls, t)
            ctrl.target_until = since + (ctrl._now() - t) + BASELINE_MAX_S

    def _release(self, tls: str) -> None:
        self.world.controllers[tls].target = None
        self.active.pop(tls, None)
        self.wanted.pop(tls, None)
        self.done.add(tls)


class _Charter:
    """The platform in this twin: the gate, the service host, the preemption service."""

    def __init__(self, world: World, traci: Any, ev: str, trip: Trip) -> None:
        self.world, self.traci, self.ev, self.trip = world, traci, ev, trip
        channel = InProcessChannel()
        for ctrl in world.controllers.values():
            channel.attach(ctrl)
        # The gate's per-device rate limit counts wall-clock seconds, and the simulation
        # runs many times faster than real time: one request a simulated second would
        # look like a flood. Everything else is the gate as it runs.
        settings = world.settings.model_copy(update={"device_rate_per_s": 10_000.0})
        self.p = build(settings, clock=world.clock, channel=channel)
        key = self.p.security.commands.public_key_b64
        self.obu = OnBoardUnit(world.vehicles[trip.index])
        self.receiver = _Vehicle(self.obu.device_id, key, world.clock)
        channel.attach(self.receiver)
        self.service = Preemption(
            world.model,
            spat=self._spat,
            vehicle_check=register_check(self.p.store, sample.EMERGENCY),
            on_status=partial(record_status, self.p.ledger),
        )
        self.p.services.add(self.service)
        self.p.services.start()
        self.next_srm = -1.0
        self.next_tick = -1.0
        self.t0 = float(traci.simulation.getTime())
        self.sent = 0
        self.refused: dict[str, int] = {}
        self.request_id = 1000 + trip.index

    def _spat(self, controller: str, links: tuple[int, ...]) -> ApproachState:
        """What the controller reports: its stop-line detectors' longest queue (halting
        vehicles) on the lanes that feed these links (lanes drive off side by side), and
        how soon its safe transitions could show them green."""
        tls = self.world.tls_of[controller]
        lanes = {self.world.link_lane[tls][k] for k in links if k in self.world.link_lane[tls]}
        lane = self.traci.lane
        queued = max((int(lane.getLastStepHaltingNumber(x)) for x in lanes), default=0)
        ctrl = self.world.controllers[tls]
        return ApproachState(queued, ctrl.transitioner.time_to_green(links, ctrl._now()))

    def step(self, t: float) -> None:
        traci, ev = self.traci, self.ev
        if t >= self.next_srm and ev in traci.vehicle.getIDList():
            self.next_srm = t + SRM_EVERY_S
            message = MessageType.REQUEST if self.sent == 0 else MessageType.UPDATE
            self._send(self._srm(message))
        if t >= self.next_tick:
            self.next_tick = t + 1.0
            self.p.services.tick()

    def _srm(self, message: MessageType) -> dict[str, Any]:
        traci, ev = self.traci, self.ev
        x, y = traci.vehicle.getPosition(ev)
        return {
            "message": message.value,
            "request_id": self.request_id,
            "priority": 5,
            "role": "ambulance",
            "x": round(x, 2),
            "y": round(y, 2),
            "speed": round(max(0.0, traci.vehicle.getSpeed(ev)), 2),
            "heading": round(traci.vehicle.getAngle(ev) % 360.0, 1),
            "edge": traci.vehicle.getRoadID(ev),
            "lane": traci.vehicle.getLaneID(ev),
            "edge_pos": round(max(0.0, traci.vehicle.getLanePosition(ev)), 2),
            "route": " ".join(self.trip.route),
        }

    def _send(self, values: dict[str, Any]) -> None:
        wire = self.obu.envelope(values, self.world.clock.now())
        outcome = self.p.gate.ingest([wire])[0]
        self.sent += 1
        if not outcome.admitted:
            why = outcome.rejection.reason if outcome.rejection is not None else "reading"
            if outcome.reading_reasons:
                why = outcome.reading_reasons[0][1]
            self.refused[str(why)] = self.refused.get(str(why), 0) + 1

    def arrived(self) -> None:
        last = {"message": MessageType.CANCEL.value, "request_id": self.request_id}
        last.update({"x": 0.0, "y": 0.0})
        self._send(last)
        self.p.services.tick()

    def summary(self) -> dict[str, Any]:
        refused = sum(sum(c.refused.values()) for c in self.world.controllers.values())
        statuses = [s["status"] for s in self.receiver.ssm]
        out = {
            "srm_sent": self.sent,
            "srm_refused_at_gate": self.refused,
            "ssm_received": len(statuses),
            "granted": statuses.count("granted"),
            "service_refusals": dict(self.service.refusals),
            "commands_refused": refused,
        }
        self.p.close()
        return out


# -- the free-flow limit -----------------------------------------------------------------


def free_flow(
    world: World, trips: Sequence[Trip], ev_file: Path, seed: int
) -> tuple[dict[int, float], int]:
    """Each route alone on the empty network, disregarding every signal: the best any
    controller could do. The signals still run (under SUMO's own programs), watched."""
    times: dict[int, float] = {}
    spacing = 400.0
    with simulation(
        world.net_file, [ev_file], step_s=world.step_s, seed=seed,
        end_s=spacing * (len(trips) + 2), rules=world.rules,
    ) as sim:  # fmt: skip
        traci = sim.traci
        departs: dict[str, float] = {}
        for trip in trips:
            ev = f"ev{trip.index}"
            traci.route.add(f"r-{ev}", list(trip.route))
            traci.vehicle.add(
                ev, f"r-{ev}", typeID=EV_TYPE, depart=str(spacing * trip.index),
                departLane="best", departSpeed="max",
            )  # fmt: skip
        while len(times) < len(trips) and sim.time_s < spacing * (len(trips) + 2):
            sim.step()
            for v in traci.simulation.getDepartedIDList():
                departs[v] = sim.time_s
                traci.vehicle.setSpeedMode(v, 7)  # no red lights, no right of way: nobody there
            for v in traci.simulation.getArrivedIDList():
                if v in departs:
                    times[int(v[2:])] = sim.time_s - departs[v]
        return times, len(sim.monitor.violations)


# -- the whole experiment -----------------------------------------------------------------


def _fork(fn: Callable[[], dict[str, Any]]) -> tuple[int, int]:
    """Run fn in a forked twin; returns (pid, the read end of its answer)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the twin: answer and leave without running the parent's exit handlers
        os.close(r)
        code = 0
        try:
            data = json.dumps(fn()).encode()
        except BaseException as e:  # the parent must hear of any failure
            data = json.dumps({"error": f"{type(e).__name__}: {e}"}).encode()
            code = 1
        with os.fdopen(w, "wb") as out:
            out.write(data)
        os._exit(code)
    os.close(w)
    return pid, r


def _collect(children: list[tuple[int, int]]) -> list[dict[str, Any]]:
    buffers = {r: b"" for _, r in children}
    open_fds = set(buffers)
    while open_fds:
        ready, _, _ = select.select(list(open_fds), [], [])
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if chunk:
                buffers[fd] += chunk
            else:
                open_fds.discard(fd)
                os.close(fd)
    for pid, _ in children:
        os.waitpid(pid, 0)
    return [json.loads(buffers[r] or b'{"error": "no answer"}') for _, r in children]


def run_evp(
    net_file: Path,
    work: Path,
    *,
    period_s: float = 1.0,
    trips: int = 30,
    seed: int = 1,
    routes: Path | None = None,
    warmup_s: float = 600.0,
    every_s: float = 60.0,
    window_s: float = 900.0,
    step_s: float = 0.5,
    parallel: bool = True,
    progress: Callable[[float, str], None] | None = None,
) -> dict[str, Any]:
    """The paired experiment; returns the figures and, under "trips_detail", every trip."""
    net = read_net(net_file)
    rules = signal_rules(net_file)
    say = progress or (lambda _f, _m: None)
    say(0.0, "building the city")
    city = build_city(net, work / "city", services=True)
    platform = city.platform
    platform.algorithms.register(preemption_entry(), OPERATOR, "emergency-vehicle preemption")
    urns = {tls: j.controller for j, tls in zip(city.junctions, _tls_order(city), strict=True)}
    model = road_model(net, rules, urns)
    # The candidate routes, in their seeded order; each trip takes the next one that no
    # gridlock blocks when it starts (`_unjammed`).
    pool = emergency_trips(
        net, model, trips * POOL_FACTOR, seed=seed, first_s=warmup_s, every_s=every_s
    )
    vehicles = {}
    for index in range(min(trips, len(pool))):
        signer = DeviceSigner(urn("Device", f"ambulance-{index:03d}"))
        platform.registry.register_device(
            Device(
                id=signer.device_id,
                vendor_id=sample.TRUSTED,
                project_id=sample.EMERGENCY,
                modality="emergency-vehicle",
                categories=[CATEGORY],
                public_key=signer.public_key_b64,
                disclosure=DeviceDisclosure(
                    owner="Emergency services", mobile=True, region=_net_area(net)
                ),
            ),
            OPERATOR,
        )
        vehicles[index] = signer
    key = platform.security.commands.public_key_b64
    settings = platform.settings
    platform.close()
    ev_file = work / "ev.add.xml"
    ev_file.write_text(
        f'<additional>\n  <vType id="{EV_TYPE}" vClass="emergency" speedFactor="1.2" '
        'speedDev="0"/>\n</additional>\n'
    )
    end_demand = warmup_s + every_s * len(vehicles) + window_s + 300
    say(0.0, "background traffic (randomTrips.py)")
    bg = routes or random_trips(
        net_file, work / "bg.rou.xml", period_s=period_s, end_s=end_demand, seed=seed
    )
    clock = FixedClock(START)
    world = World(
        net_file, net, rules, model, {}, urns, clock, settings, vehicles, step_s, window_s
    )
    for tls in urns:
        world.link_edge[tls] = {
            idx: in_lane.getEdge().getID() for in_lane, _o, idx in net.getTLS(tls).getConnections()
        }
        world.link_lane[tls] = {
            idx: in_lane.getID() for in_lane, _o, idx in net.getTLS(tls).getConnections()
        }
        world.tls_of[urns[tls]] = tls
    results: list[dict[str, Any]] = []
    plan: list[Trip] = []
    skipped: list[str] = []  # the candidates passed over, each with its jammed place
    jam_s = gridlock_s(net)
    candidates = iter(pool)
    with simulation(
        net_file, [bg, ev_file], step_s=step_s, seed=seed, end_s=end_demand + window_s,
        rules=rules, tripinfo=Path(os.devnull), load_routes_whole=True,
    ) as sim:  # fmt: skip
        for tls, u in urns.items():
            world.controllers[tls] = ProgramSignal(
                u, tls, sim.traci, rules[tls], fixed_time_plan(net, tls), key, clock,
                timedelta(seconds=2 * settings.service_heartbeat_s),
            )  # fmt: skip
        n = len(vehicles)
        for k in range(n):
            start_s = warmup_s + every_s * k
            while sim.time_s < start_s:
                world.step(sim)
                say(k / max(1, n), f"warm-up {sim.time_s:.0f} s")
            trip = _unjammed(sim.traci, net, candidates, skipped, jam_s, k, start_s)
            if trip is None:
                break
            plan.append(trip)
            say(k / max(1, n), f"trip {k + 1}/{n}")
            trace = k == 0
            runs = [partial(run_variant, world, sim, trip, v, trace=trace) for v in VARIANTS]
            if parallel:
                answers = _collect([_fork(fn) for fn in runs])
            else:
                answers = [_collect([_fork(fn)])[0] for fn in runs]
            for a in answers:
                a["length_m"] = trip.length_m
                a["signals"] = trip.signals
            results += answers
            times = ", ".join(f"{a.get('variant', '?')} {a.get('travel_s')} s" for a in answers)
            say((k + 1) / max(1, n), f"trip {k + 1}: {times}")
        parent_violations = len(sim.monitor.violations)
    say(1.0, "free flow")
    free, free_violations = free_flow(world, plan, ev_file, seed)
    for a in results:
        a["free_s"] = free.get(a.get("trip", -1))
    say(1.0, "done")
    figures = summarise(results, period_s, trips)
    figures["safety_violations"] += free_violations + parent_violations
    figures["_routes_passed_over"] = skipped
    figures["trips_detail"] = results
    return figures


def gridlock_s(net: Any) -> float:
    """How long a vehicle must have stood still to count as stuck in a gridlock rather
    than waiting at a red: one and a half of the longest programmed cycle of any signal
    (135 s on DRT, whose programs run 90 s cycles), and less than SUMO's teleport of a
    vehicle stuck TELEPORT_S."""
    longest = max(
        (
            sum(float(ph.duration) for ph in program.getPhases())
            for t in net.getTrafficLights()
            for program in t.getPrograms().values()
        ),
        default=60.0,
    )
    return min(TELEPORT_S - 10.0, 1.5 * longest)


def _unjammed(
    traci: Any,
    net: Any,
    pool: Iterator[Trip],
    skipped: list[str],
    jam_s: float,
    index: int,
    start_s: float,
) -> Trip | None:
    """The next candidate route (in the pool's seeded order) on which, as the trip starts,
    no vehicle has stood still for `jam_s` (a gridlock, not a red light): on its roads or
    inside the junctions they lead to. Chosen from the shared state before any variant
    runs, so the choice cannot depend on how a variant fares; each candidate passed over
    is named in `skipped`."""
    jammed: set[str] = set()
    for v in traci.vehicle.getIDList():
        if traci.vehicle.getWaitingTime(v) >= jam_s:
            road = str(traci.vehicle.getRoadID(v))
            jammed.add(road[1:].rsplit("_", 1)[0] if road.startswith(":") else road)
    for cand in pool:
        places = set(cand.route) | {net.getEdge(e).getToNode().getID() for e in cand.route}
        if not places & jammed:
            return Trip(index, start_s, cand.route, cand.length_m, cand.signals)
        skipped.append(f"trip {index}: {sorted(places & jammed)[0]}")
    return None


def _tls_order(city: Any) -> list[str]:
    """The SUMO ids of the city's junctions, in the order build_city made them."""
    by_short = city._tls_ids
    return [
        by_short[j.controller.rsplit(":", 1)[1].removeprefix("signal-")] for j in city.junctions
    ]


def bootstrap_ci(
    pairs: Sequence[tuple[float, float]], *, rounds: int = 2000, seed: int = 7
) -> tuple[float, float]:
    """95% CI of sum(a)/sum(b) - 1 over trips resampled with replacement (paired)."""
    rng = random.Random(seed)
    n = len(pairs)
    if n == 0:
        return (0.0, 0.0)
    stats = []
    for _ in range(rounds):
        sample_ = [pairs[rng.randrange(n)] for _ in range(n)]
        b = sum(p[1] for p in sample_)
        stats.append(sum(p[0] for p in sample_) / b - 1 if b > 0 else 0.0)
    stats.sort()
    return (stats[int(0.025 * rounds)], stats[int(0.975 * rounds) - 1])


def summarise(results: list[dict[str, Any]], period_s: float, n_trips: int) -> dict[str, Any]:
    by: dict[str, dict[int, dict[str, Any]]] = {v: {} for v in VARIANTS}
    for r in results:
        if "error" not in r:
            by[r["variant"]][r["trip"]] = r
    complete = [
        k
        for k in by["none"]
        if all(k in by[v] and by[v][k]["travel_s"] is not None for v in VARIANTS)
        and by["none"][k].get("free_s") is not None
    ]

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    t_none = mean([by["none"][k]["travel_s"] for k in complete])
    t_base = mean([by["baseline"][k]["travel_s"] for k in complete])
    t_ch = mean([by["charter"][k]["travel_s"] for k in complete])
    t_free = mean([by["none"][k]["free_s"] for k in complete])

    def cut(t: float) -> float:
        return 1 - t / t_none if t_none > 0 else 0.0

    def others(v: str) -> tuple[float, list[tuple[float, float]]]:
        pairs = [(by[v][k]["others_loss_s"], by["none"][k]["others_loss_s"]) for k in complete]
        base = sum(p[1] for p in pairs)
        return (sum(p[0] for p in pairs) / base - 1 if base > 0 else 0.0), pairs

    achievable = cut(t_free)
    ch_delay, ch_pairs = others("charter")
    base_delay, _ = others("baseline")
    lo, hi = bootstrap_ci(ch_pairs)
    violations = sum(r.get("violations", 0) for r in results)
    errors = [r["error"] for r in results if "error" in r]
    return {
        "ev_travel_time_reduction": round(cut(t_ch), 4),
        "achievable_reduction": round(achievable, 4),
        "share_of_achievable": round(cut(t_ch) / achievable, 4) if achievable > 0 else 0.0,
        "other_delay_increase": round(ch_delay, 4),
        "other_delay_ci95": [round(lo, 4), round(hi, 4)],
        "baseline_ev_travel_time_reduction": round(cut(t_base), 4),
        "baseline_share_of_achievable": round(cut(t_base) / achievable, 4)
        if achievable > 0
        else 0.0,
        "baseline_other_delay_increase": round(base_delay, 4),
        "safety_violations": violations,
        "trips": len(complete),
        "period_s": period_s,
        "_means_s": {
            "none": round(t_none, 1),
            "baseline": round(t_base, 1),
            "charter": round(t_ch, 1),
            "free": round(t_free, 1),
        },
        "_trips_planned": n_trips,
        "_errors": errors[:5],
    }


def temp_work() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="charter-evp-")
