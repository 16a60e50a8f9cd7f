"""Vehicles' paths over the crosswalk, people on it, their time to collision, and the
careful drivers an alert makes of connected vehicles (`charter sim crossing`)."""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass
from typing import Any

from charter.sim.sumo.crossing_site import Site

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
