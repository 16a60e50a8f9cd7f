"""Emergency-vehicle preemption over the real gate, host, signer and ledger (no simulator).

A small network: a corridor w1 → w2 → w3 through signals A and B, and a road
n1 → s1 crossing the corridor at A. The vehicles are registered devices of the
sample city's live emergency-priority project; they sign their requests and
the gate admits them; the controllers and the vehicles verify what they get.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from charter.bootstrap import Platform
from charter.commands.command import Command
from charter.device import DeviceSigner
from charter.domain.clock import FixedClock, to_ms
from charter.domain.model import ProjectStatus
from charter.domain.reasons import Reason
from charter.services.actuator import Actuator
from charter.services.j2735 import CATEGORY, OnBoardUnit, SignalRequest, record_status
from charter.services.preemption import Preemption, slots_of
from charter.services.preemption_network import (
    ApproachState,
    Movement,
    Road,
    RoadModel,
    SignalModel,
)
from charter.sim import city as sample
from charter.sim.sumo.evp_model import preemption_entry, register_check
from tests.conftest import SampleCity

A = "urn:ngsi-ld:Device:signal-A"
B = "urn:ngsi-ld:Device:signal-B"


def _road(rid: str, a: tuple[float, float], b: tuple[float, float], nxt: set[str]) -> Road:
    length = ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5
    return Road(rid, length, 13.9, (a, b), frozenset(nxt))


def model() -> RoadModel:
    roads = {
        "w1": _road("w1", (0, 0), (200, 0), {"w2", "s1"}),
        "w2": _road("w2", (200, 0), (400, 0), {"w3"}),
        "w3": _road("w3", (400, 0), (600, 0), set()),
        "n1": _road("n1", (200, 200), (200, 0), {"s1"}),
        "s1": _road("s1", (200, 0), (200, -200), set()),
    }
    # A: 0 w1→w2, 1 n1→s1, 2 w1→s1 (right turn); B: 0 w2→w3, 1 a side road's link.
    movements = {
        ("w1", "w2"): (Movement(A, (0,), (0, 2)),),
        ("w1", "s1"): (Movement(A, (2,), (0, 2)),),
        ("n1", "s1"): (Movement(A, (1,), (1,)),),
        ("w2", "w3"): (Movement(B, (0,), (0,)),),
    }
    signals = {
        A: SignalModel(A, 3, frozenset({(0, 1), (1, 2)})),
        B: SignalModel(B, 2, frozenset({(0, 1)})),
    }
    return RoadModel(roads, movements, signals)


class Recorder(Actuator):
    """A controller (or an on-board unit) that keeps every verified command."""

    def __init__(self, device_id: str, key: str, clock: FixedClock) -> None:
        super().__init__(device_id, key, clock, timedelta(seconds=5))
        self.got: list[Command] = []

    def apply(self, cmd: Command) -> None:
        self.got.append(cmd)

    def enter_safe_mode(self, why: str) -> None:
        pass

    def leave_safe_mode(self) -> None:
        pass

    def actions(self) -> list[tuple[str, dict[str, Any]]]:
        return [(c.action, dict(c.params)) for c in self.got]


class Scene:
    def __init__(self, p: Platform, clock: FixedClock) -> None:
        self.p, self.clock = p, clock
        self.city = SampleCity(p, services=True)
        p.algorithms.register(preemption_entry(), sample.SEEDER, "preemption")
        key = p.security.commands.public_key_b64
        self.signals = {c: Recorder(c, key, clock) for c in (A, B)}
        for r in self.signals.values():
            p.services.channel.attach(r)  # type: ignore[attr-defined]
        self.service = Preemption(
            model(),
            vehicle_check=register_check(p.store, sample.EMERGENCY),
            on_status=lambda s: record_status(p.ledger, s),
            lead_s=30.0,  # both of the corridor's signals are asked at the first request
        )
        p.services.add(self.service)
        p.services.start()
        self.units: dict[str, tuple[OnBoardUnit, Recorder]] = {}
        self.request_ids: dict[str, int] = {}

    def vehicle(self, name: str) -> str:
        signer = self.city.device(name, sample.TRUSTED, sample.EMERGENCY, [CATEGORY])
        onboard = Recorder(signer.device_id, self.p.security.commands.public_key_b64, self.clock)
        self.p.services.channel.attach(onboard)  # type: ignore[attr-defined]
        self.units[name] = (OnBoardUnit(signer), onboard)
        self.request_ids[name] = len(self.request_ids) + 1
        return signer.device_id

    def send(
        self,
        name: str,
        *,
        message: str = "update",
        edge: str = "w1",
        pos: float = 50.0,
        xy: tuple[float, float] | None = None,
        heading: float = 90.0,
        route: str = "w1 w2 w3",
        priority: int = 5,
        age_s: float = 0.0,
        **extra: Any,
    ) -> Any:
        unit, _ = self.units[name]
        road = model().roads.get(edge)
        if xy is None and road is not None:
            (x0, y0), (x1, y1) = road.shape
            f = pos / road.length
            xy = (x0 + (x1 - x0) * f, y0 + (y1 - y0) * f)
        x, y = xy or (200.0, 0.0)
        values = {
            "message": message, "request_id": self.request_ids[name], "priority": priority,
            "role": "ambulance", "x": x, "y": y, "speed": 12.0, "heading": heading,
            "edge": edge, "lane": f"{edge}_0", "edge_pos": pos, "route": route, **extra,
        }  # fmt: skip
        t = self.clock.now() - timedelta(seconds=age_s)
        return self.p.gate.ingest([unit.envelope(values, t)])[0]

    def ssm(self, name: str) -> list[dict[str, Any]]:
        return [dict(c.params) for c in self.units[name][1].got if c.action == "j2735.ssm"]

    def statuses(self, name: str, where: str) -> list[str]:
        return [s["status"] for s in self.ssm(name) if s["intersection"] == where]

    def ledger(self) -> list[dict[str, Any]]:
        entries = [msgspec.json.decode(e.data) for e in self.p.store.iter_ledger_entries()]
        return [e for e in entries if e["kind"] == "preemption.status"]

    def later(self, seconds: float) -> None:
        self.clock.advance(timedelta(seconds=seconds))
        self.p.services.tick()


@pytest.fixture
def scene(platform: Platform, clock: FixedClock) -> Scene:
    return Scene(platform, clock)


def test_route_is_split_into_the_signals_it_crosses() -> None:
    slots = slots_of(model(), ["w1", "w2", "w3"])
    assert [(s.controller, s.first, s.last, s.approach) for s in slots] == [
        (A, 0, 0, (0, 2)),
        (B, 1, 1, (0,)),
    ]


def test_green_for_the_whole_approach_in_time_then_released_once_past(scene: Scene) -> None:
    v = scene.vehicle("amb-1")
    assert scene.send("amb-1", message="request").admitted == 1
    # Both signals are within the lead time: A for its whole approach (links 0 and 2,
    # the right turn too, so the queue ahead clears), B for the corridor.
    assert scene.statuses("amb-1", A) == ["requested", "granted"]
    target = [p for a, p in scene.signals[A].actions() if a == "signal.target"][-1]
    assert target["state"] == "GrG"
    assert [p["state"] for a, p in scene.signals[B].actions() if a == "signal.target"] == ["Gr"]
    # Inside the junction (its internal lane): not yet released.
    scene.later(1)
    scene.send("amb-1", edge=":A_0", xy=(202.0, 0.0), pos=2.0)
    assert "released" not in scene.statuses("amb-1", A)
    # On the road after it: released, the controller back to its plan.
    scene.later(1)
    scene.send("amb-1", edge="w2", pos=5.0)
    assert scene.statuses("amb-1", A)[-1] == "released"
    assert scene.signals[A].actions()[-1] == ("signal.release", {})
    assert scene.statuses("amb-1", B)[-1] == "granted"
    # Every status change is signed (the vehicle verified it) and on the ledger.
    on_record = [(e["intersection"], e["status"]) for e in scene.ledger() if e["vehicle"] == v]
    assert (A, "granted") in on_record and (A, "released") in on_record
    assert all(e.get("reason") == "passed" for e in scene.ledger() if e["status"] == "released")


def test_a_signal_far_ahead_waits_until_its_time(scene: Scene) -> None:
    scene.vehicle("amb-1")
    scene.service.lead_s = 20.0
    scene.send("amb-1", message="request", pos=10.0)  # A: 190 m (14 s), B: 390 m (28 s)
    assert scene.statuses("amb-1", A) == ["requested", "granted"]
    assert scene.statuses("amb-1", B) == ["requested"]
    assert not scene.signals[B].got


def test_a_queue_ahead_brings_the_request_forward(scene: Scene) -> None:
    """With the controllers' queue and signal timing feed, B (28 s away) is asked at once
    when 12 vehicles wait at it and its green is 9 s off (9 + 2 + 12 x 2 + 3 = 38 s ahead),
    while A, 14 s away with nothing queued, is asked no earlier than lead_s."""
    scene.vehicle("amb-1")
    scene.service.lead_s = 10.0
    queues = {A: ApproachState(0, 0.0), B: ApproachState(12, 9.0)}
    scene.service.spat = lambda c, _links: queues[c]
    scene.send("amb-1", message="request", pos=10.0)  # A: 190 m (14 s), B: 390 m (28 s)
    assert scene.statuses("amb-1", B) == ["requested", "granted"]
    assert scene.statuses("amb-1", A) == ["requested"]


def test_a_queue_at_an_earlier_signal_puts_the_later_request_off(scene: Scene) -> None:
    """The vehicle reaches B only after A's queue has driven off ahead of it: B (28 s away
    at the roads' speed, 3 queued, green 20 s off: 20 + 2 + 3 x 2 + 3 = 31 s ahead) is not
    asked while 10 vehicles wait at A (2 + 10 x 2 = 22 s more before the vehicle is
    through), and is asked as soon as A's queue has gone."""
    scene.vehicle("amb-1")
    scene.service.lead_s = 10.0
    queues = {A: ApproachState(10, 0.0), B: ApproachState(3, 20.0)}
    scene.service.spat = lambda c, _links: queues[c]
    scene.send("amb-1", message="request", pos=10.0)  # A: 190 m (14 s), B: 390 m (28 s)
    assert scene.statuses("amb-1", A) == ["requested", "granted"]
    assert scene.statuses("amb-1", B) == ["requested"]
    queues[A] = ApproachState(0, 0.0)
    scene.later(1)
    assert scene.statuses("amb-1", B) == ["requested", "granted"]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"route": "w1 zz w3"}, Reason.ROUTE_UNKNOWN_EDGE),
        ({"route": "w1 w3"}, Reason.ROUTE_UNKNOWN_EDGE),  # roads that do not join
        ({"intersection": B, "route": "w1 s1"}, Reason.JUNCTION_NOT_ON_ROUTE),
        ({"heading": 270.0}, Reason.HEADING_REVERSED),
        ({"age_s": 10.0}, Reason.STALE_TIMESTAMP),
        ({"age_s": -5.0}, Reason.FUTURE_TIMESTAMP),
    ],
)
def test_bad_requests_are_refused_with_a_reason(
    scene: Scene, change: dict[str, Any], reason: Reason
) -> None:
    scene.vehicle("amb-1")
    assert scene.send("amb-1", message="request", **change).admitted == 1  # the gate let it in
    assert scene.ssm("amb-1") == [
        {"intersection": change.get("intersection", ""), "request_id": 1, "status": "rejected",
         "at_ms": to_ms(scene.clock.now()), "reason": reason.value}
    ]  # fmt: skip
    assert not scene.signals[A].got and not scene.signals[B].got
    assert [e["reason"] for e in scene.ledger()] == [reason.value]


def test_a_position_jump_is_refused_and_changes_nothing(scene: Scene) -> None:
    scene.vehicle("amb-1")
    scene.send("amb-1", message="request", pos=10.0)
    before = len(scene.signals[A].got)
    scene.later(1)
    scene.send("amb-1", edge="w3", pos=150.0)  # 540 m in one second
    assert scene.ssm("amb-1")[-1]["reason"] == Reason.POSITION_JUMP.value
    assert len(scene.signals[A].got) == before
    assert "released" not in scene.statuses("amb-1", A)


def test_a_flood_is_refused_and_recorded_once(scene: Scene) -> None:
    scene.vehicle("amb-1")
    for i in range(45):
        scene.clock.advance(timedelta(milliseconds=20))
        scene.send("amb-1", message="request" if i == 0 else "update")
    refused = [s for s in scene.ssm("amb-1") if s["status"] == "rejected"]
    assert {s["reason"] for s in refused} == {Reason.REQUEST_FLOOD.value}
    assert len(refused) == 1
    assert scene.service.refusals[Reason.REQUEST_FLOOD.value] == 45 - scene.service.flood_max


def test_unregistered_vehicle_and_retired_project_are_refused(scene: Scene) -> None:
    stranger = DeviceSigner("urn:ngsi-ld:Device:fake-ambulance")
    key = scene.p.security.commands.public_key_b64
    scene.units["fake"] = (OnBoardUnit(stranger), Recorder(stranger.device_id, key, scene.clock))
    scene.request_ids["fake"] = 9
    out = scene.send("fake", message="request")
    assert out.rejection is not None and out.rejection.reason is Reason.NOT_REGISTERED
    check = register_check(scene.p.store, sample.EMERGENCY)
    assert check(stranger.device_id) is Reason.NOT_REGISTERED
    traffic = scene.city.device("loop-x", sample.TRUSTED, sample.TRAFFIC, ["traffic.count"])
    assert check(traffic.device_id) is Reason.NOT_REGISTERED  # another project's device
    v = scene.vehicle("amb-1")
    assert check(v) is None
    scene.p.registry.set_project_status(
        sample.EMERGENCY, ProjectStatus.RETIRED, sample.SEEDER, "pilot over"
    )
    assert check(v) is Reason.PROJECT_NOT_LIVE
    out = scene.send("amb-1", message="request")
    assert out.rejection is not None and out.rejection.reason is Reason.PROJECT_NOT_LIVE
    scene.p.services.tick()
    assert scene.p.services.state_of("emergency-preemption") == "waiting"
    assert not scene.signals[A].got


def test_conflicting_approaches_arbitrated_by_priority_then_arrival(scene: Scene) -> None:
    scene.vehicle("fire")
    scene.vehicle("amb")
    scene.send("amb", message="request", priority=3)
    assert scene.statuses("amb", A) == ["requested", "granted"]
    # A fire engine with higher priority comes down n1, whose link crosses the corridor.
    scene.send(
        "fire", message="request", priority=6, edge="n1", route="n1 s1", pos=185.0, heading=180.0
    )
    assert scene.statuses("fire", A) == ["requested", "granted"]
    assert scene.statuses("amb", A)[-1] == "processing"
    target = [p for a, p in scene.signals[A].actions() if a == "signal.target"][-1]
    assert target["state"] == "rGr"
    # Once the fire engine is past, the ambulance gets its green back.
    scene.later(1)
    scene.send("fire", edge="s1", route="n1 s1", pos=5.0, heading=180.0)
    scene.send("amb", priority=3, pos=60.0)
    assert scene.statuses("fire", A)[-1] == "released"
    assert scene.statuses("amb", A)[-1] == "granted"
    target = [p for a, p in scene.signals[A].actions() if a == "signal.target"][-1]
    assert target["state"] == "GrG"


def test_equal_priority_goes_to_the_earlier_arrival(scene: Scene) -> None:
    scene.vehicle("far")
    scene.vehicle("near")
    scene.send("far", message="request", pos=20.0)  # 180 m from A
    scene.send("near", message="request", edge="n1", route="n1 s1", pos=150.0, heading=180.0)
    assert scene.statuses("near", A)[-1] == "granted"
    assert scene.statuses("far", A)[-1] == "processing"


def test_cancel_releases_every_signal(scene: Scene) -> None:
    scene.vehicle("amb-1")
    scene.send("amb-1", message="request")
    scene.later(1)
    scene.send("amb-1", message="cancel")
    assert scene.statuses("amb-1", A)[-1] == "released"
    assert scene.statuses("amb-1", B)[-1] == "released"
    assert scene.signals[A].actions()[-1] == ("signal.release", {})
    assert scene.signals[B].actions()[-1] == ("signal.release", {})
    assert {e.get("reason") for e in scene.ledger() if e["status"] == "released"} == {"cancelled"}


def test_a_vehicle_that_never_cancels_times_out(scene: Scene) -> None:
    scene.vehicle("amb-1")
    scene.send("amb-1", message="request")
    for _ in range(int(scene.service.silence_s) + 2):
        scene.later(1)
    ssm = [s for s in scene.ssm("amb-1") if s["intersection"] == A]
    assert ssm[-1]["status"] == "released"
    assert ssm[-1]["reason"] == Reason.PREEMPTION_TIMEOUT.value
    assert scene.signals[A].actions()[-1] == ("signal.release", {})
    assert not scene.service.vehicles


def test_srm_reading_must_be_a_signal_request() -> None:
    from charter.domain.errors import CharterError
    from charter.services.base import Reading

    with pytest.raises(CharterError) as e:
        SignalRequest.from_reading(Reading("d", "p", CATEGORY, 0, 0, 1, {"message": "hello"}))
    assert e.value.reason is Reason.INVALID_READING
