"""Emergency-vehicle preemption: green along the route, in time, and back to normal soon.

The service reads the signal requests (`j2735.SignalRequest`) of the city's
emergency vehicles. For every signal on a vehicle's remaining route it
estimates when the vehicle arrives (the distance to the stop line over the
faster of its own speed and the roads' limits, plus the time the queues at the
signals before it take to drive off ahead of it) and, once that arrival is
within what the signal needs to show green and clear the queue in front of the
vehicle (never less than `lead_s`, never more than `max_lead_s`; `lead_s`
without the controllers' feed), asks the controller for green for every link of the
vehicle's approach (so the queue ahead of the vehicle clears, turning
vehicles included), keeping green any other link that conflicts with none of
them. The controller gets there through its own safe transitions (minimum
greens, yellow, all-red as its program defines them); the service never
names a yellow or a duration shorter than the program's.

Competing requests at one signal are arbitrated by priority, then by arrival
time; requests whose links do not conflict are served together. A signal is
released as soon as the vehicle is on the road after it (not while it is on
the junction's internal lanes, and only after the last junction of a joined
cluster), and returns to its coordinated plan at the plan's own cycle
position. A request is ended if the vehicle is silent for `silence_s`, and a
signal is never held for one vehicle longer than `max_hold_s`.

Refused, each with a reason code (and on the ledger): stale or future
timestamps, a flood of messages from one vehicle, a vehicle that is not a
registered device of the live project, a route through edges the network
does not have (or that do not connect), a requested junction that is not on
the route, a position that jumps further than any vehicle can drive, and a
heading against the direction of the road it says it is on.

The network the service is given is `preemption_network.py`; its check of the
register (`RegisterCheck`) is `preemption_register.py`.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from charter.domain.errors import CharterError
from charter.domain.reasons import Reason
from charter.services.base import Intent, Reading, Service
from charter.services.j2735 import (
    CATEGORY,
    SSM_ACTION,
    MessageType,
    SignalRequest,
    SignalStatus,
    Status,
)
from charter.services.preemption_network import (
    ApproachState,
    RoadModel,
    SignalModel,
    angle_between,
    bearing_at,
)

MAX_SPEED_MS = 70.0  # no road vehicle reports faster than this honestly
JUMP_SLACK_M = 25.0  # GNSS noise and map matching
REVERSED_DEG = 135.0


# -- the service's state ------------------------------------------------------------


@dataclass
class _Slot:
    """One signal on one vehicle's route (a joined cluster is one slot)."""

    controller: str
    first: int  # route index of the road that enters it
    last: int  # route index of the last road inside it; the vehicle leaves onto last + 1
    links: tuple[int, ...]
    approach: tuple[int, ...]
    status: Status | None = None
    eta_s: float = math.inf
    due_ms: int | None = None  # when it first became due
    granted_ms: int | None = None
    done: bool = False


@dataclass
class _Vehicle:
    device: str
    request_id: int
    priority: int
    role: str
    route: tuple[str, ...]
    slots: list[_Slot]
    index: int = 0  # route index of the road it is on (or left, while inside a junction)
    inside: bool = False  # on a junction's internal lane
    edge_pos: float = 0.0
    speed: float = 0.0
    x: float = math.nan
    y: float = math.nan
    heard_ms: int = 0
    since_ms: int = 0


@dataclass
class _Junction:
    target: str | None = None
    sent_ms: int = 0
    holders: tuple[str, ...] = ()


@dataclass
class Preemption(Service):
    model: RoadModel
    #: Vehicle check against the register: None if the device may ask, else the reason.
    vehicle_check: Callable[[str], Reason | None] = lambda _d: None
    #: The status changes (SSMs) of one decision, e.g. onto the ledger in one write.
    on_status: Callable[[list[SignalStatus]], object] = lambda _s: None
    #: What a controller reports of some of its links (SPaT and its stop-line detectors):
    #: the longest queue on the lanes that feed them and how soon it could show them green
    #: through its own minimum green, yellow and all-red. None: no such feed, and every
    #: signal is asked `lead_s` ahead of the vehicle.
    spat: Callable[[str, tuple[int, ...]], ApproachState] | None = None
    lead_s: float = 15.0
    discharge_s: float = 2.0  # per queued vehicle (saturation headway)
    startup_s: float = 2.0  # the queue's first vehicle's start-up loss
    margin_s: float = 3.0
    max_lead_s: float = 40.0
    silence_s: float = 10.0
    max_hold_s: float = 90.0
    hold_s: float = 15.0  # how long a controller keeps one target without hearing again
    refresh_s: float = 5.0
    max_age_ms: int = 3000
    max_ahead_ms: int = 1000
    flood_window_ms: int = 10_000
    flood_max: int = 30  # messages per vehicle per window (an SRM a second is normal)
    name: str = "emergency-preemption"
    categories: frozenset[str] = frozenset({CATEGORY})
    vehicles: dict[str, _Vehicle] = field(default_factory=dict)
    junctions: dict[str, _Junction] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    statuses: list[SignalStatus] = field(default_factory=list)
    _recent: dict[str, deque[int]] = field(default_factory=dict)
    _flood_noted: dict[str, int] = field(default_factory=dict)
    _last_fix: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    _heard: dict[str, None] = field(default_factory=dict)
    _pending: list[SignalStatus] = field(default_factory=list)
    _version_given: bool = False
    keep_statuses: int = 10_000

    @property
    def actuators(self) -> Sequence[str]:
        # The signals, and every vehicle it has heard from (each gets its signal status).
        return [*self.model.signals, *self._heard]

    # -- the feed ----------------------------------------------------------------
    def on_readings(self, readings: Sequence[Reading], now_ms: int) -> list[Intent]:
        self._begin_batch()
        intents: list[Intent] = []
        for reading in readings:
            intents += self.handle(reading, now_ms)
        intents += self._decide(now_ms)
        return intents

    def on_tick(self, now_ms: int) -> list[Intent]:
        self._begin_batch()
        return self._decide(now_ms)

    # -- the data-access and recording path ----------------------------------------
    def on_register_version(self, version: int) -> None:
        """The host read the register's version for this batch: the vehicle check's
        in-memory copies are checked against it (no read of their own)."""
        self._version_given = True
        refresh = getattr(self.vehicle_check, "refresh", None)
        if callable(refresh):
            refresh(version)

    def _begin_batch(self) -> None:
        """Once per batch: without a host that gave the register's version, the check
        reads it itself; and anything left unrecorded (a caller that never called
        `after_send`) goes on the record first."""
        if not self._version_given:
            refresh = getattr(self.vehicle_check, "refresh", None)
            if callable(refresh):
                refresh()
        self._version_given = False
        self._flush()

    def after_send(self) -> None:
        """The host sent this batch's commands: now its SSMs go on the record (one write)."""
        self._flush()

    def _flush(self) -> None:
        if self._pending:
            # Kept until the write succeeded: a failed one is retried with the next batch.
            self.on_status(list(self._pending))
            self._pending.clear()

    def handle(self, reading: Reading, now_ms: int) -> list[Intent]:
        """Check one SRM and take it in; a refused one changes nothing but the record."""
        self._heard[reading.device_id] = None
        try:
            srm = SignalRequest.from_reading(reading)
            self._check(srm, now_ms)
        except CharterError as refused:
            return self._refuse(reading, refused.reason, now_ms)
        if srm.message is MessageType.CANCEL:
            return self._end(srm.vehicle, "cancelled", now_ms)
        self._last_fix[srm.vehicle] = (srm.x, srm.y, srm.sent_ms)
        vehicle = self.vehicles.get(srm.vehicle)
        intents: list[Intent] = []
        if (
            vehicle is None
            or (srm.message is MessageType.REQUEST and srm.request_id != vehicle.request_id)
            or srm.route != vehicle.route
        ):
            intents += self._new_request(srm, vehicle, now_ms)
            vehicle = self.vehicles[srm.vehicle]
        vehicle.priority, vehicle.heard_ms = srm.priority, now_ms
        self._locate(vehicle, srm)
        return intents

    # -- checks ------------------------------------------------------------------
    def _check(self, srm: SignalRequest, now_ms: int) -> None:
        if now_ms - srm.sent_ms > self.max_age_ms:
            raise CharterError(Reason.STALE_TIMESTAMP, "the request is too old to act on")
        if srm.sent_ms - now_ms > self.max_ahead_ms:
            raise CharterError(Reason.FUTURE_TIMESTAMP, "the request is dated in the future")
        recent = self._recent.setdefault(srm.vehicle, deque())
        recent.append(now_ms)
        while recent and recent[0] <= now_ms - self.flood_window_ms:
            recent.popleft()
        if len(recent) > self.flood_max:
            raise CharterError(Reason.REQUEST_FLOOD, "too many requests from this vehicle")
        why = self.vehicle_check(srm.vehicle)
        if why is not None:
            raise CharterError(why, "the vehicle may not ask for priority")
        if srm.message is MessageType.CANCEL:
            return
        roads = self.model.roads
        if not srm.route or any(e not in roads for e in srm.route):
            raise CharterError(Reason.ROUTE_UNKNOWN_EDGE, "the route names an unknown road")
        for a, b in itertools.pairwise(srm.route):
            if b not in roads[a].successors:
                raise CharterError(Reason.ROUTE_UNKNOWN_EDGE, "the route's roads do not connect")
        if not srm.edge.startswith(":") and srm.edge not in srm.route:
            raise CharterError(Reason.ROUTE_UNKNOWN_EDGE, "the vehicle is not on its route")
        if srm.intersection is not None and srm.intersection not in {
            s.controller for s in slots_of(self.model, srm.route)
        }:
            raise CharterError(Reason.JUNCTION_NOT_ON_ROUTE, "the route does not cross it")
        fix = self._last_fix.get(srm.vehicle)
        if fix is not None:
            x, y, t = fix
            dt = max(0.0, (srm.sent_ms - t) / 1000.0)
            if math.hypot(srm.x - x, srm.y - y) > MAX_SPEED_MS * dt + JUMP_SLACK_M:
                raise CharterError(Reason.POSITION_JUMP, "the position jumped")
        road = roads.get(srm.edge)
        if road is not None and srm.speed > 0.5:
            bearing = bearing_at(road.shape, srm.edge_pos)
            if bearing is not None and angle_between(bearing, srm.heading) > REVERSED_DEG:
                raise CharterError(Reason.HEADING_REVERSED, "heading against its road")

    def _refuse(self, reading: Reading, reason: Reason, now_ms: int) -> list[Intent]:
        self.refusals[reason.value] = self.refusals.get(reason.value, 0) + 1
        if reason is Reason.REQUEST_FLOOD:
            # One record per flood window, however many messages it had.
            noted = self._flood_noted.get(reading.device_id)
            if noted is not None and now_ms - noted < self.flood_window_ms:
                return []
            self._flood_noted[reading.device_id] = now_ms
        where = str(reading.values.get("intersection") or "")
        try:
            request_id = int(reading.values.get("request_id", 0))
        except (TypeError, ValueError):
            request_id = 0
        ssm = SignalStatus(where, reading.device_id, request_id, Status.REJECTED, now_ms, reason)
        return self._status(ssm)

    # -- requests ------------------------------------------------------------------
    def _new_request(self, srm: SignalRequest, old: _Vehicle | None, now_ms: int) -> list[Intent]:
        slots = [
            s
            for s in slots_of(self.model, srm.route)
            if srm.intersection is None or s.controller == srm.intersection
        ]
        intents: list[Intent] = []
        if old is not None:  # a new request or a new route: the old one's signals go back
            kept = {(s.controller, s.first) for s in slots}
            for s in old.slots:
                if not s.done and (s.controller, s.first) not in kept:
                    intents += self._release(old, s, "rerouted", now_ms)
            previous = {(s.controller, s.first): s for s in old.slots}
            slots = [previous.get((s.controller, s.first), s) for s in slots]
        vehicle = _Vehicle(
            srm.vehicle, srm.request_id, srm.priority, srm.role, srm.route, slots,
            heard_ms=now_ms, since_ms=now_ms,
        )  # fmt: skip
        self.vehicles[srm.vehicle] = vehicle
        for s in slots:
            if s.status is None:
                intents += self._set(vehicle, s, Status.REQUESTED, now_ms)
        return intents

    def _locate(self, v: _Vehicle, srm: SignalRequest) -> None:
        v.x, v.y, v.speed, v.edge_pos = srm.x, srm.y, srm.speed, srm.edge_pos
        if srm.edge.startswith(":"):
            v.inside = True
            return
        v.inside = False
        for i in range(v.index, len(v.route)):
            if v.route[i] == srm.edge:
                v.index = i
                return
        if srm.edge in v.route:
            v.index = v.route.index(srm.edge)

    def _end(self, device: str, why: str, now_ms: int) -> list[Intent]:
        vehicle = self.vehicles.pop(device, None)
        if vehicle is None:
            return []
        intents: list[Intent] = []
        for s in vehicle.slots:
            if not s.done:
                intents += self._release(vehicle, s, why, now_ms, pop=False)
        intents += self._arbitrate({s.controller for s in vehicle.slots}, now_ms)
        return intents

    # -- deciding -------------------------------------------------------------------
    def _decide(self, now_ms: int) -> list[Intent]:
        intents: list[Intent] = []
        for device, v in list(self.vehicles.items()):
            if now_ms - v.heard_ms > self.silence_s * 1000:
                intents += self._end(device, Reason.PREEMPTION_TIMEOUT.value, now_ms)
        touched: set[str] = set()
        for v in list(self.vehicles.values()):
            behind_s = 0.0  # the queues the vehicle must follow off the signals before this one
            for s in v.slots:
                if s.done:
                    continue
                passed = v.index > s.last and not v.inside
                if passed:
                    intents += self._release(v, s, "passed", now_ms)
                    touched.add(s.controller)
                    continue
                if s.granted_ms is not None and now_ms - s.granted_ms > self.max_hold_s * 1000:
                    intents += self._release(v, s, Reason.PREEMPTION_TIMEOUT.value, now_ms)
                    touched.add(s.controller)
                    continue
                now = self.spat(s.controller, s.approach) if self.spat is not None else None
                s.eta_s = self._eta(v, s) + behind_s
                if s.due_ms is None and s.eta_s <= self._lead(now):
                    s.due_ms = now_ms
                    touched.add(s.controller)
                if now is not None and s.eta_s > 0:
                    behind_s += self._queue_s(now)
        touched |= {c for c, j in self.junctions.items() if j.holders}
        intents += self._arbitrate(touched, now_ms)
        return intents

    def _eta(self, v: _Vehicle, s: _Slot) -> float:
        """Seconds until the vehicle reaches the slot's stop line, at the faster of
        its own speed and each road's limit (so a vehicle held in a queue is still
        expected soon: the queue ahead of it is what the green must clear)."""
        if v.index >= s.first and (v.index > s.first or v.inside):
            return 0.0
        roads = self.model.roads
        here = roads[v.route[v.index]]
        t = max(0.0, here.length - v.edge_pos) / max(here.speed, v.speed, 1.0)
        for e in v.route[v.index + 1 : s.first + 1]:
            r = roads[e]
            t += r.length / max(r.speed, 1.0)
        return t

    def _queue_s(self, now: ApproachState) -> float:
        """How long the queue at a signal takes to drive off once it is green."""
        return self.startup_s + self.discharge_s * now.queued if now.queued > 0 else 0.0

    def _lead(self, now: ApproachState | None) -> float:
        """How long before the vehicle's arrival the signal must be asked: long enough to
        get to green through its own clearances and then drive off the queue ahead of the
        vehicle, and no longer (every second earlier is others' red)."""
        if now is None:
            return self.lead_s
        need = now.to_green_s + self._queue_s(now) + self.margin_s
        # Never later than lead_s: a green shown now may end before the vehicle comes (the
        # program is free to end it until asked), and then the way back is a whole cycle.
        return min(self.max_lead_s, max(self.lead_s, need))

    def _arbitrate(self, controllers: set[str], now_ms: int) -> list[Intent]:
        intents: list[Intent] = []
        for c in sorted(controllers):
            claims = [
                (v, s)
                for v in self.vehicles.values()
                for s in v.slots
                if s.controller == c and not s.done and s.due_ms is not None
            ]
            claims.sort(key=lambda vs: (-vs[0].priority, vs[1].eta_s, vs[1].due_ms or 0))
            signal = self.model.signals[c]
            chosen: list[int] = []
            holders: list[str] = []
            for v, s in claims:
                if all(not signal.conflicting(a, b) for a in s.links for b in chosen):
                    chosen += [k for k in s.links if k not in chosen]
                    holders.append(v.device)
                    if s.status is not Status.GRANTED:
                        s.granted_ms = now_ms
                        intents += self._set(v, s, Status.GRANTED, now_ms)
                elif s.status is not Status.PROCESSING:
                    s.granted_ms = None
                    intents += self._set(v, s, Status.PROCESSING, now_ms)
            for v, s in claims:  # then the rest of the winners' approaches
                if v.device in holders:
                    chosen += [
                        k
                        for k in s.approach
                        if k not in chosen and all(not signal.conflicting(k, b) for b in chosen)
                    ]
            intents += self._command(c, signal, chosen, tuple(holders), now_ms)
        return intents

    def _command(
        self, c: str, signal: SignalModel, chosen: list[int], holders: tuple[str, ...], now_ms: int
    ) -> list[Intent]:
        j = self.junctions.setdefault(c, _Junction())
        if not holders:
            j.holders = ()
            if j.target is None:
                return []
            j.target = None
            return [Intent(c, "signal.release", {})]
        green = set(chosen)
        for k in range(signal.n_links):  # every link that conflicts with none of them
            if k not in green and all(not signal.conflicting(k, b) for b in green):
                green.add(k)
        target = "".join("G" if k in green else "r" for k in range(signal.n_links))
        j.holders = holders
        if target == j.target and now_ms - j.sent_ms < self.refresh_s * 1000:
            return []
        j.target, j.sent_ms = target, now_ms
        return [Intent(c, "signal.target", {"state": target, "hold_s": self.hold_s})]

    def _release(
        self, v: _Vehicle, s: _Slot, why: str, now_ms: int, *, pop: bool = False
    ) -> list[Intent]:
        s.done = True
        s.due_ms = None
        return self._set(v, s, Status.RELEASED, now_ms, why)

    def _set(
        self, v: _Vehicle, s: _Slot, status: Status, now_ms: int, reason: str | None = None
    ) -> list[Intent]:
        s.status = status
        eta = None if math.isinf(s.eta_s) else s.eta_s
        ssm = SignalStatus(s.controller, v.device, v.request_id, status, now_ms, reason, eta)
        return self._status(ssm)

    def _status(self, ssm: SignalStatus) -> list[Intent]:
        self.statuses.append(ssm)
        if len(self.statuses) > self.keep_statuses:
            del self.statuses[: len(self.statuses) // 2]
        self._pending.append(ssm)
        return [Intent(ssm.vehicle, SSM_ACTION, ssm.params())]

    def report(self) -> dict[str, Any]:
        return {
            "vehicles": len(self.vehicles),
            "held": sorted(c for c, j in self.junctions.items() if j.holders),
            "refused": dict(sorted(self.refusals.items())),
        }


# -- the network, as the service sees it ------------------------------------------------


def slots_of(model: RoadModel, route: Sequence[str]) -> list[_Slot]:
    """The signals a route crosses, in order; a joined cluster crossed on several
    consecutive roads is one slot, left only onto the road after its last one."""
    slots: list[_Slot] = []
    for i in range(len(route) - 1):
        for m in model.movements.get((route[i], route[i + 1]), ()):
            prev = slots[-1] if slots else None
            if prev is not None and prev.controller == m.controller and prev.last == i - 1:
                prev.last = i
                prev.links = tuple(dict.fromkeys(prev.links + m.links))
                prev.approach = tuple(dict.fromkeys(prev.approach + m.approach))
            else:
                slots.append(_Slot(m.controller, i, i, m.links, m.approach))
    return slots
