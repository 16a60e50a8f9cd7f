"""Decision latency and commands of the city services, for `/metrics`."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.decision = Histogram(
            "charter_service_decision_seconds",
            "Time from an admitted batch reaching a service to its signed commands sent",
            ["service"],
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1),
            registry=self.registry,
        )
        self.commands = Counter(
            "charter_service_commands",
            "Signed commands sent to actuators",
            ["service", "action"],
            registry=self.registry,
        )
        self.skipped = Counter(
            "charter_service_batches_skipped",
            "Admitted batches a service did not receive, by why",
            ["service", "why"],
            registry=self.registry,
        )
