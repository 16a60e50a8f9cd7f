"""Bearer tokens bound to a role. The platform keeps only a token's SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from charter.domain.clock import Clock, to_ms
from charter.domain.model import Actor
from charter.store.base import Store, TokenRecord


class Role(StrEnum):
    RESIDENT = "resident"
    OPERATOR = "operator"
    COUNCIL = "council"
    CONSUMER = "consumer"  # a data consumer: an app or a department
    AUDITOR = "auditor"
    PUBLIC = "public"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    store: Store, clock: Clock, name: str, role: Role, *, subject: str | None = None
) -> str:
    """Create a token; it is shown once and only its digest is stored."""
    token = "chr_" + secrets.token_urlsafe(32)
    record = TokenRecord(digest(token), name, role.value, to_ms(clock.now()), False, subject)
    with store.transaction() as tx:
        tx.add_token(record)
    return token


def authenticate(store: Store, token: str) -> Actor | None:
    record = store.get_token(digest(token))
    if record is None or record.revoked:
        return None
    return Actor(name=record.name, role=record.role, subject=record.subject)
