"""A real street network as a Charter city: loops and signal controllers as devices.

Every induction loop on a signal's approach lane is a registered device of the
sample city's traffic project that signs its counts and sends them through the
gate; every signal is a controller (an actuator with its own device entry)
that verifies the platform's commands. The platform runs on the simulation's
clock, so a scenario is reproducible from its seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from charter.bootstrap import Platform, build
from charter.device import DeviceSigner, SimReading
from charter.domain.algorithm import AlgorithmEntry, Figure, Risk
from charter.domain.clock import FixedClock
from charter.domain.disclosure import Area
from charter.domain.model import Actor, Device, Location, urn
from charter.services.signal_timing import AdaptiveTiming
from charter.services.signals import Junction, PlanPhase
from charter.settings import Settings
from charter.sim import city as sample
from charter.sim.sumo.controller import SumoSignal, fixed_time_plan

OPERATOR = Actor(name="sim-operator", role="operator")
START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
LOOP_SETBACK_M = 30.0
EXIT_SETBACK_M = 8.0  # an exit loop, this far past the junction
COUNT_PERIOD_S = 2  # the loops' counting interval: short enough to end a green on a gap


def safe_id(text: str) -> str:
    """A device id part from a SUMO id (URN-safe)."""
    return "".join(c if c.isalnum() or c in "-." else "-" for c in text)[:120]


@dataclass
class Loop:
    sumo_id: str
    lane: str
    signer: DeviceSigner
    links: tuple[int, ...]
    tls: str
    seq: int = 0


@dataclass
class SignalCity:
    platform: Platform
    clock: FixedClock
    loops: list[Loop]
    junctions: list[Junction]
    additional: Path
    controllers: dict[str, SumoSignal] = field(default_factory=dict)
    count_period_s: float = COUNT_PERIOD_S

    def loops_file(self) -> Path:
        return self.additional

    def attach_controllers(
        self, traci: Any, net: Any, rules: dict[str, Any], silence_s: float
    ) -> None:
        """One controller per signal, in the simulation, verifying the platform's commands."""
        key = self.platform.security.commands.public_key_b64
        channel = self.platform.services.channel
        for j in self.junctions:
            tls = j.controller.rsplit(":", 1)[1].removeprefix("signal-")
            tls_id = self._tls_ids[tls]
            ctrl = SumoSignal(
                j.controller,
                tls_id,
                traci,
                rules[tls_id],
                fixed_time_plan(net, tls_id),
                key,
                self.clock,
                timedelta(seconds=silence_s),
            )
            self.controllers[tls_id] = ctrl
            channel.attach(ctrl)  # type: ignore[attr-defined]

    _tls_ids: dict[str, str] = field(default_factory=dict)
    _presence: dict[str, float] = field(default_factory=dict)  # step occupancies (%) summed
    _samples: int = 0

    def sample_loops(self, traci: Any) -> None:
        """Each loop's presence this step, summed over its counting interval.

        SUMO's interval occupancy counts only the vehicles that left the loop in the
        interval: a vehicle standing over it the whole interval (a queue, spill-back)
        reads 0%. A loop's electronics integrate its presence signal, so the loops here
        do too: the mean of the step occupancies since the last count.
        """
        loops = traci.inductionloop
        if not hasattr(loops, "getLastStepOccupancy"):  # the built-in junction model
            return
        for loop in self.loops:
            self._presence[loop.sumo_id] = self._presence.get(
                loop.sumo_id, 0.0
            ) + loops.getLastStepOccupancy(loop.sumo_id)
        self._samples += 1

    def send_counts(self, traci: Any) -> int:
        """Each loop signs its last interval's count; the gate decides them in one batch."""
        now = self.clock.now()
        bodies = []
        samples, presence = self._samples, self._presence
        self._samples, self._presence = 0, {}
        for loop in self.loops:
            n = traci.inductionloop.getLastIntervalVehicleNumber(loop.sumo_id)
            speed = traci.inductionloop.getLastIntervalMeanSpeed(loop.sumo_id)
            if samples:
                occupancy = presence.get(loop.sumo_id, 0.0) / samples
            else:  # not sampled (a caller that only counts): SUMO's interval figure
                occupancy = traci.inductionloop.getLastIntervalOccupancy(loop.sumo_id)
            loop.seq += 1
            reading = SimReading(
                "traffic.count",
                now,
                {
                    "vehicles": int(n),
                    "mean_speed": round(max(0.0, speed) * 3.6, 1),
                    "occupancy": round(min(100.0, max(0.0, occupancy)), 1),
                },
                {"vehicles": "count", "mean_speed": "km/h", "occupancy": "%"},
            )
            bodies.append(loop.signer.envelope(loop.seq, now, [reading]))
        outcomes = self.platform.gate.ingest(bodies)
        return sum(o.admitted for o in outcomes)


def adaptive_entry() -> AlgorithmEntry:
    return AlgorithmEntry(
        service="adaptive-signals",
        project_id=sample.TRAFFIC,
        name="Adaptive signal timing",
        purpose="Signal timing that follows the traffic, so that fewer people wait at red.",
        data_used=["traffic.count"],
        how_it_decides=(
            "Each signal keeps its own vehicle actuation: a green ends when its own detectors "
            "see a gap, never before the program's minimum. From the counts of each approach "
            "and exit lane's loop, the service sets how long each green may last at most: "
            "every few minutes from Webster's cycle length and green splits (never below the "
            "programmed green), and at once the minimum for a green whose "
            "waiting traffic is mostly headed into streets full up to the junction, where a "
            "green would move nobody; always within the program's minimum and maximum, every "
            "phase in its turn."
        ),
        human_oversight=(
            "Traffic engineers set each phase's minimum and maximum green in the controller's "
            "program; the controller refuses anything unsafe and runs its own plan alone."
        ),
        risks=[
            Risk(
                risk="A broken loop could starve an approach.",
                mitigation="Minimum greens are kept; stuck loops are reported to the operator.",
            ),
            Risk(
                risk="Losing the platform mid-plan.",
                mitigation="Each controller falls back to its own fixed-time plan within two "
                "heartbeats, through its yellow and all-red.",
            ),
        ],
        figures=[Figure(name="safety violations", value=0, measured_by="charter sim outage")],
        actuators=["signal controller"],
        accountable="Traffic department",
        contact="traffic@example.org",
    )


def build_city(
    net: Any,
    data_dir: Path,
    *,
    heartbeat_s: float = 1.0,
    count_period_s: float = COUNT_PERIOD_S,
    services: bool = False,
) -> SignalCity:
    """The sample city on this network: its projects, a loop per approach lane, a controller.

    `services` adds the services' own projects (emergency priority, warm sidewalks)."""
    clock = FixedClock(START)
    settings = Settings(data_dir=data_dir, service_heartbeat_s=heartbeat_s)
    platform = build(settings, clock=clock)
    sample.register_projects(platform.registry, area=_net_area(net), services=services)
    loops: list[Loop] = []
    junctions: list[Junction] = []
    exits_of: list[dict[int, str]] = []
    tls_ids: dict[str, str] = {}
    lines = ["<additional>"]
    for tls in net.getTrafficLights():
        if not tls.getPrograms():
            continue
        tls_id = tls.getID()
        short = safe_id(tls_id)[:40] + f"-{len(tls_ids)}"
        tls_ids[short] = tls_id
        controller = urn("Device", f"signal-{short}")
        x, y = tls.getConnections()[0][0].getShape()[-1]
        where = _lat_lon(net, x, y)
        _register(platform, controller, "signal-controller", where)
        lanes: dict[str, list[int]] = {}
        for in_lane, _out, index in tls.getConnections():
            lanes.setdefault(in_lane.getID(), []).append(index)
        loop_map: dict[str, tuple[int, ...]] = {}
        for lane_id, links in sorted(lanes.items()):
            lane = net.getLane(lane_id)
            if lane.getEdge().getFunction() in {"walkingarea", "crossing"} or not lane.allows(
                "passenger"
            ):
                continue
            sumo_id = f"loop_{lane_id}"
            pos = max(0.5, lane.getLength() - LOOP_SETBACK_M)
            lines.append(
                f'  <inductionLoop id="{sumo_id}" lane="{lane_id}" pos="{pos:.1f}" '
                f'period="{count_period_s:g}" file="/dev/null"/>'
            )
            signer = DeviceSigner(urn("Device", f"loop-{safe_id(lane_id)}"))
            _register(platform, signer, "induction-loop", where)
            loops.append(Loop(sumo_id, lane_id, signer, tuple(links), tls_id))
            loop_map[signer.device_id] = tuple(links)
        program = next(iter(tls.getPrograms().values()))
        phases = tuple(
            PlanPhase(
                ph.state,
                float(ph.duration),
                float(ph.minDur if ph.minDur not in (None, -1) else ph.duration),
                float(ph.maxDur if ph.maxDur not in (None, -1) else ph.duration),
            )
            for ph in program.getPhases()
        )
        junctions.append(Junction(controller, phases, loop_map))
        exits_of.append({index: out.getID() for _in, out, index in tls.getConnections()})
    # A loop just past the junction on each link's exit lane: a queue standing on it has
    # backed up to the junction (spill-back), and a green into that lane moves nobody.
    exit_loop: dict[str, str] = {}
    for ex, tls_id in zip(exits_of, tls_ids.values(), strict=True):
        for lane_id in sorted(set(ex.values())):
            lane = net.getLane(lane_id)
            if lane_id in exit_loop or not lane.allows("passenger"):
                continue
            if lane.getEdge().getFunction() in {"walkingarea", "crossing", "internal"}:
                continue
            sumo_id = f"exit_{lane_id}"
            pos = min(EXIT_SETBACK_M, lane.getLength() * 0.25)
            lines.append(
                f'  <inductionLoop id="{sumo_id}" lane="{lane_id}" pos="{pos:.1f}" '
                f'period="{count_period_s:g}" file="/dev/null"/>'
            )
            signer = DeviceSigner(urn("Device", f"exit-loop-{safe_id(lane_id)}"))
            x, y = lane.getShape()[0]
            _register(platform, signer, "induction-loop", _lat_lon(net, x, y))
            loops.append(Loop(sumo_id, lane_id, signer, (), tls_id))
            exit_loop[lane_id] = signer.device_id
    junctions = [
        replace(j, exits={k: (exit_loop[lane],) for k, lane in ex.items() if lane in exit_loop})
        for j, ex in zip(junctions, exits_of, strict=True)
    ]
    lines.append("</additional>")
    additional = data_dir / "loops.add.xml"
    additional.write_text("\n".join(lines) + "\n")
    platform.algorithms.register(adaptive_entry(), OPERATOR, "adaptive signal timing")
    city = SignalCity(platform, clock, loops, junctions, additional, count_period_s=count_period_s)
    city._tls_ids = tls_ids
    return city


def _net_area(net: Any) -> Area:
    """The network's bounding box on Earth: the area the city's projects are consulted on."""
    (x0, y0), (x1, y1) = net.getBBoxXY()
    corners = [net.convertXY2LonLat(x, y) for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))]
    ring = [(round(lon, 6), round(lat, 6)) for lon, lat in corners]
    return Area(coordinates=[[*ring, ring[0]]])


def _lat_lon(net: Any, x: float, y: float) -> Location | None:
    """Where a point of the network is on Earth, if the net file's projection can be used."""
    try:
        lon, lat = net.convertXY2LonLat(x, y)
    except (RuntimeError, ImportError):  # pyproj missing or no projection: no location
        return None
    return Location(lat=lat, lon=lon)


def _register(
    platform: Platform, who: DeviceSigner | str, modality: str, where: Location | None
) -> None:
    signer = who if isinstance(who, DeviceSigner) else DeviceSigner(who)
    platform.registry.register_device(
        Device(
            id=signer.device_id,
            vendor_id=sample.TRUSTED,
            project_id=sample.TRAFFIC,
            modality=modality,
            location=where,
            categories=["traffic.count"],
            public_key=signer.public_key_b64,
        ),
        OPERATOR,
    )


def adaptive_service(city: SignalCity, update_s: float = 300.0, **kw: Any) -> AdaptiveTiming:
    """The adaptive-signals service for this city: maximum greens over local actuation."""
    return AdaptiveTiming(city.junctions, update_s=update_s, interval_s=city.count_period_s, **kw)


def drive(
    city: SignalCity,
    sim: Any,
    end_s: float,
    *,
    platform_up: Callable[[float], bool] | None,
    progress: Callable[[float], None] | None = None,
) -> None:
    """Run the simulation to `end_s`: loops report through the gate each minute, the
    services tick, every controller steps, and the platform's clock follows SUMO's.

    `platform_up(t)` says whether the platform is there at t (None: no platform at
    all, the controllers run alone); while it is not, nothing is decided or sent.
    """
    host, channel = city.platform.services, city.platform.services.channel
    next_count = float(city.count_period_s)
    step = timedelta(seconds=sim.step_s)
    while sim.time_s < end_s and sim.traci.simulation.getMinExpectedNumber() > 0:
        t = sim.time_s
        up = platform_up is not None and platform_up(t)
        if hasattr(channel, "up"):
            channel.up = up
        if up:
            if t >= next_count:
                city.send_counts(sim.traci)
                next_count += city.count_period_s
            host.tick()
        for ctrl in city.controllers.values():
            ctrl.step()
        sim.step()
        if up:
            city.sample_loops(sim.traci)
        city.clock.advance(step)
        if progress is not None:
            progress(t / end_s)
