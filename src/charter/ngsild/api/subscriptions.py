"""NGSI-LD /subscriptions routes (clauses 6.10, 6.11): create, list, retrieve, update, delete.

The subscriptions themselves are `charter.ngsild.subscriptions`; this module is their HTTP door.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.ngsild import media, model
from charter.ngsild.api.common import (
    Caller,
    Ngsi,
    flag,
    int_param,
    link_terms,
    no_content,
    reply,
    tenant,
)
from charter.ngsild.api.ngsiq import context_link, now_ms, request_extras
from charter.ngsild.api.preconditions import location, page_links

router = APIRouter(tags=["ngsi-ld"])


def _sub_location(sid: str) -> str:
    # ":" stays as it is (a path segment may hold it, RFC 3986): Orion-LD answers so, and
    # clients written for it (ngsildclient) compare the Location's id with the one they sent.
    return location("subscriptions", sid)


@router.post("/subscriptions", status_code=201)
async def create_subscription(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Create a subscription (clause 5.8.1): 201 with Location; 409 AlreadyExists."""
    t = tenant(n, actor, request)
    b = await media.body(request, n.contexts)
    context = _context_of(request, b)
    grant = request.headers.get("x-charter-grant")
    sub = request_extras(request).subs.create(
        actor, t, b.data, context, grant, host=lambda: context_link(request, actor, b.terms)
    )
    return no_content(t, 201, Location=_sub_location(sub.id))


def _context_of(request: Request, b: media.Body) -> Any:
    if b.media == media.JSONLD and isinstance(b.data, dict):
        return b.data.get("@context")
    return media.link_context(request)


@router.get("/subscriptions")
def list_subscriptions(request: Request, n: Ngsi, actor: Caller) -> Response:
    """List subscriptions (clause 5.8.4): the caller's own (all of them for operators)."""
    mime = media.accept(request)
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    limit = int_param(request, "limit", 20, 0, n.max_limit)
    offset = int_param(request, "offset", 0, 0, None)
    subs = request_extras(request).subs
    found = subs.page(actor, t, limit, offset)
    total = subs.count(actor, t)
    headers = {}
    if flag(request, "count"):
        headers["NGSILD-Results-Count"] = str(total)
    links = page_links(request, "/ngsi-ld/v1/subscriptions", limit, offset, total, mime)
    if links:
        headers["Link"] = links
    now = now_ms(request)
    sys_attrs = "sysAttrs" in (request.query_params.get("options") or "")
    body = [x.representation(now, sys_attrs=sys_attrs) for x in found]
    return reply(body, terms, mime, headers=headers, tenant_name=t)


@router.get("/subscriptions/{subscriptionId}")
def retrieve_subscription(
    subscriptionId: str, request: Request, n: Ngsi, actor: Caller
) -> Response:
    """Retrieve a subscription (clause 5.8.3) with its status and counters."""
    mime = media.accept(request)
    model.check_id(subscriptionId, "the subscription id")  # 030_01: BadRequestData
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    sub = request_extras(request).subs.get(actor, t, subscriptionId)
    sys_attrs = "sysAttrs" in (request.query_params.get("options") or "")
    return reply(
        sub.representation(now_ms(request), sys_attrs=sys_attrs), terms, mime, tenant_name=t
    )


@router.patch("/subscriptions/{subscriptionId}")
async def update_subscription(
    subscriptionId: str, request: Request, n: Ngsi, actor: Caller
) -> Response:
    """Update a subscription (clause 5.8.2): the members given replace the old; 204."""
    model.check_id(subscriptionId, "the subscription id")  # 030_01: BadRequestData
    t = tenant(n, actor, request)
    b = await media.body(request, n.contexts, patch=True)
    context = _context_of(request, b)
    request_extras(request).subs.update(actor, t, subscriptionId, b.data, context)
    return no_content(t)


@router.delete("/subscriptions/{subscriptionId}")
def delete_subscription(subscriptionId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Delete a subscription (clause 5.8.5); 204."""
    model.check_id(subscriptionId, "the subscription id")  # 030_01: BadRequestData
    t = tenant(n, actor, request)
    request_extras(request).subs.delete(actor, t, subscriptionId)
    return no_content(t)
