"""A subscription document as NGSI-LD rules it (GS CIM 009 v1.8, clauses 5.2.12, 5.2.14):
its validation (create, or a PATCH fragment) and its names expanded with its @context."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from charter.ngsild import query as ql
from charter.ngsild import scope as sq
from charter.ngsild import triggers as tr
from charter.ngsild.context import Terms
from charter.ngsild.errors import ErrorType, NgsiError, bad_data
from charter.ngsild.geo import parse_geoquery
from charter.ngsild.notify import Fence
from charter.ngsild.render import _langs as langs

FORMATS = ("normalized", "keyValues", "concise")
ACCEPTS = ("application/json", "application/ld+json", "application/geo+json")
MAX_ENTITY_SELECTORS = 100
MAX_WATCHED = 100
MIN_TIME_INTERVAL_S = 1.0


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _query_error(exc: ql.QueryError) -> NgsiError:
    kind = ErrorType.TOO_COMPLEX_QUERY if exc.problem == "TooComplexQuery" else None
    return NgsiError(kind or ErrorType.BAD_REQUEST_DATA, exc.detail)


def _expand(terms: Terms, name: str) -> str:
    return terms.expand(name) or name


def parse_subscription(
    body: Any,
    terms: Terms,
    fence: Fence,
    now: int,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """Validate a subscription body (create, or a PATCH fragment); the cleaned document."""
    if not isinstance(body, Mapping):
        raise bad_data("a subscription is a JSON object")
    doc = {k: v for k, v in body.items() if k != "@context"}
    if not partial:
        if doc.get("type") != "Subscription":
            raise bad_data('a subscription has "type": "Subscription"')
        if "notification" not in doc:
            raise bad_data("a subscription needs notification")
        if not doc.get("entities") and not doc.get("watchedAttributes"):
            raise bad_data("a subscription needs entities or watchedAttributes")
    elif "type" in doc and doc["type"] != "Subscription":
        raise bad_data('a subscription has "type": "Subscription"')
    for key in ("timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure"):
        doc.pop(key, None)
    doc.pop("status", None)
    if "id" in doc:
        sid = doc["id"]
        if not isinstance(sid, str) or ":" not in sid or len(sid) > 512:
            raise bad_data("a subscription id is a URI")
    if "entities" in doc:
        selectors = doc["entities"]
        if not isinstance(selectors, list) or not selectors:
            raise bad_data("entities is a non-empty list")
        if len(selectors) > MAX_ENTITY_SELECTORS:
            raise bad_data(f"at most {MAX_ENTITY_SELECTORS} entity selectors")
        for sel in selectors:
            if not isinstance(sel, Mapping) or not isinstance(sel.get("type"), str):
                raise bad_data("each entity selector has a type")
            if "id" in sel and (not isinstance(sel["id"], str) or ":" not in sel["id"]):
                raise bad_data("an entity selector's id is a URI")
            if "idPattern" in sel:
                _check_pattern(sel["idPattern"])
    for key in ("watchedAttributes",):
        if key in doc:
            names = doc[key]
            if not isinstance(names, list) or not names or len(names) > MAX_WATCHED:
                raise bad_data(f"{key} is a non-empty list of attribute names")
            if not all(isinstance(n, str) and n for n in names):
                raise bad_data(f"{key} is a list of attribute names")
    if "q" in doc:
        if not isinstance(doc["q"], str):
            raise bad_data("q is a string")
        try:
            ql.parse_q(doc["q"])
        except ql.QueryError as exc:
            raise _query_error(exc) from None
    if "scopeQ" in doc:
        if not isinstance(doc["scopeQ"], str):
            raise bad_data("scopeQ is a string")
        try:
            sq.parse_scope_q(doc["scopeQ"])
        except sq.ScopeQueryError as exc:
            raise bad_data(str(exc)) from None
    if "geoQ" in doc:
        geo_q = doc["geoQ"]
        if not isinstance(geo_q, Mapping):
            raise bad_data("geoQ is an object")
        try:
            parse_geoquery(
                geo_q.get("georel"),
                geo_q.get("geometry"),
                geo_q.get("coordinates"),
                geo_q.get("geoproperty"),
            )
        except ql.QueryError as exc:
            raise _query_error(exc) from None
    for key in ("throttling", "timeInterval"):
        if key in doc:
            value = doc[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise bad_data(f"{key} is a positive number of seconds")
            if value > 366 * 86400:
                raise bad_data(f"{key} is too long")
    if "timeInterval" in doc:
        if doc["timeInterval"] < MIN_TIME_INTERVAL_S:
            raise bad_data(f"timeInterval is at least {MIN_TIME_INTERVAL_S:g} s")
        if "watchedAttributes" in doc or "throttling" in doc:
            raise bad_data("timeInterval goes with neither watchedAttributes nor throttling")
    if "expiresAt" in doc:
        try:
            expires = ql.parse_datetime(str(doc["expiresAt"]))
        except ValueError:
            raise bad_data("expiresAt is an ISO 8601 date-time") from None
        if to_ms(expires) <= now:
            raise bad_data("expiresAt is in the past")
    if "notificationTrigger" in doc:
        tr.check(doc["notificationTrigger"])
    if "isActive" in doc and not isinstance(doc["isActive"], bool):
        raise bad_data("isActive is true or false")
    if "purpose" in doc and (not isinstance(doc["purpose"], str) or len(doc["purpose"]) > 100):
        raise bad_data("purpose is a short text")
    if "notification" in doc:
        _check_notification(doc["notification"], fence)
    for key in ("subscriptionName", "description"):
        if key in doc and (not isinstance(doc[key], str) or len(doc[key]) > 1000):
            raise bad_data(f"{key} is a text of at most 1000 characters")
    if "lang" in doc:
        if not isinstance(doc["lang"], str) or len(doc["lang"]) > 200:
            raise bad_data("lang is a language list, e.g. ja,en")
        langs(doc["lang"])
    return doc


def _check_pattern(pattern: Any) -> None:
    if not isinstance(pattern, str) or len(pattern) > ql.MAX_PATTERN:
        raise bad_data("idPattern is a regular expression of at most 512 characters")
    try:
        ql._compile_pattern(pattern)
    except Exception:
        raise bad_data("idPattern is not a valid regular expression") from None


def _check_notification(notification: Any, fence: Fence) -> None:
    if not isinstance(notification, Mapping):
        raise bad_data("notification is an object")
    endpoint = notification.get("endpoint")
    if not isinstance(endpoint, Mapping) or "uri" not in endpoint:
        raise bad_data("notification.endpoint.uri is needed")
    fence.check(endpoint["uri"])
    accept = endpoint.get("accept", "application/json")
    if accept not in ACCEPTS:
        raise bad_data("notification.endpoint.accept is application/json or application/ld+json")
    for key in ("sysAttrs", "showChanges"):
        if key in notification and not isinstance(notification[key], bool):
            raise bad_data(f"notification.{key} is true or false")
    fmt = notification.get("format", "normalized")
    if fmt not in FORMATS:
        raise bad_data("notification.format is normalized, keyValues or concise")
    if notification.get("showChanges") is True and fmt == "keyValues":
        raise bad_data("notification.showChanges cannot be true with format keyValues")
    attrs = notification.get("attributes")
    if attrs is not None and (
        not isinstance(attrs, list) or not all(isinstance(a, str) and a for a in attrs)
    ):
        raise bad_data("notification.attributes is a list of attribute names")
    for key in ("receiverInfo", "notifierInfo"):
        info = endpoint.get(key)
        if info is None:
            continue
        if not isinstance(info, list) or len(info) > 20:
            raise bad_data(f"endpoint.{key} is a list of key/value pairs")
        for pair in info:
            if not (
                isinstance(pair, Mapping)
                and isinstance(pair.get("key"), str)
                and isinstance(pair.get("value"), str)
            ):
                raise bad_data(f"endpoint.{key} is a list of key/value pairs")


def _expanded(doc: Mapping[str, Any], terms: Terms) -> dict[str, Any]:
    selectors = []
    for sel in doc.get("entities", []):
        item = {"type": _expand(terms, sel["type"])}
        if "id" in sel:
            item["id"] = sel["id"]
        if "idPattern" in sel:
            item["idPattern"] = sel["idPattern"]
        selectors.append(item)
    qmap: dict[str, str] = {}
    if doc.get("q"):
        for path in ql.attributes_of(ql.parse_q(doc["q"])):
            for name in (path.attr, *path.sub):
                if name not in ql.METADATA:
                    qmap[name] = _expand(terms, name)
    geo_q = doc.get("geoQ") or {}
    notification = doc.get("notification", {})
    return {
        "types": selectors,
        "watched": [_expand(terms, a) for a in doc.get("watchedAttributes", [])],
        "attrs": [_expand(terms, a) for a in notification.get("attributes", []) or []],
        "qmap": qmap,
        "geoproperty": _expand(terms, geo_q.get("geoproperty", "location")) if geo_q else None,
    }


# --- the service ---------------------------------------------------------------------------
