"""Readings, quarantine and the gate's counts."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from charter.api.deps import After, ItemId, Operator, PlatformDep, Reader, check_purpose
from charter.domain.clock import iso, to_ms

router = APIRouter(tags=["data"])
_decode = msgspec.json.decode


@router.get("/readings")
def readings(
    request: Request,
    p: PlatformDep,
    actor: Reader,
    device: str | None = None,
    project: str | None = None,
    since: AwareDatetime | None = None,  # with an offset: never the server's local time
    until: AwareDatetime | None = None,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    purpose: Annotated[str | None, Query(max_length=100)] = None,
    approval: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Admitted readings by device, project and time range (observed time, [since, until)).

    Personal records count against the bulk-read threshold; beyond it the read
    needs `approval`, a bulk-read action a second person approved.
    """
    check_purpose(request, purpose)
    rows = p.store.readings(
        device_id=device,
        project_id=project,
        since=to_ms(since) if since else None,
        until=to_ms(until) if until else None,
        after_id=after,
        limit=limit,
    )
    personal = sum(1 for r in rows if p.directory.may_be_personal(r.category))
    p.security.bulk_reads.check(actor, project or "readings", personal, approval=approval)
    items = [
        {
            "id": r.id,
            "device": r.device_id,
            "project": r.project_id,
            "category": r.category,
            "observed_at": iso(r.observed_at),
            "received_at": iso(r.received_at),
            "seq": r.seq,
            "values": _decode(r.body),
        }
        for r in rows
    ]
    return {"readings": items, "next_after": rows[-1].id if len(rows) == limit else None}


@router.get("/stats")
def stats(p: PlatformDep) -> dict[str, Any]:
    """What the gate did: admitted, rejected by reason, quarantined. Public: counts only."""
    return {
        "admitted": p.store.count_readings(),
        "rejected": p.store.rejections_by_reason(),
        "quarantined": p.store.count_quarantine("held"),
        "ledger_size": p.ledger.size,
    }


@router.get("/quarantine")
def list_quarantine(
    p: PlatformDep,
    _actor: Reader,
    status: str = "held",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    return [
        {
            "id": q.id,
            "received_at": iso(q.received_at),
            "device": q.device_id,
            "seq": q.seq,
            "kind": q.kind,
            "stage": q.stage,
            "reason": q.reason,
            "detail": q.detail,
            "status": q.status,
            "payload": q.payload.decode("utf-8", "replace"),
        }
        for q in p.quarantine.list(status=status, limit=limit)
    ]


class ReplayRequest(BaseModel):
    why: Annotated[str, Field(min_length=1, max_length=2000)]


@router.post("/quarantine/{item_id}/replay")
def replay(item_id: ItemId, body: ReplayRequest, p: PlatformDep, actor: Operator) -> dict[str, Any]:
    """Run a quarantined item through the gate again; the replay is on the ledger."""
    return p.quarantine.replay(item_id, actor, body.why).to_json()
