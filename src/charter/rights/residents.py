"""Residents: a pseudonymous id, a field key, and the identifiers they link to it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from charter.domain.errors import Conflict, Invalid
from charter.domain.model import Actor, urn
from charter.rights.context import RightsContext, speaks_for
from charter.store.rights import LinkRecord, ResidentRecord

KINDS = frozenset({"fob", "app", "vehicle", "card", "other"})


@dataclass(frozen=True)
class LinkResult:
    kind: str
    key_version: int
    created_at: int


class Residents:
    def __init__(self, ctx: RightsContext) -> None:
        self.ctx = ctx

    def create(self, actor: Actor) -> ResidentRecord:
        """A new resident with a random pseudonymous id and their own field key."""
        resident_id = urn("Person", secrets.token_hex(16))
        with self.ctx.change(resident_id) as w:
            self.ctx.keys.create_resident_key(resident_id, w.now_ms)
            record = ResidentRecord(resident_id, w.now_ms)
            w.tx.add_resident(record)
            # The id is random and not linked to anyone on the public record.
            w.record("resident.created", actor)
        return record

    def link(self, resident_id: str, identifier: str, kind: str, actor: Actor) -> LinkResult:
        """Link an identifier a device sees; only its keyed digest is kept."""
        speaks_for(actor, resident_id)
        self.ctx.resident(resident_id)
        if kind not in KINDS:
            raise Invalid(f"kind must be one of {sorted(KINDS)}")
        if not 4 <= len(identifier) <= 256:
            raise Invalid("the identifier must be 4 to 256 characters")
        version, digest = self.ctx.pseudonyms.digest(identifier)
        if self.ctx.store.link_owner(digest) is not None:
            # Never says whose: only that this identifier cannot be linked.
            raise Conflict("this identifier is already linked")
        with self.ctx.change(resident_id) as w:
            # Checked again in the transaction: two residents linking one fob at once.
            if not w.tx.add_link_if_absent(
                LinkRecord(digest, version, resident_id, kind, w.now_ms)
            ):
                raise Conflict("this identifier is already linked")
            w.record("identifier.linked", None, identifier_kind=kind)
        return LinkResult(kind, version, w.now_ms)
