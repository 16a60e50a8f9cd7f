"""The one door every read of personal data passes, whichever route asks.

Two checks, in the service layer so that the API, the CLI and any later door
cannot skip them:

- purpose: a purpose-bound token (one whose `purposes` claim is not empty) may
  read personal data only for one of its purposes, named with the read;
- volume: the records read count against the reader's bulk-read budget (the
  two-person rule beyond the city's threshold, `security/bulkread.py`).
"""

from __future__ import annotations

from typing import Protocol

from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason


class BulkReadGuard(Protocol):
    def check(
        self, actor: Actor, dataset: str, n_records: int, *, approval: str | None = None
    ) -> None:
        """Raise to stop a read (the two-person rule beyond a threshold, security/bulkread.py)."""
        ...


class AllowAll:
    def check(
        self, actor: Actor, dataset: str, n_records: int, *, approval: str | None = None
    ) -> None:
        return None


class ReadGuard:
    def __init__(self, bulk: BulkReadGuard | None = None) -> None:
        self.bulk: BulkReadGuard = bulk or AllowAll()

    @staticmethod
    def purpose(actor: Actor, purpose: str | None) -> None:
        """Before the read: a purpose-bound actor must name one of its purposes."""
        if not actor.purposes:
            return
        if purpose is None or purpose not in actor.purposes:
            raise CharterError(
                Reason.PURPOSE_NOT_GRANTED,
                f"state one of the token's purposes ({', '.join(actor.purposes)})",
            )

    def count(
        self, actor: Actor, dataset: str, n_records: int, *, approval: str | None = None
    ) -> None:
        """Before anything is returned: the records count against the reader's budget."""
        self.bulk.check(actor, dataset, n_records, approval=approval)
