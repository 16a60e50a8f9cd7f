"""Prometheus metrics for the gate, in a registry of the app's own (no global state)."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from charter.gate.batch import Outcome
from charter.gate.pipeline import GateObserver


class GateMetrics(GateObserver):
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.admitted = Counter(
            "charter_readings_admitted", "Readings admitted by the gate", registry=self.registry
        )
        self.rejected = Counter(
            "charter_readings_rejected",
            "Readings rejected by the gate",
            ["reason"],
            registry=self.registry,
        )
        self.quarantined = Counter(
            "charter_readings_quarantined",
            "Rejected readings kept in quarantine",
            registry=self.registry,
        )
        self.latency = Histogram(
            "charter_gate_batch_seconds",
            "Time from receipt to commit of a batch",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=self.registry,
        )

    def observed(self, outcomes: Sequence[Outcome], seconds: float) -> None:
        self.latency.observe(seconds)
        for o in outcomes:
            if o.admitted:
                self.admitted.inc(o.admitted)
            if o.quarantined:
                self.quarantined.inc(o.quarantined)
            for reason, n in o.rejected.items():
                self.rejected.labels(reason).inc(n)
