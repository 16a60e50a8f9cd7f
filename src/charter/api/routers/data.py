"""Readings, quarantine and the gate's counts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from charter.api.deps import After, ItemId, Operator, PlatformDep, Reader
from charter.domain.clock import iso

router = APIRouter(tags=["data"])


@router.get("/readings")
def readings(
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

    Personal records count against the reader's bulk-read budget; beyond it the
    read needs `approval`, a bulk-read action a second person approved.
    """
    return p.rights.readings.list(
        actor,
        device=device,
        project=project,
        since=since,
        until=until,
        after=after,
        limit=limit,
        purpose=purpose,
        approval=approval,
    )


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
            "expires_at": iso(q.expires_at) if q.expires_at is not None else None,
            "payload": p.quarantine.shown(q),
        }
        for q in p.quarantine.list(status=status, limit=limit)
    ]


class ReplayRequest(BaseModel):
    why: Annotated[str, Field(min_length=1, max_length=2000)]
    # The one rule not applied again (gate/batch.py OVERRIDES); on the ledger entry.
    override: Literal["freshness"] | None = None


@router.post("/quarantine/{item_id}/replay")
def replay(item_id: ItemId, body: ReplayRequest, p: PlatformDep, actor: Operator) -> dict[str, Any]:
    """Run a quarantined item through the gate again; the replay is on the ledger.

    Every rule is checked again except the one named in `override`, if any.
    """
    return p.quarantine.replay(item_id, actor, body.why, body.override).to_json()
