"""What a change did, in the terms of NGSI-LD notification triggers (GS CIM 009 v1.8).

A subscription's ``notificationTrigger`` (clause 5.2.12) lists the kinds of change that
notify: ``entityCreated``, ``entityUpdated``, ``entityDeleted``, ``attributeCreated``,
``attributeUpdated``, ``attributeDeleted``. Absent, it is ``attributeCreated`` and
``attributeUpdated``; ``entityUpdated`` stands for the three attribute triggers. An entity's
creation creates each of its attributes, so the default notifies creations too.

:func:`events` reads a committed :class:`~charter.ngsild.entities.EntityChange` (its
``before`` and ``after``) as the triggers it fires, per attribute (by ``datasetId``
instance); :func:`fired` picks what one subscription asked for, with its
``watchedAttributes``. The notification's data is then decorated here:
:func:`deleted_entity` (``id``, ``type``, ``deletedAt``: clause 5.2.12 / 4.5 for deletions),
:func:`add_deleted_attrs` (a deleted attribute as the NGSI-LD Null, clause 5.2.1) and
:func:`add_previous` (``showChanges``, clause 5.2.14: ``previousValue``, ``previousObject``,
``previousLanguageMap``, ... of each changed attribute that existed before).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from charter.domain.clock import iso
from charter.ngsild.context import Terms
from charter.ngsild.errors import bad_data
from charter.ngsild.model import ATTRIBUTE_TYPES, LANGUAGEPROPERTY, VOCABPROPERTY
from charter.store.ngsild import StoredEntity

ENTITY_CREATED = "entityCreated"
ENTITY_UPDATED = "entityUpdated"
ENTITY_DELETED = "entityDeleted"
ATTRIBUTE_CREATED = "attributeCreated"
ATTRIBUTE_UPDATED = "attributeUpdated"
ATTRIBUTE_DELETED = "attributeDeleted"
TRIGGERS = (
    ENTITY_CREATED,
    ENTITY_UPDATED,
    ENTITY_DELETED,
    ATTRIBUTE_CREATED,
    ATTRIBUTE_UPDATED,
    ATTRIBUTE_DELETED,
)
DEFAULT = frozenset({ATTRIBUTE_CREATED, ATTRIBUTE_UPDATED})
ATTRIBUTE_TRIGGERS = frozenset({ATTRIBUTE_CREATED, ATTRIBUTE_UPDATED, ATTRIBUTE_DELETED})
NULL = "urn:ngsi-ld:null"


def check(value: Any) -> None:
    """Validate a subscription's ``notificationTrigger`` (400 BadRequestData)."""
    if not isinstance(value, list) or not value or len(value) > len(TRIGGERS):
        raise bad_data("notificationTrigger is a non-empty list of notification triggers")
    for item in value:
        if item not in TRIGGERS:
            raise bad_data("notificationTrigger lists " + ", ".join(TRIGGERS) + " only")


def of(doc: Mapping[str, Any]) -> frozenset[str]:
    """The triggers a subscription document asks for (``entityUpdated`` spelled out)."""
    asked = doc.get("notificationTrigger")
    if not asked:
        return DEFAULT
    out = set(asked)
    if ENTITY_UPDATED in out:
        out.discard(ENTITY_UPDATED)
        out |= ATTRIBUTE_TRIGGERS
    return frozenset(out)


@dataclass(frozen=True)
class Event:
    """What one committed change did to one entity, as notification triggers."""

    entity: frozenset[str]  # entityCreated / entityDeleted
    created: frozenset[str]  # expanded attribute names, per trigger
    updated: frozenset[str]
    deleted: frozenset[str]
    before: StoredEntity | None
    after: StoredEntity | None
    at: int  # ms: when it was committed

    @property
    def subject(self) -> StoredEntity:
        """The entity the subscription's selectors and q are evaluated on: the entity after
        the change, or as it was before its deletion."""
        found = self.after if self.after is not None else self.before
        assert found is not None
        return found


def _datasets(instances: Iterable[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {i.get("datasetId"): i for i in instances}


def events(before: StoredEntity | None, after: StoredEntity | None, attrs: Iterable[str],
           at: int) -> Event:  # fmt: skip
    """The triggers a change fires (``attrs``: the names the entity service reports written
    or deleted)."""
    if after is None:
        return Event(frozenset({ENTITY_DELETED}), frozenset(), frozenset(), frozenset(),
                     before, None, at)  # fmt: skip
    if before is None:
        return Event(frozenset({ENTITY_CREATED}), frozenset(after.attrs), frozenset(),
                     frozenset(), None, after, at)  # fmt: skip
    created: set[str] = set()
    updated: set[str] = set()
    deleted: set[str] = set()
    for name in attrs:
        old = _datasets(before.attrs.get(name) or [])
        new = _datasets(after.attrs.get(name) or [])
        if set(new) - set(old):
            created.add(name)
        if set(old) - set(new):
            deleted.add(name)
        if set(old) & set(new):
            updated.add(name)
    return Event(frozenset(), frozenset(created), frozenset(updated), frozenset(deleted),
                 before, after, at)  # fmt: skip


def fired(event: Event, asked: frozenset[str], watched: Iterable[str]) -> bool:
    """Whether the event notifies a subscription that asked for ``asked`` and watches
    ``watched`` (empty: every attribute). Entity triggers need the entity to have (or, for
    a deletion, to have had) a watched attribute."""
    names = set(watched)
    if event.entity & asked and (not names or names & set(event.subject.attrs)):
        return True
    for trigger, changed in (
        (ATTRIBUTE_CREATED, event.created),
        (ATTRIBUTE_UPDATED, event.updated),
        (ATTRIBUTE_DELETED, event.deleted),
    ):
        if trigger in asked and changed and (not names or names & changed):
            return True
    return False


# --- the notification's data ---------------------------------------------------------------


def deleted_entity(entity: StoredEntity, terms: Terms, at_ms: int) -> dict[str, Any]:
    """A deleted entity in a notification: its id, its type(s) and when it was deleted."""
    types = [terms.compact(t) for t in entity.types]
    return {"id": entity.id, "type": types[0] if len(types) == 1 else types,
            "deletedAt": iso(at_ms)}  # fmt: skip


def _previous_member(kind: str) -> tuple[str, str]:
    member = ATTRIBUTE_TYPES[kind]
    return member, "previous" + member[0].upper() + member[1:]


def _null_of(kind: str) -> Any:
    return {"@none": NULL} if kind == LANGUAGEPROPERTY else NULL


def _as_object(rendered: Any, kind: str) -> dict[str, Any]:
    """A concise attribute that was shortened to its bare value, back as an object."""
    if isinstance(rendered, dict):
        return rendered
    return {ATTRIBUTE_TYPES[kind]: rendered}


def _previous(inst: dict[str, Any], terms: Terms) -> tuple[str, Any]:
    kind = inst["type"]
    member, name = _previous_member(kind)
    value = inst.get(member)
    if kind == VOCABPROPERTY and isinstance(value, list):
        value = [terms.compact(v) for v in value]
    elif kind == VOCABPROPERTY and isinstance(value, str):
        value = terms.compact(value)
    return name, value


def add_previous(
    out: dict[str, Any], event: Event, terms: Terms, attrs: frozenset[str] | None
) -> None:
    """``showChanges``: each changed attribute that existed before gets its previous value."""
    if event.before is None or event.after is None:
        return
    for name in sorted(event.updated):
        if attrs is not None and name not in attrs:
            continue
        short = terms.compact(name)
        if short not in out:
            continue
        old = _datasets(event.before.attrs.get(name) or [])
        now_instances = event.after.attrs.get(name) or []
        rendered = out[short]
        many = isinstance(rendered, list) and len(now_instances) > 1
        items = list(rendered) if many else [rendered]
        for i, inst in enumerate(now_instances[: len(items)]):
            prior = old.get(inst.get("datasetId"))
            if prior is None:
                continue
            key, value = _previous(prior, terms)
            obj = _as_object(items[i], inst["type"])
            obj[key] = value
            items[i] = obj
        out[short] = items if many else items[0]


def add_deleted_attrs(
    out: dict[str, Any], event: Event, terms: Terms, attrs: frozenset[str] | None, *,
    show_changes: bool, sys_attrs: bool, at_ms: int, key_values: bool,
) -> None:  # fmt: skip
    """A deleted attribute (or datasetId instance) is shown as the NGSI-LD Null (clause
    5.2.1), with ``deletedAt`` when sysAttrs are asked for and its previous value with
    ``showChanges``."""
    if event.before is None or event.after is None:
        return
    for name in sorted(event.deleted):
        if attrs is not None and name not in attrs:
            continue
        now = _datasets(event.after.attrs.get(name) or [])
        gone = [i for ds, i in _datasets(event.before.attrs[name]).items() if ds not in now]
        shown: list[Any] = []
        for inst in gone:
            kind = inst["type"]
            if key_values:
                shown.append(_null_of(kind))
                continue
            member = ATTRIBUTE_TYPES[kind]
            item: dict[str, Any] = {"type": kind, member: _null_of(kind)}
            if "datasetId" in inst:
                item["datasetId"] = inst["datasetId"]
            if sys_attrs:
                item["deletedAt"] = iso(at_ms)
            if show_changes:
                key, value = _previous(inst, terms)
                item[key] = value
            shown.append(item)
        if not shown:
            continue
        short = terms.compact(name)
        if short in out:  # other instances of the attribute remain
            kept = out[short] if isinstance(out[short], list) else [out[short]]
            out[short] = kept + shown
        else:
            out[short] = shown[0] if len(shown) == 1 else shown
