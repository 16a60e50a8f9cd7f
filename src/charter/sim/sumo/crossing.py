"""The accessible crossing on a real street network with pedestrians (SUMO).

The network gets sidewalks and crosswalks from SUMO's own netconvert
(`--sidewalks.guess --crossings.guess`, cached). One signalised crosswalk is
the site: among those where turning vehicles may cross during the walk
(permissive turns, where drivers and pedestrians meet most), the one where a
pedestrian at 0.9 m/s falls furthest short of its programmed clearance
(within what the cap can cover), unless one is named. Pedestrians cross it
both ways: normal walkers (1.3 m/s ± 10 %) and slow ones at 0.9 m/s, some of
whom opted in to mobility assistance and some not. Every slow pedestrian
carries a fob linked to a resident; the crossing's reader reads it at the
kerb and sends the read through the gate, as a real reader does. Vehicles
come from SUMO's randomTrips, flows through the site and a stream on each
permissive turn.

Three paired runs (same routes, same seed):

- `standard`: the crossing's controller runs its programmed timing alone;
- `extension`: the platform runs the accessible-crossing service; consented
  reads extend walk and clearance through the controller's safe transitioner;
  vehicles ignore the alert;
- `charter`: the same, and connected vehicles (`connected_share` of them) act
  on the signed, anonymous alert while it is valid: within `ALERT_RANGE_M` of
  the crosswalk, while someone is on it in their path or walking towards it,
  they hold a speed from which they can stop `STOP_GAP_M` short of them at
  `COMFORT_DECEL`, at most `CAREFUL_SPEED_MS`.

Measured: slow pedestrians still on the crosswalk at the moment a conflicting
vehicle stream gets green (by consent); vehicle–pedestrian conflicts, from
SUMO's positions and speeds at every step: a vehicle headed over the
crosswalk (on green, or already in the junction) and a person on it, or
stepping onto it while it shows walk, whose time to collision is below 1.5 s
(the vehicle along its path at its speed, the person in a straight line at
theirs, until the person stands inside the vehicle's footprint), each pair
once; the mean time loss of the vehicles that came through the junction;
and the safety invariant at every step at the crossing's signal.

This module runs the modes and computes the figures; the controller is
`crossing_signal.py`, the demand and the platform's side `crossing_city.py`.
"""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from charter.services.crossing import (
    Crossing,
    CrossingService,
    RoadsideUnit,
    extension,
    verify_alert,
)
from charter.sim.sumo.city import START
from charter.sim.sumo.crossing_city import CrossingCity, Walker, build_crossing_city, demand
from charter.sim.sumo.crossing_paths import CarefulDrivers, Paths, conflicts, pedestrians
from charter.sim.sumo.crossing_signal import CrossingSignal
from charter.sim.sumo.crossing_site import Site, choose_site, find_sites, pedestrian_net
from charter.sim.sumo.network import random_trips, read_net
from charter.sim.sumo.run import signal_rules, simulation
from charter.sim.sumo.safety import colour

MODES = ("standard", "extension", "charter")
CONNECTED_SHARE = 1.0  # vehicles that receive and act on the alert in the charter run


# -- one run -------------------------------------------------------------------------
@dataclass
class RunResult:
    caught: dict[str, set[str]] = field(default_factory=dict)  # kind -> walkers caught
    crossed: dict[str, set[str]] = field(default_factory=dict)  # kind -> walkers who crossed
    occupancy: list[tuple[float, int]] = field(default_factory=list)  # (t, on the crosswalk)
    # (vehicle, pedestrian) -> when their time to collision first fell below TTC_S
    conflicts: dict[tuple[str, str], float] = field(default_factory=dict)
    alerted_conflicts: dict[tuple[str, str], float] = field(default_factory=dict)  # alert on
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
    connected_share: float = CONNECTED_SHARE,
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
            net_file, routes, step_s=step_s, seed=seed, end_s=end_s + 600,
            rules={site.tls: rules[site.tls]}, tripinfo=tripinfo,
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
            _drive(
                mode, sim, city, site, ctrl, rsu, kinds, res, end_s, progress,
                paths=Paths(net, site), connected_share=connected_share, seed=seed,
            )  # fmt: skip
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
    *,
    paths: Paths,
    connected_share: float,
    seed: int,
) -> None:
    traci = sim.traci
    host = city.platform.services
    step = timedelta(seconds=sim.step_s)
    read: set[str] = set()
    through: set[str] = set()
    careful = CarefulDrivers(traci, connected_share, seed)
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
        people = pedestrians(traci, site, colour(state[site.link]) == "g")
        vehicles = paths.vehicles(traci) if people else []
        if mode == "charter":
            # A connected vehicle that heard a valid alert takes care at the crosswalk.
            careful.step(vehicles, people, alerted)
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
        for pair in conflicts(vehicles, people) if people else ():
            res.conflicts.setdefault(pair, t)  # each pair once, when it first came close
            if alerted:
                res.alerted_conflicts.setdefault(pair, t)
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
    end_s: float = 3600.0,
    period_s: float = 2.0,
    ped_period_s: float = 6.0,
    slow_share: float = 0.4,
    consent_share: float = 0.6,
    flow_period_s: float = 6.0,
    turn_period_s: float = 10.0,
    connected_share: float = CONNECTED_SHARE,
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
        turn_period_s=turn_period_s,
    )  # fmt: skip
    results: dict[str, RunResult] = {}
    for mode in modes:
        report = (lambda f, m=mode: progress(m, f)) if progress is not None else None
        results[mode] = run_mode(
            mode, ped_net, [bg, site_routes], site, walkers, work, seed=seed, end_s=end_s,
            connected_share=connected_share, progress=report,
        )  # fmt: skip
    return figures(site, walkers, results, connected_share), results


def figures(
    site: Site,
    walkers: list[Walker],
    results: dict[str, RunResult],
    connected_share: float = CONNECTED_SHARE,
) -> dict[str, Any]:
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
        "connected_share": connected_share,
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
