"""One NGSI-LD subscription (clauses 5.2.12, 5.8): its state, its representation, what it selects.

`Subscription` is the stored subscription (``ngsild.subscription_store`` keeps it, with the names
it watches already expanded); it renders itself as the spec's Subscription and says which
entities its entities selector, ``q``, ``scopeQ`` and ``geoQ`` admit.  The service that
creates, notifies and delivers is ``ngsild.subscriptions``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import re2  # type: ignore[import-untyped]

from charter.domain.model import Actor
from charter.ngsild import query as ql
from charter.ngsild import query_eval as qe
from charter.ngsild import scope as sq
from charter.ngsild.geo import GeoQuery, parse_geoquery
from charter.store.ngsild import StoredEntity

MAX_SUBSCRIPTIONS_PER_TENANT = 10_000


def iso_ms(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Subscription:
    tenant: str
    id: str
    doc: dict[str, Any]  # compacted, as given (plus defaults), without counters
    context: Any  # the @context it was made with (None: the core)
    owner: Actor
    purpose: str | None
    types: list[dict[str, str]]  # selectors: {"type": expanded, "id"?, "idPattern"?}
    watched: list[str]  # expanded
    notify_attrs: list[str]  # expanded; empty: all
    qmap: dict[str, str]  # q's short names -> expanded
    geoproperty: str | None
    is_active: bool = True
    expires_at: int | None = None
    throttling_s: float | None = None
    time_interval_s: float | None = None
    times_sent: int = 0
    times_failed: int = 0
    last_notification: int | None = None
    last_success: int | None = None
    last_failure: int | None = None
    ended: str | None = None
    grant: str | None = None  # the purpose grant a subscription to personal data runs under
    created_at: int = 0
    modified_at: int = 0
    context_link: str | None = None  # where Charter hosts an inline @context (ImplicitlyCreated)
    _q: ql.Node | None = field(default=None, repr=False)
    _geo: GeoQuery | None = field(default=None, repr=False)

    def status(self, now: int) -> str:
        if self.ended or (self.expires_at is not None and self.expires_at <= now):
            return "expired"
        return "active" if self.is_active else "paused"

    @property
    def q(self) -> ql.Node | None:
        text = self.doc.get("q")
        if text and self._q is None:
            self._q = ql.parse_q(text)
        return self._q

    @property
    def geo(self) -> GeoQuery | None:
        geo_q = self.doc.get("geoQ")
        if geo_q and self._geo is None:
            self._geo = parse_geoquery(
                geo_q.get("georel"),
                geo_q.get("geometry"),
                geo_q.get("coordinates"),
                self.geoproperty,
            )
        return self._geo

    def representation(self, now: int, *, sys_attrs: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = json.loads(json.dumps(self.doc))
        out["id"] = self.id
        out["type"] = "Subscription"
        out["isActive"] = self.is_active and not self.ended
        out["status"] = self.status(now)
        if self.purpose:
            out["purpose"] = self.purpose
        notification = out.setdefault("notification", {})
        notification["timesSent"] = self.times_sent
        notification["timesFailed"] = self.times_failed
        for key, value in (
            ("lastNotification", self.last_notification),
            ("lastSuccess", self.last_success),
            ("lastFailure", self.last_failure),
        ):
            if value is not None:
                notification[key] = iso_ms(value)
        if self.last_notification is not None:
            notification["status"] = (
                "ok" if (self.last_success or 0) >= (self.last_failure or 0) else "failed"
            )
        if self.ended:
            out["endedBecause"] = self.ended
        if sys_attrs:
            out["createdAt"] = iso_ms(self.created_at)
            out["modifiedAt"] = iso_ms(self.modified_at)
        return out

    # matching -------------------------------------------------------------------------
    def selects(self, entity: StoredEntity) -> bool:
        if not self.types:
            return True
        for sel in self.types:
            if sel["type"] not in entity.types:
                continue
            if "id" in sel and sel["id"] != entity.id:
                continue
            if "idPattern" in sel and re2.search(sel["idPattern"], entity.id) is None:
                continue
            return True
        return False

    def admits(self, entity: StoredEntity) -> bool:
        """Entities selector, q, scopeQ and geoQ (not watchedAttributes: about the change)."""
        if not self.selects(entity):
            return False
        view = entity_view(entity)
        q = self.q
        if q is not None and not qe.evaluate(q, view, self._resolve):
            return False
        scope_q = self.doc.get("scopeQ")
        if scope_q and not sq.matches(sq.parse_scope_q(scope_q), entity.scope):
            return False
        geo = self.geo
        return geo is None or geo.matches(view)

    def _resolve(self, term: str) -> str:
        return self.qmap.get(term, term)


def entity_view(entity: StoredEntity) -> dict[str, Any]:
    """The stored entity as the query evaluator reads it (attributes by expanded name)."""
    view: dict[str, Any] = dict(entity.attrs)
    view["id"] = entity.id
    view["type"] = entity.types
    return view
