"""Access by purpose (a part of the SQL store): consumers' requests, the log of
what each read, the personal readings read under a grant, the bulk-read windows.

The records and the protocols are in `rights.py`; `SqlTx` and `SqlStore` inherit
these methods, so every backend has them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from charter.store import schema as s
from charter.store.rights import AccessLogRecord, AccessRequestRecord, PersonalReading
from charter.store.upsert import upsert


def _request_row(r: AccessRequestRecord) -> dict[str, Any]:
    return {
        "id": r.id,
        "consumer": r.consumer,
        "dataset": r.dataset,
        "categories": json.dumps(list(r.categories)),
        "purpose": r.purpose,
        "why": r.why,
        "status": r.status,
        "requested_at": r.requested_at,
        "decided_at": r.decided_at,
        "decided_by": r.decided_by,
        "expires_at": r.expires_at,
        "constraints": json.dumps(r.constraints, sort_keys=True),
    }


class SqlAccessTx:
    # Mixed into SqlTx, which provides the connection.
    conn: Connection

    def put_access_request(self, request: AccessRequestRecord) -> None:
        upsert(self.conn, s.access_requests, ("id",), _request_row(request))

    def add_access_log(self, records: Sequence[AccessLogRecord]) -> None:
        if records:
            self.conn.execute(
                s.access_log.insert(),
                [
                    {
                        "at": a.at,
                        "resident_id": a.resident_id,
                        "consumer": a.consumer,
                        "grant_id": a.grant_id,
                        "purpose": a.purpose,
                        "category": a.category,
                        "readings": a.readings,
                    }
                    for a in records
                ],
            )

    def bulk_reads_since(self, reader: str, since: int) -> int:
        """Lock the reader's window until commit, forget reads at or before `since`,
        and return the records read since: every process over this store shares it."""
        readers = s.bulk_readers
        dialect = postgresql if self.conn.dialect.name == "postgresql" else sqlite
        self.conn.execute(dialect.insert(readers).values(reader=reader).on_conflict_do_nothing())
        # FOR UPDATE on PostgreSQL: a second process counting for this reader waits
        # here (SQLite's single writer already serialises it).
        lock = select(readers.c.reader).where(readers.c.reader == reader).with_for_update()
        self.conn.execute(lock)
        t = s.bulk_reads
        self.conn.execute(delete(t).where(t.c.reader == reader, t.c.at <= since))
        total = select(func.coalesce(func.sum(t.c.records), 0)).where(t.c.reader == reader)
        return int(self.conn.execute(total).scalar_one())

    def add_bulk_read(self, reader: str, at: int, records: int) -> None:
        self.conn.execute(s.bulk_reads.insert().values(reader=reader, at=at, records=records))


class SqlAccessStore:
    # Mixed into SqlStore, which provides the reader.
    _rows: Callable[[Any], list[Any]]

    @staticmethod
    def _request(r: Any) -> AccessRequestRecord:
        return AccessRequestRecord(
            r.id,
            r.consumer,
            r.dataset,
            tuple(json.loads(r.categories)),
            r.purpose,
            r.why,
            r.status,
            r.requested_at,
            r.decided_at,
            r.decided_by,
            r.expires_at,
            json.loads(r.constraints),
        )

    def get_access_request(self, request_id: str) -> AccessRequestRecord | None:
        t = s.access_requests
        rows = self._rows(select(t).where(t.c.id == request_id))
        return self._request(rows[0]) if rows else None

    def access_requests(self, consumer: str | None = None) -> list[AccessRequestRecord]:
        t = s.access_requests
        stmt = select(t).order_by(t.c.requested_at, t.c.id)
        if consumer is not None:
            stmt = stmt.where(t.c.consumer == consumer)
        return [self._request(r) for r in self._rows(stmt)]

    def access_log(self, resident_id: str) -> list[AccessLogRecord]:
        t = s.access_log
        stmt = (
            select(
                t.c.at,
                t.c.resident_id,
                t.c.consumer,
                t.c.grant_id,
                t.c.purpose,
                t.c.category,
                t.c.readings,
            )
            .where(t.c.resident_id == resident_id)
            .order_by(t.c.id)
        )
        return [AccessLogRecord(*r) for r in self._rows(stmt)]

    def personal_readings(
        self,
        *,
        subject: str | None = None,
        project_id: str | None = None,
        category: str | None = None,
        after_id: int = 0,
        limit: int = 10_000,
    ) -> list[PersonalReading]:
        r = s.readings
        stmt = (
            select(
                r.c.id,
                r.c.device_id,
                r.c.project_id,
                r.c.category,
                r.c.observed_at,
                r.c.received_at,
                r.c.seq,
                r.c.body,
                r.c.subject,
            )
            .where(r.c.subject.is_not(None), r.c.id > after_id)
            .order_by(r.c.id)
            .limit(limit)
        )
        if subject is not None:
            stmt = stmt.where(r.c.subject == subject)
        if project_id is not None:
            stmt = stmt.where(r.c.project_id == project_id)
        if category is not None:
            stmt = stmt.where(r.c.category == category)
        return [tuple(row) for row in self._rows(stmt)]

    def access_requests_by_purpose(
        self, project_id: str | None = None
    ) -> dict[str, dict[str, int]]:
        t = s.access_requests
        stmt = (
            select(t.c.purpose, t.c.status, func.count())
            .group_by(t.c.purpose, t.c.status)
            .order_by(t.c.purpose, t.c.status)
        )
        if project_id is not None:
            stmt = stmt.where(t.c.dataset == project_id)
        out: dict[str, dict[str, int]] = {}
        for purpose, status, n in self._rows(stmt):
            out.setdefault(purpose, {})[status] = int(n)
        return out
