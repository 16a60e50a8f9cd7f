"""The NGSI-LD repository: entities, their types, tenants and attribute instances.

A small port of its own beside the Store (not more methods on it): it works over
any SQL store's engine and transactions, so SQLite's single writer lock and
PostgreSQL's row locks apply as for every other write.

    repo = EntityRepository(store)
    repo.get(tenant, id) -> StoredEntity | None
    repo.get_many(tenant, ids) -> dict[id, StoredEntity]
    repo.query(tenant, types=, ids=, id_pattern=, where=, limit=, offset=) -> list[StoredEntity]
    repo.count(tenant, types=, ids=, id_pattern=, where=) -> int
    repo.tenant_exists(tenant) -> bool;  repo.tenants() -> list[str]
    repo.instances(tenant, entity_id, attr=None, since=None, until=None, last_n=None)
    with repo.write() as w:        # one transaction; nothing is half-written
        w.lock(tenant, id) -> StoredEntity | None   (FOR UPDATE on PostgreSQL)
        w.insert(entity) / w.update(entity) / w.delete(tenant, id) -> bool
        w.add_instances(rows) / w.add_history(rows) / w.ensure_tenant(tenant, at)

The temporal history (`ngsild_attr_instances`) holds the instances that are no longer
current (superseded or deleted, and the deletion markers) and those added through the
temporal API; an entity's current instances live only in its document.
`repo.instances` answers the union of both. A row with `deleted = 2` (HIDDEN) names a
current instance that is no part of the history (the temporal API deleted it, or wrote
its own rows in its place): it only hides that instance. Which instances become history
rows, and the temporal API's edits of the history, are charter.store.ngsild_history.

`where` is a SQLAlchemy clause over `ngsild_entities` (the query language of
charter.ngsild.query adds its own there); entities come ordered by id.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import msgspec
from sqlalchemy import ColumnElement, Engine, and_, delete, exists, func, select
from sqlalchemy.engine import Connection

from charter.store import schema as s
from charter.store.upsert import upsert

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def dumps(value: Any) -> str:
    """Compact JSON text, non-ASCII kept (msgspec: several times the json module's speed)."""
    try:
        return _encode(value).decode()
    except (TypeError, ValueError, UnicodeEncodeError, msgspec.EncodeError):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: str | bytes) -> Any:
    try:
        return _decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


E = s.ngsild_entities
T = s.ngsild_entity_types
V = s.ngsild_attr_values
MAX_TEXT = 256  # longer strings are left to the exact evaluation
MAX_EXACT_INT = 2**53  # larger integers lose precision as a float
I = s.ngsild_attr_instances  # noqa: E741


@dataclass(slots=True)
class StoredEntity:
    """One entity as stored: expanded id, types and attributes (see charter.ngsild.model)."""

    tenant: str
    id: str
    types: list[str]
    attrs: dict[str, list[dict[str, Any]]]  # expanded name -> instances
    created_at: int  # ms
    modified_at: int  # ms
    scope: list[str] | None = None
    project_id: str | None = None
    category: str | None = None
    subject: str | None = None
    expires_at: int | None = None

    def doc(self) -> str:
        body: dict[str, Any] = {"type": self.types, "attrs": self.attrs}
        if self.scope is not None:
            body["scope"] = self.scope
        return dumps(body)


class InstanceRow(NamedTuple):
    """One attribute instance in the temporal history (a NamedTuple: a batch makes one per
    attribute of each entity, and a frozen dataclass costs several times as much to make)."""

    tenant: str
    entity_id: str
    attr: str
    dataset_id: str  # "" for the default instance
    instance_id: str
    observed_at: int | None
    recorded_at: int
    value: dict[str, Any]
    deleted: bool = False
    expires_at: int | None = None


class SqlEngineStore(Protocol):
    engine: Engine

    def transaction(self) -> Any: ...


def driver_many(conn: Connection, sql: str, params: Sequence[tuple[Any, ...]]) -> None:
    """One statement, many parameter tuples, straight to the driver. `sql` is written with
    `?` marks and names only from the schema; psycopg's `%s` marks replace them there."""
    if not params:
        return
    if conn.dialect.paramstyle != "qmark":
        sql = sql.replace("?", "%s")
    conn.exec_driver_sql(sql, list(params))


def value_rows(e: StoredEntity) -> list[dict[str, Any]]:
    """The entity's rows of `ngsild_attr_values` by column name (see value_tuples)."""
    return [dict(zip(VALUE_COLUMNS, t, strict=True)) for t in value_tuples(e)]


def value_tuples(e: StoredEntity) -> list[tuple[Any, ...]]:
    """The entity's rows of `ngsild_attr_values` (VALUE_COLUMNS): one per attribute, `simple`
    when its only instance is a Property with a number or a (short) string value."""
    rows: list[tuple[Any, ...]] = []
    for attr, instances in e.attrs.items():
        num: float | None = None
        text: str | None = None
        if len(instances) == 1:
            inst = instances[0]
            if (
                inst.get("type") == "Property"
                and "value" in inst
                and "object" not in inst
                and "languageMap" not in inst
            ):
                v = inst["value"]
                if isinstance(v, str):
                    if len(v) <= MAX_TEXT:
                        text = v
                elif isinstance(v, float) or (
                    isinstance(v, int) and not isinstance(v, bool) and abs(v) <= MAX_EXACT_INT
                ):
                    num = float(v)
        rows.append((e.tenant, e.id, attr, int(num is not None or text is not None), num, text))
    return rows


def _entity_of(r: Sequence[Any]) -> StoredEntity:
    """From a row in ENTITY_COLUMNS' order."""
    doc = loads(r[3])
    return StoredEntity(r[0], r[1], doc["type"], doc["attrs"], r[4], r[5], doc.get("scope"),
                        r[6], r[7], r[8], r[9])  # fmt: skip


def _entity(row: Any) -> StoredEntity:
    doc = loads(row.doc)
    return StoredEntity(
        tenant=row.tenant,
        id=row.id,
        types=doc["type"],
        attrs=doc["attrs"],
        created_at=row.created_at,
        modified_at=row.modified_at,
        scope=doc.get("scope"),
        project_id=row.project_id,
        category=row.category,
        subject=row.subject,
        expires_at=row.expires_at,
    )


ENTITY_COLUMNS = ("tenant", "id", "type", "doc", "created_at", "modified_at", "project_id",
                  "category", "subject", "expires_at")  # fmt: skip


def _row(e: StoredEntity) -> tuple[Any, ...]:
    """The entity's `ngsild_entities` row, in ENTITY_COLUMNS' order."""
    return (e.tenant, e.id, e.types[0], e.doc(), e.created_at, e.modified_at, e.project_id,
            e.category, e.subject, e.expires_at)  # fmt: skip


def _insert_sql(table: Any, names: Sequence[str]) -> str:
    cols = ", ".join(table.c[n].name for n in names)  # names from the schema, never input
    return f"INSERT INTO {table.name} ({cols}) VALUES ({', '.join(['?'] * len(names))})"  # noqa: S608


INSERT_ENTITIES = _insert_sql(E, ENTITY_COLUMNS)
UPDATE_ENTITY = (
    f"UPDATE {E.name} SET {', '.join(f'{n} = ?' for n in ENTITY_COLUMNS[2:])}"  # noqa: S608
    " WHERE tenant = ? AND id = ?"
)
INSERT_TYPES = _insert_sql(T, ("tenant", "type", "entity_id"))
DELETE_TYPES = f"DELETE FROM {T.name} WHERE tenant = ? AND entity_id = ?"  # noqa: S608
VALUE_COLUMNS = ("tenant", "entity_id", "attr", "simple", "num", "text")
INSERT_VALUES = _insert_sql(V, VALUE_COLUMNS)
DELETE_VALUES = f"DELETE FROM {V.name} WHERE tenant = ? AND entity_id = ?"  # noqa: S608
INSTANCE_COLUMNS = ("tenant", "entity_id", "attr", "dataset_id", "instance_id", "observed_at",
                    "recorded_at", "value", "deleted", "expires_at")  # fmt: skip
INSERT_INSTANCES = _insert_sql(I, INSTANCE_COLUMNS)
# The instances an entity stops holding: one already in the history (written there by the
# temporal API, or hidden) stays as it is.
INSERT_HISTORY = INSERT_INSTANCES + " ON CONFLICT (instance_id) DO NOTHING"
HIDDEN = 2  # `deleted` of a row that hides a current instance (see the module's text)


def _tuple(r: InstanceRow, deleted: int) -> tuple[Any, ...]:
    return (r.tenant, r.entity_id, r.attr, r.dataset_id, r.instance_id, r.observed_at,
            r.recorded_at, dumps(r.value), deleted, r.expires_at)  # fmt: skip


@dataclass
class EntityWriter:
    """Writes of one transaction (see EntityRepository.write)."""

    conn: Connection
    changed: list[str] = field(default_factory=list)

    def lock(self, tenant: str, entity_id: str) -> StoredEntity | None:
        stmt = select(E).where(E.c.tenant == tenant, E.c.id == entity_id)
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        return _entity(row) if row is not None else None

    def lock_many(self, tenant: str, ids: Sequence[str]) -> dict[str, StoredEntity]:
        """These entities, those that exist (FOR UPDATE on PostgreSQL, in id order so that
        two batches never deadlock). Written for the driver: SQLAlchemy's expanding IN
        over 500 parameters cost more than the query."""
        out: dict[str, StoredEntity] = {}
        pg = self.conn.dialect.name == "postgresql"
        mark = "%s" if self.conn.dialect.paramstyle != "qmark" else "?"
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            sql = (
                f"SELECT {', '.join(ENTITY_COLUMNS)} FROM {E.name}"  # noqa: S608
                f" WHERE tenant = {mark} AND id IN ({', '.join([mark] * len(chunk))})"
                + (" ORDER BY id FOR UPDATE" if pg else "")
            )
            rows = self.conn.exec_driver_sql(sql, (tenant, *chunk)).fetchall()
            out.update((r[1], _entity_of(r)) for r in rows)
        return out

    def insert(self, entity: StoredEntity) -> None:
        self.insert_many([entity])

    def insert_many(self, entities: Sequence[StoredEntity]) -> None:
        if not entities:
            return
        driver_many(self.conn, INSERT_ENTITIES, [_row(e) for e in entities])
        driver_many(
            self.conn, INSERT_TYPES, [(e.tenant, t, e.id) for e in entities for t in e.types]
        )
        driver_many(self.conn, INSERT_VALUES, [r for e in entities for r in value_tuples(e)])
        self.changed.extend(e.id for e in entities)

    def update(self, entity: StoredEntity, *, types_changed: bool = True) -> None:
        self.update_many([entity], types_changed=types_changed)

    def update_many(self, entities: Sequence[StoredEntity], *, types_changed: bool = True) -> None:
        """Rewrite these entities (already locked in this transaction): one driver
        executemany per statement, whatever the number of entities."""
        if not entities:
            return
        keys = [(e.tenant, e.id) for e in entities]
        # _row's order is the columns' (tenant, id, then the rest); UPDATE wants the key last.
        driver_many(self.conn, UPDATE_ENTITY, [(*r[2:], *r[:2]) for r in map(_row, entities)])
        if types_changed:
            driver_many(self.conn, DELETE_TYPES, keys)
            driver_many(
                self.conn, INSERT_TYPES, [(e.tenant, t, e.id) for e in entities for t in e.types]
            )
        driver_many(self.conn, DELETE_VALUES, keys)
        driver_many(self.conn, INSERT_VALUES, [r for e in entities for r in value_tuples(e)])
        self.changed.extend(e.id for e in entities)

    def delete(self, tenant: str, entity_id: str) -> bool:
        res = self.conn.execute(delete(E).where(E.c.tenant == tenant, E.c.id == entity_id))
        self.conn.execute(delete(T).where(T.c.tenant == tenant, T.c.entity_id == entity_id))
        self.conn.execute(delete(V).where(V.c.tenant == tenant, V.c.entity_id == entity_id))
        self.changed.append(entity_id)
        return bool(res.rowcount)

    def delete_instances(self, tenant: str, entity_id: str, attr: str | None = None) -> int:
        where = [I.c.tenant == tenant, I.c.entity_id == entity_id]
        if attr is not None:
            where.append(I.c.attr == attr)
        return int(self.conn.execute(delete(I).where(*where)).rowcount)

    def add_instances(self, rows: Sequence[InstanceRow]) -> None:
        """New rows of the history (deletion markers, the temporal API's instances)."""
        driver_many(self.conn, INSERT_INSTANCES, [_tuple(r, int(r.deleted)) for r in rows])

    def add_history(self, rows: Sequence[InstanceRow]) -> None:
        """Instances an entity no longer holds (see `superseded`); one the history already
        has (the temporal API's, or hidden) is left as it is."""
        driver_many(self.conn, INSERT_HISTORY, [_tuple(r, int(r.deleted)) for r in rows])

    def hide(self, rows: Sequence[InstanceRow]) -> None:
        """Leave these current instances out of the history (see HIDDEN)."""
        driver_many(self.conn, INSERT_HISTORY, [_tuple(r, HIDDEN) for r in rows])

    def ensure_tenant(self, tenant: str, at: int) -> None:
        if tenant:
            upsert(self.conn, s.ngsild_tenants, ("tenant",), {"tenant": tenant, "created_at": at})


class EntityRepository:
    def __init__(self, store: SqlEngineStore) -> None:
        self.store = store
        self.engine: Engine = store.engine

    @contextmanager
    def write(self) -> Iterator[EntityWriter]:
        with self.store.transaction() as tx:
            yield EntityWriter(tx.conn)

    def _rows(self, stmt: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(stmt))

    def get(self, tenant: str, entity_id: str) -> StoredEntity | None:
        rows = self._rows(select(E).where(E.c.tenant == tenant, E.c.id == entity_id))
        return _entity(rows[0]) if rows else None

    def get_many(self, tenant: str, ids: Sequence[str]) -> dict[str, StoredEntity]:
        out: dict[str, StoredEntity] = {}
        for start in range(0, len(ids), 500):
            stmt = select(E).where(E.c.tenant == tenant, E.c.id.in_(ids[start : start + 500]))
            out.update((r.id, _entity(r)) for r in self._rows(stmt))
        return out

    @staticmethod
    def filters(
        tenant: str,
        *,
        types: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        id_pattern: str | None = None,
        where: ColumnElement[bool] | None = None,
    ) -> list[ColumnElement[bool]]:
        """The WHERE clauses of a query (public: charter.ngsild.query builds on them)."""
        clauses: list[ColumnElement[bool]] = [E.c.tenant == tenant]
        if types:
            clauses.append(
                exists().where(
                    and_(T.c.tenant == E.c.tenant, T.c.entity_id == E.c.id, T.c.type.in_(types))
                )
            )
        if ids:
            clauses.append(E.c.id.in_(list(ids)))
        if id_pattern is not None:
            clauses.append(E.c.id.regexp_match(id_pattern))
        if where is not None:
            clauses.append(where)
        return clauses

    def query(
        self,
        tenant: str,
        *,
        types: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        id_pattern: str | None = None,
        where: ColumnElement[bool] | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[StoredEntity]:
        clauses = self.filters(tenant, types=types, ids=ids, id_pattern=id_pattern, where=where)
        stmt = select(E).where(*clauses).order_by(E.c.id).limit(limit).offset(offset)
        return [_entity(r) for r in self._rows(stmt)]

    def count(
        self,
        tenant: str,
        *,
        types: Sequence[str] | None = None,
        ids: Sequence[str] | None = None,
        id_pattern: str | None = None,
        where: ColumnElement[bool] | None = None,
    ) -> int:
        clauses = self.filters(tenant, types=types, ids=ids, id_pattern=id_pattern, where=where)
        return int(self._rows(select(func.count()).select_from(E).where(*clauses))[0][0])

    def tenant_exists(self, tenant: str) -> bool:
        if not tenant:
            return True
        t = s.ngsild_tenants
        return bool(self._rows(select(t.c.tenant).where(t.c.tenant == tenant)))

    def tenants(self) -> list[str]:
        t = s.ngsild_tenants
        return [r[0] for r in self._rows(select(t.c.tenant).order_by(t.c.tenant))]

    def instances(
        self,
        tenant: str,
        entity_id: str,
        attr: str | None = None,
        *,
        since: int | None = None,
        until: int | None = None,
        last_n: int | None = None,
    ) -> list[InstanceRow]:
        """An entity's attribute instances by the time they were recorded (oldest first;
        at the same time the history's by insertion, then the current ones): the history's
        rows and the entity's current instances, the deletion markers among them."""
        where: list[ColumnElement[bool]] = [I.c.tenant == tenant, I.c.entity_id == entity_id,
                                            I.c.deleted != HIDDEN]  # fmt: skip
        if attr is not None:
            where.append(I.c.attr == attr)
        if since is not None:
            where.append(I.c.recorded_at >= since)
        if until is not None:
            where.append(I.c.recorded_at < until)
        from charter.store.ngsild_history import current_rows, history_row, recorded

        with self.engine.connect() as conn:
            # The entity first: an instance it loses meanwhile is then found in the history.
            found = conn.execute(select(E).where(E.c.tenant == tenant, E.c.id == entity_id)).first()
            current = current_rows(_entity(found), attr) if found is not None else []
            current = [
                r for r in current
                if (since is None or r.recorded_at >= since)
                and (until is None or r.recorded_at < until)
            ]  # fmt: skip
            stmt = select(I).where(*where)
            if last_n is not None:
                stmt = stmt.order_by(I.c.recorded_at.desc(), I.c.id.desc()).limit(last_n)
            else:
                stmt = stmt.order_by(I.c.recorded_at, I.c.id)
            rows = [history_row(r) for r in conn.execute(stmt)]
            if current:
                known = recorded(conn, [r.instance_id for r in current])
                current = [r for r in current if r.instance_id not in known]
        if last_n is not None:
            rows.reverse()
        if not current:
            return rows
        out = sorted([*rows, *current], key=lambda r: r.recorded_at)  # stable: history first
        return out[-last_n:] if last_n is not None else out


def purge_expired(tx: Any, now_ms: int) -> dict[str, int]:
    """Retention, in the retention job's transaction (an SqlTx): entities and the history's
    attribute instances past their category's retention (`expires_at`); an entity's current
    instances, in its document, go with it."""
    conn: Connection = tx.conn
    instances = conn.execute(delete(I).where(I.c.expires_at.is_not(None), I.c.expires_at <= now_ms))
    gone = select(E.c.tenant, E.c.id).where(E.c.expires_at.is_not(None), E.c.expires_at <= now_ms)
    keys = list(conn.execute(gone))
    for tenant, entity_id in keys:
        conn.execute(delete(T).where(T.c.tenant == tenant, T.c.entity_id == entity_id))
        conn.execute(delete(V).where(V.c.tenant == tenant, V.c.entity_id == entity_id))
        conn.execute(delete(E).where(E.c.tenant == tenant, E.c.id == entity_id))
    return {"entities": len(keys), "instances": int(instances.rowcount)}
