"""Residents: their identifiers, consents and receipts, and their subject rights.

Every route under /residents/{id} is for that resident alone, with their own token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, BaseModel, Field

from charter.api.deps import Operator, PlatformDep, Resident
from charter.domain.clock import iso
from charter.rights.consent import ConsentResult
from charter.rights.residents import LinkResult, Proof
from charter.rights.subject import consent_json

router = APIRouter(tags=["residents"])


class ProofIn(BaseModel):
    public_key: Annotated[str, Field(min_length=1, max_length=100)]
    challenge: Annotated[str, Field(min_length=1, max_length=1000)]
    signature: Annotated[str, Field(min_length=1, max_length=200)]


class LinkRequest(BaseModel):
    identifier: Annotated[str, Field(min_length=4, max_length=256)]
    kind: Annotated[str, Field(min_length=1, max_length=32)] = "fob"
    proof: ProofIn | None = None


class VerifiedLinkRequest(BaseModel):
    identifier: Annotated[str, Field(min_length=4, max_length=256)]
    kind: Annotated[str, Field(min_length=1, max_length=32)] = "fob"
    why: Annotated[str, Field(min_length=1, max_length=2000)]


class ConsentRequest(BaseModel):
    category: Annotated[str, Field(min_length=1, max_length=64)]
    purpose: Annotated[str, Field(min_length=1, max_length=64)]
    projects: Annotated[list[str], Field(min_length=1, max_length=64)]
    expires_at: AwareDatetime | None = None  # with an offset: never the server's local time


class ReceiptCheck(BaseModel):
    jws: Annotated[str, Field(min_length=1, max_length=20_000)]


def _consent_out(done: ConsentResult) -> dict[str, Any]:
    return {
        "consent": consent_json(done.consent),
        "receipt": {"id": done.receipt.id, "action": done.receipt.action, "jws": done.receipt.jws},
    }


@router.post("/residents", status_code=201)
def create_resident(p: PlatformDep, actor: Operator) -> dict[str, Any]:
    """Enrol a resident: a pseudonymous id and their own token (shown once)."""
    done = p.rights.residents.enrol(actor)
    return {"id": done.record.id, "created_at": iso(done.record.created_at), "token": done.token}


@router.get("/residents/{resident_id}")
def view_resident(resident_id: str, p: PlatformDep, actor: Resident) -> dict[str, Any]:
    """What is held about me: identifiers (as pseudonyms), consents, receipts, readings,
    and who read them."""
    return p.rights.subject.view(resident_id, actor)


@router.get("/residents/{resident_id}/export")
def export_resident(resident_id: str, p: PlatformDep, actor: Resident) -> JSONResponse:
    """All of it as one JSON document."""
    return JSONResponse(
        p.rights.subject.export(resident_id, actor),
        headers={"Content-Disposition": 'attachment; filename="charter-export.json"'},
    )


@router.get("/residents/{resident_id}/access-log")
def access_log(resident_id: str, p: PlatformDep, actor: Resident) -> list[dict[str, Any]]:
    """Who read my data, when, for which purpose, under which grant."""
    return p.rights.subject.history(resident_id, actor)


@router.delete("/residents/{resident_id}")
def erase_resident(resident_id: str, p: PlatformDep, actor: Resident) -> dict[str, Any]:
    """Erase me: delete what can be deleted, destroy my key (every other copy unreadable)."""
    return p.rights.subject.erase(resident_id, actor)


def _link_out(done: LinkResult) -> dict[str, Any]:
    return {
        "kind": done.kind,
        "key_version": done.key_version,
        "linked_at": iso(done.created_at),
        "proof": done.proof,
    }


@router.post("/residents/{resident_id}/identifiers/challenge")
def link_challenge(resident_id: str, p: PlatformDep, actor: Resident) -> dict[str, Any]:
    """A challenge for my fob to sign, to prove I hold it (valid five minutes)."""
    challenge, expires = p.rights.residents.challenge(resident_id, actor)
    return {"challenge": challenge, "expires_at": iso(expires)}


@router.post("/residents/{resident_id}/identifiers", status_code=201)
def link_identifier(
    resident_id: str, body: LinkRequest, p: PlatformDep, actor: Resident
) -> dict[str, Any]:
    """Link an identifier a device sees (fob, app, vehicle tag) with `proof` that I hold it
    (the fob's public key and its signature over a challenge); only its keyed digest is kept."""
    proof = Proof(**body.proof.model_dump()) if body.proof is not None else None
    return _link_out(p.rights.residents.link(resident_id, body.identifier, body.kind, actor, proof))


@router.post("/residents/{resident_id}/identifiers/verified", status_code=201)
def link_verified_identifier(
    resident_id: str, body: VerifiedLinkRequest, p: PlatformDep, actor: Operator
) -> dict[str, Any]:
    """An operator links an identifier they saw the resident hold (`why`: how); on the ledger."""
    return _link_out(
        p.rights.residents.link_verified(resident_id, body.identifier, body.kind, actor, body.why)
    )


@router.get("/residents/{resident_id}/consents")
def list_consents(resident_id: str, p: PlatformDep, actor: Resident) -> list[dict[str, Any]]:
    return [consent_json(c) for c in p.rights.consents.of(resident_id, actor)]


@router.post("/residents/{resident_id}/consents", status_code=201)
def give_consent(
    resident_id: str, body: ConsentRequest, p: PlatformDep, actor: Resident
) -> dict[str, Any]:
    """Opt in to one category for one purpose, for the named live projects."""
    done = p.rights.consents.grant(
        resident_id,
        category=body.category,
        purpose=body.purpose,
        projects=body.projects,
        actor=actor,
        expires_at=body.expires_at,
    )
    return _consent_out(done)


@router.post("/residents/{resident_id}/consents/{consent_id}/withdraw")
def withdraw_consent(
    resident_id: str, consent_id: str, p: PlatformDep, actor: Resident
) -> dict[str, Any]:
    """Withdraw: effective for the very next reading once this returns."""
    return _consent_out(p.rights.consents.withdraw(resident_id, consent_id, actor))


@router.get("/residents/{resident_id}/receipts")
def list_receipts(resident_id: str, p: PlatformDep, actor: Resident) -> list[dict[str, Any]]:
    return p.rights.subject.view(resident_id, actor)["receipts"]  # type: ignore[no-any-return]


@router.post("/receipts/verify")
def verify_receipt(body: ReceiptCheck, p: PlatformDep) -> dict[str, Any]:
    """Anyone can check a consent receipt against the platform's key."""
    payload = p.rights.consents.verify_receipt(body.jws)
    return {"valid": payload is not None, "receipt": payload}
