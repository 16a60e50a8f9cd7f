"""The built-in junction model: the signal services without SUMO, as safe as with it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.commands.signer import CommandSigner
from charter.keys import SigningKey
from charter.sim.junction import (
    JunctionModel,
    attach_controller,
    build_junction_city,
    compare,
    run_junction,
)
from charter.sim.sumo.city import drive


def test_adaptive_timing_beats_the_fixed_plan_on_the_model_without_a_violation() -> None:
    figures = compare(end_s=900.0, seed=2)
    assert figures["safety_violations"] == 0
    assert figures["plans_sent"] > 0  # counts went through the gate and became plans
    assert figures["delay_adaptive_s"] < 0.85 * figures["delay_fixed_s"], figures


def test_platform_lost_the_controller_runs_its_own_plan_within_two_heartbeats() -> None:
    out_at, back = 300.0, 360.0
    run = run_junction(
        "adaptive", end_s=480.0, heartbeat_s=1.0, platform_up=lambda t: not out_at <= t < back
    )
    assert run.violations == 0  # through the fall-back and the rejoin
    safe = [t for t, m in run.mode_changes if m == "safe" and t >= out_at]
    remote = [t for t, m in run.mode_changes if m == "remote" and t >= back]
    assert safe and safe[0] - out_at <= 2.0  # two heartbeat periods
    assert remote and remote[0] - back <= 2.0  # rejoined on the first verified command
    assert run.plans_sent > 0


def test_a_forged_command_is_refused_by_the_model_s_controller_and_changes_nothing(
    tmp_path: Path,
) -> None:
    city = build_junction_city(tmp_path / "city")
    try:
        model = JunctionModel(end_s=120.0)
        ctrl = attach_controller(city, model, 2.0)
        drive(city, model, 60.0, platform_up=None)
        plan_before = list(ctrl.plan)
        forger = CommandSigner(
            lambda: SigningKey("forger", Ed25519PrivateKey.generate()), city.clock, ttl_s=30
        )
        wire = forger.sign(
            ctrl.device_id, "signal.plan", {"phases": [["GGGG", 60.0]], "t0_s": 0.0}
        ).to_wire()
        assert ctrl.receive(wire) is None
        assert sum(ctrl.refused.values()) == 1
        assert ctrl.plan == plan_before and ctrl.state == "safe"
        for _ in range(60):  # it carries on with its own plan, safely
            ctrl.step()
            model.step()
            city.clock.advance(timedelta(seconds=model.step_s))
        assert model.monitor.violations == []
        assert "GGGG" not in model.state
    finally:
        city.platform.close()
