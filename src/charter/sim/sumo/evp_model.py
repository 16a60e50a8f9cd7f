"""What the preemption experiment gives the service: its entry on the algorithm
register, the register's answer for a vehicle, the road model (from sumolib), and
the emergency trips (routes of 1–2.4 km across 3–10 signals)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from charter.domain.algorithm import AlgorithmEntry, Figure, Risk
from charter.domain.model import DeviceStatus, ProjectStatus
from charter.domain.reasons import Reason
from charter.services.j2735 import CATEGORY
from charter.services.preemption import slots_of
from charter.services.preemption_network import Movement, Road, RoadModel, SignalModel
from charter.sim import city as sample
from charter.sim.sumo.safety import SignalRules

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
