"""`charter bench services`: decision latency of a real service beside the framework's cost."""

from __future__ import annotations

from charter.bench.services import run_services


def test_every_batch_of_counts_becomes_a_decision_in_both_runs() -> None:
    figures = run_services(rounds=6, junctions=2, loops_per_junction=4, alert_zones=2)
    assert figures["noop_decisions"] == 6
    assert figures["signals_decisions"] == 6
    assert 0 < figures["noop_p50_ms"] <= figures["noop_p99_ms"]
    assert 0 < figures["signals_p50_ms"] <= figures["signals_p99_ms"]
    assert figures["alerts"] >= 4  # each zone's warning and danger, at least
    assert 0 < figures["alert_p50_ms"] <= figures["alert_p99_ms"]
