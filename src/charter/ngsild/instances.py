"""NGSI-LD attribute instances: their ids, and the rules of a merge (clause 4.5.8, 5.5.8),
shared by the entity service (charter.ngsild.entities) and the batches (ngsild.batch)."""

from __future__ import annotations

import os
import time
from typing import Any

from charter.store.ngsild import StoredEntity

NULL = "urn:ngsi-ld:null"  # clause 4.5.8: a merge with this value deletes the attribute

Attrs = dict[str, list[dict[str, Any]]]


def instance_id() -> str:
    """A fresh attribute instance id, as a URN: the time in ms, then 80 random bits (like a
    UUIDv7), so that the history's unique index grows at its end instead of at random."""
    return f"urn:ngsi-ld:instance:{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


def copy_entity(e: StoredEntity) -> StoredEntity:
    return StoredEntity(
        e.tenant, e.id, list(e.types), {k: list(v) for k, v in e.attrs.items()},
        e.created_at, e.modified_at, e.scope, e.project_id, e.category, e.subject, e.expires_at,
    )  # fmt: skip


def is_null(inst: dict[str, Any]) -> bool:
    return any(inst.get(m) == NULL for m in ("value", "object", "languageMap", "vocab", "json"))


def merge_instance(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """New members replace old ones; sub-attributes merge; urn:ngsi-ld:null removes one."""
    # Sub-attributes copied: stamping the merged one leaves the old instance as it was.
    out = {
        k: dict(v) if ":" in k and isinstance(v, dict) else v
        for k, v in old.items()
        if k != "instanceId"
    }
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
        if ":" in key and isinstance(value, dict) and is_null(value):
            out.pop(key, None)
        else:
            out[key] = value
    return out
