"""The NGSI-LD temporal history (`ngsild_attr_instances`) beside the entity repository.

Which of an entity's instances become history rows (`instance_row`, `current_rows`, what an
operation supersedes), reading rows back (`history_row`, `recorded`), and the temporal API's
edits of the history (clauses 5.6.13-5.6.15), in a writer's transaction
(charter.store.ngsild.EntityRepository.write).

The history holds the instances an entity no longer holds; its current ones live in its
document. Deleting an instance that is current hides it (a HIDDEN row); editing one puts
its edited copy in the history, which the temporal answers show in its place.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection

from charter.store.ngsild import (
    HIDDEN,
    EntityWriter,
    I,
    InstanceRow,
    StoredEntity,
    dumps,
    loads,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

Attrs = dict[str, list[dict[str, Any]]]


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def recorded_ms(inst: dict[str, Any]) -> int | None:
    """When a current instance was recorded: its `modifiedAt` (written from the same ms)."""
    t = _time(inst.get("modifiedAt"))
    return (t - _EPOCH) // _MS if t is not None else None


def instance_row(
    e: StoredEntity, attr: str, inst: dict[str, Any], recorded_at: int | None = None
) -> InstanceRow | None:
    """The history row of one of the entity's instances, recorded at `recorded_at` (by
    default its `modifiedAt`); None for an instance without an id or a time."""
    iid = inst.get("instanceId")
    if recorded_at is None:
        recorded_at = recorded_ms(inst)
    if not iid or recorded_at is None:
        return None
    observed = inst.get("observedAt")
    t = _time(observed) if observed else None  # as charter.ngsild.model.parse_time
    return InstanceRow(e.tenant, e.id, attr, inst.get("datasetId", ""), iid,
                       int(t.timestamp() * 1000) if t is not None else None, recorded_at, inst,
                       False, e.expires_at)  # fmt: skip


def current_rows(e: StoredEntity, attr: str | None = None) -> list[InstanceRow]:
    """The entity's current instances as history rows (by the time they were recorded)."""
    rows: list[InstanceRow] = []
    for name, instances in e.attrs.items():
        if attr is None or name == attr:
            rows.extend(r for i in instances if (r := instance_row(e, name, i)) is not None)
    return rows


def superseded(
    before: StoredEntity | None, after: StoredEntity | None, written: Attrs, now: int
) -> list[InstanceRow]:
    """What an operation moves to the history: the instances `before` held and those it
    wrote itself (at `now`) that `after` no longer holds, each with its own recorded time."""
    keep = {i.get("instanceId") for v in after.attrs.values() for i in v} if after else set()
    gone: list[tuple[StoredEntity, str, dict[str, Any], int | None]] = (
        [(before, name, i, None) for name, v in before.attrs.items() for i in v] if before else []
    )
    owner = after or before
    if owner is not None:
        gone.extend((owner, name, i, now) for name, v in written.items() for i in v)
    rows = [
        instance_row(e, name, i, at) for e, name, i, at in gone if i.get("instanceId") not in keep
    ]
    return [r for r in rows if r is not None]


def history_row(r: Any) -> InstanceRow:
    return InstanceRow(r.tenant, r.entity_id, r.attr, r.dataset_id, r.instance_id,
                       r.observed_at, r.recorded_at, loads(r.value), bool(r.deleted),
                       r.expires_at)  # fmt: skip


def recorded(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Which of these instance ids have a row in the history (of any kind)."""
    out: set[str] = set()
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        out.update(
            r[0] for r in conn.execute(select(I.c.instance_id).where(I.c.instance_id.in_(chunk)))
        )
    return out


def forget_attr(w: EntityWriter, e: StoredEntity, attr: str, dataset_id: str | None) -> bool:
    """An attribute's history gone (one datasetId, or all when None), its current
    instances hidden; False when there was none."""
    where = [I.c.tenant == e.tenant, I.c.entity_id == e.id, I.c.attr == attr,
             I.c.deleted != HIDDEN]  # fmt: skip
    if dataset_id is not None:
        where.append(I.c.dataset_id == dataset_id)
    gone = int(w.conn.execute(delete(I).where(*where)).rowcount)
    current = [r for r in current_rows(e, attr) if dataset_id is None or r.dataset_id == dataset_id]
    hidden = recorded(w.conn, [r.instance_id for r in current])
    shown = [r for r in current if r.instance_id not in hidden]
    w.hide(shown)
    return bool(gone or shown)


def forget_instance(w: EntityWriter, e: StoredEntity, attr: str, iid: str) -> bool:
    """One instance gone from the history (hidden if it is current); False if none."""
    gone = w.conn.execute(
        delete(I).where(I.c.tenant == e.tenant, I.c.entity_id == e.id, I.c.attr == attr,
                        I.c.instance_id == iid, I.c.deleted != HIDDEN)
    ).rowcount  # fmt: skip
    current = [r for r in current_rows(e, attr) if r.instance_id == iid]
    shown = [r for r in current if not recorded(w.conn, [iid])]
    w.hide(shown)
    return bool(gone or shown)


def history_instance(
    w: EntityWriter, e: StoredEntity, attr: str, iid: str
) -> tuple[Any, InstanceRow] | None:
    """One instance of the history for an edit: (its row's key, the row), a current
    instance's key being None; None when there is no such instance."""
    row = w.conn.execute(
        select(I).where(I.c.tenant == e.tenant, I.c.entity_id == e.id, I.c.attr == attr,
                        I.c.instance_id == iid)
    ).first()  # fmt: skip
    if row is not None:
        return None if row.deleted == HIDDEN else (row.id, history_row(row))
    current = [r for r in current_rows(e, attr) if r.instance_id == iid]
    return (None, current[0]) if current else None


def rewrite_instance(
    w: EntityWriter, key: Any, row: InstanceRow, value: dict[str, Any], observed_at: int | None
) -> None:
    """An instance of the history edited in place; a current one gets its edited copy
    in the history (which the answers show in its place; the entity keeps its own)."""
    if key is None:
        w.add_instances([row._replace(value=value, observed_at=observed_at)])
        return
    w.conn.execute(
        update(I).where(I.c.id == key).values(value=dumps(value), observed_at=observed_at)
    )
