"""The bulk-read guard: no single reader takes a whole personal dataset in one sweep.

Every read of personal records calls `check(actor, dataset, n_records)`. Within
a sliding window a reader may read up to the city's threshold, whatever the
datasets or projects it names; beyond it the read needs a bulk-read action
approved by a second person (two-person rule), and an attempt without one is
refused, counted as an alert and put on the ledger (who, which dataset, how
many; never what). The windows live in the store, so every process over one
store draws on the same budget.
"""

from __future__ import annotations

import threading

from charter.domain.clock import Clock, to_ms
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.ledger.log import Ledger
from charter.security.approvals import ActionKind, Approvals


def reader_of(actor: Actor) -> str:
    """Whose budget a read draws on: the consumer or resident the token speaks
    for, else the named person; never the dataset or project the read names."""
    return f"{actor.role}:{actor.subject or actor.name}"[:300]


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
        self.store = ledger.store
        self.threshold, self.window_ms = threshold, window_s * 1000
        self.alerts = 0  # this process's refusals: the charter_bulk_read_alerts_total metric
        self._lock = threading.Lock()

    def check(
        self, actor: Actor, dataset: str, n_records: int, *, approval: str | None = None
    ) -> None:
        """Allow the read or raise BULK_READ_REFUSED (an alert, on the ledger)."""
        if n_records <= 0:
            return
        now = to_ms(self.clock.now())
        reader = reader_of(actor)
        with self.store.transaction() as tx:
            used = tx.bulk_reads_since(reader, now - self.window_ms)
            allowed = used + n_records <= self.threshold
            if allowed:
                tx.add_bulk_read(reader, now, n_records)
        if allowed:
            return
        if approval is not None:
            params = self.approvals.consume(approval, ActionKind.BULK_READ, actor)
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
