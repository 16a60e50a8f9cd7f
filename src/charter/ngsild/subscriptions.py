"""NGSI-LD subscriptions and notifications (ETSI GS CIM 009 v1.8, clauses 5.2.12, 5.8, 5.11).

A subscription is stored in ``ngsild_subscriptions`` (``ngsild.subscription_store``: one
truth across processes) with the names it watches already expanded, its owner (the caller
who created it, for the rights checks at each notification) and its counters.  The entity
service tells the :class:`SubscriptionService` of every committed change; ``ngsild.triggers``
reads it as the notification triggers it fires (``notificationTrigger``: entity and
attribute creations, updates and deletions), and matching subscriptions (entities selector,
watchedAttributes, ``q``, ``geoQ``, throttling, expiry) queue a notification that a worker
thread delivers, so a slow endpoint never slows a write.  The subscription itself (its state,
representation and matching) is ``ngsild.subscription_model``; this module is the service.

Delivery is bounded and fenced (``ngsild.notify.Fence``): HTTP(S) only to hosts the operator
listed in ``ngsild_notify_hosts`` (checked when the subscription is made *and* at each send,
redirects never followed, a bounded timeout), MQTT only through Charter's own broker.  A
subscription can never make Charter call an address the operator did not allow.

Rights: each notification re-reads the entity (for a deletion: the entity as it was) through
the same ``Rights.check_read`` as a GET, as the subscription's owner; entities the owner may
no longer read are left out, and a refusal (the purpose grant or the consent ended) ends the
subscription (``isActive`` false, status ``expired``, the reason kept).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from charter.domain.model import Actor
from charter.ngsild import query as ql
from charter.ngsild import triggers as tr
from charter.ngsild.context import CORE_CONTEXT, Contexts, Terms
from charter.ngsild.errors import ErrorType, NgsiError, bad_data, not_found
from charter.ngsild.notify import Fence
from charter.ngsild.notify import http_send as _default_send
from charter.ngsild.render import View, render
from charter.ngsild.render import _langs as langs
from charter.ngsild.subscription_doc import _expanded, parse_subscription, to_ms
from charter.ngsild.subscription_model import Subscription, iso_ms
from charter.store.ngsild import StoredEntity

if TYPE_CHECKING:
    from charter.ngsild.subscription_store import SubscriptionRepository

log = logging.getLogger(__name__)

CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
JSONLD = "application/ld+json"
MAX_QUEUE = 10_000


@dataclass
class Delivery:
    sub: Subscription
    entities: list[StoredEntity]
    at: int
    events: dict[str, tr.Event] = field(default_factory=dict)  # by entity id; none: periodic


ReadCheck = Callable[[Actor, str, StoredEntity], "StoredEntity | None"]
Sender = Callable[[str, dict[str, str], bytes, float], bool]


class SubscriptionService:
    """Create, list, retrieve, update and delete subscriptions; notify on changes."""

    def __init__(
        self,
        repo: SubscriptionRepository,
        contexts: Contexts,
        fence: Fence,
        now_ms: Callable[[], int],
        check_read: ReadCheck,
        mqtt_publish: Callable[[str, bytes], bool] | None = None,
        http_send: Sender | None = None,
        personal: Callable[[Actor, str | None, list[str]], str | None] | None = None,
    ) -> None:
        self.repo = repo
        self.contexts = contexts
        self.fence = fence
        self.now_ms = now_ms
        self.check_read = check_read
        self.mqtt_publish = mqtt_publish
        self.http_send = http_send or _default_send
        # (owner, grant, expanded types) -> the grant's purpose when the types are personal,
        # None when they are not; raises when the grant is missing or does not hold.
        self.personal = personal
        self._queue: queue.Queue[Delivery | None] = queue.Queue(MAX_QUEUE)
        self._worker: threading.Thread | None = None
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._cache: dict[str, list[Subscription]] = {}
        self._cache_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._periodic_lock = threading.Lock()
        self.dropped = 0

    # CRUD ----------------------------------------------------------------------------
    def create(
        self, actor: Actor, tenant: str, body: Any, context: Any, grant: str | None = None,
        *, host: Callable[[], str | None] | None = None,
    ) -> Subscription:  # fmt: skip
        """Make a subscription; ``host`` gives the URL of its inline @context as Charter
        hosts it (ImplicitlyCreated), called once the subscription is valid."""
        self._staff_or_owner_token(actor)
        terms = self.contexts.resolve(context)
        now = self.now_ms()
        doc = parse_subscription(body, terms, self.fence, now)
        sid = doc.pop("id", None) or f"urn:ngsi-ld:Subscription:{uuid.uuid4()}"
        sub = self._build(tenant, sid, doc, context, actor, terms, now, now)
        purpose = None
        if self.personal is not None:
            purpose = self.personal(actor, grant, [sel["type"] for sel in sub.types])
        if purpose is not None:
            if sub.time_interval_s is None:
                raise bad_data(
                    "subscriptions to personal data are periodic (timeInterval): each period "
                    "reads through the purpose grant"
                )
            sub.grant, sub.purpose = grant, purpose
        if host is not None and context is not None:
            sub.context_link = host()
        if not self.repo.insert(sub):
            raise NgsiError(ErrorType.ALREADY_EXISTS, "a subscription with this id exists")
        self._invalidate(tenant)
        return sub

    def _build(
        self,
        tenant: str,
        sid: str,
        doc: dict[str, Any],
        context: Any,
        actor: Actor,
        terms: Terms,
        created: int,
        now: int,
    ) -> Subscription:
        exp = _expanded(doc, terms)
        expires = doc.get("expiresAt")
        return Subscription(
            tenant=tenant,
            id=sid,
            doc=doc,
            context=context,
            owner=actor,
            purpose=doc.get("purpose"),
            types=exp["types"],
            watched=exp["watched"],
            notify_attrs=exp["attrs"],
            qmap=exp["qmap"],
            geoproperty=exp["geoproperty"],
            is_active=bool(doc.get("isActive", True)),
            expires_at=to_ms(ql.parse_datetime(str(expires))) if expires else None,
            throttling_s=doc.get("throttling"),
            time_interval_s=doc.get("timeInterval"),
            created_at=created,
            modified_at=now,
        )

    def _staff_or_owner_token(self, actor: Actor) -> None:
        from charter.domain.reasons import Reason

        if actor.role == "public":
            raise NgsiError(
                None, "subscriptions need a bearer token", reason=Reason.UNAUTHENTICATED, status=401
            )
        if actor.role == "device":  # a device credential writes readings (ngsild.devices) only
            raise NgsiError(
                None, "a device credential does not subscribe", reason=Reason.FORBIDDEN, status=403
            )

    def get(self, actor: Actor, tenant: str, sid: str) -> Subscription:
        sub = self.repo.get(tenant, sid)
        if sub is None or not self._may_see(actor, sub):
            raise not_found("no such subscription")
        return sub

    def _may_see(self, actor: Actor, sub: Subscription) -> bool:
        if actor.role in ("operator", "auditor"):
            return True
        return actor.name == sub.owner.name and actor.role == sub.owner.role

    def page(self, actor: Actor, tenant: str, limit: int, offset: int) -> list[Subscription]:
        self._staff_or_owner_token(actor)
        subs = [s_ for s_ in self.repo.page(tenant, 100_000, 0) if self._may_see(actor, s_)]
        return subs[offset : offset + limit]

    def count(self, actor: Actor, tenant: str) -> int:
        return len([s_ for s_ in self.repo.page(tenant, 100_000, 0) if self._may_see(actor, s_)])

    def update(self, actor: Actor, tenant: str, sid: str, body: Any, context: Any) -> None:
        sub = self.get(actor, tenant, sid)
        if isinstance(body, Mapping) and "id" in body and body["id"] != sid:
            raise bad_data("the subscription id cannot change")
        now = self.now_ms()
        terms = self.contexts.resolve(context if context is not None else sub.context)
        fragment = parse_subscription(body, terms, self.fence, now, partial=True)
        fragment.pop("id", None)
        merged = {**sub.doc, **fragment}
        if "notification" in fragment:
            merged["notification"] = {**sub.doc.get("notification", {}), **fragment["notification"]}
        for key, value in list(merged.items()):
            if value is None or value == "urn:ngsi-ld:null":
                del merged[key]
        parse_subscription({**merged, "type": "Subscription"}, terms, self.fence, now)
        new = self._build(tenant, sid, merged, sub.context, sub.owner, terms, sub.created_at, now)
        if "isActive" not in fragment:
            new.is_active = sub.is_active
        new = replace(
            new,
            times_sent=sub.times_sent,
            times_failed=sub.times_failed,
            last_notification=sub.last_notification,
            last_success=sub.last_success,
            last_failure=sub.last_failure,
            ended=sub.ended,
            context_link=sub.context_link,
        )
        self.repo.save(new)
        self._invalidate(tenant)

    def delete(self, actor: Actor, tenant: str, sid: str) -> None:
        self.get(actor, tenant, sid)
        self.repo.delete(tenant, sid)
        self._invalidate(tenant)

    # matching ------------------------------------------------------------------------
    def _invalidate(self, tenant: str) -> None:
        with self._lock:
            self._cache.pop(tenant, None)

    def _active(self, tenant: str) -> list[Subscription]:
        """Active subscriptions of a tenant, re-read from the store at most once a second
        (another process may have made one) or at once after a change in this process."""
        with self._lock:
            hit = self._cache.get(tenant)
            if hit is not None and time.monotonic() - self._cache_at[tenant] < 1.0:
                return hit
        subs = self.repo.active(tenant)
        with self._lock:
            self._cache[tenant] = subs
            self._cache_at[tenant] = time.monotonic()
        return subs

    def on_change(self, change: Any) -> None:
        """The entity service's listener: queue the notifications a change causes."""
        subs = self._active(change.tenant)
        if not subs:
            return
        event = tr.events(change.before, change.after, change.attrs, change.at)
        entity = event.subject
        now = self.now_ms()
        for sub in subs:
            # Periodic subscriptions (all those to personal data) notify each period only.
            if sub.time_interval_s is not None or sub.status(now) != "active":
                continue
            if not tr.fired(event, tr.of(sub.doc), sub.watched):
                continue
            try:
                if not sub.admits(entity):
                    continue
            except ql.QueryError:
                continue
            last = sub.last_notification
            if sub.throttling_s and last is not None and now - last < sub.throttling_s * 1000:
                continue
            sub.last_notification = now  # throttle this process at once
            self._enqueue(Delivery(sub, [entity], now, {entity.id: event}))

    def _enqueue(self, delivery: Delivery) -> None:
        self.start()
        try:
            self._queue.put_nowait(delivery)
        except queue.Full:
            self.dropped += 1
            self.repo.record(delivery.sub.tenant, delivery.sub.id, delivery.at, ok=False)

    # delivery ------------------------------------------------------------------------
    def start(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._stop.clear()
            self._worker = threading.Thread(target=self._run, name="ngsild-notify", daemon=True)
            self._worker.start()

    def start_periodic(
        self, entities: Callable[[str, Subscription], Iterable[StoredEntity]]
    ) -> None:
        """Run timeInterval subscriptions: each period, notify the entities they match."""
        if self._ticker is not None and self._ticker.is_alive():
            return

        def tick() -> None:
            while not self._stop.wait(1.0):
                try:
                    self.run_periodic(entities)
                except Exception:
                    log.exception("periodic NGSI-LD notifications failed")

        self._ticker = threading.Thread(target=tick, name="ngsild-periodic", daemon=True)
        self._ticker.start()

    def run_periodic(self, entities: Callable[[str, Subscription], Iterable[StoredEntity]]) -> int:
        """Queue the notifications of the timeInterval subscriptions that are due."""
        with self._periodic_lock:
            return self._run_periodic(entities)

    def _run_periodic(self, entities: Callable[[str, Subscription], Iterable[StoredEntity]]) -> int:
        now = self.now_ms()
        queued = 0
        for sub in self.repo.active():
            if sub.time_interval_s is None or sub.status(now) != "active":
                continue
            last = sub.last_notification
            if last is not None and now - last < sub.time_interval_s * 1000:
                continue
            try:
                found = list(entities(sub.tenant, sub))
            except NgsiError as exc:  # the grant or the consent ended: so does the subscription
                why = exc.reason.value if exc.reason is not None else "read refused"
                self.repo.end(sub.tenant, sub.id, why, now)
                self._invalidate(sub.tenant)
                continue
            matched = [e for e in found if sub.grant is not None or sub.admits(e)]
            if not matched:
                self.repo.record_tick(sub.tenant, sub.id, now)
            if matched:
                self.repo.record_tick(sub.tenant, sub.id, now)  # due again a period from now
                self._enqueue(Delivery(sub, matched, now))
                queued += 1
        return queued

    def drain(self) -> None:
        """Wait until every queued notification was attempted (tests, shutdown)."""
        self._queue.join()

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None and self._worker.is_alive():
            self._queue.put(None)
            self._worker.join(timeout=5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self.deliver(item)
            except Exception:
                log.exception("an NGSI-LD notification failed")
            finally:
                self._queue.task_done()

    def deliver(self, delivery: Delivery) -> bool:
        sub = delivery.sub
        readable: list[StoredEntity] = []
        for entity in delivery.entities:
            try:
                seen = self.check_read(sub.owner, sub.tenant, entity)
            except NgsiError as exc:
                # The owner may no longer read it: the grant or the consent ended.
                why = exc.reason.value if exc.reason is not None else "read refused"
                self.repo.end(sub.tenant, sub.id, why, delivery.at)
                self._invalidate(sub.tenant)
                return False
            if seen is not None:
                readable.append(seen)
        if not readable:
            return False
        terms = self.contexts.resolve(sub.context)
        notification = sub.doc.get("notification", {})
        view = View(
            format=notification.get("format", "normalized"),
            attrs=frozenset(sub.notify_attrs) if sub.notify_attrs else None,
            sys_attrs=notification.get("sysAttrs") is True,  # clause 5.2.14
            lang=tuple(langs(sub.doc.get("lang"))),  # clause 5.2.12: LanguageProperty as text
        )
        body = {
            "id": f"urn:ngsi-ld:Notification:{uuid.uuid4()}",
            "type": "Notification",
            "subscriptionId": sub.id,
            "notifiedAt": iso_ms(delivery.at),
            "data": [
                self._data(e, delivery.events.get(e.id), terms, view, notification, delivery.at)
                for e in readable
            ],
        }
        endpoint = notification.get("endpoint", {})
        uri = endpoint.get("uri", "")
        accept = endpoint.get("accept", "application/json")
        if accept == "application/ld+json":
            body["@context"] = sub.context if sub.context is not None else CORE_CONTEXT
        headers = {"Content-Type": accept}
        if accept != "application/ld+json":  # clause 6.3.11: the context in a Link header
            headers["Link"] = f'<{self.context_url(sub)}>; rel="{CONTEXT_REL}"; type="{JSONLD}"'
        if sub.tenant:
            headers["NGSILD-Tenant"] = sub.tenant
        for pair in endpoint.get("receiverInfo", []) or []:
            headers[pair["key"]] = pair["value"]
        payload = json.dumps(body, ensure_ascii=False).encode()
        try:
            scheme = self.fence.check(uri)
        except NgsiError:
            ok = False
        else:
            if scheme == "http":
                ok = self.http_send(uri, headers, payload, self.fence.timeout_s)
            else:
                ok = self._mqtt(uri, headers, body)
        self.repo.record(sub.tenant, sub.id, delivery.at, ok)
        return ok

    def _data(
        self, entity: StoredEntity, event: tr.Event | None, terms: Terms, view: View,
        notification: Mapping[str, Any], at: int,
    ) -> dict[str, Any]:  # fmt: skip
        """One entity of a notification: as a GET shows it, or its deletion; with the
        deleted attributes and, for showChanges, the previous values."""
        if event is not None and event.after is None:
            return tr.deleted_entity(entity, terms, event.at)
        out = render(entity, terms, view)
        if event is None:
            return out
        show = notification.get("showChanges") is True
        tr.add_deleted_attrs(
            out, event, terms, view.attrs, show_changes=show, sys_attrs=view.sys_attrs,
            at_ms=at, key_values=view.format == "keyValues",
        )  # fmt: skip
        if show:
            tr.add_previous(out, event, terms, view.attrs)
        return out

    def context_url(self, sub: Subscription) -> str:
        """The URL of the subscription's @context: the core, its one URL, or the context
        Charter hosts for it (ImplicitlyCreated, clause 5.5.7)."""
        ctx = sub.context
        if ctx is None or ctx == CORE_CONTEXT or ctx == [] or ctx == [CORE_CONTEXT]:
            return CORE_CONTEXT
        if isinstance(ctx, str):
            return ctx
        if isinstance(ctx, list):
            rest = [c for c in ctx if c != CORE_CONTEXT]
            if len(rest) == 1 and isinstance(rest[0], str):
                return rest[0]
        return sub.context_link or CORE_CONTEXT

    def _mqtt(self, uri: str, headers: dict[str, str], body: dict[str, Any]) -> bool:
        if self.mqtt_publish is None:
            return False
        topic = urlparse(uri).path.lstrip("/")
        message = {"metadata": headers, "body": body}  # clause 7.x, the MQTT binding
        return self.mqtt_publish(topic, json.dumps(message, ensure_ascii=False).encode())
