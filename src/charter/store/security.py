"""Tokens, the issuer's keys and the two-person rule's pending actions (a part of
the SQL store).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.engine import Connection

from charter.store import schema as s
from charter.store.base import (
    IssuerKey,
    PendingAction,
    TokenRecord,
)
from charter.store.upsert import upsert


class SqlSecurityTx:
    """Writes of tokens, issuer keys and pending actions."""

    # Mixed into SqlTx, which provides the connection.
    conn: Connection
    register_changed: bool

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

    def add_issuer_key(self, key: IssuerKey) -> None:
        self.conn.execute(
            s.issuer_keys.insert().values(
                kid=key.kid, private_pem=key.private_pem, created_at=key.created_at
            )
        )

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


class SqlSecurityStore:
    """Reads of tokens, issuer keys and pending actions."""

    # Mixed into SqlStore, which provides the engine and the reader.
    engine: Engine
    _rows: Callable[[Any], list[Any]]

    def get_token(self, digest: str) -> TokenRecord | None:
        rows = self._rows(select(s.tokens).where(s.tokens.c.digest == digest))
        if not rows:
            return None
        r = rows[0]
        return TokenRecord(r.digest, r.name, r.role, r.created_at, bool(r.revoked), r.subject)

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
