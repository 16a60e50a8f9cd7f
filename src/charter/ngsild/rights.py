"""Charter's rights behind the NGSI-LD API (the rules, in one place; no route decides them).

- **Measurement entities** (a type some project's category declares, see
  ngsild.register) are written only by the gate: from admitted readings of
  registered devices of live projects (ngsild.bridge), or from a device's signed
  envelope posted to /entityOperations/upsert, which goes through every gate
  stage (ngsild.api.batch). Anyone else is refused with Charter's reason code
  (`NOT_REGISTERED`: the caller is not a registered device).
- **Other entities** (the city's own context: buildings, zones, alerts) are
  written by operators and data consumers; residents, auditors and the public
  read only.
- **Personal data** is never stored in the NGSI-LD tables: the gate keeps it
  pseudonymised and encrypted in the readings. It is read over NGSI-LD only
  with a purpose grant (`X-Charter-Grant`), through `rights.access.Access.read`
  (consent, grant, bulk-read guard, access history, ledger), as everywhere else.
- **Tenants**: NGSILD-Tenant is honoured only for tenants the token is bound to.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from charter.auth import DEVICE_ROLE
from charter.domain.disclosure import Access
from charter.domain.errors import CharterError
from charter.domain.model import Actor
from charter.domain.reasons import Reason
from charter.ngsild.entities import Rights
from charter.ngsild.errors import from_reason
from charter.ngsild.register import Declared, TypeRegister, local_name
from charter.store.ngsild import StoredEntity

if TYPE_CHECKING:
    from charter.bootstrap import Platform

GATE = Actor(name="charter-gate", role="gate")  # the gate's own writes (ngsild.bridge)
WRITERS = frozenset({"operator", "consumer"})
# Types the platform publishes from its own records: the register's devices (ngsild.bridge)
# and the hazard service's signed alerts (ngsild.alerts). Only the platform writes them.
MIRRORED = {
    "Device": "Device entities mirror the public register: change the register",
    "Alert": "Alert entities are the hazard service's alerts: only the platform writes them",
    "WeatherAlert": "WeatherAlert entities are the hazard service's alerts: only the platform "
    "writes them",
}


# Who each DTPR access group is among the token roles (Access.VENDOR: no role reads).
CITY_STAFF = frozenset({"operator", "auditor", "council", GATE.role})
ACCESS_ROLES = {
    Access.RESIDENTS: None,  # everyone: residents and the public
    Access.CITY: CITY_STAFF,
    Access.THIRD_PARTIES: frozenset({"consumer"}),
}


def may_see(actor: Actor, d: Declared) -> bool:
    """May `actor` read the non-personal readings of `d` (its disclosure's `access`)?"""
    disclosure = d.category.disclosure
    if actor.role == GATE.role or disclosure is None:
        return True
    for group in disclosure.access or [Access.CITY]:
        roles = ACCESS_ROLES.get(group, frozenset())
        if roles is None or actor.role in roles:
            return True
    return False


class CharterRights(Rights):
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.register = TypeRegister(platform.store)

    def batch(self) -> AbstractContextManager[None]:
        """The register read once for a whole batch (see TypeRegister.pinned)."""
        return self.register.pinned()

    def check_write(self, actor: Actor, tenant: str, entity: StoredEntity) -> StoredEntity:
        if actor.role == GATE.role:
            return entity
        if actor.role == DEVICE_ROLE:  # its writes go to the gate (ngsild.devices), no other
            raise from_reason(
                Reason.FORBIDDEN,
                "a device writes readings: create its measurement entity, or PATCH or POST "
                "its attributes",
            )
        declared = self.register.declared(entity.types)
        if declared:
            names = ", ".join(sorted({f"{d.category.name} ({d.project_id})" for d in declared}))
            raise from_reason(
                Reason.NOT_REGISTERED,
                f"entities of this type are the readings of {names}: only the gate writes "
                "them, from registered devices' signed readings",
                403,
            )
        for t in entity.types:
            if local_name(t) in MIRRORED:
                raise from_reason(Reason.FORBIDDEN, MIRRORED[local_name(t)])
        if actor.role == "public":
            raise from_reason(Reason.UNAUTHENTICATED, "writing entities needs a bearer token")
        if actor.role not in WRITERS:
            raise from_reason(Reason.FORBIDDEN, f"the {actor.role} role may not write entities")
        return entity

    def check_read(self, actor: Actor, tenant: str, entity: StoredEntity) -> StoredEntity | None:
        if entity.subject is not None:
            return None  # personal: only through a grant (personal_entities)
        if (
            entity.category is not None
            and entity.project_id is not None
            and actor.role not in CITY_STAFF
        ):
            # A measurement entity is read by whom its category's disclosure names
            # (DTPR access): the city's emergency vehicles by city staff only. (One
            # register-version read per such entity shown to a non-staff caller.)
            d = self.register.category(entity.project_id, entity.category)
            if d is not None and not may_see(actor, d):
                return None
        return entity

    def personal(self, types: list[str]) -> list[Declared]:
        """The personal categories among those `types` declare (read only with a grant)."""
        return [d for d in self.register.declared(types) if d.category.personal]

    def personal_entities(
        self, actor: Actor, grant: str | None, declared: list[Declared], limit: int
    ) -> list[StoredEntity]:
        """Personal readings as NGSI-LD entities, read through Access.read (one door)."""
        if not grant:
            raise from_reason(
                Reason.PURPOSE_NOT_GRANTED,
                "personal data is read only with a purpose grant (header X-Charter-Grant)",
            )
        access = self.platform.rights.access
        out: list[StoredEntity] = []
        try:
            consumer = access._consumer(actor)
            req = access.check_grant(grant, consumer)
            for d in declared:
                if d.project_id != req.dataset or d.category.name not in req.categories:
                    continue
                page = access.read(
                    actor, grant, category=d.category.name, purpose=req.purpose, limit=limit
                )
                out.extend(self._entity(d, item) for item in page["readings"])
        except CharterError as exc:
            raise from_reason(exc.reason, exc.detail) from None
        return out[:limit]

    @staticmethod
    def _entity(d: Declared, item: dict[str, Any]) -> StoredEntity:
        from charter.ngsild.bridge import attribute_iri, type_iri

        observed = item["observed_at"]
        attrs: dict[str, list[dict[str, Any]]] = {
            attribute_iri(d.attribute(k)): [
                {"type": "Property", "value": v, "observedAt": observed}
            ]
            for k, v in item["values"].items()
        }
        attrs[attribute_iri("dataSubject")] = [{"type": "Property", "value": item["subject"]}]
        attrs[attribute_iri("refDevice")] = [{"type": "Relationship", "object": item["device"]}]
        entity_id = f"urn:ngsi-ld:{d.type}:{item['subject']}:{item['id']}"
        return StoredEntity("", entity_id, [type_iri(d.type)], attrs, 0, 0)
