"""NGSI-LD: the temporal history keeps only the instances no longer current.

Before, every instance an entity held was also a row of `ngsild_attr_instances`. Now the
current instances live only in the entity's document (charter.store.ngsild), so the rows
that duplicate one are removed, a chunk of entities at a time. The temporal answers stay
exactly as they were: a row is removed only when it says what the current instance says
(same entity, attribute, datasetId, recorded time, observation time, retention and value);
a row the temporal API edited stays, and shows in the instance's place; a current
instance that had no row (the temporal API wrote its own instead) gets a HIDDEN row.

Revision ID: 0019_ngsild_history_superseded
Revises: 0018_door_counts
"""

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0019_ngsild_history_superseded"
down_revision = "0018_door_counts"
branch_labels = None
depends_on = None

CHUNK = 500  # entities at a time


def _chunks(conn: sa.Connection) -> Any:
    """The entities, CHUNK at a time, in (tenant, id) order: [(tenant, id, doc, expires_at)]."""
    last: tuple[str, str] | None = None
    while True:
        where = "" if last is None else "WHERE tenant > :t OR (tenant = :t AND id > :i)"
        params = {} if last is None else {"t": last[0], "i": last[1]}
        rows = conn.execute(
            sa.text(
                f"SELECT tenant, id, doc, expires_at FROM ngsild_entities {where}"  # noqa: S608
                f" ORDER BY tenant, id LIMIT {CHUNK}"
            ),
            params,
        ).all()
        if not rows:
            return
        yield rows
        last = (rows[-1][0], rows[-1][1])


def _current(rows: Any) -> dict[str, Any]:
    """instance id -> the row the code would answer for that current instance."""
    from charter.store.ngsild import StoredEntity
    from charter.store.ngsild_history import current_rows

    out: dict[str, Any] = {}
    for tenant, entity_id, doc, expires_at in rows:
        attrs = json.loads(doc).get("attrs") or {}
        e = StoredEntity(tenant, entity_id, [], attrs, 0, 0, expires_at=expires_at)
        out.update((r.instance_id, r) for r in current_rows(e))
    return out


def _history(conn: sa.Connection, ids: list[str]) -> list[Any]:
    out: list[Any] = []
    for start in range(0, len(ids), CHUNK):
        out.extend(
            conn.execute(
                sa.text(
                    "SELECT id, tenant, entity_id, attr, dataset_id, instance_id, observed_at,"
                    " recorded_at, value, deleted, expires_at FROM ngsild_attr_instances"
                    " WHERE instance_id IN :ids"
                ).bindparams(sa.bindparam("ids", expanding=True)),
                {"ids": ids[start : start + CHUNK]},
            ).all()
        )
    return out


def _same(row: Any, cur: Any) -> bool:
    return (
        row.deleted == 0
        and (row.tenant, row.entity_id, row.attr, row.dataset_id)
        == (cur.tenant, cur.entity_id, cur.attr, cur.dataset_id)
        and (row.recorded_at, row.observed_at, row.expires_at)
        == (cur.recorded_at, cur.observed_at, cur.expires_at)
        and json.loads(row.value) == cur.value
    )


def _insert(conn: sa.Connection, rows: list[Any], deleted: int) -> None:
    if rows:
        conn.execute(
            sa.text(
                "INSERT INTO ngsild_attr_instances (tenant, entity_id, attr, dataset_id,"
                " instance_id, observed_at, recorded_at, value, deleted, expires_at) VALUES"
                " (:tenant, :entity_id, :attr, :dataset_id, :instance_id, :observed_at,"
                " :recorded_at, :value, :deleted, :expires_at)"
            ),
            [
                {**r._asdict(), "value": json.dumps(r.value, ensure_ascii=False),
                 "deleted": deleted}
                for r in rows
            ],
        )  # fmt: skip


def upgrade() -> None:
    conn = op.get_bind()
    for rows in _chunks(conn):
        current = _current(rows)
        if not current:
            continue
        found = {r.instance_id: r for r in _history(conn, list(current))}
        same = [r.id for iid, r in found.items() if _same(r, current[iid])]
        for start in range(0, len(same), CHUNK):
            conn.execute(
                sa.text("DELETE FROM ngsild_attr_instances WHERE id IN :ids").bindparams(
                    sa.bindparam("ids", expanding=True)
                ),
                {"ids": same[start : start + CHUNK]},
            )
        _insert(conn, [r for iid, r in current.items() if iid not in found], 2)


def downgrade() -> None:
    conn = op.get_bind()
    for rows in _chunks(conn):
        current = _current(rows)
        found = {r.instance_id for r in _history(conn, list(current))}
        _insert(conn, [r for iid, r in current.items() if iid not in found], 0)
    conn.execute(sa.text("DELETE FROM ngsild_attr_instances WHERE deleted = 2"))
