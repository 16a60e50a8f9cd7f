"""The SQL store both backends share: the schema through SQLAlchemy Core.

SQLite and PostgreSQL differ only in how they connect, how a writer begins its
transaction and how the gate's batch of readings goes in (the hot path); each
backend overrides just those.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, bindparam, delete, func, or_, select, update
from sqlalchemy.engine import Connection

from charter.domain.consultation import (
    Comment,
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    Stance,
    Theme,
)
from charter.domain.model import Device, Project, Vendor
from charter.store import schema as s
from charter.store.alerts import SqlAlertsStore, SqlAlertsTx
from charter.store.base import (
    DecisionRecord,
    DeviceKey,
    IssuerKey,
    LedgerEntry,
    PendingAction,
    PersonalRow,
    QuarantineItem,
    ReadingRow,
    StoredCheckpoint,
    StoredReading,
    TokenRecord,
)
from charter.store.rights import SqlRightsStore, SqlRightsTx
from charter.store.services import SqlServicesStore, SqlServicesTx
from charter.store.upsert import upsert

READING_COLUMNS = (
    "device_id",
    "project_id",
    "category",
    "observed_at",
    "received_at",
    "seq",
    "body",
)


def _ledger_size(conn: Connection) -> int:
    # The next index, not count(*): an index look-up on both backends.
    return (
        int(conn.execute(select(func.coalesce(func.max(s.ledger_entries.c.idx), -1))).scalar_one())
        + 1
    )


# Built once: the statement every batch runs (the gate's and the services' version check).
_REGISTER_VERSION = select(s.register_version.c.version).where(s.register_version.c.id == 1)


def _pk(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


class SqlTx(SqlRightsTx, SqlServicesTx, SqlAlertsTx):
    """Writes through SQLAlchemy Core; backends override the hot paths."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.register_changed = False

    def finish(self) -> None:
        """Just before the commit: a transaction that changed the register bumps its version.

        Here rather than in each write, so that whoever writes the register (any
        service, any process) cannot forget it, and the version's row is locked
        only for the moment of the commit.
        """
        if self.register_changed:
            v = s.register_version
            res = self.conn.execute(update(v).where(v.c.id == 1).values(version=v.c.version + 1))
            if res.rowcount == 0:
                self.conn.execute(v.insert().values(id=1, version=1))

    def put_vendor(self, vendor: Vendor, at: int) -> None:
        self.register_changed = True
        upsert(
            self.conn,
            s.vendors,
            ("id",),
            {
                "id": vendor.id,
                "trust": vendor.trust.value,
                "doc": vendor.model_dump_json(),
                "updated_at": at,
            },
        )

    def put_project(self, project: Project, at: int) -> None:
        self.register_changed = True
        upsert(
            self.conn,
            s.projects,
            ("id",),
            {
                "id": project.id,
                "status": project.status.value,
                "doc": project.model_dump_json(),
                "updated_at": at,
            },
        )

    def put_device(self, device: Device, at: int) -> None:
        self.register_changed = True
        upsert(
            self.conn,
            s.devices,
            ("id",),
            {
                "id": device.id,
                "vendor_id": device.vendor_id,
                "project_id": device.project_id,
                "status": device.status.value,
                "doc": device.model_dump_json(),
                "updated_at": at,
            },
        )

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

    def append_ledger(self, entry: LedgerEntry, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        self.conn.execute(
            s.ledger_entries.insert().values(
                idx=entry.idx, at=entry.at, kind=entry.kind, data=entry.data
            )
        )
        self.conn.execute(
            s.ledger_nodes.insert(), [{"level": lv, "idx": i, "hash": h} for lv, i, h in nodes]
        )

    def add_checkpoint(self, checkpoint: StoredCheckpoint) -> None:
        self.conn.execute(
            s.ledger_checkpoints.insert().values(
                size=checkpoint.size, at=checkpoint.at, root=checkpoint.root, note=checkpoint.note
            )
        )

    def lock_ledger(self) -> int:
        # SQLite: the writer's BEGIN IMMEDIATE already excludes every other writer.
        return _ledger_size(self.conn)

    def set_checkpoint_note(self, size: int, note: str) -> None:
        c = s.ledger_checkpoints
        self.conn.execute(update(c).where(c.c.size == size).values(note=note))

    def add_token(self, token: TokenRecord) -> None:
        self.conn.execute(
            s.tokens.insert().values(
                digest=token.digest,
                name=token.name,
                role=token.role,
                created_at=token.created_at,
                revoked=int(token.revoked),
                subject=token.subject,
            )
        )

    def revoke_token(self, digest: str) -> bool:
        t = s.tokens
        res = self.conn.execute(update(t).where(t.c.digest == digest).values(revoked=1))
        return bool(res.rowcount)

    # consultation -------------------------------------------------------------
    def insert_consultation(self, c: Consultation) -> int:
        res = self.conn.execute(
            s.consultations.insert().values(
                project_id=c.project_id,
                kind=c.kind.value,
                opened_at=c.opened_at,
                closes_at=c.closes_at,
                status=c.status.value,
                proposal=c.proposal,
                changes=c.changes,
                decided_at=c.decided_at,
                why=c.why,
            )
        )
        return _pk(res)

    def decide_consultation(self, consultation_id: int, status: str, at: int, why: str) -> None:
        self.conn.execute(
            update(s.consultations)
            .where(s.consultations.c.id == consultation_id)
            .values(status=status, decided_at=at, why=why)
        )

    def insert_comment(self, c: Comment, source: str, name: str | None, contact: str | None) -> int:
        res = self.conn.execute(
            s.comments.insert().values(
                consultation_id=c.consultation_id,
                at=c.at,
                stance=c.stance.value,
                text=c.text,
                theme_id=c.theme_id,
                source=source,
            )
        )
        comment_id = _pk(res)
        if name or contact:
            self.conn.execute(
                s.comment_contacts.insert().values(
                    comment_id=comment_id, name=name or None, contact=contact or None
                )
            )
        return comment_id

    def set_comment_theme(self, comment_id: int, theme_id: int) -> None:
        self.conn.execute(
            update(s.comments).where(s.comments.c.id == comment_id).values(theme_id=theme_id)
        )

    def insert_theme(self, t: Theme) -> int:
        res = self.conn.execute(
            s.themes.insert().values(
                consultation_id=t.consultation_id,
                created_at=t.created_at,
                title=t.title,
                summary=t.summary,
                response=t.response,
                responded_at=t.responded_at,
            )
        )
        return _pk(res)

    def set_theme_response(self, theme_id: int, response: str, at: int) -> None:
        self.conn.execute(
            update(s.themes)
            .where(s.themes.c.id == theme_id)
            .values(response=response, responded_at=at)
        )

    def put_device_key(self, key: DeviceKey) -> None:
        self.register_changed = True
        t = s.device_keys
        values = {
            "device_id": key.device_id,
            "key_id": key.key_id,
            "public_key": key.public_key,
            "not_before": key.not_before,
            "not_after": key.not_after,
            "revoked_at": key.revoked_at,
        }
        upsert(self.conn, t, ("device_id", "key_id"), values)

    def put_trust_policy(self, rules: str, fingerprint: str, at: int) -> None:
        values = {"id": 1, "rules": rules, "fingerprint": fingerprint, "adopted_at": at}
        upsert(self.conn, s.trust_policy, ("id",), values)

    def add_issuer_key(self, key: IssuerKey) -> None:
        self.conn.execute(
            s.issuer_keys.insert().values(
                kid=key.kid, private_pem=key.private_pem, created_at=key.created_at
            )
        )

    def set_service_status(self, name: str, status: str, at: int) -> None:
        # A service host decides who runs at the register's version (services/host.py).
        self.register_changed = True
        values = {"name": name, "status": status, "changed_at": at}
        upsert(self.conn, s.service_states, ("name",), values)

    def put_pending_action(self, action: PendingAction) -> None:
        upsert(
            self.conn,
            s.pending_actions,
            ("id",),
            {
                "id": action.id,
                "kind": action.kind,
                "params": action.params,
                "proposed_by": action.proposed_by,
                "proposed_role": action.proposed_role,
                "proposed_at": action.proposed_at,
                "expires_at": action.expires_at,
                "status": action.status,
                "decided_by": action.decided_by,
                "decided_at": action.decided_at,
            },
        )


class SqlStore(SqlRightsStore, SqlServicesStore, SqlAlertsStore):
    """Reads and transactions over one SQLAlchemy engine."""

    tx_class: type[SqlTx] = SqlTx

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[SqlTx]:
        with self.engine.begin() as conn:
            tx = self.tx_class(conn)
            yield tx
            tx.finish()

    def close(self) -> None:
        self.engine.dispose()

    def _rows(self, stmt: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(stmt))

    # registry ---------------------------------------------------------------
    def get_vendor(self, vendor_id: str) -> Vendor | None:
        rows = self._rows(select(s.vendors.c.doc).where(s.vendors.c.id == vendor_id))
        return Vendor.model_validate_json(rows[0][0]) if rows else None

    def list_vendors(self) -> list[Vendor]:
        rows = self._rows(select(s.vendors.c.doc).order_by(s.vendors.c.id))
        return [Vendor.model_validate_json(r[0]) for r in rows]

    def get_project(self, project_id: str) -> Project | None:
        rows = self._rows(select(s.projects.c.doc).where(s.projects.c.id == project_id))
        return Project.model_validate_json(rows[0][0]) if rows else None

    def list_projects(self) -> list[Project]:
        rows = self._rows(select(s.projects.c.doc).order_by(s.projects.c.id))
        return [Project.model_validate_json(r[0]) for r in rows]

    def get_device(self, device_id: str) -> Device | None:
        rows = self._rows(select(s.devices.c.doc).where(s.devices.c.id == device_id))
        return Device.model_validate_json(rows[0][0]) if rows else None

    def list_devices(self, project_id: str | None = None) -> list[Device]:
        stmt = select(s.devices.c.doc).order_by(s.devices.c.id)
        if project_id is not None:
            stmt = stmt.where(s.devices.c.project_id == project_id)
        return [Device.model_validate_json(r[0]) for r in self._rows(stmt)]

    def read_register_version(self) -> int:
        rows = self._rows(_REGISTER_VERSION)  # read once per batch by gates and services
        return int(rows[0][0]) if rows else 0

    def read_trust_policy(self) -> str | None:
        """The adopted trust policy's rules (JSON), None if none was applied yet."""
        rows = self._rows(select(s.trust_policy.c.rules).where(s.trust_policy.c.id == 1))
        return str(rows[0][0]) if rows else None

    def device_seq(self, device_id: str) -> int:
        rows = self._rows(select(s.devices.c.last_seq).where(s.devices.c.id == device_id))
        return int(rows[0][0]) if rows else -1

    # readings -----------------------------------------------------------------
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

    # ledger -----------------------------------------------------------------
    def ledger_size(self) -> int:
        with self.engine.connect() as conn:
            return _ledger_size(conn)

    def ledger_node(self, level: int, idx: int) -> bytes:
        n = s.ledger_nodes
        rows = self._rows(select(n.c.hash).where(n.c.level == level, n.c.idx == idx))
        if not rows:
            raise KeyError(f"ledger node ({level}, {idx}) is missing")
        return bytes(rows[0][0])

    def ledger_entries(self, start: int, end: int) -> list[LedgerEntry]:
        e = s.ledger_entries
        stmt = select(e).where(e.c.idx >= start, e.c.idx < end).order_by(e.c.idx)
        return [LedgerEntry(r.idx, r.at, r.kind, bytes(r.data)) for r in self._rows(stmt)]

    def iter_ledger_entries(self) -> Iterator[LedgerEntry]:
        # Keyset pages: a hole in the indexes must not end the walk early.
        e, after = s.ledger_entries, -1
        while True:
            stmt = select(e).where(e.c.idx > after).order_by(e.c.idx).limit(1000)
            page = [LedgerEntry(r.idx, r.at, r.kind, bytes(r.data)) for r in self._rows(stmt)]
            if not page:
                return
            yield from page
            after = page[-1].idx

    def ledger_checkpoints(self) -> list[StoredCheckpoint]:
        c = s.ledger_checkpoints
        rows = self._rows(select(c).order_by(c.c.size))
        return [StoredCheckpoint(r.size, r.at, bytes(r.root), r.note) for r in rows]

    def ledger_checkpoint(self, size: int) -> StoredCheckpoint | None:
        c = s.ledger_checkpoints
        rows = self._rows(select(c).where(c.c.size == size))
        return (
            StoredCheckpoint(size, rows[0].at, bytes(rows[0].root), rows[0].note) if rows else None
        )

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        c = s.ledger_checkpoints
        rows = self._rows(select(c).order_by(c.c.size.desc()).limit(1))
        return (
            StoredCheckpoint(rows[0].size, rows[0].at, bytes(rows[0].root), rows[0].note)
            if rows
            else None
        )

    # tokens -------------------------------------------------------------------
    def get_token(self, digest: str) -> TokenRecord | None:
        rows = self._rows(select(s.tokens).where(s.tokens.c.digest == digest))
        if not rows:
            return None
        r = rows[0]
        return TokenRecord(r.digest, r.name, r.role, r.created_at, bool(r.revoked), r.subject)

    # consultation -------------------------------------------------------------
    def project_updated_at(self, project_id: str) -> int | None:
        p = s.projects
        rows = self._rows(select(p.c.updated_at).where(p.c.id == project_id))
        return int(rows[0][0]) if rows else None

    @staticmethod
    def _consultation(r: Any) -> Consultation:
        return Consultation(
            id=r.id,
            project_id=r.project_id,
            kind=ConsultationKind(r.kind),
            opened_at=r.opened_at,
            closes_at=r.closes_at,
            status=ConsultationStatus(r.status),
            proposal=r.proposal,
            changes=r.changes,
            decided_at=r.decided_at,
            why=r.why,
        )

    def consultations(self, project_id: str | None = None) -> list[Consultation]:
        c = s.consultations
        stmt = select(c).order_by(c.c.id)
        if project_id is not None:
            stmt = stmt.where(c.c.project_id == project_id)
        return [self._consultation(r) for r in self._rows(stmt)]

    def get_consultation(self, consultation_id: int) -> Consultation | None:
        c = s.consultations
        rows = self._rows(select(c).where(c.c.id == consultation_id))
        return self._consultation(rows[0]) if rows else None

    @staticmethod
    def _comment(r: Any) -> Comment:
        return Comment(r.id, r.consultation_id, r.at, Stance(r.stance), r.text, r.theme_id)

    def comments(
        self, consultation_id: int, *, after_id: int = 0, limit: int = 1000
    ) -> list[Comment]:
        c = s.comments
        stmt = (
            select(c.c.id, c.c.consultation_id, c.c.at, c.c.stance, c.c.text, c.c.theme_id)
            .where(c.c.consultation_id == consultation_id, c.c.id > after_id)
            .order_by(c.c.id)
            .limit(limit)
        )
        return [self._comment(r) for r in self._rows(stmt)]

    def get_comment(self, comment_id: int) -> Comment | None:
        c = s.comments
        stmt = select(
            c.c.id, c.c.consultation_id, c.c.at, c.c.stance, c.c.text, c.c.theme_id
        ).where(c.c.id == comment_id)
        rows = self._rows(stmt)
        return self._comment(rows[0]) if rows else None

    def stance_counts(self, consultation_id: int) -> dict[str, int]:
        c = s.comments
        stmt = (
            select(c.c.stance, func.count())
            .where(c.c.consultation_id == consultation_id)
            .group_by(c.c.stance)
        )
        counts = {st.value: 0 for st in Stance}
        counts.update({r[0]: int(r[1]) for r in self._rows(stmt)})
        return counts

    def count_comments_from(self, source: str, since: int) -> int:
        c = s.comments
        stmt = select(func.count()).select_from(c).where(c.c.source == source, c.c.at >= since)
        return int(self._rows(stmt)[0][0])

    @staticmethod
    def _theme(r: Any) -> Theme:
        return Theme(
            r.id, r.consultation_id, r.created_at, r.title, r.summary, r.response, r.responded_at
        )

    def themes(self, consultation_id: int) -> list[Theme]:
        t = s.themes
        stmt = select(t).where(t.c.consultation_id == consultation_id).order_by(t.c.id)
        return [self._theme(r) for r in self._rows(stmt)]

    def get_theme(self, theme_id: int) -> Theme | None:
        rows = self._rows(select(s.themes).where(s.themes.c.id == theme_id))
        return self._theme(rows[0]) if rows else None

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

    # security -------------------------------------------------------------------
    def device_keys(self, device_id: str) -> list[DeviceKey]:
        t = s.device_keys
        rows = self._rows(select(t).where(t.c.device_id == device_id).order_by(t.c.not_before))
        return [
            DeviceKey(r.device_id, r.key_id, r.public_key, r.not_before, r.not_after, r.revoked_at)
            for r in rows
        ]

    def issuer_keys(self) -> list[IssuerKey]:
        t = s.issuer_keys
        rows = self._rows(select(t).order_by(t.c.created_at))
        return [IssuerKey(r.kid, r.private_pem, r.created_at) for r in rows]

    def get_pending_action(self, action_id: str) -> PendingAction | None:
        t = s.pending_actions
        rows = self._rows(select(t).where(t.c.id == action_id))
        return _action(rows[0]) if rows else None

    def list_pending_actions(self, status: str | None = None) -> list[PendingAction]:
        t = s.pending_actions
        stmt = select(t).order_by(t.c.proposed_at)
        if status is not None:
            stmt = stmt.where(t.c.status == status)
        return [_action(r) for r in self._rows(stmt)]

    def disabled_services(self) -> list[str]:
        t = s.service_states
        rows = self._rows(select(t.c.name).where(t.c.status == "disabled").order_by(t.c.name))
        return [r.name for r in rows]


def _action(r: Any) -> PendingAction:
    return PendingAction(
        r.id,
        r.kind,
        r.params,
        r.proposed_by,
        r.proposed_role,
        r.proposed_at,
        r.expires_at,
        r.status,
        r.decided_by,
        r.decided_at,
    )
