"""Hazard alerts for residents: the published zones and thresholds, and opting in to a zone.

No account and no identity: a subscription is a published zone and a channel
(a webhook on a host the operator allowed, or "mqtt", the zone's topic); its
id, returned once, is the only way to withdraw it. A location is refused.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from charter.api.deps import PlatformDep
from charter.domain.errors import CharterError, Invalid
from charter.domain.reasons import Reason
from charter.services.hazard_subscriptions import AlertSubscriptions

router = APIRouter(tags=["alerts"])

SubscriptionId = Annotated[str, Path(min_length=16, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    zone: Annotated[str | None, Field(max_length=100)] = None
    channel: Annotated[str, Field(min_length=1, max_length=2000)] = "mqtt"
    project: Annotated[str | None, Field(max_length=200)] = None
    # Named only to be refused with a reason: alerts go by zone, never by location.
    lat: float | None = None
    lon: float | None = None
    geometry: dict[str, Any] | None = None
    location: Any = None


@router.get("/alerts/zones")
def list_zones(p: PlatformDep) -> dict[str, Any]:
    """Every published warning plan: its zones and its thresholds (public)."""
    plans = AlertSubscriptions(p.store, p.ledger, p.settings).plans()
    return {"plans": [plan.model_dump(mode="json") for plan in plans]}


@router.post("/alerts/subscriptions", status_code=201)
def subscribe(body: SubscriptionIn, request: Request, p: PlatformDep) -> dict[str, Any]:
    """Opt in to one zone's alerts; keep the id to withdraw. No identity, no location."""
    # Counted by the same keyed hash of the address as consultation comments, never the address.
    address = request.client.host if request.client else "unknown"
    subs = AlertSubscriptions(p.store, p.ledger, p.settings)
    if body.location is not None:
        raise CharterError(Reason.LOCATION_NOT_ZONE, "name one of the published zones")
    if body.zone is None and body.lat is None and body.lon is None and body.geometry is None:
        raise Invalid("name the zone whose alerts you want")
    sub_id = subs.subscribe(
        body.zone or "",
        body.channel,
        project=body.project,
        lat=body.lat,
        lon=body.lon,
        geometry=body.geometry,
        source=p.registry.feedback.source_of(address),
    )
    plan, zone = subs.find_zone(body.zone or "", body.project)
    return {"id": sub_id, "zone": zone.id, "project_id": plan.project_id, "channel": body.channel}


@router.delete("/alerts/subscriptions/{subscription_id}", status_code=204)
def withdraw(subscription_id: SubscriptionId, p: PlatformDep) -> Response:
    """Withdraw: immediate, in every process."""
    AlertSubscriptions(p.store, p.ledger, p.settings).withdraw(subscription_id)
    return Response(status_code=204)
