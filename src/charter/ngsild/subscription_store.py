"""NGSI-LD subscriptions in the store (SQLite or PostgreSQL): ``ngsild_subscriptions``.

One row per subscription: the document as given, the names it watches already expanded,
its owner (for the rights checks at each notification) and its counters, so that every
process sees the same subscriptions and counts.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, insert, select, update

from charter.domain.model import Actor
from charter.ngsild.errors import ErrorType, NgsiError
from charter.ngsild.subscription_model import MAX_SUBSCRIPTIONS_PER_TENANT, Subscription
from charter.store import schema as s

S = s.ngsild_subscriptions


class SubscriptionRepository:
    """Subscriptions in the store (SQLite or PostgreSQL): ``ngsild_subscriptions``."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.engine = store.engine

    def _from_row(self, row: Any) -> Subscription:
        exp = json.loads(row.expanded)
        doc = json.loads(row.doc)
        return Subscription(
            tenant=row.tenant,
            id=row.id,
            doc=doc["doc"],
            context=doc.get("context"),
            owner=Actor.model_validate_json(row.owner),
            purpose=row.purpose,
            types=exp["types"],
            watched=exp["watched"],
            notify_attrs=exp["attrs"],
            qmap=exp["qmap"],
            geoproperty=exp["geoproperty"],
            grant=exp.get("grant"),
            is_active=bool(row.is_active),
            expires_at=row.expires_at,
            throttling_s=row.throttling_s,
            time_interval_s=row.time_interval_s,
            times_sent=row.times_sent,
            times_failed=row.times_failed,
            last_notification=row.last_notification,
            last_success=row.last_success,
            last_failure=row.last_failure,
            ended=row.ended,
            created_at=row.created_at,
            modified_at=row.modified_at,
            context_link=doc.get("link"),
        )

    def _row(self, sub: Subscription) -> dict[str, Any]:
        return {
            "tenant": sub.tenant,
            "id": sub.id,
            "doc": json.dumps(
                {"doc": sub.doc, "context": sub.context, "link": sub.context_link},
                ensure_ascii=False,
            ),
            "expanded": json.dumps(
                {
                    "types": sub.types,
                    "watched": sub.watched,
                    "attrs": sub.notify_attrs,
                    "qmap": sub.qmap,
                    "geoproperty": sub.geoproperty,
                    "grant": sub.grant,
                }
            ),
            "owner": sub.owner.model_dump_json(),
            "purpose": sub.purpose,
            "is_active": int(sub.is_active),
            "expires_at": sub.expires_at,
            "throttling_s": sub.throttling_s,
            "time_interval_s": sub.time_interval_s,
            "times_sent": sub.times_sent,
            "times_failed": sub.times_failed,
            "last_notification": sub.last_notification,
            "last_success": sub.last_success,
            "last_failure": sub.last_failure,
            "ended": sub.ended,
            "created_at": sub.created_at,
            "modified_at": sub.modified_at,
        }

    def insert(self, sub: Subscription) -> bool:
        # A writer's transaction (SQLite: BEGIN IMMEDIATE): it reads before it writes, and a
        # deferred one would fail at once ("database is locked") when another writer holds.
        with self.store.transaction() as tx:
            conn = tx.conn
            count = conn.execute(
                select(S.c.id).where(S.c.tenant == sub.tenant).limit(MAX_SUBSCRIPTIONS_PER_TENANT)
            ).fetchall()
            if len(count) >= MAX_SUBSCRIPTIONS_PER_TENANT:
                raise NgsiError(ErrorType.BAD_REQUEST_DATA, "too many subscriptions in this tenant")
            hit = conn.execute(
                select(S.c.id).where(S.c.tenant == sub.tenant, S.c.id == sub.id)
            ).first()
            if hit is not None:
                return False
            conn.execute(insert(S).values(**self._row(sub)))
        return True

    def save(self, sub: Subscription) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(S).where(S.c.tenant == sub.tenant, S.c.id == sub.id).values(**self._row(sub))
            )

    def get(self, tenant: str, sid: str) -> Subscription | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(S).where(S.c.tenant == tenant, S.c.id == sid)).first()
        return self._from_row(row) if row is not None else None

    def page(self, tenant: str, limit: int = 1000, offset: int = 0) -> list[Subscription]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(S).where(S.c.tenant == tenant).order_by(S.c.id).limit(limit).offset(offset)
            ).fetchall()
        return [self._from_row(r) for r in rows]

    def count(self, tenant: str) -> int:
        with self.engine.connect() as conn:
            return len(conn.execute(select(S.c.id).where(S.c.tenant == tenant)).fetchall())

    def active(self, tenant: str | None = None) -> list[Subscription]:
        stmt = select(S).where(S.c.is_active == 1, S.c.ended.is_(None))
        if tenant is not None:
            stmt = stmt.where(S.c.tenant == tenant)
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).fetchall()
        return [self._from_row(r) for r in rows]

    def delete(self, tenant: str, sid: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(delete(S).where(S.c.tenant == tenant, S.c.id == sid))
        return bool(res.rowcount)

    def record(self, tenant: str, sid: str, at: int, ok: bool) -> None:
        """Count one delivery attempt (in the store: every process sees the counters)."""
        values: dict[str, Any] = {"last_notification": at}
        if ok:
            values["times_sent"] = S.c.times_sent + 1
            values["last_success"] = at
        else:
            values["times_sent"] = S.c.times_sent + 1
            values["times_failed"] = S.c.times_failed + 1
            values["last_failure"] = at
        with self.engine.begin() as conn:
            conn.execute(update(S).where(S.c.tenant == tenant, S.c.id == sid).values(**values))

    def record_tick(self, tenant: str, sid: str, at: int) -> None:
        """A period passed with nothing to notify (the next period counts from here)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(S).where(S.c.tenant == tenant, S.c.id == sid).values(last_notification=at)
            )

    def end(self, tenant: str, sid: str, why: str, at: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(S)
                .where(S.c.tenant == tenant, S.c.id == sid)
                .values(is_active=0, ended=why[:200], modified_at=at)
            )
