"""NGSI-LD discovery (ETSI GS CIM 009 v1.8, clauses 5.7.5-5.7.10) and @context management (5.13).

``/types``, ``/types/{type}``, ``/attributes``, ``/attributes/{attr}`` summarise the entities
of a tenant: which types exist, which attributes each has, of which NGSI-LD attribute types,
and how many entities.  ``/jsonldContexts`` lists the contexts Charter holds: *Hosted* ones
clients stored (in the store's ``ngsild_contexts`` table, so every process serves them),
*ImplicitlyCreated* ones Charter made for a request's inline or list @context (clause 5.5.7:
a JSON reply, or a JSON notification, links its context; an inline one needs a URL),
*Cached* ones fetched from the allowed hosts or served from the local cache.

An ImplicitlyCreated context is content-addressed (its id is a hash of the document), so the
same context asked for again, by any caller or process, is the same row: the table grows
only with distinct contexts, at most ``MAX_IMPLICIT`` of them (past that, replies link the
core context, as before), each at most ``MAX_HOSTED_BYTES``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from charter.ngsild.context import Terms
from charter.ngsild.errors import bad_data
from charter.store import schema as s
from charter.store.ngsild import StoredEntity

C = s.ngsild_contexts
MAX_HOSTED_BYTES = 256 * 1024
MAX_HOSTED = 1000
MAX_IMPLICIT = 1000
HOSTED_KIND, IMPLICIT_KIND = "Hosted", "ImplicitlyCreated"


@dataclass
class TypeInfo:
    iri: str
    count: int = 0
    attributes: dict[str, set[str]] = field(default_factory=dict)  # iri -> attribute types


@dataclass
class AttrInfo:
    iri: str
    count: int = 0
    attr_types: set[str] = field(default_factory=set)
    type_names: set[str] = field(default_factory=set)


def survey(entities: Iterable[StoredEntity]) -> tuple[dict[str, TypeInfo], dict[str, AttrInfo]]:
    """One pass over the entities: their types and attributes."""
    types: dict[str, TypeInfo] = {}
    attrs: dict[str, AttrInfo] = {}
    for entity in entities:
        for type_iri in entity.types:
            info = types.setdefault(type_iri, TypeInfo(type_iri))
            info.count += 1
            for name, instances in entity.attrs.items():
                kinds = info.attributes.setdefault(name, set())
                kinds.update(str(i.get("type", "Property")) for i in instances)
        for name, instances in entity.attrs.items():
            a = attrs.setdefault(name, AttrInfo(name))
            a.count += 1
            a.attr_types.update(str(i.get("type", "Property")) for i in instances)
            a.type_names.update(entity.types)
    return types, attrs


def _list_id(kind: str) -> str:
    return f"urn:ngsi-ld:{kind}:{uuid.uuid4()}"


def type_list(types: dict[str, TypeInfo], terms: Terms, details: bool) -> Any:
    names = sorted(types, key=terms.compact)
    if details:
        return [
            {
                "id": iri,
                "type": "EntityType",
                "typeName": terms.compact(iri),
                "attributeNames": sorted(terms.compact(a) for a in types[iri].attributes),
            }
            for iri in names
        ]
    return {
        "id": _list_id("EntityTypeList"),
        "type": "EntityTypeList",
        "typeList": [terms.compact(iri) for iri in names],
    }


def type_info(info: TypeInfo, terms: Terms) -> dict[str, Any]:
    return {
        "id": info.iri,
        "type": "EntityTypeInfo",
        "typeName": terms.compact(info.iri),
        "entityCount": info.count,
        "attributeDetails": [
            {
                "id": iri,
                "type": "Attribute",
                "attributeName": terms.compact(iri),
                "attributeTypes": sorted(kinds),
            }
            for iri, kinds in sorted(info.attributes.items(), key=lambda kv: terms.compact(kv[0]))
        ],
    }


def attribute(info: AttrInfo, terms: Terms) -> dict[str, Any]:
    return {
        "id": info.iri,
        "type": "Attribute",
        "attributeName": terms.compact(info.iri),
        "attributeCount": info.count,
        "attributeTypes": sorted(info.attr_types),
        "typeNames": sorted(terms.compact(t) for t in info.type_names),
    }


def attribute_list(attrs: dict[str, AttrInfo], terms: Terms, details: bool) -> Any:
    names = sorted(attrs, key=terms.compact)
    if details:  # 5.7.9.4: each Attribute without attributeCount and attributeTypes
        return [
            {k: v for k, v in attribute(attrs[iri], terms).items()
             if k not in ("attributeCount", "attributeTypes")}
            for iri in names
        ]  # fmt: skip
    return {
        "id": _list_id("AttributeList"),
        "type": "AttributeList",
        "attributeList": [terms.compact(iri) for iri in names],
    }


# --- hosted @contexts ------------------------------------------------------------------------


@dataclass
class HostedContext:
    id: str
    body: dict[str, Any]
    kind: str
    created_at: int
    hits: int = 0
    last_usage: int | None = None


class ContextStore:
    """Hosted @contexts in the store (``ngsild_contexts``)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.engine = store.engine

    def add(self, body: Any, now: int) -> HostedContext:
        if not isinstance(body, dict) or "@context" not in body:
            raise bad_data('a hosted context is a JSON object with "@context"')
        context = body["@context"]
        if not isinstance(context, (dict, list, str)):
            raise bad_data("@context must be an object, a list or a URL")
        text = json.dumps({"@context": context}, ensure_ascii=False)
        if len(text.encode()) > MAX_HOSTED_BYTES:
            raise bad_data("the context is too large")
        hosted = HostedContext(uuid.uuid4().hex, {"@context": context}, HOSTED_KIND, now)
        with self.store.transaction() as tx:  # a writer's: it reads before it writes
            conn = tx.conn
            count = len(
                conn.execute(select(C.c.id).where(C.c.kind == HOSTED_KIND).limit(MAX_HOSTED))
                .fetchall()
            )  # fmt: skip
            if count >= MAX_HOSTED:
                raise bad_data("too many hosted contexts")
            conn.execute(
                insert(C).values(id=hosted.id, body=text, kind=hosted.kind, created_at=now, hits=0)
            )
        return hosted

    def implicit(self, context: Any, now: int) -> str | None:
        """The id of the ImplicitlyCreated context holding ``context`` (made if need be);
        None when it is too large or ``MAX_IMPLICIT`` distinct ones exist already."""
        text = json.dumps({"@context": context}, ensure_ascii=False, sort_keys=True)
        if len(text.encode()) > MAX_HOSTED_BYTES:
            return None
        cid = "implicit-" + hashlib.sha256(text.encode()).hexdigest()[:32]
        with self.engine.connect() as conn:
            if conn.execute(select(C.c.id).where(C.c.id == cid)).first() is not None:
                return cid
        try:
            with self.store.transaction() as tx:  # a writer's: it reads before it writes
                conn = tx.conn
                count = conn.execute(
                    select(func.count()).select_from(C).where(C.c.kind == IMPLICIT_KIND)
                ).scalar_one()
                if count >= MAX_IMPLICIT:
                    return None
                conn.execute(
                    insert(C).values(id=cid, body=text, kind=IMPLICIT_KIND, created_at=now, hits=0)
                )
        except IntegrityError:  # another process made the same one meanwhile
            pass
        return cid

    def get(self, cid: str) -> HostedContext | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(C).where(C.c.id == cid)).first()
        if row is None:
            return None
        return HostedContext(
            row.id, json.loads(row.body), row.kind, row.created_at, row.hits, row.last_usage
        )

    def lookup(self, url: str, hosts: set[str]) -> Any:
        """The document of a hosted context's URL on this server; None for any other URL."""
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        prefix = "/ngsi-ld/v1/jsonldContexts/"
        if (parts.hostname or "").lower() not in hosts or not parts.path.startswith(prefix):
            return None
        hosted = self.get(parts.path[len(prefix) :])
        return hosted.body if hosted is not None else None

    def used(self, cid: str, now: int) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(C).where(C.c.id == cid).values(hits=C.c.hits + 1, last_usage=now))

    def all(self) -> list[HostedContext]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(C).order_by(C.c.created_at)).fetchall()
        return [
            HostedContext(r.id, json.loads(r.body), r.kind, r.created_at, r.hits, r.last_usage)
            for r in rows
        ]

    def delete(self, cid: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(delete(C).where(C.c.id == cid))
        return bool(res.rowcount)
