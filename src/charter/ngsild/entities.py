"""The NGSI-LD entity service: the one layer the HTTP API, batches and bridges call.

Each operation runs in one store transaction (nothing half-written), moves the
attribute instances it supersedes or removes to the temporal history (the current ones
live in the entity's document; charter.store.ngsild), and, once
committed, tells the change listeners (`EntityService.listen`), e.g. the
subscriptions of charter.ngsild.subscriptions. Access rules (tenancy, the
register's categories, consent, purpose grants) are asked of `self.rights`
(charter.ngsild.rights) before anything is read or written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

from charter.domain.clock import Clock, iso, to_ms
from charter.domain.model import Actor
from charter.ngsild.errors import ErrorType, NgsiError, bad_data, from_reason, not_found
from charter.ngsild.instances import (
    Attrs,
    copy_entity,
    instance_id,
    is_null,
    merge_instance,
)
from charter.ngsild.model import parse_time
from charter.store.ngsild import (
    EntityRepository,
    EntityWriter,
    InstanceRow,
    StoredEntity,
)
from charter.store.ngsild_history import superseded

SCOPE = "https://uri.etsi.org/ngsi-ld/scope"  # DELETE .../attrs/scope names the scope

log = logging.getLogger(__name__)
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

    def _markers(self, e: StoredEntity, attrs: Attrs, now: int) -> list[InstanceRow]:
        """The deletion markers of these instances: a deletion is an instance of its own
        (temporal deletedAt), recorded at `now`."""
        rows: list[InstanceRow] = []
        for name, instances in attrs.items():
            for inst in instances:
                observed = inst.get("observedAt")
                inst = {**inst, "deletedAt": self._iso(now), "instanceId": instance_id()}
                rows.append(
                    InstanceRow(
                        e.tenant,
                        e.id,
                        name,
                        inst.get("datasetId", ""),
                        inst["instanceId"],
                        parse_time(observed, "observedAt") if observed else None,
                        now,
                        inst,
                        True,
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
            w.insert(e)  # its instances are current: none goes to the history
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
            w.add_history(superseded(e, None, {}, now))
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
            w.add_history(superseded(before, after, attrs, now))
            w.add_instances(self._markers(after, gone, now))
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
            after = copy_entity(before)
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
                    if is_null(inst):
                        if match:
                            after.attrs[name] = [i for i in current if i not in match]
                            deleted.setdefault(name, []).extend(match)
                        continue
                    if match:
                        merged = merge_instance(match[0], inst)
                        self._stamp(merged, now, match[0].get("createdAt"))
                        after.attrs[name] = [merged if i is match[0] else i for i in current]
                    else:
                        merged = self._stamp(inst, now)
                        after.attrs[name] = [*current, merged]
                    written.setdefault(name, []).append(merged)
            after.attrs = {k: v for k, v in after.attrs.items() if v}
            after = self.rights.check_write(actor, tenant, after)
            w.update(after, types_changed=after.types != before.types)
            w.add_history(superseded(before, after, written, now))
            w.add_instances(self._markers(after, deleted, now))
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
            after = copy_entity(before)
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
                w.add_history(superseded(before, after, written, now))
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
            after = copy_entity(before)
            current = after.attrs.get(name)
            ds = inst.get("datasetId")
            match = [i for i in current or [] if i.get("datasetId") == ds]
            if not current or not match:
                raise not_found("the entity has no such attribute (or datasetId)")
            merged = merge_instance(match[0], inst)
            self._stamp(merged, now, match[0].get("createdAt"))
            after.attrs[name] = [merged if i is match[0] else i for i in current]
            after.modified_at = now
            after = self.rights.check_write(actor, tenant, after)
            w.update(after, types_changed=False)
            w.add_history(superseded(before, after, {name: [merged]}, now))
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
            after = copy_entity(before)
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
            w.add_history(superseded(before, after, {}, now))
            if gone:
                w.add_instances(self._markers(after, {name: gone}, now))
        self._tell(
            [
                EntityChange(
                    "updated", tenant, entity_id, before, after, frozenset([name]), now, actor.name
                )
            ]
        )
