"""The NGSI-LD entity service: the one layer the HTTP API, batches and bridges call.

Each operation runs in one store transaction (nothing half-written), writes the
attribute instances it created or changed to the temporal history, and, once
committed, tells the change listeners (`EntityService.listen`), e.g. the
subscriptions of charter.ngsild.subscriptions. Access rules (tenancy, the
register's categories, consent, purpose grants) are asked of `self.rights`
(charter.ngsild.rights) before anything is read or written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

from charter.domain.clock import Clock, iso, to_ms
from charter.domain.model import Actor
from charter.ngsild.errors import ErrorType, NgsiError, bad_data, from_reason, not_found
from charter.ngsild.model import parse_time
from charter.store.ngsild import EntityRepository, EntityWriter, InstanceRow, StoredEntity

SCOPE = "https://uri.etsi.org/ngsi-ld/scope"  # DELETE .../attrs/scope names the scope

log = logging.getLogger(__name__)
NULL = "urn:ngsi-ld:null"  # clause 4.5.8: a merge with this value deletes the attribute

Attrs = dict[str, list[dict[str, Any]]]


def instance_id() -> str:
    """A fresh attribute instance id, as a URN: the time in ms, then 80 random bits (like a
    UUIDv7), so that the history's unique index grows at its end instead of at random."""
    return f"urn:ngsi-ld:instance:{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


ChangeKind = Literal["created", "updated", "replaced", "deleted"]


@dataclass(frozen=True)
class EntityChange:
    """What a committed operation did to one entity (for subscriptions and bridges)."""

    kind: ChangeKind
    tenant: str
    entity_id: str
    before: StoredEntity | None  # None: it did not exist
    after: StoredEntity | None  # None: it was deleted
    attrs: frozenset[str]  # expanded names of the attributes written or deleted
    at: int  # ms, the platform's clock
    actor: str = ""


Listener = Callable[[EntityChange], None]


@dataclass
class NotUpdated:
    attribute: str  # expanded
    reason: str


@dataclass
class AttrResult:
    updated: list[str] = field(default_factory=list)
    not_updated: list[NotUpdated] = field(default_factory=list)


class Rights:
    """Who may read and write which entities (the default: staff only; see ngsild.rights)."""

    def tenant(self, actor: Actor, header: str | None) -> str:
        return tenant_of(actor, header)

    def batch(self) -> AbstractContextManager[None]:
        """Around the checks of one batch: what they consult may be read once for all."""
        return nullcontext()

    def check_write(self, actor: Actor, tenant: str, entity: StoredEntity) -> StoredEntity:
        if actor.role == "public":
            raise from_reason(_unauth(), "writing entities needs a bearer token")
        return entity

    def check_read(self, actor: Actor, tenant: str, entity: StoredEntity) -> StoredEntity | None:
        return entity

    def personal(self, types: list[str]) -> list[Any]:
        """Declared personal categories of these types (none without a register)."""
        return []

    def personal_entities(
        self, actor: Actor, grant: str | None, declared: list[Any], limit: int
    ) -> list[StoredEntity]:
        return []


def _unauth() -> Any:
    from charter.domain.reasons import Reason

    return Reason.UNAUTHENTICATED


MAX_TENANT = 100


def tenant_of(actor: Actor, header: str | None) -> str:
    """The tenant a request works in: the header's, if the caller's token is bound to it.

    NGSILD-Tenant alone is never a security boundary (clause 4.14): a tenant other
    than the default is used only by a token that names it in its `tenants` claim.
    """
    from charter.domain.reasons import Reason

    if header is None or header == "":
        return ""
    if len(header) > MAX_TENANT or not header.replace("_", "").replace("-", "").isalnum():
        raise bad_data("NGSILD-Tenant must be letters, digits, '-' or '_' (at most 100)")
    if header not in getattr(actor, "tenants", ()):
        raise NgsiError(
            None, "the caller's token is not bound to this tenant", reason=Reason.FORBIDDEN
        )
    return header


class EntityService:
    def __init__(self, repo: EntityRepository, clock: Clock, rights: Rights | None = None) -> None:
        self.repo = repo
        self.clock = clock
        self.rights = rights or Rights()
        self._listeners: list[Listener] = []
        self._stamped: tuple[int, str] = (-1, "")  # the last ms and its ISO text

    # listeners --------------------------------------------------------------
    def listen(self, listener: Listener) -> None:
        """Call `listener(change)` after each committed change (in the writer's thread)."""
        self._listeners.append(listener)

    def _tell(self, changes: Sequence[EntityChange]) -> None:
        for change in changes:
            for listener in self._listeners:
                try:
                    listener(change)
                except Exception:  # a listener never undoes a committed write
                    log.exception("an NGSI-LD change listener failed")

    def _now(self) -> int:
        return to_ms(self.clock.now())

    # helpers ------------------------------------------------------------------
    def _iso(self, now: int) -> str:
        last = self._stamped  # one tuple read: threads never see a torn pair
        if last[0] == now:
            return last[1]
        stamp = iso(now)
        self._stamped = (now, stamp)
        return stamp

    def _stamp(self, inst: dict[str, Any], now: int, created: str | None = None) -> dict[str, Any]:
        stamp = self._iso(now)
        inst["createdAt"] = created or stamp
        inst["modifiedAt"] = stamp
        inst["instanceId"] = instance_id()
        for key, sub in inst.items():
            if ":" in key and isinstance(sub, dict):
                sub.setdefault("createdAt", stamp)
                sub["modifiedAt"] = stamp
        return inst

    def _history(
        self, e: StoredEntity, attrs: Attrs, now: int, *, deleted: bool = False
    ) -> list[InstanceRow]:
        rows: list[InstanceRow] = []
        for name, instances in attrs.items():
            for inst in instances:
                observed = inst.get("observedAt")
                if deleted:  # a deletion is an instance of its own (temporal deletedAt)
                    inst = {**inst, "deletedAt": self._iso(now)}
                    inst["instanceId"] = instance_id()
                rows.append(
                    InstanceRow(
                        e.tenant,
                        e.id,
                        name,
                        inst.get("datasetId", ""),
                        inst.get("instanceId") or instance_id(),
                        parse_time(observed, "observedAt") if observed else None,
                        now,
                        inst,
                        deleted,
                        e.expires_at,
                    )
                )
        return rows

    def _existing(self, w: EntityWriter, tenant: str, entity_id: str) -> StoredEntity:
        found = w.lock(tenant, entity_id)
        if found is None:
            raise not_found()
        return found

    def check_tenant(self, tenant: str) -> None:
        if not self.repo.tenant_exists(tenant):
            raise NgsiError(ErrorType.NONEXISTENT_TENANT, "no such tenant")

    # operations ---------------------------------------------------------------
    def create(
        self, actor: Actor, tenant: str, entity_id: str, types: list[str],
        scope: list[str] | None, attrs: Attrs,
    ) -> StoredEntity:  # fmt: skip
        now = self._now()
        for instances in attrs.values():
            for inst in instances:
                self._stamp(inst, now)
        e = StoredEntity(tenant, entity_id, types, attrs, now, now, scope)
        e = self.rights.check_write(actor, tenant, e)
        with self.repo.write() as w:
            if w.lock(tenant, entity_id) is not None:
                raise NgsiError(ErrorType.ALREADY_EXISTS, "an entity with this id exists")
            w.ensure_tenant(tenant, now)
            w.insert(e)
            w.add_instances(self._history(e, e.attrs, now))
        self._tell(
            [EntityChange("created", tenant, e.id, None, e, frozenset(attrs), now, actor.name)]
        )
        return e

    def get(self, actor: Actor, tenant: str, entity_id: str) -> StoredEntity:
        self.check_tenant(tenant)
        e = self.repo.get(tenant, entity_id)
        shown = self.rights.check_read(actor, tenant, e) if e is not None else None
        if shown is None:
            raise not_found()
        return shown

    def query(
        self, actor: Actor, tenant: str, *, types: Sequence[str] | None = None,
        ids: Sequence[str] | None = None, id_pattern: str | None = None,
        where: Any = None, limit: int = 20, offset: int = 0, count: bool = False,
    ) -> tuple[list[StoredEntity], int | None]:  # fmt: skip
        """Entities matching the filters (by id), readable by `actor`; and the total if asked."""
        self.check_tenant(tenant)
        found = self.repo.query(
            tenant, types=types, ids=ids, id_pattern=id_pattern, where=where,
            limit=limit, offset=offset,
        )  # fmt: skip
        shown = [s for e in found if (s := self.rights.check_read(actor, tenant, e)) is not None]
        total = None
        if count:
            total = self.repo.count(
                tenant, types=types, ids=ids, id_pattern=id_pattern, where=where
            )
        return shown, total

    def delete(
        self, actor: Actor, tenant: str, entity_id: str, *, of_types: frozenset[str] = frozenset()
    ) -> None:
        """DELETE /entities/{id} (clause 5.6.6); with `of_types`, only an entity of one of them."""
        now = self._now()
        self.check_tenant(tenant)
        with self.repo.write() as w:
            e = self._existing(w, tenant, entity_id)
            if of_types and of_types.isdisjoint(e.types):
                raise not_found()
            self.rights.check_write(actor, tenant, e)
            w.delete(tenant, entity_id)
        self._tell(
            [
                EntityChange(
                    "deleted", tenant, entity_id, e, None, frozenset(e.attrs), now, actor.name
                )
            ]
        )

    def replace(
        self, actor: Actor, tenant: str, entity_id: str, types: list[str] | None,
        scope: list[str] | None, attrs: Attrs,
    ) -> StoredEntity:  # fmt: skip
        """PUT /entities/{id} (clause 5.6.18): every attribute replaced."""
        now = self._now()
        self.check_tenant(tenant)
        for instances in attrs.values():
            for inst in instances:
                self._stamp(inst, now)
        with self.repo.write() as w:
            before = self._existing(w, tenant, entity_id)
            after = StoredEntity(
                tenant, entity_id, types or before.types, attrs, before.created_at, now, scope,
                before.project_id, before.category, before.subject, before.expires_at,
            )  # fmt: skip
            after = self.rights.check_write(actor, tenant, after)
            w.update(after)
            gone = {k: v for k, v in before.attrs.items() if k not in attrs}
            w.add_instances(self._history(after, attrs, now))
            w.add_instances(self._history(after, gone, now, deleted=True))
        changed = frozenset(attrs) | frozenset(before.attrs)
        self._tell(
            [EntityChange("replaced", tenant, entity_id, before, after, changed, now, actor.name)]
        )
        return after

    def merge(
        self,
        actor: Actor,
        tenant: str,
        entity_id: str,
        types: list[str] | None,
        scope: list[str] | None,
        attrs: Attrs,
    ) -> StoredEntity:
        """PATCH /entities/{id} (clause 5.6.17): merge; urn:ngsi-ld:null deletes."""
        now = self._now()
        self.check_tenant(tenant)
        with self.repo.write() as w:
            before = self._existing(w, tenant, entity_id)
            after = _copy(before)
            after.modified_at = now
            if types:
                after.types = before.types + [t for t in types if t not in before.types]
            if scope is not None:
                after.scope = scope
            deleted: Attrs = {}
            written: Attrs = {}
            for name, instances in attrs.items():
                for inst in instances:
                    current = after.attrs.get(name, [])
                    ds = inst.get("datasetId")
                    match = [i for i in current if i.get("datasetId") == ds]
                    if _is_null(inst):
                        if match:
                            after.attrs[name] = [i for i in current if i not in match]
                            deleted.setdefault(name, []).extend(match)
                        continue
                    if match:
                        merged = _merge_instance(match[0], inst)
                        self._stamp(merged, now, match[0].get("createdAt"))
                        after.attrs[name] = [merged if i is match[0] else i for i in current]
                    else:
                        merged = self._stamp(inst, now)
                        after.attrs[name] = [*current, merged]
                    written.setdefault(name, []).append(merged)
            after.attrs = {k: v for k, v in after.attrs.items() if v}
            after = self.rights.check_write(actor, tenant, after)
            w.update(after, types_changed=after.types != before.types)
            w.add_instances(self._history(after, written, now))
            w.add_instances(self._history(after, deleted, now, deleted=True))
        changed = frozenset(written) | frozenset(deleted)
        self._tell(
            [EntityChange("updated", tenant, entity_id, before, after, changed, now, actor.name)]
        )
        return after

    def append(
        self, actor: Actor, tenant: str, entity_id: str, attrs: Attrs, *,
        types: list[str] | None = None, no_overwrite: bool = False,
    ) -> AttrResult:  # fmt: skip
        """POST /entities/{id}/attrs (clause 5.6.3): add, or overwrite unless noOverwrite."""
        return self._write_attrs(
            actor, tenant, entity_id, attrs, types=types, mode="append", no_overwrite=no_overwrite
        )

    def update_attrs(self, actor: Actor, tenant: str, entity_id: str, attrs: Attrs) -> AttrResult:
        """PATCH /entities/{id}/attrs (clause 5.6.2): only attributes that exist."""
        return self._write_attrs(actor, tenant, entity_id, attrs, mode="update")

    def _write_attrs(
        self, actor: Actor, tenant: str, entity_id: str, attrs: Attrs, *,
        mode: str, types: list[str] | None = None, no_overwrite: bool = False,
    ) -> AttrResult:  # fmt: skip
        now = self._now()
        self.check_tenant(tenant)
        result = AttrResult()
        with self.repo.write() as w:
            before = self._existing(w, tenant, entity_id)
            after = _copy(before)
            after.modified_at = now
            if types:
                after.types = before.types + [t for t in types if t not in before.types]
            written: Attrs = {}
            for name, instances in attrs.items():
                current = list(after.attrs.get(name, []))
                ok = True
                for inst in instances:
                    ds = inst.get("datasetId")
                    match = [i for i in current if i.get("datasetId") == ds]
                    if mode == "update" and not match:
                        ok = False
                        result.not_updated.append(NotUpdated(name, "attribute does not exist"))
                        break
                    if mode == "append" and match and no_overwrite:
                        ok = False
                        result.not_updated.append(
                            NotUpdated(name, "attribute exists (noOverwrite)")
                        )
                        break
                    created = match[0].get("createdAt") if match else None
                    new = self._stamp(inst, now, created)
                    current = [i for i in current if i.get("datasetId") != ds] + [new]
                    written.setdefault(name, []).append(new)
                if ok:
                    after.attrs[name] = current
                    result.updated.append(name)
                else:
                    written.pop(name, None)
            if result.updated or after.types != before.types:
                after = self.rights.check_write(actor, tenant, after)
                w.update(after, types_changed=after.types != before.types)
                w.add_instances(self._history(after, written, now))
        if result.updated:
            change = EntityChange(
                "updated", tenant, entity_id, before, after, frozenset(result.updated), now,
                actor.name,
            )  # fmt: skip
            self._tell([change])
        return result

    def partial_update(
        self, actor: Actor, tenant: str, entity_id: str, name: str, inst: dict[str, Any]
    ) -> None:
        """PATCH /entities/{id}/attrs/{attrId} (clause 5.6.4): members replaced, others kept."""
        now = self._now()
        self.check_tenant(tenant)
        with self.repo.write() as w:
            before = self._existing(w, tenant, entity_id)
            after = _copy(before)
            current = after.attrs.get(name)
            ds = inst.get("datasetId")
            match = [i for i in current or [] if i.get("datasetId") == ds]
            if not current or not match:
                raise not_found("the entity has no such attribute (or datasetId)")
            merged = _merge_instance(match[0], inst)
            self._stamp(merged, now, match[0].get("createdAt"))
            after.attrs[name] = [merged if i is match[0] else i for i in current]
            after.modified_at = now
            after = self.rights.check_write(actor, tenant, after)
            w.update(after, types_changed=False)
            w.add_instances(self._history(after, {name: [merged]}, now))
        self._tell(
            [
                EntityChange(
                    "updated", tenant, entity_id, before, after, frozenset([name]), now, actor.name
                )
            ]
        )

    def delete_attr(
        self, actor: Actor, tenant: str, entity_id: str, name: str, *,
        dataset_id: str | None = None, delete_all: bool = False,
        of_types: frozenset[str] = frozenset(),
    ) -> None:  # fmt: skip
        """DELETE /entities/{id}/attrs/{attrId} (clause 5.6.5), by datasetId or all; `scope`
        (SCOPE) removes the entity's scope; with `of_types`, only on an entity of one of them."""
        now = self._now()
        self.check_tenant(tenant)
        with self.repo.write() as w:
            before = self._existing(w, tenant, entity_id)
            if of_types and of_types.isdisjoint(before.types):
                raise not_found()
            after = _copy(before)
            current = after.attrs.get(name) or []
            if name == SCOPE:
                if not after.scope:
                    raise not_found("the entity has no scope")
                after.scope, gone = None, []
            elif delete_all:
                gone = current
            else:
                gone = [i for i in current if i.get("datasetId") == dataset_id]
            if not gone and name != SCOPE:
                raise not_found("the entity has no such attribute (or datasetId)")
            kept = [i for i in current if i not in gone]
            if kept:
                after.attrs[name] = kept
            elif name in after.attrs:
                del after.attrs[name]
            after.modified_at = now
            after = self.rights.check_write(actor, tenant, after)
            w.update(after, types_changed=False)
            if gone:
                w.add_instances(self._history(after, {name: gone}, now, deleted=True))
        self._tell(
            [
                EntityChange(
                    "updated", tenant, entity_id, before, after, frozenset([name]), now, actor.name
                )
            ]
        )


def _copy(e: StoredEntity) -> StoredEntity:
    return StoredEntity(
        e.tenant, e.id, list(e.types), {k: list(v) for k, v in e.attrs.items()},
        e.created_at, e.modified_at, e.scope, e.project_id, e.category, e.subject, e.expires_at,
    )  # fmt: skip


def _is_null(inst: dict[str, Any]) -> bool:
    return any(inst.get(m) == NULL for m in ("value", "object", "languageMap", "vocab", "json"))


def _merge_instance(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """New members replace old ones; sub-attributes merge; urn:ngsi-ld:null removes one."""
    out = {k: v for k, v in old.items() if k not in ("instanceId",)}
    if new.get("type") != old.get("type"):
        for member in (
            "value",
            "object",
            "languageMap",
            "json",
            "vocab",
            "valueList",
            "objectList",
        ):
            out.pop(member, None)
    for key, value in new.items():
        if ":" in key and isinstance(value, dict) and _is_null(value):
            out.pop(key, None)
        else:
            out[key] = value
    return out


# batches (clause 5.6.7-5.6.10, 5.6.20) ----------------------------------------
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
            history.extend(service._history(after, written, now))
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
        w.add_instances(history)
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
    after = _copy(before)
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
            if mode == "merge" and _is_null(inst):
                current = [i for i in current if i not in match]
                continue
            if mode == "merge" and match:
                new = service._stamp(
                    _merge_instance(match[0], inst), now, match[0].get("createdAt")
                )
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
            w.delete(tenant, entity_id)
            result.success.append(entity_id)
            changes.append(EntityChange("deleted", tenant, entity_id, e, None,
                                        frozenset(e.attrs), now, actor.name))  # fmt: skip
    service._tell(changes)
    return result
