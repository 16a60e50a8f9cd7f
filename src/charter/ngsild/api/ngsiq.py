"""NGSI-LD wiring beyond entities, GET /ping and POST /entityOperations/query.

- `Extras` / `extras_for` / `install`: the subscriptions and hosted @contexts of a platform,
  wired to the entity service at start-up in every server process;
- POST /entityOperations/query (clause 6.23): the Query data type, same engine as GET /entities;
- GET /ping: a no-op behind the same token check, the framework's ceiling for benchmarks.

The other routes beyond entities have one module each: `api.subscriptions` (6.10, 6.11),
`api.temporal` (6.18-6.22), `api.discovery` (6.25-6.28), `api.contexts` (6.29-6.30).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from charter.domain.model import Actor
from charter.ngsild import media, model, search
from charter.ngsild.api.common import Caller, Ngsi, flag, int_param, reply, tenant
from charter.ngsild.context import CORE_CONTEXT, HOSTED, Terms
from charter.ngsild.discovery import ContextStore
from charter.ngsild.errors import bad_data
from charter.ngsild.notify import Fence, MqttPublisher
from charter.ngsild.render import View, render
from charter.ngsild.service import NgsiLd
from charter.ngsild.subscription_store import SubscriptionRepository
from charter.ngsild.subscriptions import SubscriptionService
from charter.settings import Settings
from charter.store.ngsild import StoredEntity

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


def request_extras(request: Request) -> Extras:
    """The subscriptions and hosted contexts of the request's platform."""
    return extras_for(request.app.state.platform)


def now_ms(request: Request) -> int:
    """The platform clock's now, in milliseconds."""
    return int(request.app.state.platform.clock.now().timestamp() * 1000)


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
    cid = request_extras(request).contexts.implicit(parts, now_ms(request))
    if cid is None:
        return None
    return str(request.base_url).rstrip("/") + "/ngsi-ld/v1/jsonldContexts/" + cid
