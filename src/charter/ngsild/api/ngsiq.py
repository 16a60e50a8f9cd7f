"""NGSI-LD routes beyond entities: query, subscriptions, temporal, discovery, @contexts, ping.

- POST /entityOperations/query (clause 6.23): the Query data type, same engine as GET /entities;
- /subscriptions (6.10, 6.11): create, list, retrieve, update (PATCH), delete;
- /temporal/entities (6.18-6.22): create / add instances, retrieve, query, delete, attribute
  and instance operations;
- /types, /types/{type}, /attributes, /attributes/{attr} (6.25-6.28);
- /jsonldContexts (6.29-6.30): create (hosted), list, retrieve, delete;
- GET /ping: a no-op behind the same token check, the framework's ceiling for benchmarks.
"""

from __future__ import annotations

import json
import threading
import uuid
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

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
from charter.ngsild.api.preconditions import location, page_links
from charter.ngsild.context import CORE_CONTEXT, HOSTED, Terms
from charter.ngsild.discovery import (
    ContextStore,
    attribute,
    attribute_list,
    survey,
    type_info,
    type_list,
)
from charter.ngsild.errors import ErrorType, NgsiError, bad_data, not_found
from charter.ngsild.notify import Fence, MqttPublisher
from charter.ngsild.query import QueryError
from charter.ngsild.render import View, render
from charter.ngsild.service import NgsiLd
from charter.ngsild.subscription_store import SubscriptionRepository
from charter.ngsild.subscriptions import SubscriptionService
from charter.settings import Settings
from charter.store import ngsild_history as history
from charter.store.ngsild import InstanceRow, StoredEntity, current_rows

router = APIRouter(tags=["ngsi-ld"])


# --- wiring -----------------------------------------------------------------------------------


class Extras:
    """Subscriptions and hosted contexts of one NgsiLd (one per platform)."""

    def __init__(self, n: NgsiLd, platform: Any) -> None:
        settings: Settings = platform.settings
        from charter.transport.mqtt_client import broker

        b = broker(settings.mqtt_url)
        fence = Fence(
            frozenset(h.lower() for h in settings.ngsild_notify_hosts),
            b.host,
            b.port,
            settings.ngsild_notify_timeout_s,
        )
        clock = platform.clock
        self.contexts = ContextStore(platform.store)
        self.mqtt = MqttPublisher(settings)
        self.subs = SubscriptionService(
            SubscriptionRepository(platform.store),
            n.contexts,
            fence,
            lambda: int(clock.now().timestamp() * 1000),
            n.entities.rights.check_read,
            mqtt_publish=self.mqtt,
            personal=lambda actor, grant, types: _personal(n, actor, grant, types),
        )
        n.entities.listen(self.subs.on_change)
        hosts = {"127.0.0.1", "localhost", settings.host.lower()}
        store = weakref.ref(self.contexts)

        def lookup(url: str) -> Any:
            found = store()
            return found.lookup(url, hosts) if found is not None else None

        self._lookup = lookup
        HOSTED.append(lookup)
        self.subs.start_periodic(lambda t, sub: _all_entities(n, t, sub))

    def close(self) -> None:
        self.subs.stop()
        self.mqtt.close()
        if self._lookup in HOSTED:
            HOSTED.remove(self._lookup)


def _personal(n: NgsiLd, actor: Actor, grant: str | None, types: list[str]) -> str | None:
    """The grant's purpose if ``types`` are personal data (and the grant holds); else None."""
    rights: Any = n.entities.rights
    if not hasattr(rights, "personal") or not rights.personal(types):
        return None
    from charter.domain.errors import CharterError
    from charter.domain.reasons import Reason
    from charter.ngsild.errors import from_reason

    if not grant:
        raise from_reason(
            Reason.PURPOSE_NOT_GRANTED,
            "a subscription to personal data needs a purpose grant (header X-Charter-Grant)",
        )
    access = rights.platform.rights.access
    try:
        record = access.check_grant(grant, access._consumer(actor))
    except CharterError as exc:
        raise from_reason(exc.reason, exc.detail) from None
    return str(record.purpose)


def _all_entities(n: NgsiLd, tenant_name: str, sub: Any) -> list[StoredEntity]:
    rights: Any = n.entities.rights
    if sub.grant is not None:  # personal data: read through Access.read, every period
        declared = rights.personal([sel["type"] for sel in sub.types])
        found: list[StoredEntity] = rights.personal_entities(sub.owner, sub.grant, declared, 100)
        return found
    types = sorted({sel["type"] for sel in sub.types}) or None
    return list(n.repo.query(tenant_name, types=types, limit=1000, offset=0))


_LOCK = threading.Lock()


def extras_for(platform: Any) -> Extras:
    """The platform's subscriptions and hosted contexts, made once (kept on the platform)."""
    hit: Extras | None = getattr(platform, "_ngsild_extras", None)
    if hit is None:
        with _LOCK:
            hit = getattr(platform, "_ngsild_extras", None)
            if hit is None:
                hit = Extras(platform.ngsild, platform)
                platform._ngsild_extras = hit
    return hit


def install(app: Any) -> None:
    """At start-up, wire the subscriptions to the entity service, so that every server
    process notifies, whichever process made the subscription."""

    def start() -> None:
        platform = getattr(app.state, "platform", None)
        if platform is not None:
            extras_for(platform)

    def stop() -> None:
        platform = getattr(app.state, "platform", None)
        hit: Extras | None = getattr(platform, "_ngsild_extras", None)
        if hit is not None:
            hit.close()

    original = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(inner: Any) -> AsyncIterator[Any]:
        start()
        try:
            async with original(inner) as state:
                yield state
        finally:
            stop()

    app.router.lifespan_context = lifespan


def _extras(request: Request) -> Extras:
    return extras_for(request.app.state.platform)


def _now(request: Request) -> int:
    return int(request.app.state.platform.clock.now().timestamp() * 1000)


def _query_error(exc: QueryError) -> NgsiError:
    return search.query_error(exc)


# --- ping -------------------------------------------------------------------------------------


@router.get("/ping", status_code=204)
def ping(actor: Caller) -> Response:
    """A no-op behind the token check (the benchmark's ceiling)."""
    return Response(status_code=204)


# --- POST /entityOperations/query -------------------------------------------------------------


@router.post("/entityOperations/query")
async def query_post(request: Request, n: Ngsi, actor: Caller) -> Response:
    """Query entities with a Query body (clause 5.7.2 / 6.23): entities, attrs, q, geoQ."""
    mime = media.accept(request)
    t = tenant(n, actor, request)
    b = await media.body(request, n.contexts)
    params = search.query_body(b.data, b.terms)
    qp = request.query_params
    view = View.parse(
        b.terms, options=qp.get("options"), format=qp.get("format"), attrs=params.get("attrs"),
        pick=qp.get("pick"), omit=qp.get("omit"), lang=qp.get("lang"),
    )  # fmt: skip
    filt, types = search.parse_filter(b.terms, params)
    ids = params["id"].split(",") if params.get("id") else None
    for i in ids or []:
        model.check_id(i)
    limit = int_param(request, "limit", 20, 0, n.max_limit)
    offset = int_param(request, "offset", 0, 0, None)
    count = flag(request, "count")
    if limit == 0 and not count:
        raise bad_data("limit=0 needs count=true")
    found, total = search.search(
        n.entities, actor, t, filt, types=types, ids=ids, id_pattern=params.get("idPattern"),
        limit=limit, offset=offset, count=count,
    )  # fmt: skip
    headers = {"NGSILD-Results-Count": str(total)} if total is not None else {}
    return reply([render(e, b.terms, view) for e in found], b.terms, mime, headers=headers,
                 tenant_name=t, link=context_link(request, actor, b.terms))  # fmt: skip


def context_link(request: Request, actor: Actor, terms: Terms) -> str | None:
    """The URL of the ImplicitlyCreated context Charter hosts for a request's inline or list
    @context (clause 5.5.7), for the reply's (or the notifications') Link header; None when
    the context is the core or one URL (linked as it is), or the caller is anonymous (an
    anonymous call never makes Charter keep anything), or the bound is reached."""
    parts = [p for p in terms.source if p != CORE_CONTEXT]
    if not parts or (len(parts) == 1 and isinstance(parts[0], str)):
        return None
    if actor.role in ("public", "device"):
        return None
    cid = _extras(request).contexts.implicit(parts, _now(request))
    if cid is None:
        return None
    return str(request.base_url).rstrip("/") + "/ngsi-ld/v1/jsonldContexts/" + cid


# --- subscriptions ----------------------------------------------------------------------------


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
    sub = _extras(request).subs.create(
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
    subs = _extras(request).subs
    found = subs.page(actor, t, limit, offset)
    total = subs.count(actor, t)
    headers = {}
    if flag(request, "count"):
        headers["NGSILD-Results-Count"] = str(total)
    links = page_links(request, "/ngsi-ld/v1/subscriptions", limit, offset, total, mime)
    if links:
        headers["Link"] = links
    now = _now(request)
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
    sub = _extras(request).subs.get(actor, t, subscriptionId)
    sys_attrs = "sysAttrs" in (request.query_params.get("options") or "")
    return reply(sub.representation(_now(request), sys_attrs=sys_attrs), terms, mime, tenant_name=t)


@router.patch("/subscriptions/{subscriptionId}")
async def update_subscription(
    subscriptionId: str, request: Request, n: Ngsi, actor: Caller
) -> Response:
    """Update a subscription (clause 5.8.2): the members given replace the old; 204."""
    model.check_id(subscriptionId, "the subscription id")  # 030_01: BadRequestData
    t = tenant(n, actor, request)
    b = await media.body(request, n.contexts, patch=True)
    context = _context_of(request, b)
    _extras(request).subs.update(actor, t, subscriptionId, b.data, context)
    return no_content(t)


@router.delete("/subscriptions/{subscriptionId}")
def delete_subscription(subscriptionId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Delete a subscription (clause 5.8.5); 204."""
    model.check_id(subscriptionId, "the subscription id")  # 030_01: BadRequestData
    t = tenant(n, actor, request)
    _extras(request).subs.delete(actor, t, subscriptionId)
    return no_content(t)


# --- temporal ---------------------------------------------------------------------------------


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
    now = _now(request)
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
        w.add_instances(_rows(e, attrs, _now(request)))
    return no_content(t)


def _temporal_query(request: Request, *, require: bool = False) -> tq.TemporalQuery:
    q = request.query_params
    try:
        return tq.parse_temporal_query(
            q.get("timerel"), q.get("timeAt"), q.get("endTimeAt"),
            q.get("timeproperty"), q.get("lastN"), require_timerel=require,
        )  # fmt: skip
    except QueryError as exc:
        raise _query_error(exc) from None


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
    history = tq.instances_of(n.repo, t, e.id, _now(request), wanted)
    try:
        selected = tq.select(history, query)
    except QueryError as exc:
        raise _query_error(exc) from None
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
        raise _query_error(exc) from None
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


# --- discovery --------------------------------------------------------------------------------


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


# --- @contexts --------------------------------------------------------------------------------


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
    hosted = _extras(request).contexts.add(data, _now(request))
    try:  # a context that does not process is refused and not kept
        n.contexts.resolve(hosted.body["@context"])
    except NgsiError:
        _extras(request).contexts.delete(hosted.id)
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
        for h in _extras(request).contexts.all():
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
    store = _extras(request).contexts
    hosted = store.get(contextId)
    if hosted is None:
        raise not_found("no such @context")
    store.used(contextId, _now(request))
    return JSONResponse(hosted.body, media_type=media.JSONLD)


@router.delete("/jsonldContexts/{contextId}")
def delete_context(contextId: str, request: Request, n: Ngsi, actor: Caller) -> Response:
    """Delete a hosted @context (clause 5.13.5); 204."""
    _staff(actor)
    if not _extras(request).contexts.delete(contextId):
        raise not_found("no such @context")
    return Response(status_code=204)


ROUTERS = [router]
_ = ErrorType
