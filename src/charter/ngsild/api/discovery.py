"""NGSI-LD discovery routes: /types, /types/{type}, /attributes, /attributes/{attr} (6.25-6.28).

Each answers from the entities the caller may read (`charter.ngsild.discovery` surveys them).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.model import Actor
from charter.ngsild import media
from charter.ngsild.api.common import Caller, Ngsi, flag, link_terms, reply, tenant
from charter.ngsild.discovery import attribute, attribute_list, survey, type_info, type_list
from charter.ngsild.errors import not_found
from charter.ngsild.service import NgsiLd
from charter.store.ngsild import StoredEntity

router = APIRouter(tags=["ngsi-ld"])


def _readable(
    n: NgsiLd, actor: Actor, t: str, types: list[str] | None = None
) -> list[StoredEntity]:
    n.entities.check_tenant(t)
    out: list[StoredEntity] = []
    last: str | None = None
    from charter.store.schema import ngsild_entities as E

    while True:
        where = None if last is None else E.c.id > last
        page = n.repo.query(t, types=types, where=where, limit=1000, offset=0)
        out.extend(x for e in page if (x := n.entities.rights.check_read(actor, t, e)) is not None)
        if len(page) < 1000:
            return out
        last = page[-1].id


@router.get("/types")
@router.get("/types/")  # before /types/{typeName:path}, which would take "" for it
def list_types(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Available entity types (clause 5.7.5, 5.7.6 with details=true)."""
    mime = media.accept(request)
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    types, _ = survey(_readable(n, actor, t))
    return reply(type_list(types, terms, flag(request, "details")), terms, mime, tenant_name=t)


@router.get("/types/{typeName:path}")  # an expanded type has "/" (%2F) in it
def retrieve_type(typeName: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Details of one entity type (clause 5.7.7)."""
    mime = media.accept(request)
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    iri = terms.expand(typeName) or typeName
    types, _ = survey(_readable(n, actor, t, [iri]))
    if iri not in types:
        raise not_found("no entity of this type")
    return reply(type_info(types[iri], terms), terms, mime, tenant_name=t)


@router.get("/attributes")
@router.get("/attributes/")
def list_attributes(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Available attributes (clause 5.7.8, 5.7.9 with details=true)."""
    mime = media.accept(request)
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    _, attrs = survey(_readable(n, actor, t))
    return reply(attribute_list(attrs, terms, flag(request, "details")), terms, mime, tenant_name=t)


@router.get("/attributes/{attrId:path}")  # so has an expanded attribute name
def retrieve_attribute(attrId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Details of one attribute (clause 5.7.10)."""
    mime = media.accept(request)
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    iri = terms.expand(attrId) or attrId
    _, attrs = survey(_readable(n, actor, t))
    if iri not in attrs:
        raise not_found("no entity has this attribute")
    return reply(attribute(attrs[iri], terms), terms, mime, tenant_name=t)
