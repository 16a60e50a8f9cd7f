"""The temporal API's edits of the NGSI-LD history (clauses 5.6.13-5.6.15), in a writer's
transaction (charter.store.ngsild.EntityRepository.write).

The history holds the instances an entity no longer holds; its current ones live in its
document. Deleting an instance that is current hides it (a HIDDEN row); editing one puts
its edited copy in the history, which the temporal answers show in its place.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update

from charter.store.ngsild import (
    HIDDEN,
    EntityWriter,
    I,
    InstanceRow,
    StoredEntity,
    current_rows,
    dumps,
    history_row,
    recorded,
)


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
