"""Security counters for /metrics: alerts raised by the bulk-read guard."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from charter.security.bulkread import BulkReadGuard


class SecurityCollector(Collector):
    def __init__(self, bulk_reads: BulkReadGuard) -> None:
        self.bulk_reads = bulk_reads

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "charter_bulk_read_alerts",
            "Bulk personal-data reads refused for want of a second person's approval.",
            value=self.bulk_reads.alerts,
        )
