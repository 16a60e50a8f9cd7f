"""The store's part for residents' rights: records, the protocols, and the SQL of
residents, identifier links, consents, receipts, erasure and retention.

Access by purpose (requests, the access log, personal reads, bulk reads) is
`access.py`. Kept apart from `sql.py` so that the rights tables have one home;
`SqlTx` and `SqlStore` inherit these methods, so every backend has them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Connection

from charter.store import schema as s


@dataclass(frozen=True, slots=True)
class ResidentRecord:
    id: str
    created_at: int
    status: str = "active"
    erased_at: int | None = None


@dataclass(frozen=True, slots=True)
class LinkRecord:
    digest: str
    key_version: int
    resident_id: str
    kind: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    id: str
    resident_id: str
    category: str
    purpose: str
    projects: tuple[str, ...]
    granted_at: int
    expires_at: int | None
    withdrawn_at: int | None
    method: str

    def valid_at(self, ms: int) -> bool:
        return (
            self.withdrawn_at is None
            and self.granted_at <= ms
            and (self.expires_at is None or ms < self.expires_at)
        )


@dataclass(frozen=True, slots=True)
class ReceiptRecord:
    id: str
    resident_id: str
    consent_id: str
    action: str
    at: int
    jws: str


@dataclass(frozen=True, slots=True)
class AccessRequestRecord:
    id: str
    consumer: str
    dataset: str
    categories: tuple[str, ...]
    purpose: str
    why: str
    status: str
    requested_at: int
    decided_at: int | None = None
    decided_by: str | None = None
    expires_at: int | None = None
    constraints: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccessLogRecord:
    at: int
    resident_id: str
    consumer: str
    grant_id: str
    purpose: str
    category: str
    readings: int


@dataclass(frozen=True, slots=True)
class RetentionRun:
    at: int
    removed: int
    detail: dict[str, Any]
    id: int = 0


# (id, device_id, project_id, category, observed_at, received_at, seq, encrypted body, subject)
PersonalReading = tuple[int, str, str, str, int, int, int, str, str]


class RightsTx(Protocol):
    def add_resident(self, resident: ResidentRecord) -> None: ...
    def mark_erased(self, resident_id: str, at: int) -> None: ...
    def add_link(self, link: LinkRecord) -> None: ...
    def add_link_if_absent(self, link: LinkRecord) -> bool: ...
    def delete_links(
        self, *, resident_id: str | None = None, below_version: int | None = None
    ) -> int: ...
    def add_consent(self, consent: ConsentRecord) -> None: ...
    def withdraw_consent(self, consent_id: str, at: int) -> None: ...
    def add_receipt(self, receipt: ReceiptRecord) -> None: ...
    def put_access_request(self, request: AccessRequestRecord) -> None: ...
    def add_access_log(self, records: Sequence[AccessLogRecord]) -> None: ...
    def add_retention_run(self, run: RetentionRun) -> None: ...
    def erase_subject(self, resident_id: str) -> dict[str, int]: ...
    def delete_readings_before(self, device_ids: Sequence[str], category: str, cut: int) -> int: ...
    def bump_rights_version(self) -> int: ...
    def rights_version(self) -> int: ...
    def bulk_reads_since(self, reader: str, since: int) -> int: ...
    def add_bulk_read(self, reader: str, at: int, records: int) -> None: ...


class RightsStore(Protocol):
    def get_resident(self, resident_id: str) -> ResidentRecord | None: ...
    def links(self, resident_id: str | None = None) -> list[LinkRecord]: ...
    def link_owner(self, digest: str) -> str | None: ...
    def erased_residents(self) -> list[str]: ...
    def tokens_of(self, subject: str) -> list[tuple[str, str, int, bool]]: ...
    def consents(
        self, resident_id: str | None = None, *, active_only: bool = False
    ) -> list[ConsentRecord]: ...
    def get_consent(self, consent_id: str) -> ConsentRecord | None: ...
    def receipts(self, resident_id: str) -> list[ReceiptRecord]: ...
    def get_access_request(self, request_id: str) -> AccessRequestRecord | None: ...
    def access_requests(self, consumer: str | None = None) -> list[AccessRequestRecord]: ...
    def access_log(self, resident_id: str) -> list[AccessLogRecord]: ...
    def personal_readings(
        self,
        *,
        subject: str | None = None,
        project_id: str | None = None,
        category: str | None = None,
        after_id: int = 0,
        limit: int = 10_000,
    ) -> list[PersonalReading]: ...
    def read_rights_version(self) -> int: ...
    # for the transparency report
    def consent_counts_by_category(
        self, project_id: str | None = None
    ) -> dict[str, dict[str, int]]: ...
    def access_requests_by_purpose(
        self, project_id: str | None = None
    ) -> dict[str, dict[str, int]]: ...
    def retention_runs(self, limit: int = 100) -> list[RetentionRun]: ...


class SqlRightsTx:
    conn: Connection

    def add_resident(self, resident: ResidentRecord) -> None:
        self.conn.execute(
            s.residents.insert().values(
                id=resident.id,
                created_at=resident.created_at,
                status=resident.status,
                erased_at=resident.erased_at,
            )
        )

    def mark_erased(self, resident_id: str, at: int) -> None:
        r = s.residents
        self.conn.execute(
            update(r).where(r.c.id == resident_id).values(status="erased", erased_at=at)
        )

    def add_link(self, link: LinkRecord) -> None:
        self.conn.execute(
            s.identifier_links.insert().values(
                digest=link.digest,
                key_version=link.key_version,
                resident_id=link.resident_id,
                kind=link.kind,
                created_at=link.created_at,
            )
        )

    def add_link_if_absent(self, link: LinkRecord) -> bool:
        t = s.identifier_links
        found = self.conn.execute(select(t.c.digest).where(t.c.digest == link.digest)).first()
        if found is not None:
            return False
        self.add_link(link)
        return True

    def delete_links(
        self, *, resident_id: str | None = None, below_version: int | None = None
    ) -> int:
        t = s.identifier_links
        stmt = delete(t)
        if resident_id is not None:
            stmt = stmt.where(t.c.resident_id == resident_id)
        if below_version is not None:
            stmt = stmt.where(t.c.key_version < below_version)
        return int(self.conn.execute(stmt).rowcount)

    def add_consent(self, consent: ConsentRecord) -> None:
        self.conn.execute(
            s.consents.insert().values(
                id=consent.id,
                resident_id=consent.resident_id,
                category=consent.category,
                purpose=consent.purpose,
                projects=json.dumps(list(consent.projects)),
                granted_at=consent.granted_at,
                expires_at=consent.expires_at,
                withdrawn_at=consent.withdrawn_at,
                method=consent.method,
            )
        )

    def withdraw_consent(self, consent_id: str, at: int) -> None:
        c = s.consents
        self.conn.execute(update(c).where(c.c.id == consent_id).values(withdrawn_at=at))

    def add_receipt(self, receipt: ReceiptRecord) -> None:
        self.conn.execute(
            s.consent_receipts.insert().values(
                id=receipt.id,
                resident_id=receipt.resident_id,
                consent_id=receipt.consent_id,
                action=receipt.action,
                at=receipt.at,
                jws=receipt.jws,
            )
        )

    def add_retention_run(self, run: RetentionRun) -> None:
        self.conn.execute(
            s.retention_runs.insert().values(
                at=run.at, removed=run.removed, detail=json.dumps(run.detail, sort_keys=True)
            )
        )

    def erase_subject(self, resident_id: str) -> dict[str, int]:
        """Delete everything held about a resident that can be deleted; returns counts."""
        removed: dict[str, int] = {}
        for name, table, column in (
            ("readings", s.readings, s.readings.c.subject),
            ("links", s.identifier_links, s.identifier_links.c.resident_id),
            ("consents", s.consents, s.consents.c.resident_id),
            ("receipts", s.consent_receipts, s.consent_receipts.c.resident_id),
            ("access_log", s.access_log, s.access_log.c.resident_id),
            ("tokens", s.tokens, s.tokens.c.subject),  # deleted: unknown tokens fail
        ):
            removed[name] = int(
                self.conn.execute(delete(table).where(column == resident_id)).rowcount
            )
        return removed

    def delete_readings_before(self, device_ids: Sequence[str], category: str, cut: int) -> int:
        if not device_ids:
            return 0
        r = s.readings
        stmt = delete(r).where(
            r.c.device_id.in_(list(device_ids)), r.c.category == category, r.c.observed_at < cut
        )
        return int(self.conn.execute(stmt).rowcount)

    def rights_version(self) -> int:
        # FOR SHARE on PostgreSQL: waits for a concurrent change to commit and
        # then reads it (SQLite's single writer already serialises this).
        v = s.rights_version
        stmt = select(v.c.version).where(v.c.id == 1).with_for_update(read=True)
        row = self.conn.execute(stmt).first()
        return int(row[0]) if row else 0

    def bump_rights_version(self) -> int:
        v = s.rights_version
        res = self.conn.execute(update(v).where(v.c.id == 1).values(version=v.c.version + 1))
        if res.rowcount == 0:
            self.conn.execute(v.insert().values(id=1, version=1))
        return self.rights_version()


class SqlRightsStore:
    # Mixed into SqlStore, which provides the reader.
    _rows: Callable[[Any], list[Any]]

    def get_resident(self, resident_id: str) -> ResidentRecord | None:
        rows = self._rows(select(s.residents).where(s.residents.c.id == resident_id))
        return ResidentRecord(*rows[0]) if rows else None

    def links(self, resident_id: str | None = None) -> list[LinkRecord]:
        t = s.identifier_links
        stmt = select(t).order_by(t.c.created_at, t.c.digest)
        if resident_id is not None:
            stmt = stmt.where(t.c.resident_id == resident_id)
        return [LinkRecord(*r) for r in self._rows(stmt)]

    def tokens_of(self, subject: str) -> list[tuple[str, str, int, bool]]:
        """(name, role, created_at, revoked) of the tokens that speak for `subject`."""
        t = s.tokens
        stmt = (
            select(t.c.name, t.c.role, t.c.created_at, t.c.revoked)
            .where(t.c.subject == subject)
            .order_by(t.c.created_at)
        )
        return [(str(a), str(b), int(c), bool(d)) for a, b, c, d in self._rows(stmt)]

    def erased_residents(self) -> list[str]:
        r = s.residents
        return [str(x[0]) for x in self._rows(select(r.c.id).where(r.c.status == "erased"))]

    def link_owner(self, digest: str) -> str | None:
        t = s.identifier_links
        rows = self._rows(select(t.c.resident_id).where(t.c.digest == digest))
        return str(rows[0][0]) if rows else None

    @staticmethod
    def _consent(r: Any) -> ConsentRecord:
        return ConsentRecord(
            r.id,
            r.resident_id,
            r.category,
            r.purpose,
            tuple(json.loads(r.projects)),
            r.granted_at,
            r.expires_at,
            r.withdrawn_at,
            r.method,
        )

    def consents(
        self, resident_id: str | None = None, *, active_only: bool = False
    ) -> list[ConsentRecord]:
        c = s.consents
        stmt = select(c).order_by(c.c.granted_at, c.c.id)
        if resident_id is not None:
            stmt = stmt.where(c.c.resident_id == resident_id)
        if active_only:
            stmt = stmt.where(c.c.withdrawn_at.is_(None))
        return [self._consent(r) for r in self._rows(stmt)]

    def get_consent(self, consent_id: str) -> ConsentRecord | None:
        rows = self._rows(select(s.consents).where(s.consents.c.id == consent_id))
        return self._consent(rows[0]) if rows else None

    def receipts(self, resident_id: str) -> list[ReceiptRecord]:
        t = s.consent_receipts
        stmt = select(t).where(t.c.resident_id == resident_id).order_by(t.c.at, t.c.action, t.c.id)
        return [ReceiptRecord(*r) for r in self._rows(stmt)]

    def read_rights_version(self) -> int:
        v = s.rights_version
        rows = self._rows(select(v.c.version).where(v.c.id == 1))
        return int(rows[0][0]) if rows else 0

    def consent_counts_by_category(
        self, project_id: str | None = None
    ) -> dict[str, dict[str, int]]:
        c = s.consents
        withdrawn = c.c.withdrawn_at.is_not(None)
        stmt = (
            select(c.c.category, withdrawn, func.count())
            .group_by(c.c.category, withdrawn)
            .order_by(c.c.category)
        )
        if project_id is not None:
            # `projects` is a JSON list of ids: match the quoted id, wildcards escaped.
            stmt = stmt.where(c.c.projects.contains(json.dumps(project_id), autoescape=True))
        out: dict[str, dict[str, int]] = {}
        for category, was_withdrawn, n in self._rows(stmt):
            key = "withdrawn" if was_withdrawn else "given"
            out.setdefault(category, {"given": 0, "withdrawn": 0})[key] = int(n)
        return out

    def retention_runs(self, limit: int = 100) -> list[RetentionRun]:
        t = s.retention_runs
        stmt = select(t).order_by(t.c.id.desc()).limit(limit)
        return [RetentionRun(r.at, r.removed, json.loads(r.detail), r.id) for r in self._rows(stmt)]
