"""The answers of the device door (ngsild.devices): 201/204, or 207 with what the gate refused."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from charter.domain.model import Actor
from charter.ngsild import media
from charter.ngsild.api.common import no_content, reply
from charter.ngsild.context import Terms
from charter.ngsild.devices import write
from charter.ngsild.errors import ErrorType, NgsiError
from charter.ngsild.service import NgsiLd


def device_write(
    request: Request,
    n: NgsiLd,
    actor: Actor,
    t: str,
    target: str,
    attrs: dict[str, list[dict[str, Any]]],
    terms: Terms,
    *,
    create: bool = False,
) -> Response:
    """A device's write of its measurement entity, through the gate."""
    if create and n.repo.get(t, target) is not None:
        raise NgsiError(ErrorType.ALREADY_EXISTS, "the entity exists: PATCH its attributes")
    done = write(request.app.state.platform, n, actor, t, target, attrs)
    if done.not_updated:
        body = {
            "updated": [terms.compact(a) for a in done.updated],
            "notUpdated": [
                {"attributeName": terms.compact(a), "reason": why} for a, why in done.not_updated
            ],
        }
        return reply(body, terms, media.JSON, status=207, tenant_name=t)
    if create:
        from charter.ngsild.api.preconditions import location

        return no_content(t, 201, Location=location("entities", target))
    return no_content(t)


def device_batch(
    request: Request, n: NgsiLd, actor: Actor, t: str, fragments: list[Any], *, upsert: bool
) -> Response:
    """A device's batch upsert or update: each entity through the gate on its own."""
    from fastapi.responses import JSONResponse

    success: list[str] = []
    created: list[str] = []
    errors: list[dict[str, Any]] = []
    for f in fragments:
        if f.error is not None:
            errors.append({"entityId": f.entity_id, "error": f.error.problem()})
            continue
        new = upsert and n.repo.get(t, f.entity_id) is None
        try:
            done = write(request.app.state.platform, n, actor, t, f.entity_id, f.attrs)
        except NgsiError as err:
            errors.append({"entityId": f.entity_id, "error": err.problem()})
            continue
        success.append(f.entity_id)
        if new:
            created.append(f.entity_id)
        if done.not_updated:
            why = "; ".join(sorted({w for _a, w in done.not_updated}))
            problem = NgsiError(ErrorType.BAD_REQUEST_DATA, f"attributes not written: {why}")
            errors.append({"entityId": f.entity_id, "error": problem.problem()})
    if errors:
        return JSONResponse({"success": success, "errors": errors}, status_code=207)
    if created:
        return JSONResponse(created, status_code=201)
    return no_content(t)
