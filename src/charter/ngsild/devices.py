"""The device door: a registered device writes its measurement entity in plain NGSI-LD JSON.

A device that holds a credential the platform issued it (`charter device token`, a
bearer `chd_` token; `auth.issue_device_token`) may PATCH or POST the attributes of its
own measurement entity (`urn:ngsi-ld:<Type>:<device>`, the id `ngsild.bridge` gives it),
create it, or send it in a batch upsert/update, as an Orion-LD IoT agent does. The write
is not applied to the entity: it is turned into readings of the category that declares
the type (the attribute names mapped back to the category's fields, `unitCode` back to
Charter's unit, `observedAt` as the observation time) and handed to the gate
(`Gate.ingest_credentialed`), which decides it with its own stages (the register's
device for the signature; authorise, purpose, validate, consent, minimise). What it
admits reaches the entity through the bridge, like every reading; what it refuses is
answered as the NGSI-LD ProblemDetails with the gate's reason code. Nothing here decides
whether a reading is admitted: only which category and fields a write names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from charter.auth import DEVICE_ROLE
from charter.domain.envelope import ReadingIn
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.ngsild import model, sdm
from charter.ngsild.bridge import UNIT_CODES, entity_id
from charter.ngsild.errors import bad_data, from_reason
from charter.ngsild.register import Declared, local_name

if TYPE_CHECKING:
    from charter.bootstrap import Platform
    from charter.ngsild.service import NgsiLd

# Attributes the bridge writes from the register and the gate, never from a device.
PLATFORM_ATTRIBUTES = frozenset({"refDevice", "dateObserved", "location"})
CHARTER_UNIT = {code: unit for unit, code in UNIT_CODES.items()}


def is_device(actor: Actor) -> bool:
    return actor.role == DEVICE_ROLE


@dataclass
class DeviceWrite:
    """What the gate did with one device write: attributes admitted and refused."""

    updated: list[str] = field(default_factory=list)  # expanded attribute names
    not_updated: list[tuple[str, str]] = field(default_factory=list)  # (name, reason text)


def write(
    platform: Platform,
    n: NgsiLd,
    actor: Actor,
    tenant: str,
    target: str,
    attrs: dict[str, list[dict[str, Any]]],
) -> DeviceWrite:
    """Hand a device's write of entity `target` to the gate; raise its refusal."""
    if tenant:
        raise bad_data("readings are published in the default tenant")
    device_id = actor.name
    declared = _declared(platform, n, device_id, target)
    fields = {declared.attribute(f): f for f in declared.category.fields}
    result = DeviceWrite()
    # One reading per observation time: attributes observed together are one reading.
    groups: dict[int, tuple[dict[str, Any], dict[str, str], list[str]]] = {}
    now_ms = int(platform.clock.now().timestamp() * 1000)
    for name, instances in attrs.items():
        short = local_name(name)
        if short in PLATFORM_ATTRIBUTES:
            result.not_updated.append((name, f"{short} is the platform's (register and gate)"))
            continue
        field_name = fields.get(short)
        if field_name is None:
            result.not_updated.append((name, f"not a field of {declared.category.name}"))
            continue
        if len(instances) != 1 or "datasetId" in instances[0]:
            raise bad_data(f"attribute {short!r}: a reading has one value (no datasetId)")
        inst = instances[0]
        if inst.get("type") != model.PROPERTY:
            raise bad_data(f"attribute {short!r}: a reading is a Property with a value")
        at = model.parse_time(inst["observedAt"], "observedAt") if "observedAt" in inst else now_ms
        values, units, names = groups.setdefault(at, ({}, {}, []))
        v, converted = sdm.back(declared.type, short, inst["value"])
        values[field_name] = v
        names.append(name)
        code = inst.get("unitCode")
        spec = declared.category.fields[field_name]
        if converted and spec.unit:  # the type's unit, converted back: the category's now
            units[field_name] = spec.unit
        elif isinstance(code, str):
            units[field_name] = CHARTER_UNIT.get(code, code)
    if not groups:
        # Nothing the category declares: the gate's own words for it.
        raise from_reason(
            Reason.INVALID_READING, f"the write names none of {declared.category.name}'s fields"
        )
    order = sorted(groups)
    readings = [
        ReadingIn(
            declared.category.name,
            datetime.fromtimestamp(at / 1000, UTC),
            groups[at][0],
            groups[at][1] or None,
        )
        for at in order
    ]
    outcome = platform.gate.ingest_credentialed(device_id, readings)
    if n.bridge is not None:  # the device reads its write back at once
        n.bridge.flush()
    if outcome.rejection is not None:
        raise from_reason(
            outcome.rejection.reason, f"refused by the gate ({outcome.rejection.stage})"
        )
    refused = {i: reason for i, reason, _detail in outcome.reading_reasons}
    if not outcome.admitted:
        first = refused[min(refused)] if refused else Reason.INVALID_READING.value
        raise from_reason(Reason(first), "the gate admitted none of the readings")
    for i, at in enumerate(order):
        names = groups[at][2]
        if i in refused:
            result.not_updated.extend((a, f"refused by the gate: {refused[i]}") for a in names)
        else:
            result.updated.extend(names)
    return result


def _declared(platform: Platform, n: NgsiLd, device_id: str, target: str) -> Declared:
    """The category whose entity `target` is, for this device (the gate judges the rest)."""
    model.check_id(target)
    parts = target.split(":")
    type_name = parts[2] if len(parts) > 3 and target.startswith("urn:ngsi-ld:") else ""
    rights: Any = n.entities.rights
    found: list[Declared] = rights.register.declared([type_name]) if type_name else []
    if not found:
        raise from_reason(
            Reason.FORBIDDEN,
            "a device credential writes only the device's measurement entities "
            "(urn:ngsi-ld:<Type>:<device>, of a type its project's category declares)",
        )
    if target != entity_id(type_name, device_id):
        raise from_reason(Reason.FORBIDDEN, "a device writes only its own measurement entity")
    device = platform.store.get_device(device_id)

    def rank(d: Declared) -> tuple[bool, bool]:
        mine = device is not None and d.project_id == device.project_id
        return (
            not mine,
            not (mine and device is not None and d.category.name in device.categories),
        )

    return sorted(found, key=rank)[0]
