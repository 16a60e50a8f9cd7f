"""Preemption and the accessible crossing in `charter demo`, on the built-in junction model.

No SUMO needed: the junctions are `sim/junction.py`'s four-arm model (its own
traffic, program, loops, safety monitor checked at every step), driven by the
same signed-command controllers the SUMO scenarios use.

- `preemption()`: a corridor of three such junctions, 200 m apart, west to
  east. An ambulance (a registered device of the live emergency-priority
  project) drives it after a warm-up, sending a signed SRM a second through
  the gate; the preemption service asks each controller for green in time;
  the controllers verify each command and get there through their own yellow
  and all-red. The same trip, on the same arrivals, is driven without the
  platform (the fixed-time plans): the travel times with and without, the
  requests granted, and the safety invariant at every junction.
- `crossing()`: one junction; the pedestrians crossing its east–west road walk
  with the north–south green. A slow resident who consented to crossing
  assistance has their fob read at the kerb: the read goes through the gate,
  the one door for personal data hands the service a pseudonym, the
  controller lengthens the next walk and clearance (0.9 m/s instead of
  1.07 m/s), and the roadside unit broadcasts the anonymous PSM-like alert
  that an approaching vehicle verifies. A slow resident who did not consent
  is refused at the gate (NO_CONSENT) and nothing about them is stored.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from charter.bootstrap import Platform, build
from charter.commands.command import Command
from charter.device import DeviceSigner, FobKey, SimReading
from charter.domain.clock import FixedClock
from charter.domain.model import Actor, Device, urn
from charter.services.actuator import Actuator
from charter.services.crossing import (
    ASSISTED_SPEED_MS,
    CATEGORY,
    PURPOSE,
    STANDARD_SPEED_MS,
    Crossing,
    CrossingService,
    RoadsideUnit,
    entry,
    extension,
    standard_clearance_s,
    verify_alert,
)
from charter.services.j2735 import CATEGORY as SRM_CATEGORY
from charter.services.j2735 import SSM_ACTION, OnBoardUnit, record_status
from charter.services.preemption import Preemption
from charter.services.preemption_network import Movement, Road, RoadModel, SignalModel
from charter.services.preemption_register import RegisterCheck
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.demo_residents import link_fob
from charter.sim.junction import (
    ARMS,
    CONFLICTS,
    SATURATION_VEH_S,
    STARTUP_LOST_S,
    WHERE,
    JunctionModel,
    fixed_plan,
    rules,
)
from charter.sim.sumo.city import OPERATOR, START
from charter.sim.sumo.controller import SumoSignal
from charter.sim.sumo.crossing_signal import CrossingSignal

MODEL = "built-in junction model"
WEST = ARMS.index("west")  # the corridor's eastbound link at each junction
ROAD_M = 200.0
EV_SPEED_MS = 15.0
STEP_S = 0.5
DESK = Actor(name="demo-service-desk", role="operator")


def _platform(data_dir: Path) -> tuple[Platform, FixedClock]:
    clock = FixedClock(START)
    # The gate's per-device rate limit counts wall-clock seconds; the simulated clock
    # runs faster than that, as in the SUMO scenarios.
    settings = Settings(data_dir=data_dir, service_heartbeat_s=1.0, device_rate_per_s=10_000.0)
    p = build(settings, clock=clock)
    sample.register_projects(p.registry, services=True)
    return p, clock


def _device(p: Platform, device_id: str, project: str, modality: str, cats: list[str]) -> None:
    p.registry.register_device(
        Device(id=device_id, vendor_id=sample.TRUSTED, project_id=project, modality=modality,
               location=WHERE, categories=cats,
               public_key=DeviceSigner(device_id).public_key_b64),
        OPERATOR,
    )  # fmt: skip


class _Receiver(Actuator):
    """The ambulance's on-board unit: verifies every SSM it is sent."""

    def __init__(self, device_id: str, key: str, clock: FixedClock) -> None:
        super().__init__(device_id, key, clock, timedelta(seconds=5))
        self.ssm: list[dict[str, Any]] = []

    def apply(self, cmd: Command) -> None:
        if cmd.action == SSM_ACTION:
            self.ssm.append(dict(cmd.params))

    def enter_safe_mode(self, why: str) -> None:
        return None

    def leave_safe_mode(self) -> None:
        return None


# -- preemption along a corridor ----------------------------------------------------------
def _corridor(n: int) -> tuple[list[str], RoadModel]:
    roads = [f"w{k}" for k in range(n + 1)]
    ctrls = [urn("Device", f"signal-corridor-{k}") for k in range(n)]
    shape = {r: ((ROAD_M * k, 0.0), (ROAD_M * (k + 1), 0.0)) for k, r in enumerate(roads)}
    after = {r: frozenset(roads[k + 1 : k + 2]) for k, r in enumerate(roads)}
    model = RoadModel(
        {r: Road(r, ROAD_M, 13.9, shape[r], after[r]) for r in roads},
        {(roads[k], roads[k + 1]): (Movement(ctrls[k], (WEST,), (WEST,)),) for k in range(n)},
        {c: SignalModel(c, len(ARMS), CONFLICTS) for c in ctrls},
    )
    return ctrls, model


def _trip(with_platform: bool, *, junctions: int, warmup_s: float, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="charter-demo-evp-") as tmp:
        p, clock = _platform(Path(tmp))
        try:
            ctrls, road_model = _corridor(junctions)
            key = p.security.commands.public_key_b64
            models = [JunctionModel(end_s=3600.0, seed=seed + k) for k in range(junctions)]
            signals = []
            for c, m in zip(ctrls, models, strict=True):
                _device(p, c, sample.EMERGENCY, "signal-controller", [SRM_CATEGORY])
                sig = SumoSignal(c, "junction-1", m, rules(), fixed_plan(), key, clock,
                                 timedelta(seconds=2.0))  # fmt: skip
                p.services.channel.attach(sig)  # type: ignore[attr-defined]
                signals.append(sig)
            amb = DeviceSigner(urn("Device", "ambulance-demo-1"))
            p.registry.register_device(
                Device(id=amb.device_id, vendor_id=sample.TRUSTED, project_id=sample.EMERGENCY,
                       modality="emergency-vehicle", location=WHERE, categories=[SRM_CATEGORY],
                       public_key=amb.public_key_b64),
                OPERATOR,
            )  # fmt: skip
            receiver = _Receiver(amb.device_id, key, clock)
            p.services.channel.attach(receiver)  # type: ignore[attr-defined]
            service = None
            if with_platform:
                from charter.sim.sumo.evp_model import preemption_entry

                p.algorithms.register(preemption_entry(), OPERATOR, "emergency preemption")
                service = Preemption(
                    road_model,
                    vehicle_check=RegisterCheck(p.store, sample.EMERGENCY),
                    on_status=lambda st: record_status(p.ledger, st),
                )
                p.services.add(service)
                p.services.start()
            obu = OnBoardUnit(amb)
            route = " ".join(road_model.roads)
            t, road, pos, ahead = 0.0, 0, 0.0, None
            started = arrived = None
            next_srm, next_tick, sent = 0.0, 0.0, 0
            while arrived is None and t < warmup_s + 600:
                if with_platform and t >= next_tick:
                    next_tick = t + 0.5
                    p.services.tick()
                for sig in signals:
                    sig.step()
                driving = t >= warmup_s
                if driving and started is None:
                    started = t
                if driving and with_platform and t >= next_srm:
                    next_srm = t + 1.0
                    values = {
                        "message": "request" if sent == 0 else "update", "request_id": 1,
                        "priority": 5, "role": "ambulance", "x": ROAD_M * road + pos, "y": 0.0,
                        "speed": 0.0 if ahead is not None else EV_SPEED_MS, "heading": 90.0,
                        "edge": f"w{road}", "lane": f"w{road}_0", "edge_pos": pos,
                        "route": route,
                    }  # fmt: skip
                    p.gate.ingest([obu.envelope(values, clock.now())])
                    sent += 1
                for m in models:
                    m.step()
                if driving:
                    road, pos, ahead = _drive(models, road, pos, ahead)
                    if road == junctions and pos >= ROAD_M:
                        arrived = t
                t += STEP_S
                clock.advance(timedelta(seconds=STEP_S))
            if with_platform:
                cancel = {"message": "cancel", "request_id": 1, "x": 0.0, "y": 0.0}
                p.gate.ingest([obu.envelope(cancel, clock.now())])
                p.services.tick()
            travel = (arrived if arrived is not None else t) - (started or 0.0)
            statuses = [s["status"] for s in receiver.ssm]
            on_record = sum(
                1 for e in p.store.iter_ledger_entries() if e.kind == "preemption.status"
            )
            return {
                "travel_time_s": round(travel, 1),
                "granted": statuses.count("granted"),
                "ssm_received": len(statuses),
                "statuses_on_record": on_record,
                "others_delay_s": round(sum(m.mean_delay_s for m in models) / len(models), 1),
                "safety_violations": sum(len(m.monitor.violations) for m in models),
                "commands_refused": sum(sum(s.refused.values()) for s in signals),
            }
        finally:
            p.close()


def _drive(
    models: list[JunctionModel], road: int, pos: float, ahead: float | None
) -> tuple[int, float, float | None]:
    """The ambulance one step on: along its road, then behind the queue at the stop line
    (which leaves at the saturation flow on green), across once the way is clear."""
    if road >= len(models):  # past the last junction
        return road, pos + EV_SPEED_MS * STEP_S, None
    if ahead is None:
        pos += EV_SPEED_MS * STEP_S
        if pos < ROAD_M:
            return road, pos, None
        ahead = models[road].arms[WEST].queue  # it joins the back of the queue
        pos = ROAD_M
    m = models[road]
    green = m.state[WEST] in "Gg" and m.arms[WEST].green_for > STARTUP_LOST_S
    if green:
        ahead -= SATURATION_VEH_S * STEP_S
        if ahead <= 0:
            return road + 1, 0.0, None
    return road, pos, ahead


def preemption(junctions: int = 3, warmup_s: float = 120.0, seed: int = 3) -> dict[str, Any]:
    """The same trip with and without the platform, on the same arrivals."""
    without = _trip(False, junctions=junctions, warmup_s=warmup_s, seed=seed)
    charter = _trip(True, junctions=junctions, warmup_s=warmup_s, seed=seed)
    t0, t1 = without["travel_time_s"], charter["travel_time_s"]
    return {
        "simulator": MODEL,
        "junctions": junctions,
        "travel_time_without_s": t0,
        "travel_time_with_s": t1,
        "reduction": round(1 - t1 / t0, 3) if t0 else 0.0,
        "granted": charter["granted"],
        "ssm_received": charter["ssm_received"],
        "statuses_on_record": charter["statuses_on_record"],
        "others_delay_without_s": without["others_delay_s"],
        "others_delay_with_s": charter["others_delay_s"],
        "safety_violations": without["safety_violations"] + charter["safety_violations"],
        "commands_refused": charter["commands_refused"],
    }


# -- the accessible crossing ---------------------------------------------------------------
def crossing(length_m: float = 12.0, seconds: float = 120.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="charter-demo-crossing-") as tmp:
        p, clock = _platform(Path(tmp))
        try:
            reader = DeviceSigner(urn("Device", "fob-reader-demo-1"))
            controller = urn("Device", "crossing-signal-demo-1")
            rsu_id = urn("Device", "roadside-unit-demo-1")
            p.registry.register_device(
                Device(id=reader.device_id, vendor_id=sample.TRUSTED, project_id=sample.TRAFFIC,
                       modality="crossing fob reader", location=WHERE, categories=[CATEGORY],
                       public_key=reader.public_key_b64),
                OPERATOR,
            )  # fmt: skip
            for d, modality in ((controller, "signal-controller"), (rsu_id, "roadside unit")):
                _device(p, d, sample.TRAFFIC, modality, ["traffic.count"])
            walk_s = 7.0
            clearance_s = standard_clearance_s(length_m)
            spot = Crossing("demo-crossing-east", reader.device_id, controller, rsu_id,
                            length_m, walk_s, clearance_s, WHERE.lat, WHERE.lon)  # fmt: skip
            p.algorithms.register(entry(sample.TRAFFIC), OPERATOR, "accessible crossing")
            key = p.security.commands.public_key_b64
            model = JunctionModel(end_s=seconds + 60, seed=5)
            # Its walkers cross the east arm with the north–south green (link 0's).
            ctrl = CrossingSignal(
                controller, "junction-1", model, rules(), fixed_plan(), key, clock,
                timedelta(seconds=2.0), link=0,
                crosswalk_empty=lambda: False, kerb_waiting=lambda: True,
            )  # fmt: skip
            rsu = RoadsideUnit(rsu_id, key, clock, timedelta(seconds=2.0))
            for a in (ctrl, rsu):
                p.services.channel.attach(a)  # type: ignore[attr-defined]
            p.services.add(CrossingService([spot]))
            p.services.start()
            residents = {}
            rights = p.rights
            for who, consents in (("aiko", True), ("ben", False)):
                rid = rights.residents.create(DESK).id
                me = Actor(name="resident", role="resident", subject=rid)
                fob = FobKey()
                link_fob(rights.residents, rid, fob, me)
                if consents:
                    rights.consents.grant(
                        rid, category=CATEGORY, purpose=PURPOSE, projects=[sample.TRAFFIC],
                        actor=me,
                    )  # fmt: skip
                residents[who] = (rid, fob)
            reasons: dict[str, list[str]] = {}
            seq, t = 0, 0.0
            reads = {10.0: "aiko", 20.0: "ben"}
            while t < seconds:
                if t % 0.5 == 0:
                    p.services.tick()
                reader_sees = reads.get(t)
                if reader_sees is not None:
                    seq += 1
                    now = clock.now()
                    fob = residents[reader_sees][1]
                    r = SimReading(CATEGORY, now, {"fob": fob.identifier, "extra_seconds": 0})
                    [out] = p.gate.ingest([reader.envelope(seq, now, [r])])
                    got = [why for _, why, _ in out.reading_reasons] or ["admitted"]
                    reasons[reader_sees] = got
                ctrl.step()
                model.step()
                t += STEP_S
                clock.advance(timedelta(seconds=STEP_S))
            alerts = [verify_alert(a, rsu.public_key) for a in rsu.broadcasts]
            ext = extension(spot)
            needs = length_m / ASSISTED_SPEED_MS  # stepping off as the walk ends
            stored_ben = len(p.store.personal_readings(subject=residents["ben"][0]))
            return {
                "simulator": MODEL,
                "consented": reasons.get("aiko", []),
                "not_consented": reasons.get("ben", []),
                "extensions_served": len(ctrl.extensions),
                "walk_s": walk_s,
                "clearance_s": clearance_s,
                "extra_walk_s": ext.walk_s,
                "extra_clearance_s": ext.clearance_s,
                "slow_crossing_needs_s": round(needs, 1),
                "standard_speed_ms": STANDARD_SPEED_MS,
                "assisted_speed_ms": ASSISTED_SPEED_MS,
                "alerts_broadcast": len(rsu.broadcasts),
                "alerts_verified": sum(1 for a in alerts if a is not None),
                "alert_fields": sorted(alerts[0]) if alerts and alerts[0] else [],
                "stored_about_not_consented": stored_ben,
                "safety_violations": len(model.monitor.violations),
            }
        finally:
            p.close()
