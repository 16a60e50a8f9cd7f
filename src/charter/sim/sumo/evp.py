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

This module runs the experiment: the shared warm-up, the trips chosen clear of
gridlock, the forks, the free-flow runs. Its parts: `evp_model.py` (the
service's register entry, the road model, the trips), `evp_signal.py` (the
controller), `evp_variants.py` (one variant of one trip), `evp_stats.py` (the
figures and their confidence interval), `evp_report.py` (the report page).
"""

from __future__ import annotations

import json
import os
import select
import tempfile
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from charter.device import DeviceSigner
from charter.domain.clock import FixedClock
from charter.domain.disclosure import DeviceDisclosure
from charter.domain.model import Device, urn
from charter.services.j2735 import CATEGORY
from charter.sim import city as sample
from charter.sim.sumo.city import OPERATOR, START, _net_area, build_city
from charter.sim.sumo.controller import fixed_time_plan
from charter.sim.sumo.evp_model import Trip, emergency_trips, preemption_entry, road_model
from charter.sim.sumo.evp_signal import ProgramSignal
from charter.sim.sumo.evp_stats import summarise
from charter.sim.sumo.evp_variants import EV_TYPE, VARIANTS, LastSignal, World, run_variant
from charter.sim.sumo.network import random_trips, read_net
from charter.sim.sumo.run import signal_rules, simulation

POOL_FACTOR = 4  # candidate routes per trip, for the trips a gridlock would block
TELEPORT_S = 300.0  # sumo_args: --time-to-teleport


# -- the free-flow limit -----------------------------------------------------------------


def free_flow(
    world: World, trips: Sequence[Trip], ev_file: Path, seed: int
) -> tuple[dict[int, float], dict[int, float | None], int]:
    """Each route alone on the empty network, disregarding every signal: the best any
    controller could do, for the whole trip and until its last signal. The signals still
    run (under SUMO's own programs), watched."""
    times: dict[int, float] = {}
    last_signal = LastSignal()
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
            for v in departs:
                if int(v[2:]) not in times:
                    last_signal.step(traci, v, sim.time_s)
        to_last = {int(v[2:]): last_signal.after(v, d) for v, d in departs.items()}
        return times, to_last, len(sim.monitor.violations)


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
    free, free_to_last, free_violations = free_flow(world, plan, ev_file, seed)
    for a in results:
        a["free_s"] = free.get(a.get("trip", -1))
        a["free_to_last_signal_s"] = free_to_last.get(a.get("trip", -1))
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


def temp_work() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="charter-evp-")
