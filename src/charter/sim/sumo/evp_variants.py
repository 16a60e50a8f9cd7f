"""One variant of one emergency trip, driven in a forked twin of the simulation:
`none` (the signals keep their plans), `baseline` (the cabinet's field preemption)
or `charter` (the preemption service, through the gate); what it measures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from charter.bootstrap import build
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.services.actuator import Actuator, InProcessChannel
from charter.services.j2735 import MessageType, OnBoardUnit, record_status
from charter.services.preemption import Preemption
from charter.services.preemption_network import ApproachState, RoadModel
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.sumo.evp_model import Trip, register_check
from charter.sim.sumo.evp_signal import ProgramSignal
from charter.sim.sumo.run import Simulation
from charter.sim.sumo.safety import SignalRules

VARIANTS = ("none", "baseline", "charter")
EV_TYPE = "emergency"
DETECT_M = 200.0
BASELINE_MAX_S = 90.0
SRM_EVERY_S = 1.0


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


class LastSignal:
    """When each vehicle reached the last signal of its route: the step after which SUMO
    lists no signal ahead of it any more (it is then entering that junction). What follows
    is unsignalled road, where no controller can help; free flow has it too."""

    def __init__(self) -> None:
        self.reached: dict[str, float | None] = {}

    def step(self, traci: Any, vehicle: str, t: float) -> None:
        if traci.vehicle.getNextTLS(vehicle):
            self.reached[vehicle] = None  # a signal is still ahead
        elif vehicle in self.reached and self.reached[vehicle] is None:
            self.reached[vehicle] = t

    def after(self, vehicle: str, depart: float | None) -> float | None:
        """Seconds from departure to the last signal (None: it met no signal)."""
        t = self.reached.get(vehicle)
        return t - depart if t is not None and depart is not None else None


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
    last_signal = LastSignal()
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
            last_signal.step(traci, ev, sim.time_s)
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
        "to_last_signal_s": last_signal.after(ev, depart) if arrive is not None else None,
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
