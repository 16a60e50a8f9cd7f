"""Subject rights: see what is held, who read it and why, export it all, erase it.

Erasure deletes what can be deleted and destroys the resident's field key, so
every copy that cannot be deleted (a backup, a copy of the database file) is
unreadable: crypto-shredding. The ledger records the erasure without any
personal data.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from charter.domain.clock import iso
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.rights.context import RightsContext, new_id, speaks_for
from charter.store.rights import ConsentRecord

EXPORT_FORMAT = "charter-subject-export/1"


def consent_json(c: ConsentRecord) -> dict[str, Any]:
    return {
        "id": c.id,
        "category": c.category,
        "purpose": c.purpose,
        "projects": list(c.projects),
        "granted_at": iso(c.granted_at),
        "expires_at": iso(c.expires_at) if c.expires_at is not None else None,
        "withdrawn_at": iso(c.withdrawn_at) if c.withdrawn_at is not None else None,
        "collection_method": c.method,
    }


class SubjectRights:
    def __init__(self, ctx: RightsContext) -> None:
        self.ctx = ctx

    def view(self, resident_id: str, actor: Actor) -> dict[str, Any]:
        """Everything held about the resident, decrypted for them alone."""
        speaks_for(actor, resident_id)
        resident = self.ctx.resident(resident_id)
        store = self.ctx.store
        readings = []
        for (
            rid,
            device,
            project,
            category,
            observed,
            received,
            seq,
            body,
            _s,
        ) in store.personal_readings(subject=resident_id, limit=1_000_000):
            plain = self.ctx.cipher.decrypt(resident_id, category, body)
            readings.append(
                {
                    "id": rid,
                    "device": device,
                    "project": project,
                    "category": category,
                    "observed_at": iso(observed),
                    "received_at": iso(received),
                    "seq": seq,
                    "values": json.loads(plain) if plain is not None else None,
                }
            )
        return {
            "resident": {
                "id": resident.id,
                "created_at": iso(resident.created_at),
                "status": resident.status,
            },
            "identifiers": [
                {
                    "kind": link.kind,
                    "pseudonym": link.digest,
                    "key_version": link.key_version,
                    "linked_at": iso(link.created_at),
                }
                for link in store.links(resident_id)
            ],
            "consents": [consent_json(c) for c in store.consents(resident_id)],
            "receipts": [
                {
                    "id": r.id,
                    "consent": r.consent_id,
                    "action": r.action,
                    "at": iso(r.at),
                    "jws": r.jws,
                }
                for r in store.receipts(resident_id)
            ],
            "readings": readings,
            "access_log": self.history(resident_id, actor),
            # The tokens that act for the resident (never their secret or digest).
            "tokens": [
                {"name": n, "role": r, "created_at": iso(c), "revoked": rev}
                for n, r, c, rev in store.tokens_of(resident_id)
            ],
        }

    def history(self, resident_id: str, actor: Actor) -> list[dict[str, Any]]:
        """Who read the resident's data, when, for which purpose, under which grant."""
        speaks_for(actor, resident_id)
        return [{**asdict(a), "at": iso(a.at)} for a in self.ctx.store.access_log(resident_id)]

    def history_page(
        self, resident_id: str, actor: Actor, *, offset: int, limit: int
    ) -> tuple[list[dict[str, Any]], int]:
        """One page of the history, newest first, and how many reads there are in all."""
        speaks_for(actor, resident_id)
        log = self.ctx.store.access_log(resident_id)
        end = len(log) - offset
        rows = log[max(0, end - limit) : max(0, end)][::-1]
        return [{**asdict(a), "at": iso(a.at)} for a in rows], len(log)

    def export(self, resident_id: str, actor: Actor) -> dict[str, Any]:
        held = self.view(resident_id, actor)
        return {
            "format": EXPORT_FORMAT,
            "exported_at": iso(int(self.ctx.clock.now().timestamp() * 1000)),
            "platform_public_key": self.ctx.ledger.key.public_key_b64(),
            **held,
        }

    def erase(self, resident_id: str, actor: Actor) -> dict[str, Any]:
        speaks_for(actor, resident_id)
        return self._erase(resident_id)

    def erase_scope(self, params: dict[str, Any], actor: Actor, why: str) -> dict[str, Any]:
        """Mass erasure, run only once two people agreed (security/approvals.py).

        `scope` lists resident ids; those already erased or unknown are reported,
        not failed, so one stale id does not stop the rest.
        """
        scope = params["scope"]
        ids = [str(x) for x in scope] if isinstance(scope, list) else str(scope).split(",")
        erased, skipped = [], []
        for rid in (x.strip() for x in ids if x.strip()):
            try:
                self._erase(rid)
                erased.append(rid)
            except CharterError:
                skipped.append(rid)
        return {"erased": len(erased), "skipped": len(skipped)}

    def _erase(self, resident_id: str) -> dict[str, Any]:
        self.ctx.resident(resident_id)  # NOT_FOUND, or ALREADY_ERASED the second time
        erasure = new_id()
        with self.ctx.change(resident_id) as w:
            removed = w.tx.erase_subject(resident_id)
            w.tx.mark_erased(resident_id, w.now_ms)
            w.record("resident.erased", None, erasure=erasure, removed=removed)
        # After the commit: if the process stops here, the retention job finishes
        # the shredding (it destroys the keys of every erased resident).
        shredded = self.ctx.keys.destroy_resident_key(resident_id)
        return {"erasure": erasure, "removed": removed, "key_destroyed": shredded}
