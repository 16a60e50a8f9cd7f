"""The accessible crossing on SUMO: a short run of Charter's crossing (the paired
comparison with the standard timing is `charter sim crossing`)."""

from __future__ import annotations

from pathlib import Path

from tests.sim.sumo.test_safety import _sumo


def test_no_consented_slow_pedestrian_is_caught_and_the_signals_stay_safe(
    tmp_path: Path,
) -> None:
    _sumo()
    from charter.sim.sumo.crossing import run_crossing
    from charter.sim.sumo.network import default_net

    figures, results = run_crossing(
        default_net(), tmp_path, seed=1, end_s=300, modes=("charter",),
        cache_dir=tmp_path / "nets",
    )  # fmt: skip
    # The invariant held at every step, at every signal of the network.
    assert figures["safety_violations"] == 0
    # Consented slow pedestrians crossed, and none was on the crosswalk at a conflicting green.
    assert figures["consented_slow_crossed"] > 0
    assert figures["slow_caught_charter"] == 0
    charter = results["charter"]
    assert charter.extensions > 0 and charter.alerts > 0
    # The fobs of residents who did not consent were refused at the gate, nothing kept.
    assert charter.refused > 0
    assert figures["stored_about_unconsented"] == 0
    # The extension is what the service computes for this crosswalk, within its cap.
    assert 0 < figures["extra_walk_s"] + figures["extra_clearance_s"] <= 15.0


def test_the_pedestrian_network_is_built_once_and_cached(tmp_path: Path) -> None:
    _sumo()
    from charter.sim.sumo.crossing_site import find_sites, pedestrian_net
    from charter.sim.sumo.network import default_net, read_net
    from charter.sim.sumo.run import signal_rules

    first = pedestrian_net(default_net(), tmp_path)
    made = first.stat().st_mtime_ns
    again = pedestrian_net(default_net(), tmp_path)
    assert again == first and again.stat().st_mtime_ns == made
    sites = find_sites(read_net(first), signal_rules(first))
    assert sites and all(s.edge.startswith(":") and s.length_m > 0 for s in sites)


def _straight_path() -> object:
    from charter.sim.sumo.crossing_paths import VehiclePath, _polyline

    points = ((0.0, 0.0), (100.0, 0.0))  # a vehicle lane along the x axis
    return VehiclePath(0, 50.0, points, _polyline(list(points)), {}, 52.0)


def test_time_to_collision_is_when_the_vehicle_would_reach_the_pedestrian() -> None:
    from charter.sim.sumo.crossing_paths import Mover, OnPath, time_to_collision

    path = _straight_path()
    car = OnPath("car", path, 40.0, 10.0, 4.5, 0.9)  # type: ignore[arg-type]
    # Someone standing in the lane 10 m ahead: reached in 1.0 s at 10 m/s.
    ttc = time_to_collision(car, Mover("p", 50.0, 0.0, 0.0, 0.0))
    assert ttc is not None and abs(ttc - 1.0) < 0.11
    # 20 m ahead: 2 s, beyond the 1.5 s that makes a conflict.
    assert time_to_collision(car, Mover("p", 60.0, 0.0, 0.0, 0.0)) is None
    # Walking across, 3 m to the side of the lane's centre at 1.3 m/s towards it, 8 m
    # ahead: in the car's path (its 0.9 m half width and theirs) after 1.4 s, when the
    # car has gone 14 m: it has passed.
    assert time_to_collision(car, Mover("p", 48.0, 3.0, 0.0, -1.3)) is None
    # The same person 13 m ahead, already 1 m from the centre: in its path at once.
    ttc = time_to_collision(car, Mover("p", 53.0, 1.0, 0.0, -1.3))
    assert ttc is not None and 1.2 < ttc < 1.4
    # Walking away from the lane: never.
    assert time_to_collision(car, Mover("p", 50.0, 1.5, 0.0, 1.3)) is None
    # A car standing still is no conflict (conflicts() skips it); a slow one far off either.
    slow = OnPath("slow", path, 40.0, 1.0, 4.5, 0.9)  # type: ignore[arg-type]
    assert time_to_collision(slow, Mover("p", 50.0, 0.0, 0.0, 0.0)) is None


def test_the_report_is_self_contained_and_each_run_is_plotted_to_its_end() -> None:
    from charter.report.plots import svgs
    from charter.sim.sumo.crossing import RunResult
    from charter.sim.sumo.crossing_report import _cumulative, report_html

    early = RunResult(occupancy=[(0.0, 0), (3600.0, 0)], conflicts={("v", "p"): 600.0})
    assert _cumulative(early) == [(0.0, 0), (600.0, 1), (3600.0, 1)]
    figs = {"crossing": ":c1", "length_m": 13.1, "walk_s": 22.0, "clearance_s": 12.2,
            "extra_walk_s": 0.0, "extra_clearance_s": 5.4, "connected_share": 1.0}  # fmt: skip
    page = report_html(figs, {"standard": early, "charter": RunResult()})
    assert len(svgs(page)) == 2
    assert "<script" not in page and " src=" not in page  # nothing run, nothing fetched
    assert "<link" not in page and "@import" not in page
