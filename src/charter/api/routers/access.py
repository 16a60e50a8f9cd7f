"""Access by purpose: data consumers request, owners decide, consumers read under a grant."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from pydantic import AwareDatetime, BaseModel, Field

from charter.api.deps import After, Consumer, Owner, PlatformDep, Staff
from charter.domain.clock import iso
from charter.store.rights import AccessRequestRecord

router = APIRouter(tags=["access"])


class AccessRequestIn(BaseModel):
    dataset: Annotated[str, Field(min_length=1, max_length=200)]
    categories: Annotated[list[str], Field(min_length=1, max_length=64)]
    purpose: Annotated[str, Field(min_length=1, max_length=64)]
    why: Annotated[str, Field(min_length=1, max_length=2000)]


class GrantIn(BaseModel):
    why: Annotated[str, Field(min_length=1, max_length=2000)]
    expires_at: AwareDatetime  # with an offset: never the server's local time
    constraints: dict[str, Any] = {}


class WhyIn(BaseModel):
    why: Annotated[str, Field(min_length=1, max_length=2000)]


def request_json(r: AccessRequestRecord) -> dict[str, Any]:
    out = asdict(r)
    out["categories"] = list(r.categories)
    for name in ("requested_at", "decided_at", "expires_at"):
        out[name] = iso(out[name]) if out[name] is not None else None
    return out


@router.post("/access-requests", status_code=201)
def request_access(body: AccessRequestIn, p: PlatformDep, actor: Consumer) -> dict[str, Any]:
    """A data consumer asks for a project's categories for a stated purpose."""
    req = p.rights.access.request(
        actor, dataset=body.dataset, categories=body.categories, purpose=body.purpose, why=body.why
    )
    return request_json(req)


@router.get("/access-requests")
def list_access_requests(p: PlatformDep, actor: Staff) -> list[dict[str, Any]]:
    """Consumers see their own requests; staff see all."""
    return [request_json(r) for r in p.rights.access.requests(actor)]


@router.post("/access-requests/{request_id}/grant")
def grant_access(request_id: str, body: GrantIn, p: PlatformDep, actor: Owner) -> dict[str, Any]:
    """Grant with an expiry and constraints (max_readings, fields); returns the grant token."""
    done = p.rights.access.decide(
        request_id,
        actor,
        grant=True,
        why=body.why,
        expires_at=body.expires_at,
        constraints=body.constraints,
    )
    return {"request": request_json(done.request), "grant": done.grant}


@router.post("/access-requests/{request_id}/reject")
def reject_access(request_id: str, body: WhyIn, p: PlatformDep, actor: Owner) -> dict[str, Any]:
    done = p.rights.access.decide(request_id, actor, grant=False, why=body.why)
    return {"request": request_json(done.request)}


@router.post("/access-requests/{request_id}/revoke")
def revoke_access(request_id: str, body: WhyIn, p: PlatformDep, actor: Owner) -> dict[str, Any]:
    return {"request": request_json(p.rights.access.revoke(request_id, actor, body.why))}


@router.get("/personal-data")
def read_personal_data(
    p: PlatformDep,
    actor: Consumer,
    category: str,
    purpose: str,
    x_charter_grant: Annotated[str, Header(min_length=1, max_length=20_000)],
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    approval: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Personal data under a grant (header X-Charter-Grant), for the grant's purpose only.
    Each read is recorded; the residents can see it. Paged: pass `next_after` as `after`.
    Beyond the bulk-read threshold, `approval` names a second person's approved bulk read."""
    return p.rights.access.read(
        actor,
        x_charter_grant,
        category=category,
        purpose=purpose,
        after=after,
        limit=limit,
        approval=approval,
    )
