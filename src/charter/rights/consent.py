"""The consent ledger: opt-in per category and purpose, scoped to projects, with
expiry and withdrawal. Every grant and withdrawal yields a signed receipt and a
pseudonymous ledger entry (the receipt's digest, never the resident's id)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from charter.domain.clock import to_ms
from charter.domain.errors import CharterError, Invalid, NotFound
from charter.domain.model import Actor, Project, ProjectStatus
from charter.domain.reasons import Reason
from charter.rights import jws, receipt
from charter.rights.context import RightsContext, new_id, speaks_for
from charter.store.rights import ConsentRecord, ReceiptRecord

PURPOSE_RE = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")


@dataclass(frozen=True)
class ConsentResult:
    consent: ConsentRecord
    receipt: ReceiptRecord


class Consents:
    def __init__(self, ctx: RightsContext) -> None:
        self.ctx = ctx

    def grant(
        self,
        resident_id: str,
        *,
        category: str,
        purpose: str,
        projects: list[str],
        actor: Actor,
        expires_at: datetime | None = None,
        method: str = "api",
    ) -> ConsentResult:
        speaks_for(actor, resident_id)
        self.ctx.resident(resident_id)
        if not PURPOSE_RE.match(purpose):
            raise Invalid("purpose must be a lower-case word such as crossing-assistance")
        if not projects or len(projects) > 64:
            raise Invalid("name 1 to 64 projects the consent is for")
        scope = self._scope(sorted(set(projects)), category)
        now_ms = to_ms(self.ctx.clock.now())
        expires_ms = to_ms(expires_at) if expires_at is not None else None
        if expires_ms is not None and expires_ms <= now_ms:
            raise Invalid("expires_at must lie in the future")
        with self.ctx.change(resident_id) as w:
            consent = ConsentRecord(
                new_id(),
                resident_id,
                category,
                purpose,
                tuple(p.id for p in scope),
                w.now_ms,
                expires_ms,
                None,
                method,
            )
            w.tx.add_consent(consent)
            rec = self._receipt(consent, "granted", w.now_ms, scope, method)
            w.tx.add_receipt(rec)
            w.record("consent.granted", None, **self._public(consent, rec))
        return ConsentResult(consent, rec)

    def withdraw(self, resident_id: str, consent_id: str, actor: Actor) -> ConsentResult:
        """Effective for the very next reading: returns after the commit, and the
        gate confirms the register's version in its own commit."""
        speaks_for(actor, resident_id)
        self.ctx.resident(resident_id)
        consent = self.ctx.store.get_consent(consent_id)
        if consent is None or consent.resident_id != resident_id:
            raise NotFound(f"consent {consent_id}")
        if consent.withdrawn_at is not None:
            raise CharterError(Reason.CONSENT_WITHDRAWN)
        scope = [p for p in map(self.ctx.store.get_project, consent.projects) if p is not None]
        with self.ctx.change(resident_id) as w:
            w.tx.withdraw_consent(consent_id, w.now_ms)
            done = ConsentRecord(
                consent.id,
                consent.resident_id,
                consent.category,
                consent.purpose,
                consent.projects,
                consent.granted_at,
                consent.expires_at,
                w.now_ms,
                consent.method,
            )
            rec = self._receipt(done, "withdrawn", w.now_ms, scope, consent.method)
            w.tx.add_receipt(rec)
            w.record("consent.withdrawn", None, **self._public(done, rec))
        return ConsentResult(done, rec)

    def of(self, resident_id: str, actor: Actor) -> list[ConsentRecord]:
        speaks_for(actor, resident_id)
        self.ctx.resident(resident_id)
        return self.ctx.store.consents(resident_id)

    def verify_receipt(self, token: str) -> dict[str, object] | None:
        return jws.verify(token, self.ctx.ledger.key.public_key, receipt.JWS_TYPE)

    def _scope(self, project_ids: list[str], category: str) -> list[Project]:
        scope = []
        for pid in project_ids:
            project = self.ctx.store.get_project(pid)
            if project is None:
                raise NotFound(pid)
            if project.status is not ProjectStatus.LIVE:
                raise CharterError(Reason.PROJECT_NOT_LIVE, f"{pid} is not live")
            declared = project.category(category)
            if declared is None:
                raise CharterError(Reason.UNDECLARED_CATEGORY, f"{pid} does not declare {category}")
            if not declared.personal:
                raise Invalid(f"{category} is not personal data: it needs no consent")
            scope.append(project)
        return scope

    def _receipt(
        self, consent: ConsentRecord, action: str, at_ms: int, scope: list[Project], method: str
    ) -> ReceiptRecord:
        rid = new_id()
        key = self.ctx.ledger.key
        body = receipt.build(
            receipt_id=rid,
            consent=consent,
            action=action,
            at_ms=at_ms,
            projects=scope,
            jurisdiction=self.ctx.settings.jurisdiction,
            policy_url=self.ctx.settings.privacy_policy_url,
            method=method,
            public_key_b64=key.public_key_b64(),
        )
        token = jws.sign(body, key, receipt.JWS_TYPE)
        return ReceiptRecord(rid, consent.resident_id, consent.id, action, at_ms, token)

    @staticmethod
    def _public(consent: ConsentRecord, rec: ReceiptRecord) -> dict[str, object]:
        """The ledger's view: what was consented to, never by whom."""
        return {
            "receipt_sha256": hashlib.sha256(rec.jws.encode()).hexdigest(),
            "category": consent.category,
            "purpose": consent.purpose,
            "projects": list(consent.projects),
        }
