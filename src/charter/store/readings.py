"""What the gate writes and reads back (a part of the SQL store): readings,
quarantine, decisions and the devices' last sequence numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from charter.store import schema as s
from charter.store.base import (
    DecisionRecord,
    PersonalRow,
    QuarantineItem,
    ReadingRow,
    StoredReading,
)

READING_COLUMNS = (
    "device_id",
    "project_id",
    "category",
    "observed_at",
    "received_at",
    "seq",
    "body",
)


class SqlReadingsTx:
    """The gate's writes; the backends override the hot paths."""

    # Mixed into SqlTx, which provides the connection.
    conn: Connection
    register_changed: bool

    def insert_readings(self, rows: Sequence[ReadingRow]) -> None:
        if rows:
            self.conn.execute(
                s.readings.insert(), [dict(zip(READING_COLUMNS, r, strict=True)) for r in rows]
            )

    def insert_personal_readings(self, rows: Sequence[PersonalRow]) -> None:
        if rows:
            self.conn.execute(
                s.readings.insert(),
                [
                    {**dict(zip(READING_COLUMNS, r, strict=True)), "subject": subject}
                    for r, subject in rows
                ],
            )

    def insert_quarantine(self, items: Sequence[QuarantineItem]) -> None:
        if items:
            self.conn.execute(
                s.quarantine.insert(),
                [
                    {
                        "received_at": q.received_at,
                        "device_id": q.device_id,
                        "seq": q.seq,
                        "kind": q.kind,
                        "stage": q.stage,
                        "reason": q.reason,
                        "detail": q.detail,
                        "status": q.status,
                        "payload": q.payload,
                        "expires_at": q.expires_at,
                    }
                    for q in items
                ],
            )

    def purge_quarantine(self, now_ms: int, received_before: int) -> int:
        q = s.quarantine
        stmt = delete(q).where(or_(q.c.expires_at <= now_ms, q.c.received_at < received_before))
        return int(self.conn.execute(stmt).rowcount)

    def set_quarantine_status(self, item_id: int, status: str, reason: str, detail: str) -> None:
        self.conn.execute(
            update(s.quarantine)
            .where(s.quarantine.c.id == item_id)
            .values(status=status, reason=reason, detail=detail)
        )

    def insert_decisions(self, records: Sequence[DecisionRecord]) -> None:
        if records:
            self.conn.execute(
                s.decisions.insert(),
                [
                    {
                        "at": d.at,
                        "device_id": d.device_id,
                        "seq": d.seq,
                        "stage": d.stage,
                        "reason": d.reason,
                        "count": d.count,
                        "outcome": d.outcome,
                        "claimed_device": d.claimed_device,
                        "digest": d.digest,
                    }
                    for d in records
                ],
            )

    def advance_device_seqs(self, seqs: dict[str, int]) -> None:
        if seqs:
            d = s.devices
            stmt = (
                update(d)
                .where(d.c.id == bindparam("dev"), d.c.last_seq < bindparam("seq"))
                .values(last_seq=bindparam("seq"))
            )
            self.conn.execute(stmt, [{"dev": dev, "seq": seq} for dev, seq in seqs.items()])

    def reset_device_seq(self, device_id: str) -> int:
        d = s.devices
        was = self.conn.execute(
            select(d.c.last_seq).where(d.c.id == device_id).with_for_update()
        ).scalar_one()
        self.conn.execute(update(d).where(d.c.id == device_id).values(last_seq=-1))
        return int(was)


class SqlReadingsStore:
    """Reads of readings, quarantine and decisions, overall and per project."""

    # Mixed into SqlStore, which provides the engine and the reader.
    engine: Engine
    _rows: Callable[[Any], list[Any]]

    def device_seq(self, device_id: str) -> int:
        rows = self._rows(select(s.devices.c.last_seq).where(s.devices.c.id == device_id))
        return int(rows[0][0]) if rows else -1

    def readings(
        self,
        *,
        device_id: str | None = None,
        project_id: str | None = None,
        since: int | None = None,
        until: int | None = None,
        after_id: int = 0,
        limit: int = 1000,
    ) -> list[StoredReading]:
        r = s.readings
        columns = [r.c.id, *(r.c[c] for c in READING_COLUMNS)]
        stmt = select(*columns).where(r.c.id > after_id).order_by(r.c.id).limit(limit)
        if device_id is not None:
            stmt = stmt.where(r.c.device_id == device_id)
        if project_id is not None:
            of_project = select(s.devices.c.id).where(s.devices.c.project_id == project_id)
            stmt = stmt.where(r.c.device_id.in_(of_project), r.c.project_id == project_id)
        if since is not None:
            stmt = stmt.where(r.c.observed_at >= since)
        if until is not None:
            stmt = stmt.where(r.c.observed_at < until)
        return [StoredReading(*row) for row in self._rows(stmt)]

    def count_readings(self) -> int:
        return int(self._rows(select(func.count()).select_from(s.readings))[0][0])

    def quarantine(self, *, status: str = "held", limit: int = 1000) -> list[QuarantineItem]:
        q = s.quarantine
        stmt = select(q).where(q.c.status == status).order_by(q.c.id).limit(limit)
        return [self._q(row) for row in self._rows(stmt)]

    def get_quarantine(self, item_id: int) -> QuarantineItem | None:
        rows = self._rows(select(s.quarantine).where(s.quarantine.c.id == item_id))
        return self._q(rows[0]) if rows else None

    @staticmethod
    def _q(row: Any) -> QuarantineItem:
        return QuarantineItem(
            id=row.id,
            received_at=row.received_at,
            device_id=row.device_id,
            seq=row.seq,
            kind=row.kind,
            stage=row.stage,
            reason=row.reason,
            detail=row.detail,
            status=row.status,
            payload=bytes(row.payload),
            expires_at=row.expires_at,
        )

    def count_quarantine(self, status: str = "held") -> int:
        q = s.quarantine
        stmt = select(func.count()).select_from(q).where(q.c.status == status)
        return int(self._rows(stmt)[0][0])

    def rejections_by_reason(self) -> dict[str, int]:
        d = s.decisions
        stmt = select(d.c.reason, func.sum(d.c.count)).group_by(d.c.reason).order_by(d.c.reason)
        return {row[0]: int(row[1]) for row in self._rows(stmt)}

    def was_decided(
        self, device_id: str, seq: int, digest: bytes, observed_since: int | None = None
    ) -> bool:
        r, d = s.readings, s.decisions
        # Only an authenticated envelope's readings are ever stored.
        stored = select(r.c.id).where(r.c.device_id == device_id, r.c.seq == seq).limit(1)
        if observed_since is not None:
            stored = stored.where(r.c.observed_at >= observed_since)
        if self._rows(stored):
            return True
        rejected = (
            select(d.c.id)
            .where(
                d.c.device_id == device_id,
                d.c.seq == seq,
                d.c.digest.in_([digest, s.LEGACY_DIGEST]),
            )
            .limit(1)
        )
        return bool(self._rows(rejected))

    # per-project figures --------------------------------------------------------
    def _devices_of(self, project_id: str) -> Any:
        return select(s.devices.c.id).where(s.devices.c.project_id == project_id)

    def count_readings_of(self, project_id: str) -> int:
        r = s.readings
        stmt = select(func.count()).select_from(r).where(r.c.project_id == project_id)
        return int(self._rows(stmt)[0][0])

    def rejections_by_reason_of(self, project_id: str) -> dict[str, int]:
        d = s.decisions
        stmt = (
            select(d.c.reason, func.sum(d.c.count))
            .where(d.c.device_id.in_(self._devices_of(project_id)))
            .group_by(d.c.reason)
            .order_by(d.c.reason)
        )
        return {row[0]: int(row[1]) for row in self._rows(stmt)}

    def count_quarantine_of(self, project_id: str, status: str = "held") -> int:
        q = s.quarantine
        stmt = (
            select(func.count())
            .select_from(q)
            .where(q.c.status == status, q.c.device_id.in_(self._devices_of(project_id)))
        )
        return int(self._rows(stmt)[0][0])
