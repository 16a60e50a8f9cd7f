"""NGSI-LD /jsonldContexts routes (clauses 6.29-6.30): create (hosted), list, retrieve, delete.

The hosted @contexts are `charter.ngsild.discovery.ContextStore`, made by `api.ngsiq.Extras`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from charter.domain.model import Actor
from charter.ngsild import media
from charter.ngsild import temporal as tq
from charter.ngsild.api.common import Caller, Ngsi, flag
from charter.ngsild.api.ngsiq import now_ms, request_extras
from charter.ngsild.errors import NgsiError, bad_data, not_found

router = APIRouter(tags=["ngsi-ld"])


def _staff(actor: Actor) -> None:
    if actor.role not in ("operator",):
        from charter.domain.reasons import Reason

        raise NgsiError(None, "managing @contexts is an operator's task", reason=Reason.FORBIDDEN)


@router.post("/jsonldContexts", status_code=201)
async def add_context(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Store a hosted @context (clause 5.13.2): 201 with Location."""
    _staff(actor)
    ctype = request.headers.get("content-type", "").split(";")[0].strip()
    if ctype not in (media.JSON, media.JSONLD):
        raise NgsiError(
            None, "Content-Type must be application/json or application/ld+json", status=415
        )
    raw = await request.body()
    try:
        data = json.loads(raw)
    except ValueError:
        from charter.ngsild.errors import invalid

        raise invalid("the body is not valid JSON") from None
    hosted = request_extras(request).contexts.add(data, now_ms(request))
    try:  # a context that does not process is refused and not kept
        n.contexts.resolve(hosted.body["@context"])
    except NgsiError:
        request_extras(request).contexts.delete(hosted.id)
        raise
    return Response(
        status_code=201, headers={"Location": f"/ngsi-ld/v1/jsonldContexts/{hosted.id}"}
    )


@router.get("/jsonldContexts")
def list_contexts(request: Request, n: Ngsi, actor: Caller) -> Response:
    """List the @contexts Charter holds (clause 5.13.3): hosted ones and the cached ones."""
    details = flag(request, "details")
    kind = request.query_params.get("kind")
    if kind not in (None, "Hosted", "Cached", "ImplicitlyCreated"):
        raise bad_data("kind is Hosted, Cached or ImplicitlyCreated")
    base = str(request.base_url).rstrip("/") + "/ngsi-ld/v1/jsonldContexts/"
    rows: list[dict[str, Any]] = []
    if kind in (None, "Hosted", "ImplicitlyCreated"):
        for h in request_extras(request).contexts.all():
            if kind is not None and h.kind != kind:
                continue
            rows.append({
                "url": base + h.id, "localId": h.id, "kind": h.kind,
                "createdAt": _iso(h.created_at), "numberOfHits": h.hits,
                **({"lastUsage": _iso(h.last_usage)} if h.last_usage else {}),
            })  # fmt: skip
    if kind in (None, "Cached"):
        from charter.ngsild.context import LOCAL

        for url in sorted(LOCAL):
            rows.append({"url": url, "kind": "Cached"})
    if details:
        return JSONResponse(rows)
    return JSONResponse([r["url"] for r in rows])


def _iso(ms: int | None) -> str | None:
    return tq.iso(tq._from_ms(ms)) if ms is not None else None


@router.get("/jsonldContexts/{contextId}")
def retrieve_context(contextId: str, request: Request, n: Ngsi) -> Response:
    """Serve a hosted @context (clause 5.13.4); no token needed, as for any context URL."""
    store = request_extras(request).contexts
    hosted = store.get(contextId)
    if hosted is None:
        raise not_found("no such @context")
    store.used(contextId, now_ms(request))
    return JSONResponse(hosted.body, media_type=media.JSONLD)


@router.delete("/jsonldContexts/{contextId}")
def delete_context(contextId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Delete a hosted @context (clause 5.13.5); 204."""
    _staff(actor)
    if not request_extras(request).contexts.delete(contextId):
        raise not_found("no such @context")
    return Response(status_code=204)
