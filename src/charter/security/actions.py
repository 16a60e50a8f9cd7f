"""The city-wide actions Charter itself carries out once two people agreed.

Mass erasure is carried out by the rights service (`SubjectRights.erase_scope`)
and rotating the ledger's signing key by the ledger (`charter.ledger.rotation`);
their handlers are registered in bootstrap. Until a handler is registered, an
approved action stays on the record as approved and nothing else happens.
"""

from __future__ import annotations

from typing import Any

from charter.domain.model import Actor, DeviceStatus
from charter.ledger.log import Ledger
from charter.registry.service import Registry
from charter.security.approvals import ActionKind, Approvals


def install(approvals: Approvals, registry: Registry, ledger: Ledger) -> None:
    def revoke_fleet(params: dict[str, Any], actor: Actor, why: str) -> dict[str, Any]:
        """Revoke every device of one vendor (and only that vendor's)."""
        vendor_id = str(params["vendor_id"])
        revoked = []
        for d in registry.store.list_devices():
            if d.vendor_id == vendor_id and d.status is not DeviceStatus.REVOKED:
                registry.set_device_status(d.id, DeviceStatus.REVOKED, actor, why)
                revoked.append(d.id)
        return {"revoked": revoked}

    def disable_service(params: dict[str, Any], actor: Actor, why: str) -> dict[str, Any]:
        """The service's state in the store says disabled (`Registry.service_disabled`)."""
        return registry.services.set(params["service"], True, actor, why)

    def enable_service(params: dict[str, Any], actor: Actor, why: str) -> dict[str, Any]:
        return registry.services.set(params["service"], False, actor, why)

    approvals.register(ActionKind.REVOKE_VENDOR_FLEET, revoke_fleet)
    approvals.register(ActionKind.DISABLE_SERVICE, disable_service)
    approvals.register(ActionKind.ENABLE_SERVICE, enable_service)
