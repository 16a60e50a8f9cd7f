"""NGSI-LD /temporal/entities routes (clauses 6.18-6.22).

Create / add instances, retrieve, query, delete, and the attribute and instance operations;
the temporal query itself is `charter.ngsild.temporal`, the history `charter.store.ngsild_history`.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.model import Actor
from charter.ngsild import media, model, search
from charter.ngsild import temporal as tq
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
from charter.ngsild.api.ngsiq import now_ms
from charter.ngsild.api.preconditions import location
from charter.ngsild.errors import bad_data, not_found
from charter.ngsild.query import QueryError
from charter.ngsild.service import NgsiLd
from charter.store import ngsild_history as history
from charter.store.ngsild import InstanceRow, StoredEntity
from charter.store.ngsild_history import current_rows

router = APIRouter(tags=["ngsi-ld"])


def _temporal_attrs(b_terms: Any, data: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The attribute instances of a temporal body (each attribute one instance or a list)."""
    members = {k: v for k, v in data.items() if k not in ("id", "type", "@context", "scope")}
    attrs: dict[str, list[dict[str, Any]]] = {}
    for name, raw in members.items():
        items = raw if isinstance(raw, list) else [raw]
        if len(items) > tq.MAX_INSTANCES * 10:
            raise bad_data("too many instances in one request")
        expanded = model.expand_name(b_terms, name)
        parsed: list[dict[str, Any]] = []
        for item in items:
            one = model.attributes(b_terms, {name: item})
            parsed.extend(one.get(expanded, []))
        attrs[expanded] = parsed
    return attrs


def _rows(e: StoredEntity, attrs: dict[str, list[dict[str, Any]]], now: int) -> list[InstanceRow]:
    rows = []
    for name, instances in attrs.items():
        for inst in instances:
            inst = dict(inst)
            inst.setdefault("instanceId", f"urn:ngsi-ld:instance:{uuid.uuid4().hex}")
            observed = inst.get("observedAt")
            rows.append(
                InstanceRow(
                    e.tenant,
                    e.id,
                    name,
                    inst.get("datasetId", ""),
                    inst["instanceId"],
                    model.parse_time(observed, "observedAt") if observed else None,
                    now,
                    inst,
                    False,
                    e.expires_at,
                )
            )
    return rows


def _latest(attrs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for name, instances in attrs.items():
        by_ds: dict[str, dict[str, Any]] = {}
        for inst in instances:
            key = inst.get("datasetId", "")
            old = by_ds.get(key)
            if old is None or str(inst.get("observedAt", "")) >= str(old.get("observedAt", "")):
                by_ds[key] = inst
        out[name] = [dict(v) for v in by_ds.values()]
    return out


@router.post("/temporal/entities", status_code=201)
async def create_temporal(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Create or update a temporal entity (clause 5.6.11): 201 created, 204 instances added."""
    t = tenant(n, actor, request)
    b = await media.body(request, n.contexts)
    if not isinstance(b.data, dict):
        raise bad_data("a temporal entity is a JSON object")
    entity_id = model.check_id(b.data.get("id"))
    types = model.expand_type(b.terms, b.data.get("type"))
    attrs = _temporal_attrs(b.terms, b.data)
    now = now_ms(request)
    existing = n.repo.get(t, entity_id)
    if existing is None:
        created = n.entities.create(actor, t, entity_id, types, None, _latest(attrs))
        history = {k: [i for i in v] for k, v in attrs.items()}
        rows = _rows(created, history, now)
        with n.repo.write() as w:
            # the history is the body's instances, not the create's copy of the latest
            w.delete_instances(t, entity_id)
            w.add_instances(rows)
            w.hide(current_rows(created))
        return no_content(t, 201, Location=location("temporal/entities", entity_id))
    n.entities.rights.check_write(actor, t, existing)
    with n.repo.write() as w:
        w.add_instances(_rows(existing, attrs, now))
    return no_content(t)


@router.post("/temporal/entities/{entityId}/attrs")
async def add_temporal_attrs(entityId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Add attribute instances to a temporal entity (clause 5.6.12); 204."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    b = await media.body(request, n.contexts)
    if not isinstance(b.data, dict):
        raise bad_data("the body is a JSON object of attributes")
    e = n.entities.get(actor, t, entityId)
    n.entities.rights.check_write(actor, t, e)
    attrs = _temporal_attrs(b.terms, b.data)
    with n.repo.write() as w:
        w.add_instances(_rows(e, attrs, now_ms(request)))
    return no_content(t)


def _temporal_query(request: Request, *, require: bool = False) -> tq.TemporalQuery:
    q = request.query_params
    try:
        return tq.parse_temporal_query(
            q.get("timerel"), q.get("timeAt"), q.get("endTimeAt"),
            q.get("timeproperty"), q.get("lastN"), require_timerel=require,
        )  # fmt: skip
    except QueryError as exc:
        raise search.query_error(exc) from None


def _temporal_doc(
    request: Request, n: NgsiLd, actor: Actor, t: str, e: StoredEntity, query: tq.TemporalQuery,
    terms: Any,
) -> tuple[dict[str, Any], str | None]:  # fmt: skip
    q = request.query_params
    seen = n.entities.rights.check_read(actor, t, e)
    if seen is None:
        raise not_found()
    wanted = None
    if q.get("attrs"):
        wanted = [terms.expand(a) or a for a in q["attrs"].split(",")]
    history = tq.instances_of(n.repo, t, e.id, now_ms(request), wanted)
    try:
        selected = tq.select(history, query)
    except QueryError as exc:
        raise search.query_error(exc) from None
    selected, content_range = tq.truncate(selected, query)
    compacted = {terms.compact(k): _compact_instances(v, terms) for k, v in selected.items()}
    types = [terms.compact(x) for x in seen.types]
    etype: Any = types[0] if len(types) == 1 else types
    options = set((q.get("options") or "").split(","))
    try:
        if "aggregatedValues" in options or q.get("aggrMethods"):
            methods = tq.parse_aggr_methods(q.get("aggrMethods"))
            period = tq.parse_duration(q.get("aggrPeriodDuration") or "P0D")
            return tq.aggregated(seen.id, etype, compacted, methods, period, query), content_range
        if "temporalValues" in options:
            return tq.temporal_values(seen.id, etype, compacted, query.timeproperty), content_range
    except QueryError as exc:
        raise search.query_error(exc) from None
    return tq.normalized(seen.id, etype, compacted, sys_attrs="sysAttrs" in options), content_range


def _compact_instances(items: list[tq.Instance], terms: Any) -> list[tq.Instance]:
    out = []
    for i in items:
        data = {(terms.compact(k) if ":" in k else k): v for k, v in i.data.items()}
        out.append(
            tq.Instance(i.attr, data, i.instance_id, i.observed_at, i.created_at, i.modified_at)
        )
    return out


@router.get("/temporal/entities/{entityId}")
def retrieve_temporal(entityId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Retrieve a temporal entity (clause 5.7.3): timerel, lastN, temporalValues, aggregations."""
    mime = media.accept(request)
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    model.check_id(entityId)
    query = _temporal_query(request)
    e = n.entities.get(actor, t, entityId)
    doc, content_range = _temporal_doc(request, n, actor, t, e, query, terms)
    headers = {"Content-Range": content_range} if content_range else {}
    return reply(doc, terms, mime, status=206 if content_range else 200, headers=headers,
                 tenant_name=t)  # fmt: skip


@router.get("/temporal/entities")
def query_temporal(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Query temporal entities (clause 5.7.4): the entity filters plus the temporal ones."""
    mime = media.accept(request)
    terms = link_terms(n, request)
    t = tenant(n, actor, request)
    q = request.query_params
    if not (q.get("type") or q.get("attrs") or q.get("q") or q.get("georel") or q.get("id")):
        raise bad_data("a temporal query needs type, attrs, q, id or a geo-query")
    query = _temporal_query(request)
    filt, types = search.parse_filter(terms, q)
    ids = q["id"].split(",") if q.get("id") else None
    limit = int_param(request, "limit", 20, 1, n.max_limit)
    offset = int_param(request, "offset", 0, 0, None)
    found, total = search.search(
        n.entities, actor, t, filt, types=types, ids=ids, id_pattern=q.get("idPattern"),
        limit=limit, offset=offset, count=flag(request, "count"),
    )  # fmt: skip
    docs = []
    ranges = []
    for e in found:
        doc, content_range = _temporal_doc(request, n, actor, t, e, query, terms)
        docs.append(doc)
        if content_range:
            ranges.append(content_range)
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else {}
    if ranges:
        headers["Content-Range"] = ranges[0]
    return reply(docs, terms, mime, status=206 if ranges else 200, headers=headers, tenant_name=t)


@router.delete("/temporal/entities/{entityId}")
def delete_temporal(entityId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Delete a temporal entity (clause 5.6.16): its history and the entity; 204."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    e = n.entities.get(actor, t, entityId)
    n.entities.rights.check_write(actor, t, e)
    n.entities.delete(actor, t, entityId)
    with n.repo.write() as w:
        w.delete_instances(t, entityId)
    return no_content(t)


@router.delete("/temporal/entities/{entityId}/attrs/{attrId}")
def delete_temporal_attr(
    entityId: str, attrId: str, request: Request, n: Ngsi, actor: Caller
) -> Response:
    """Delete an attribute's history (clause 5.6.13), one datasetId or all; 204."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    terms = link_terms(n, request)
    e = n.entities.get(actor, t, entityId)
    n.entities.rights.check_write(actor, t, e)
    name = terms.expand(attrId) or attrId
    dataset = request.query_params.get("datasetId")
    delete_all = flag(request, "deleteAll")
    with n.repo.write() as w:
        if not history.forget_attr(w, e, name, None if delete_all else (dataset or "")):
            raise not_found("no such attribute in the temporal entity")
    return no_content(t)


@router.patch("/temporal/entities/{entityId}/attrs/{attrId}/{instanceId}")
async def modify_instance(
    entityId: str, attrId: str, instanceId: str, request: Request, n: Ngsi, actor: Caller
) -> Response:
    """Modify an attribute instance (clause 5.6.14); 204."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    b = await media.body(request, n.contexts, patch=True)
    if not isinstance(b.data, dict):
        raise bad_data("the body is a JSON object with the attribute")
    e = n.entities.get(actor, t, entityId)
    n.entities.rights.check_write(actor, t, e)
    name = model.expand_name(b.terms, attrId)
    fragment = b.data.get(attrId, b.data)
    parsed = model.attributes(b.terms, {attrId: fragment}).get(name, [])
    if len(parsed) != 1:
        raise bad_data("the body carries one instance of the attribute")
    with n.repo.write() as w:
        found = history.history_instance(w, e, name, instanceId)
        if found is None:
            raise not_found("no such attribute instance")
        key, row = found
        value = {**row.value, **parsed[0], "instanceId": instanceId}
        observed = value.get("observedAt")
        at = model.parse_time(observed, "observedAt") if observed else None
        history.rewrite_instance(w, key, row, value, at)
    return no_content(t)


@router.delete("/temporal/entities/{entityId}/attrs/{attrId}/{instanceId}")
def delete_instance(
    entityId: str, attrId: str, instanceId: str, request: Request, n: Ngsi, actor: Caller
) -> Response:
    """Delete an attribute instance (clause 5.6.15); 204."""
    t = tenant(n, actor, request)
    model.check_id(entityId)
    terms = link_terms(n, request)
    e = n.entities.get(actor, t, entityId)
    n.entities.rights.check_write(actor, t, e)
    name = terms.expand(attrId) or attrId
    with n.repo.write() as w:
        if not history.forget_instance(w, e, name, instanceId):
            raise not_found("no such attribute instance")
    return no_content(t)
