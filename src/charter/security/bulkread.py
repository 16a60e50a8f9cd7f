"""The bulk-read guard: no single token takes a whole personal dataset in one sweep.

Every read of personal records calls `check(actor, dataset, n_records)`. Within
a sliding window a caller may read up to the city's threshold; beyond it the
read needs a bulk-read action approved by a second person (two-person rule),
and an attempt without one is refused, counted as an alert and put on the
ledger (who, which dataset, how many; never what).
"""

from __future__ import annotations

import threading
from collections import deque

from charter.domain.clock import Clock, to_ms
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.ledger.log import Ledger
from charter.security.approvals import ActionKind, Approvals


class BulkReadGuard:
    def __init__(
        self,
        approvals: Approvals,
        ledger: Ledger,
        clock: Clock,
        threshold: int,
        window_s: int,
    ) -> None:
        self.approvals, self.ledger, self.clock = approvals, ledger, clock
        self.threshold, self.window_ms = threshold, window_s * 1000
        self.alerts = 0  # exported as the charter_bulk_read_alerts_total metric
        self._reads: dict[tuple[str, str], deque[tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def check(
        self, actor: Actor, dataset: str, n_records: int, *, approval: str | None = None
    ) -> None:
        """Allow the read or raise BULK_READ_REFUSED (an alert, on the ledger)."""
        if n_records <= 0:
            return
        now = to_ms(self.clock.now())
        key = (actor.name, dataset)
        with self._lock:
            reads = self._reads.setdefault(key, deque())
            while reads and reads[0][0] <= now - self.window_ms:
                reads.popleft()
            used = sum(n for _, n in reads)
            if used + n_records <= self.threshold:
                reads.append((now, n_records))
                return
        if approval is not None:
            params = self.approvals.consume(approval, ActionKind.BULK_READ, actor.name)
            if params.get("dataset") == dataset and n_records <= int(params["max_records"]):
                return
        with self._lock:
            self.alerts += 1
        with self.ledger.write() as w:
            w.record(
                "bulk_read.refused",
                actor,
                dataset=dataset,
                records=n_records,
                already_read=used,
                threshold=self.threshold,
            )
        raise CharterError(
            Reason.BULK_READ_REFUSED,
            f"more than {self.threshold} personal records in the window need a bulk-read "
            "action approved by a second person (?approval=<id>)",
        )
