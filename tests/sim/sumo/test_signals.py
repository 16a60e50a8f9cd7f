"""Adaptive timing on SUMO: counts through the gate become plans; nothing unsafe on the way."""

from __future__ import annotations

from pathlib import Path

from tests.sim.sumo.test_safety import _sumo


def test_adaptive_timing_runs_beside_fixed_and_actuated_without_a_violation(
    tmp_path: Path,
) -> None:
    _sumo()
    from charter.sim.sumo.network import default_net
    from charter.sim.sumo.signals import run_signals

    figures = run_signals(
        default_net(), tmp_path, seed=3, period_s=1.5, warmup_s=120, window_s=180,
        drain_s=60, update_s=120,
    )  # fmt: skip
    assert figures["safety_violations"] == 0
    assert figures["plans_sent"] > 0  # counts reached the service through the gate
    assert figures["vehicles"] > 50
    for mode in ("fixed", "actuated", "adaptive"):
        assert figures[f"time_loss_{mode}_s"] > 0
