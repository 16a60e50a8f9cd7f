"""/entities: create, retrieve, replace, merge, delete; attributes (clause 6.4-6.7).

GET /entities here filters by type, id, idPattern and attrs with paging and
count; `charter.ngsild.query` (q, geo-queries, type expressions) plugs in
through `QUERY_HOOK`: a callable (terms, request) -> SQL clause | None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.ngsild import linked, media, model
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
from charter.ngsild.api.device import device_write
from charter.ngsild.api.preconditions import location, page_links
from charter.ngsild.context import Terms
from charter.ngsild.devices import is_device
from charter.ngsild.entities import SCOPE, AttrResult
from charter.ngsild.errors import ErrorType, NgsiError, bad_data
from charter.ngsild.render import View, feature, render

router = APIRouter(tags=["ngsi-ld"])

# Filters beyond type/id/idPattern (q, georel ...): set by charter.ngsild.query.
QUERY_HOOK: list[Callable[[Terms, Request], Any]] = []
BASE_PARAMS = frozenset(
    {"type", "id", "idPattern", "attrs", "pick", "omit", "limit", "offset", "count",
     "options", "format", "lang", "local", "geometryProperty", "datasetId", "sysAttrs"}
)  # fmt: skip


def _view(terms: Terms, request: Request) -> View:
    q = request.query_params
    return View.parse(
        terms, options=q.get("options"), format=q.get("format"), attrs=q.get("attrs"),
        pick=q.get("pick"), omit=q.get("omit"), lang=q.get("lang"),
    )  # fmt: skip


# Parts of the spec Charter does not do (docs/ngsi-ld.md says why): 422 OperationNotSupported.
UNSUPPORTED = ("csf", "expandValues", "entityMap")


def _unsupported(request: Request) -> None:
    for name in UNSUPPORTED:
        if name in request.query_params:
            raise NgsiError(ErrorType.OPERATION_NOT_SUPPORTED, f"{name} is not supported")
    if request.query_params.get("local") == "false":
        if request.query_params.get("type") == "*":  # "*" implies local=true (6.4.3.2)
            raise bad_data("type=* cannot be combined with local=false")
        raise NgsiError(
            ErrorType.OPERATION_NOT_SUPPORTED, "distributed operations are not supported"
        )


def _location(entity_id: str) -> str:
    return location("entities", entity_id)


@router.post("/entities", status_code=201)
async def create_entity(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Create an entity (clause 5.6.1): 201 with Location; 409 AlreadyExists."""
    t = tenant(n, actor, request)
    b = await media.body(request, n.contexts)
    entity_id, types, scope, attrs = model.entity(b.terms, b.data)
    assert entity_id is not None and types is not None
    if is_device(actor):  # its readings, through the gate
        return device_write(request, n, actor, t, entity_id, attrs, b.terms, create=True)
    n.entities.create(actor, t, entity_id, types, scope, attrs)
    return no_content(t, 201, Location=_location(entity_id))


@router.get("/entities")
def query_entities(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Query entities (clause 5.7.2): type, id, idPattern, attrs, limit/offset, count."""
    q = request.query_params
    _unsupported(request)
    mime = media.accept(request, geo=True)
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    view = _view(terms, request)
    from charter.ngsild import search  # q, type expressions, geo-queries (ngsiq)

    filt, types = search.parse_filter(terms, q)
    ids = q["id"].split(",") if q.get("id") else None
    for i in ids or []:
        model.check_id(i)
    pattern = q.get("idPattern")
    if pattern is not None:
        _check_pattern(pattern)
    where = None
    for hook in QUERY_HOOK:
        where = hook(terms, request)
    limit = int_param(request, "limit", 20, 0, n.max_limit)
    offset = int_param(request, "offset", 0, 0, None)
    count = flag(request, "count")
    if limit == 0 and not count:
        raise bad_data("limit=0 needs count=true")
    if not (q.get("type") or ids or pattern or filt is not None or _user_attrs(q.get("attrs"))):
        raise bad_data(
            "too wide: give type, id, idPattern, attrs (not only system ones), q or a geo-query"
        )
    personal = n.entities.rights.personal(types or [])
    if personal:  # personal data: only with a purpose grant, through Access.read
        grant = request.headers.get("x-charter-grant")
        found = n.entities.rights.personal_entities(actor, grant, personal, limit or 1)
        if filt is not None:  # q / geo on what the grant shows (ngsiq)
            found = [e for e in found if filt.exact(e)]
        total = len(found) if count else None
        links = ""
    else:
        probe = limit + 1 if limit and not count else limit  # one more: is there a next page?
        found, total = search.search(
            n.entities, actor, t, filt, types=types, ids=ids, id_pattern=pattern, where=where,
            limit=probe, offset=offset, count=count,
        )  # fmt: skip
        known = total if total is not None else offset + len(found)
        found = found[:limit]
        links = page_links(request, "/ngsi-ld/v1/entities", limit, offset, known, mime)
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else {}
    if links:
        headers["Link"] = links
    if mime == media.GEOJSON:
        geo = terms.expand(q.get("geometryProperty") or "location") or ""
        body: Any = {
            "type": "FeatureCollection",
            "features": [feature(e, terms, view, geo) for e in found],
        }
        return reply(body, terms, mime, headers=headers, tenant_name=t)
    join = _join(request)
    body = linked.answer(n.entities, actor, t, found, terms, view, join)
    return reply(body, terms, mime, headers=headers, tenant_name=t)


def _join(request: Request) -> linked.Join | None:
    q = request.query_params
    return linked.Join.parse(q.get("join"), q.get("joinLevel"), q.get("containedBy"))


SYSTEM_ATTRS = frozenset({"createdAt", "modifiedAt", "deletedAt"})


def _user_attrs(attrs: str | None) -> bool:
    """5.7.2.4: attrs narrows a query only if it names an attribute that is not a system one."""
    return any(a.strip() and a.strip() not in SYSTEM_ATTRS for a in (attrs or "").split(","))


def _check_pattern(pattern: str) -> None:
    import re

    if len(pattern) > 256:
        raise bad_data("idPattern is too long")
    try:
        re.compile(pattern)
    except re.error:
        raise bad_data("idPattern is not a valid regular expression") from None


@router.get("/entities/{entityId}")
def retrieve_entity(entityId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Retrieve an entity (clause 5.7.1): options, attrs, pick/omit, lang, GeoJSON."""
    _unsupported(request)
    mime = media.accept(request, geo=True)
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    model.check_id(entityId)
    view = _view(terms, request)
    join = _join(request)
    e = n.entities.get(actor, t, entityId)
    if mime == media.GEOJSON:
        geo = terms.expand(request.query_params.get("geometryProperty") or "location") or ""
        return reply(feature(e, terms, view, geo), terms, mime, tenant_name=t)
    if join is not None:  # inline: the entity; flat: it and its linked entities, an array
        body = linked.answer(n.entities, actor, t, [e], terms, view, join)
        return reply(body[0] if join.mode == "inline" else body, terms, mime, tenant_name=t)
    return reply(render(e, terms, view), terms, mime, tenant_name=t)


@router.put("/entities/{entityId}")
async def replace_entity(entityId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Replace an entity (clause 5.6.18): every attribute replaced; 204."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    b = await media.body(request, n.contexts)
    body_id, types, scope, attrs = model.entity(b.terms, b.data, need_id=False, need_type=False)
    if body_id is not None and body_id != entityId:
        raise bad_data("the id in the body is not the id in the path")
    n.entities.replace(actor, t, entityId, types, scope, attrs)
    return no_content(t)


@router.patch("/entities/{entityId}")
async def merge_entity(entityId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Merge an entity (clause 5.6.17): attributes merged, urn:ngsi-ld:null deletes; 204."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    b = await media.body(request, n.contexts, patch=True)
    body_id, types, scope, attrs = model.entity(b.terms, b.data, need_id=False, need_type=False)
    if body_id is not None and body_id != entityId:
        raise bad_data("the id in the body is not the id in the path")
    if is_device(actor):
        return device_write(request, n, actor, t, entityId, attrs, b.terms)
    n.entities.merge(actor, t, entityId, types, scope, attrs)
    return no_content(t)


@router.delete("/entities/{entityId}")
def delete_entity(entityId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Delete an entity (clause 5.6.6); 204."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    n.entities.delete(actor, t, entityId, of_types=_type_selector(n, request))
    return no_content(t)


@router.api_route(
    "/entities//{rest:path}",
    methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
    include_in_schema=False,  # an error answer, not an operation
)
def empty_entity_id(rest: str, actor: Caller) -> Response:
    """`/entities//attrs/...`: an empty entity id is BadRequestData (ETSI 013_02_01), not 404."""
    raise bad_data("the entity id in the path is empty")


def _type_selector(n: Ngsi, request: Request) -> frozenset[str]:
    """`type=A,B` on one entity (5.6.6.4): the expanded types it must have one of."""
    raw = request.query_params.get("type")
    if not raw:
        return frozenset()
    terms = link_terms(n, request)
    return frozenset(terms.expand(name.strip()) or name.strip() for name in raw.split(","))


def _multi(result: AttrResult, terms: Terms, t: str) -> Response:
    if not result.not_updated:
        return no_content(t)
    body = {
        "updated": [terms.compact(a) for a in result.updated],
        "notUpdated": [
            {"attributeName": terms.compact(u.attribute), "reason": u.reason}
            for u in result.not_updated
        ],
    }
    return reply(body, terms, media.JSON, status=207, tenant_name=t)


@router.post("/entities/{entityId}/attrs")
async def append_attrs(entityId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Append attributes (clause 5.6.3), `options=noOverwrite`; 204, or 207 if some kept."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    no_overwrite = "noOverwrite" in (request.query_params.get("options") or "").split(",")
    b = await media.body(request, n.contexts)
    body_id, types, _scope, attrs = model.entity(b.terms, b.data, need_id=False, need_type=False)
    if body_id is not None and body_id != entityId:
        raise bad_data("the id in the body is not the id in the path")
    if is_device(actor):
        return device_write(request, n, actor, t, entityId, attrs, b.terms)
    result = n.entities.append(actor, t, entityId, attrs, types=types, no_overwrite=no_overwrite)
    return _multi(result, b.terms, t)


@router.patch("/entities/{entityId}/attrs")
async def update_attrs(entityId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Update attributes (clause 5.6.2): only existing ones; 204, or 207 with notUpdated."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    b = await media.body(request, n.contexts, patch=True)
    _id, _types, _scope, attrs = model.entity(b.terms, b.data, need_id=False, need_type=False)
    if not attrs:
        raise bad_data("no attributes to update")
    if is_device(actor):
        return device_write(request, n, actor, t, entityId, attrs, b.terms)
    result = n.entities.update_attrs(actor, t, entityId, attrs)
    if not result.updated:
        return _multi(result, b.terms, t)
    return _multi(result, b.terms, t)


@router.patch("/entities/{entityId}/attrs/{attrId}")
async def partial_update_attr(
    entityId: str, attrId: str, request: Request, n: Ngsi, actor: Caller,
) -> Response:  # fmt: skip
    """Partially update one attribute (clause 5.6.4); 204; 404 if it is not there."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    b = await media.body(request, n.contexts, patch=True)
    name = model.expand_name(b.terms, attrId)
    inst = _fragment(b.terms, b.data, attrId)
    if is_device(actor):
        full = model.attribute(b.terms, _strip(b.data), attrId)
        return device_write(request, n, actor, t, entityId, {name: [full]}, b.terms)
    n.entities.partial_update(actor, t, entityId, name, inst)
    return no_content(t)


@router.put("/entities/{entityId}/attrs/{attrId}")
async def replace_attr(
    entityId: str, attrId: str, request: Request, n: Ngsi, actor: Caller,
) -> Response:  # fmt: skip
    """Replace one attribute (clause 5.6.19); 204; 404 if it is not there."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    b = await media.body(request, n.contexts)
    name = model.expand_name(b.terms, attrId)
    inst = model.attribute(b.terms, _strip(b.data), attrId)
    result = n.entities.update_attrs(actor, t, entityId, {name: [inst]})
    if result.not_updated:
        from charter.ngsild.errors import not_found

        raise not_found("the entity has no such attribute")
    return no_content(t)


@router.delete("/entities/{entityId}/attrs/{attrId}")
def delete_attr(
    entityId: str, attrId: str, request: Request, n: Ngsi, actor: Caller,
) -> Response:  # fmt: skip
    """Delete an attribute (clause 5.6.5): the default instance, `datasetId`, or `deleteAll`."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    terms = link_terms(n, request)
    name = SCOPE if attrId == "scope" else model.expand_name(terms, attrId)
    ds = request.query_params.get("datasetId")
    if ds is not None:
        model.check_id(ds, "datasetId")
    n.entities.delete_attr(
        actor, t, entityId, name, dataset_id=ds, delete_all=flag(request, "deleteAll"),
        of_types=_type_selector(n, request),
    )  # fmt: skip
    return no_content(t)


def _strip(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if k != "@context"}
    return data


def _fragment(terms: Terms, data: Any, name: str) -> dict[str, Any]:
    """A partial attribute: only the members given (clause 5.6.4)."""
    data = _strip(data)
    if not isinstance(data, dict) or not data:
        raise bad_data("the body must be a JSON object with the members to change")
    mains = [m for m in model.ATTRIBUTE_TYPES.values() if m in data]
    if mains or "type" in data:
        full = model.attribute(terms, data, name)
        keep = {"type", *mains}
    else:  # only metadata or sub-attributes: checked as those of a Property
        full = model.attribute(terms, {**data, "type": "Property", "value": 0}, name)
        keep = set()
    for key in data:
        if key in model.CORE_MEMBERS:
            keep.add(key)
        else:
            keep.add(terms.expand(key) or key)
    return {k: v for k, v in full.items() if k in keep}
