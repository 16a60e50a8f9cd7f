"""Residents: a pseudonymous id, a field key, and the identifiers they link to it.

Linking an identifier lets its holder see the readings it causes, so a link
needs proof that the resident holds it (`charter.domain.possession`): the
answer to a platform challenge signed with the fob's own key, or an operator's
verification at the service desk. Either way the link is on the ledger.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.auth import Role, TokenIssuer
from charter.domain import possession
from charter.domain.clock import to_ms
from charter.domain.errors import CharterError, Conflict, Invalid
from charter.domain.model import Actor, urn
from charter.domain.reasons import Reason
from charter.rights.context import RightsContext, speaks_for
from charter.store.rights import LinkRecord, ResidentRecord

KINDS = frozenset({"fob", "app", "vehicle", "card", "other"})
CHALLENGE_TTL_MS = 5 * 60_000


@dataclass(frozen=True)
class LinkResult:
    kind: str
    key_version: int
    created_at: int
    proof: str  # "key" (the fob answered a challenge) or "operator"


@dataclass(frozen=True)
class Enrolment:
    record: ResidentRecord
    token: str  # the resident's own token, shown once


@dataclass(frozen=True)
class Proof:
    """A fob's answer: its public key and its signature over the challenge (base64)."""

    public_key: str
    challenge: str
    signature: str


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CharterError(Reason.NO_PROOF_OF_POSSESSION, "the proof is not base64") from None


class Residents:
    def __init__(self, ctx: RightsContext, issuer: TokenIssuer) -> None:
        self.ctx, self.issuer = ctx, issuer

    def create(self, actor: Actor) -> ResidentRecord:
        """A new resident with a random pseudonymous id and their own field key."""
        if actor.role != Role.OPERATOR.value:
            raise CharterError(Reason.FORBIDDEN, "residents are enrolled by an operator")
        resident_id = urn("Person", secrets.token_hex(16))
        with self.ctx.change(resident_id) as w:
            self.ctx.keys.create_resident_key(resident_id, w.now_ms)
            record = ResidentRecord(resident_id, w.now_ms)
            w.tx.add_resident(record)
            # The id is random and not linked to anyone on the public record.
            w.record("resident.created", actor)
        return record

    def enrol(self, actor: Actor) -> Enrolment:
        """A new resident and their token, from the platform's one issuer."""
        record = self.create(actor)
        token = self.issuer.issue("resident", Role.RESIDENT, subject=record.id)
        return Enrolment(record, token)

    def challenge(self, resident_id: str, actor: Actor) -> tuple[str, int]:
        """A challenge for the resident's fob to sign; (challenge, expires at ms)."""
        speaks_for(actor, resident_id)
        self.ctx.resident(resident_id)
        expires = to_ms(self.ctx.clock.now()) + CHALLENGE_TTL_MS
        body = json.dumps({"r": resident_id, "exp": expires, "n": secrets.token_hex(8)})
        payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        sig = self.ctx.ledger.key.sign(possession.CHALLENGE_CONTEXT + payload.encode())
        return f"{payload}.{base64.urlsafe_b64encode(sig).decode().rstrip('=')}", expires

    def link(
        self,
        resident_id: str,
        identifier: str,
        kind: str,
        actor: Actor,
        proof: Proof | None = None,
    ) -> LinkResult:
        """The resident links an identifier they prove to hold."""
        speaks_for(actor, resident_id)
        self.ctx.resident(resident_id)
        self._check(identifier, kind)
        if proof is None:
            raise CharterError(
                Reason.NO_PROOF_OF_POSSESSION,
                "answer a link challenge with the fob's key, or have an operator verify it",
            )
        self._verify(resident_id, identifier, proof)
        return self._link(resident_id, identifier, kind, None, proof="key")

    def link_verified(
        self, resident_id: str, identifier: str, kind: str, actor: Actor, why: str
    ) -> LinkResult:
        """An operator saw that the resident holds the identifier (the service desk)."""
        if actor.role != Role.OPERATOR.value:
            raise CharterError(Reason.FORBIDDEN, "only an operator verifies an identifier")
        if not why.strip() or len(why) > 2000:
            raise Invalid("say how the identifier was verified, in 1 to 2000 characters")
        self.ctx.resident(resident_id)
        self._check(identifier, kind)
        return self._link(resident_id, identifier, kind, actor, proof="operator", why=why)

    @staticmethod
    def _check(identifier: str, kind: str) -> None:
        if kind not in KINDS:
            raise Invalid(f"kind must be one of {sorted(KINDS)}")
        if not 4 <= len(identifier) <= 256:
            raise Invalid("the identifier must be 4 to 256 characters")

    def _verify(self, resident_id: str, identifier: str, proof: Proof) -> None:
        refused = CharterError(Reason.NO_PROOF_OF_POSSESSION, "the proof does not verify")
        payload, _, sig = proof.challenge.partition(".")
        try:
            raw_sig = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
            body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            self.ctx.ledger.key.public_key.verify(
                raw_sig, possession.CHALLENGE_CONTEXT + payload.encode()
            )
        except (ValueError, binascii.Error, InvalidSignature):
            raise refused from None
        if not isinstance(body, dict) or body.get("r") != resident_id:
            raise refused
        exp = body.get("exp")
        if not isinstance(exp, int) or exp <= to_ms(self.ctx.clock.now()):
            raise CharterError(Reason.NO_PROOF_OF_POSSESSION, "the challenge has expired")
        public = _b64(proof.public_key)
        if len(public) != 32 or possession.identifier_for(public) != identifier:
            raise refused  # the key is not the one this identifier is derived from
        try:
            Ed25519PublicKey.from_public_bytes(public).verify(
                _b64(proof.signature), possession.answer_message(proof.challenge)
            )
        except InvalidSignature:
            raise refused from None

    def _link(
        self,
        resident_id: str,
        identifier: str,
        kind: str,
        actor: Actor | None,
        *,
        proof: str,
        why: str | None = None,
    ) -> LinkResult:
        version, digest = self.ctx.pseudonyms.digest(identifier)
        if self.ctx.store.link_owner(digest) is not None:
            # Never says whose: only that this identifier cannot be linked.
            raise Conflict("this identifier is already linked")
        extra = {"why": why} if why is not None else {}
        with self.ctx.change(resident_id) as w:
            # Checked again in the transaction: two residents linking one fob at once.
            if not w.tx.add_link_if_absent(
                LinkRecord(digest, version, resident_id, kind, w.now_ms)
            ):
                raise Conflict("this identifier is already linked")
            # The resident's id and the identifier stay off the public record.
            w.record("identifier.linked", actor, identifier_kind=kind, proof=proof, **extra)
        return LinkResult(kind, version, w.now_ms, proof)
