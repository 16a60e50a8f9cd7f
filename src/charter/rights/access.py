"""Access by purpose, as the India Urban Data Exchange does it.

A data consumer asks for a dataset (a project's categories) for a stated
purpose; the project's owner (an operator or the council) grants it, with an
expiry and constraints, or rejects it. A grant is a platform-signed token. A
read of personal data needs a valid grant, returns only readings of residents
who consented to that purpose, and is recorded per resident: who, what, when, why.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from charter.domain.clock import iso, to_ms
from charter.domain.errors import CharterError, Invalid, InvalidTransition, NotFound
from charter.domain.model import Actor, DataCategory
from charter.domain.reasons import Reason
from charter.rights import constraints as grant_constraints
from charter.rights import jws
from charter.rights.consent import PURPOSE_RE
from charter.rights.context import RightsContext, new_id
from charter.rights.guard import ReadGuard
from charter.store.rights import AccessLogRecord, AccessRequestRecord

GRANT_TYPE = "charter-grant+jws"
STAFF_ROLES = frozenset({"operator", "council", "auditor"})


def _why(why: str) -> None:
    if not why.strip() or len(why) > 2000:
        raise Invalid("say why, in 1 to 2000 characters")


@dataclass(frozen=True)
class Decision:
    request: AccessRequestRecord
    grant: str | None  # the signed grant token, when granted


class Access:
    def __init__(self, ctx: RightsContext, guard: ReadGuard | None = None) -> None:
        self.ctx = ctx
        self.guard = guard or ReadGuard()

    def requests(self, actor: Actor) -> list[AccessRequestRecord]:
        """A consumer sees its own requests only; the city's staff see all."""
        if actor.role in STAFF_ROLES:
            return self.ctx.store.access_requests()
        return self.ctx.store.access_requests(self._consumer(actor))

    def request(
        self, actor: Actor, *, dataset: str, categories: list[str], purpose: str, why: str
    ) -> AccessRequestRecord:
        consumer = self._consumer(actor)
        if not PURPOSE_RE.match(purpose):
            raise Invalid("purpose must be a lower-case word such as crossing-assistance")
        project = self.ctx.store.get_project(dataset)
        if project is None:
            raise NotFound(dataset)
        if not categories or len(categories) > 64:
            raise Invalid("name 1 to 64 categories")
        _why(why)
        for c in categories:
            if project.category(c) is None:
                raise CharterError(Reason.UNDECLARED_CATEGORY, f"{dataset} does not declare {c}")
        with self.ctx.ledger.write() as w:
            req = AccessRequestRecord(
                new_id(),
                consumer,
                dataset,
                tuple(sorted(set(categories))),
                purpose,
                why,
                "pending",
                w.now_ms,
            )
            w.tx.put_access_request(req)
            w.record(
                "access.requested",
                actor,
                request=req.id,
                consumer=consumer,
                dataset=dataset,
                categories=list(req.categories),
                purpose=purpose,
            )
        return req

    def decide(
        self,
        request_id: str,
        actor: Actor,
        *,
        grant: bool,
        why: str,
        expires_at: datetime | None = None,
        constraints: dict[str, Any] | None = None,
    ) -> Decision:
        if actor.role not in ("operator", "council"):
            raise CharterError(Reason.FORBIDDEN, "only the project's owner decides access")
        _why(why)
        req = self._request(request_id)
        if req.status != "pending":
            raise InvalidTransition(f"the request is {req.status}")
        now_ms = to_ms(self.ctx.clock.now())
        constraints = grant_constraints.check(constraints or {}, self._categories(req))
        if grant and (expires_at is None or to_ms(expires_at) <= now_ms):
            raise Invalid("a grant needs an expiry in the future")
        with self.ctx.ledger.write() as w:
            done = replace(
                req,
                status="granted" if grant else "rejected",
                decided_at=w.now_ms,
                decided_by=actor.name,
                expires_at=to_ms(expires_at) if grant and expires_at else None,
                constraints=constraints if grant else {},
            )
            w.tx.put_access_request(done)
            w.record(
                "access.granted" if grant else "access.rejected",
                actor,
                request=req.id,
                consumer=req.consumer,
                purpose=req.purpose,
                why=why,
                expires=iso(done.expires_at) if done.expires_at else None,
            )
        token = self._token(done) if grant else None
        return Decision(done, token)

    def revoke(self, request_id: str, actor: Actor, why: str) -> AccessRequestRecord:
        if actor.role not in ("operator", "council"):
            raise CharterError(Reason.FORBIDDEN, "only the project's owner revokes access")
        _why(why)
        req = self._request(request_id)
        if req.status != "granted":
            raise InvalidTransition(f"the request is {req.status}")
        with self.ctx.ledger.write() as w:
            done = replace(req, status="revoked", decided_at=w.now_ms, decided_by=actor.name)
            w.tx.put_access_request(done)
            w.record("access.revoked", actor, request=req.id, why=why)
        return done

    def grant_token(self, request_id: str, actor: Actor) -> str:
        """The grant token again, for the consumer it was granted to."""
        req = self._request(request_id)
        if req.consumer != self._consumer(actor) or req.status != "granted":
            raise CharterError(Reason.GRANT_INVALID)
        return self._token(req)

    def read(
        self,
        actor: Actor,
        token: str,
        *,
        category: str,
        purpose: str,
        after: int = 0,
        limit: int = 1000,
        approval: str | None = None,
    ) -> dict[str, Any]:
        """Personal data under a grant: only residents who consented to the purpose.

        Beyond the city's bulk-read threshold a read needs `approval`: the id of a
        `bulk_read` action a second person approved.
        """
        consumer = self._consumer(actor)
        # The token's own purposes first: a purpose-bound token reads for them only.
        self.guard.purpose(actor, purpose)
        req = self.check_grant(token, consumer)
        if purpose != req.purpose or category not in req.categories:
            raise CharterError(
                Reason.PURPOSE_NOT_GRANTED,
                f"the grant covers purpose {req.purpose!r} and {list(req.categories)}",
            )
        now_ms = to_ms(self.ctx.clock.now())
        consenting = {
            c.resident_id
            for c in self.ctx.store.consents(active_only=True)
            if c.category == category
            and c.purpose == purpose
            and req.dataset in c.projects
            and c.valid_at(now_ms)
        }
        # Checked again: a grant stored before constraints were checked fails clearly.
        constraints = grant_constraints.check(req.constraints, self._categories(req))
        cap = min(int(constraints.get("max_readings", limit)), limit)
        fields = constraints.get("fields")
        rows = self.ctx.store.personal_readings(
            project_id=req.dataset, category=category, after_id=after, limit=10 * cap
        )
        items: list[dict[str, Any]] = []
        per_resident: Counter[str] = Counter()
        for rid_, device, _project, cat, observed, _received, _seq, body, subject in rows:
            if len(items) >= cap:
                break
            if subject not in consenting:
                continue
            plain = self.ctx.cipher.decrypt(subject, cat, body)
            if plain is None:
                continue  # shredded
            values = json.loads(plain)
            if fields is not None:
                values = {k: v for k, v in values.items() if k in fields}
            items.append(
                {
                    "id": rid_,
                    "device": device,
                    "category": cat,
                    "observed_at": iso(observed),
                    # a pseudonym per grant: consumers cannot link residents across grants
                    "subject": hashlib.sha256(f"{req.id}|{subject}".encode()).hexdigest()[:16],
                    "values": values,
                }
            )
            per_resident[subject] += 1
        # The bulk-read guard (two-person rule) is wired here: the one call site
        # every read of personal data passes before anything is returned.
        self.guard.count(actor, req.dataset, len(items), approval=approval)
        with self.ctx.ledger.write() as w:
            w.tx.add_access_log(
                [
                    AccessLogRecord(w.now_ms, r, consumer, req.id, purpose, category, n)
                    for r, n in sorted(per_resident.items())
                ]
            )
            w.record(
                "personal.read",
                actor,
                request=req.id,
                consumer=consumer,
                purpose=purpose,
                category=category,
                readings=len(items),
                residents=len(per_resident),
            )
        more = len(items) >= cap or len(rows) == 10 * cap
        last = items[-1]["id"] if len(items) >= cap else (rows[-1][0] if rows else after)
        return {
            "grant": req.id,
            "purpose": purpose,
            "readings": items,
            "next_after": last if more else None,
        }

    def check_grant(self, token: str, consumer: str) -> AccessRequestRecord:
        claims = jws.verify(token, self.ctx.ledger.key.public_key, GRANT_TYPE)
        if claims is None:
            raise CharterError(Reason.GRANT_INVALID, "the grant's signature does not verify")
        req = self.ctx.store.get_access_request(str(claims.get("jti", "")))
        now_ms = to_ms(self.ctx.clock.now())
        if (
            req is None
            or req.status != "granted"
            or req.consumer != consumer
            or claims.get("sub") != consumer
            or req.expires_at is None
            or now_ms >= req.expires_at
        ):
            raise CharterError(Reason.GRANT_INVALID)
        return req

    def _token(self, req: AccessRequestRecord) -> str:
        assert req.expires_at is not None
        claims = {
            "jti": req.id,
            "sub": req.consumer,
            "dataset": req.dataset,
            "categories": list(req.categories),
            "purpose": req.purpose,
            "exp": req.expires_at // 1000,
            "constraints": req.constraints,
        }
        return jws.sign(claims, self.ctx.ledger.key, GRANT_TYPE)

    def _categories(self, req: AccessRequestRecord) -> list[DataCategory]:
        project = self.ctx.store.get_project(req.dataset)
        found = [project.category(c) for c in req.categories] if project else []
        return [c for c in found if c is not None]

    def _request(self, request_id: str) -> AccessRequestRecord:
        req = self.ctx.store.get_access_request(request_id)
        if req is None:
            raise NotFound(f"access request {request_id}")
        return req

    @staticmethod
    def _consumer(actor: Actor) -> str:
        if actor.role != "consumer" or not actor.subject:
            raise CharterError(Reason.FORBIDDEN, "this needs a data consumer's token")
        return actor.subject
