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
    from charter.sim.sumo.crossing import find_sites, pedestrian_net
    from charter.sim.sumo.network import default_net, read_net
    from charter.sim.sumo.run import signal_rules

    first = pedestrian_net(default_net(), tmp_path)
    made = first.stat().st_mtime_ns
    again = pedestrian_net(default_net(), tmp_path)
    assert again == first and again.stat().st_mtime_ns == made
    sites = find_sites(read_net(first), signal_rules(first))
    assert sites and all(s.edge.startswith(":") and s.length_m > 0 for s in sites)
