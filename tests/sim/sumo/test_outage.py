"""The fail-safe on SUMO: the platform dies mid-scenario; every signal carries on safely."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from tests.sim.sumo.test_safety import _sumo


def test_every_signal_falls_back_within_two_heartbeats_and_rejoins(tmp_path: Path) -> None:
    _sumo()
    from charter.sim.sumo.network import default_net
    from charter.sim.sumo.outage import run_outage

    figures = run_outage(
        default_net(), tmp_path, seed=2, outage_at_s=150, outage_s=30, end_s=220, heartbeat_s=1.0
    )
    assert figures["controllers"] == 15
    assert figures["fell_back"] == 15
    assert figures["worst_fallback_s"] <= figures["bound_s"] == 2.0
    assert figures["rejoined"] == 15
    assert figures["safety_violations"] == 0, figures["violation_kinds"]
    assert figures["plans_sent"] > 0  # the adaptive service really drove them


def test_a_forged_command_is_refused_by_a_sumo_signal_and_changes_nothing(
    tmp_path: Path,
) -> None:
    _sumo()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from charter.commands.signer import CommandSigner
    from charter.keys import SigningKey
    from charter.sim.sumo.city import build_city
    from charter.sim.sumo.network import default_net, random_trips, read_net
    from charter.sim.sumo.run import signal_rules, simulation

    net_file = default_net()
    net, rules = read_net(net_file), signal_rules(net_file)
    routes = random_trips(net_file, tmp_path / "bg.rou.xml", period_s=2.0, end_s=60, seed=5)
    city = build_city(net, tmp_path / "city")
    try:
        with simulation(net_file, [routes], end_s=120, rules=rules) as sim:
            city.attach_controllers(sim.traci, net, rules, 2.0)
            tls, ctrl = next(iter(city.controllers.items()))
            n = len(sim.traci.trafficlight.getRedYellowGreenState(tls))
            forger = CommandSigner(
                lambda: SigningKey("forger", Ed25519PrivateKey.generate()), city.clock, 30
            )
            all_green = {"state": "G" * n, "hold_s": 60}
            assert (
                ctrl.receive(forger.sign(ctrl.device_id, "signal.target", all_green).to_wire())
                is None
            )
            expired = city.platform.security.commands.sign(
                ctrl.device_id, "signal.target", all_green
            )
            city.clock.advance(timedelta(seconds=31))
            assert ctrl.receive(expired.to_wire()) is None
            assert ctrl.refused == {"bad_signature": 1, "expired": 1}
            assert ctrl.target is None and ctrl.state == "safe"
            for _ in range(60):
                for c in city.controllers.values():
                    c.step()
                sim.step()
                city.clock.advance(timedelta(seconds=0.5))
            assert sim.monitor.violations == []
    finally:
        city.platform.close()


def test_sim_outage_prints_its_figures_as_a_json_line() -> None:
    _sumo()
    from charter.cli import app

    result = CliRunner().invoke(
        app, ["sim", "outage", "--json", "--outage-at", "100", "--outage", "20", "--end", "140"]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["safety_violations"] == 0
    assert figures["worst_fallback_s"] <= figures["bound_s"]
