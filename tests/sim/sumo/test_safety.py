"""The safety invariant: rules read off real signal programs, violations seen on SUMO."""

from __future__ import annotations

from pathlib import Path

import pytest

from charter.sim.sumo.safety import Phase, SafetyMonitor, SignalRules
from tests.services import need

# A two-approach junction: links 0 (north-south) and 1 (east-west) cross.
PLAN = [Phase("Gr", 20), Phase("yr", 3), Phase("rr", 2), Phase("rG", 20), Phase("ry", 3),
        Phase("rr", 2)]  # fmt: skip


def monitor() -> SafetyMonitor:
    rules = SignalRules.from_program("j", [(0, 1)], PLAN)
    return SafetyMonitor({"j": rules}, tolerance_s=0.5)


def run(m: SafetyMonitor, states: list[tuple[float, str]]) -> list[str]:
    for t, state in states:
        m.observe("j", state, t)
    return [v.kind for v in m.violations]


def test_rules_come_from_the_program() -> None:
    rules = SignalRules.from_program("j", [(0, 1)], PLAN)
    assert rules.min_green_s == {0: 20, 1: 20}
    assert rules.min_yellow_s == {0: 3, 1: 3}
    assert rules.clearance_s == {(0, 1): 2, (1, 0): 2}


def test_the_plan_itself_is_safe() -> None:
    m, t, states = monitor(), 0.0, []
    for _ in range(3):
        for ph in PLAN:
            states.append((t, ph.state))
            t += ph.min_s
    assert run(m, states) == []


@pytest.mark.parametrize(
    ("states", "kind"),
    [
        ([(0, "Gr"), (30, "yr"), (33, "rr"), (35, "GG")], "conflicting_green"),
        ([(0, "Gr"), (30, "rr")], "skipped_yellow"),
        ([(0, "Gr"), (30, "yr"), (31, "rr")], "short_yellow"),
        ([(0, "Gr"), (30, "yr"), (33, "rG")], "short_all_red"),
        ([(0, "rr"), (10, "Gr"), (15, "yr")], "short_green"),
    ],
)
def test_each_unsafe_transition_is_caught(states: list[tuple[float, str]], kind: str) -> None:
    assert kind in run(monitor(), states)


def test_a_permissive_green_may_meet_a_foe() -> None:
    # 'g' yields to every foe (a permissive turn): not a conflict.
    assert run(monitor(), [(0, "Gr"), (30, "Gg")]) == []


def _sumo() -> None:
    try:
        import libsumo  # noqa: F401
        import sumo  # noqa: F401
    except ImportError:
        need(False, "SUMO is not installed (pip install -e '.[sim]')")


def test_drt_signals_run_their_programs_without_a_violation(tmp_path: Path) -> None:
    _sumo()
    from charter.sim.sumo.network import default_net, random_trips
    from charter.sim.sumo.run import simulation

    net = default_net()
    routes = random_trips(net, tmp_path / "bg.rou.xml", period_s=1.2, end_s=300, seed=3)
    with simulation(net, [routes], step_s=0.5, seed=3, end_s=300) as sim:
        assert len(sim.monitor.rules) == 15  # Berlin-Adlershof's programmed signals
        while sim.time_s < 300:
            sim.step()
        assert sim.traci.simulation.getArrivedNumber() >= 0
        assert sim.monitor.violations == []


def test_a_forced_conflicting_green_is_caught_on_sumo(tmp_path: Path) -> None:
    _sumo()
    from charter.sim.sumo.network import default_net, random_trips
    from charter.sim.sumo.run import simulation

    net = default_net()
    routes = random_trips(net, tmp_path / "bg.rou.xml", period_s=2.0, end_s=60, seed=4)
    with simulation(net, [routes], step_s=0.5, seed=4, end_s=120) as sim:
        for _ in range(20):
            sim.step()
        tls = "joinedS_0"
        n = len(sim.traci.trafficlight.getRedYellowGreenState(tls))
        sim.traci.trafficlight.setRedYellowGreenState(tls, "G" * n)  # every link green at once
        sim.step()
        kinds = {v.kind for v in sim.monitor.violations if v.tls == tls}
        assert "conflicting_green" in kinds


def test_the_transitioner_never_makes_a_permissive_green_priority_beside_a_foe() -> None:
    from charter.sim.sumo.transition import SafeTransitioner

    rules = SignalRules.from_program("j", [(0, 1)], PLAN)
    tr = SafeTransitioner(rules, 2)
    m = SafetyMonitor({"j": rules}, tolerance_s=0.5)
    tr.start("Gg", 0.0)  # a priority through movement and a permissive turn across it
    m.observe("j", "Gg", 0.0)
    for step in range(1, 80):
        t = step * 0.5
        # asked at once to end the through movement (still in its minimum green) and to
        # give the turn priority
        state = tr.next_state("rG", t)
        m.observe("j", state, t)
    assert m.violations == []
    assert state == "rG"  # it got there: the through movement ended first
