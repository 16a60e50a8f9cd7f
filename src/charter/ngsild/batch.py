"""NGSI-LD batches (clauses 5.6.7-5.6.10, 5.6.20): create, upsert, update, merge and delete
many entities in one store transaction, each entity succeeding or failing on its own.

They write as the entity service does (charter.ngsild.entities): its stamps, its rights,
its listeners; the instances an entity supersedes go to the temporal history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from charter.domain.model import Actor
from charter.ngsild.entities import ChangeKind, EntityChange, EntityService
from charter.ngsild.errors import ErrorType, NgsiError, bad_data, not_found
from charter.ngsild.instances import Attrs, copy_entity, is_null, merge_instance
from charter.store.ngsild import InstanceRow, StoredEntity
from charter.store.ngsild_history import superseded


@dataclass
class Fragment:
    """One entity of a batch, parsed; or the error that kept it out."""

    entity_id: str
    types: list[str] | None = None
    scope: list[str] | None = None
    attrs: Attrs = field(default_factory=dict)
    error: NgsiError | None = None
    tenant: str = ""
    # Set by the gate's bridge: whose data it is, and when retention removes it.
    project_id: str | None = None
    category: str | None = None
    expires_at: int | None = None


@dataclass
class BatchResult:
    success: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    errors: list[tuple[str, NgsiError]] = field(default_factory=list)


def dedupe(items: list[Fragment]) -> list[Fragment]:
    """A second entity with the same id in one batch is an error of its own (not merged)."""
    seen: set[str] = set()
    for f in items:
        if f.error is None and f.entity_id in seen:
            f.error = bad_data("the entity appears more than once in the batch")
        seen.add(f.entity_id)
    return items


BatchMode = Literal["create", "upsert-replace", "upsert-update", "update", "update-keep", "merge"]


def service_tenant(f: Fragment) -> str:
    return f.tenant


def batch_write(service: EntityService, actor: Actor, tenant: str, items: list[Fragment],
                mode: BatchMode) -> BatchResult:  # fmt: skip
    """Write a batch in one transaction; each entity succeeds or fails on its own."""
    now = service._now()
    for f in items:
        f.tenant = tenant
    result = BatchResult()
    good = [f for f in dedupe(items) if f.error is None]
    result.errors.extend((f.entity_id, f.error) for f in items if f.error is not None)
    if mode != "create" and mode not in ("upsert-replace", "upsert-update"):
        service.check_tenant(tenant)
    changes: list[EntityChange] = []
    with service.rights.batch(), service.repo.write() as w:
        existing = w.lock_many(tenant, [f.entity_id for f in good])
        inserts: list[StoredEntity] = []
        updates: list[tuple[StoredEntity, bool]] = []
        history: list[InstanceRow] = []
        for f in good:
            before = existing.get(f.entity_id)
            try:
                after, written, kind = _batch_one(service, f, before, mode, now)
                if f.project_id is not None:
                    after.project_id, after.category = f.project_id, f.category
                    after.expires_at = f.expires_at
                after = service.rights.check_write(actor, tenant, after)
            except NgsiError as err:
                result.errors.append((f.entity_id, err))
                continue
            if before is None:
                inserts.append(after)
                result.created.append(f.entity_id)
            else:
                updates.append((after, after.types != before.types))
            result.success.append(f.entity_id)
            history.extend(superseded(before, after, written, now))
            changes.append(
                EntityChange(
                    kind, tenant, f.entity_id, before, after, frozenset(written), now, actor.name
                )
            )
        if inserts:
            w.ensure_tenant(tenant, now)
            w.insert_many(inserts)
        for changed_types in (False, True):
            group = [after for after, types_changed in updates if types_changed is changed_types]
            w.update_many(group, types_changed=changed_types)
        w.add_history(history)
    service._tell(changes)
    return result


def _batch_one(
    service: EntityService, f: Fragment, before: StoredEntity | None, mode: BatchMode, now: int
) -> tuple[StoredEntity, Attrs, ChangeKind]:
    if before is None:
        if mode in ("update", "update-keep", "merge"):
            raise not_found()
        if not f.types:
            raise bad_data("the entity has no type")
        for instances in f.attrs.values():
            for inst in instances:
                service._stamp(inst, now)
        created = StoredEntity(service_tenant(f), f.entity_id, f.types, f.attrs, now, now, f.scope)
        return created, f.attrs, "created"
    if mode == "create":
        raise NgsiError(ErrorType.ALREADY_EXISTS, "an entity with this id exists")
    after = copy_entity(before)
    after.modified_at = now
    if f.types:
        after.types = (
            f.types if mode == "upsert-replace"
            else before.types + [t for t in f.types if t not in before.types]
        )  # fmt: skip
    if f.scope is not None:
        after.scope = f.scope
    if mode == "upsert-replace":
        for instances in f.attrs.values():
            for inst in instances:
                service._stamp(inst, now)
        after.attrs = f.attrs
        return after, f.attrs, "replaced"
    written: Attrs = {}
    for name, instances in f.attrs.items():
        current = after.attrs.get(name, [])
        for inst in instances:
            ds = inst.get("datasetId")
            match = [i for i in current if i.get("datasetId") == ds]
            if mode == "update-keep" and match:
                continue
            if mode == "merge" and is_null(inst):
                current = [i for i in current if i not in match]
                continue
            if mode == "merge" and match:
                new = service._stamp(merge_instance(match[0], inst), now, match[0].get("createdAt"))
            else:
                new = service._stamp(inst, now, match[0].get("createdAt") if match else None)
            current = [i for i in current if i.get("datasetId") != ds] + [new]
            written.setdefault(name, []).append(new)
        after.attrs[name] = current
    after.attrs = {k: v for k, v in after.attrs.items() if v}
    return after, written, "updated"


def batch_delete(service: EntityService, actor: Actor, tenant: str, ids: list[str]) -> BatchResult:
    now = service._now()
    service.check_tenant(tenant)
    result = BatchResult()
    changes: list[EntityChange] = []
    unique = list(dict.fromkeys(ids))
    with service.rights.batch(), service.repo.write() as w:
        existing = w.lock_many(tenant, unique)
        seen: set[str] = set()
        for entity_id in ids:
            if entity_id in seen:  # as for the writes: an error of its own, not merged
                result.errors.append(
                    (entity_id, bad_data("the entity appears more than once in the batch"))
                )
                continue
            seen.add(entity_id)
            e = existing.get(entity_id)
            if e is None:
                result.errors.append((entity_id, not_found()))
                continue
            try:
                service.rights.check_write(actor, tenant, e)
            except NgsiError as err:
                result.errors.append((entity_id, err))
                continue
            w.add_history(superseded(e, None, {}, now))
            w.delete(tenant, entity_id)
            result.success.append(entity_id)
            changes.append(EntityChange("deleted", tenant, entity_id, e, None,
                                        frozenset(e.attrs), now, actor.name))  # fmt: skip
    service._tell(changes)
    return result
