"""Apply the trust policy to devices inside a ledger write.

A device that no longer passes is suspended at once and the suspension is on
the ledger with the reason VENDOR_UNTRUSTED; the gate refuses its next
envelope. A device that passes again keeps its suspension until an operator
lifts it: trust is regained by a person's decision, not silently.
"""

from __future__ import annotations

from charter.domain.model import Actor, Device, DeviceStatus, Vendor
from charter.domain.reasons import Reason
from charter.domain.trust import TrustPolicy
from charter.ledger.log import LedgerTx


def enforce_device(
    w: LedgerTx, policy: TrustPolicy, device: Device, vendor: Vendor | None, actor: Actor, why: str
) -> Device:
    """Judge one device; write and record it if its verdict changed. Returns the device."""
    reasons = policy.evaluate_device(device, vendor)
    if reasons == device.trust_reasons:
        return device
    update: dict[str, object] = {"trust_reasons": reasons}
    suspend = bool(reasons) and device.status is DeviceStatus.ACTIVE
    if suspend:
        update["status"] = DeviceStatus.SUSPENDED
    judged = device.model_copy(update=update)
    w.tx.put_device(judged, w.now_ms)
    if suspend:
        w.record(
            "device.status",
            actor,
            subject=device.id,
            old=device.status.value,
            new=DeviceStatus.SUSPENDED.value,
            reason=Reason.VENDOR_UNTRUSTED.value,
            trust_reasons=reasons,
            why=why,
        )
    else:
        w.record(
            "device.trust",
            actor,
            subject=device.id,
            trust="untrusted" if reasons else "trusted",
            trust_reasons=reasons,
            why=why,
        )
    return judged


def enforce_fleet(
    w: LedgerTx,
    policy: TrustPolicy,
    vendor: Vendor,
    devices: list[Device],
    actor: Actor,
    why: str,
) -> list[Device]:
    """Judge every device of one vendor; returns those whose verdict changed."""
    changed = []
    for d in devices:
        if d.vendor_id != vendor.id:
            continue
        judged = enforce_device(w, policy, d, vendor, actor, why)
        if judged is not d:
            changed.append(judged)
    return changed
