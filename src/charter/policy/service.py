"""The trust service: change the policy, update firmware, re-judge, explain.

The policy is evaluated at vendor and device registration (in the registry),
on firmware updates and whenever the policy changes (here). Every verdict
change and every suspension commits together with its ledger entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from charter.bus.base import TOPIC_REGISTRY, Bus
from charter.domain.errors import Invalid, NotFound
from charter.domain.model import Actor, Firmware, TrustStatus
from charter.domain.trust import TrustPolicy, canonical
from charter.ledger.log import Ledger
from charter.policy.enforce import enforce_device
from charter.policy.loader import PolicyFileError
from charter.registry.service import Registry
from charter.store.base import Store


@dataclass(frozen=True)
class Verdict:
    kind: str  # vendor | device
    id: str
    passes: bool
    reasons: list[str]
    status: str = ""  # a device's register status
    vendor: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "id": self.id,
            "passes": self.passes,
            "reasons": self.reasons,
            "status": self.status,
            "vendor": self.vendor,
        }


@dataclass
class Reevaluation:
    vendors_changed: list[str] = field(default_factory=list)
    devices_suspended: list[str] = field(default_factory=list)
    devices_changed: list[str] = field(default_factory=list)


class TrustService:
    def __init__(self, store: Store, ledger: Ledger, bus: Bus, registry: Registry) -> None:
        self.store, self.ledger, self.bus, self.registry = store, ledger, bus, registry

    @property
    def policy(self) -> TrustPolicy:
        return self.registry.policy

    def apply_configured(self, actor: Actor, why: str) -> tuple[TrustPolicy, Reevaluation]:
        """Adopt the configured policy (the file, read now) and re-judge: the one door
        `charter policy apply` and `POST /policy/apply` both go through."""
        try:
            policy = self.registry.policies.configured()
        except (OSError, PolicyFileError) as exc:
            raise Invalid(f"the policy file cannot be used: {exc.__class__.__name__}") from None
        return policy, self.set_policy(policy, actor, why)

    def set_policy(self, policy: TrustPolicy, actor: Actor, why: str) -> Reevaluation:
        """Adopt new rules and re-judge every vendor and device at once, on the ledger.

        The rules are stored with their ledger entry, in one transaction: from
        its commit every process judges by them (`PolicySource.current`).
        """
        old = self.registry.policy
        with self.ledger.write() as w:
            w.record(
                "policy.changed",
                actor,
                old=old.fingerprint(),
                new=policy.fingerprint(),
                rules=_rules(policy),
                why=why,
            )
            w.tx.put_trust_policy(policy.model_dump_json(), policy.fingerprint(), w.now_ms)
        return self.reevaluate(actor, why)

    def reevaluate(self, actor: Actor, why: str) -> Reevaluation:
        out = Reevaluation()
        policy = self.policy
        devices = self.store.list_devices()
        with self.ledger.write() as w:
            vendors = {}
            for vendor in self.store.list_vendors():
                trust, reasons = policy.evaluate(vendor)
                if trust is not vendor.trust or reasons != vendor.trust_reasons:
                    vendor = vendor.model_copy(update={"trust": trust, "trust_reasons": reasons})
                    w.tx.put_vendor(vendor, w.now_ms)
                    w.record(
                        "vendor.trust",
                        actor,
                        subject=vendor.id,
                        trust=trust.value,
                        reasons=reasons,
                        why=why,
                    )
                    out.vendors_changed.append(vendor.id)
                vendors[vendor.id] = vendor
            for d in devices:
                judged = enforce_device(w, policy, d, vendors.get(d.vendor_id), actor, why)
                if judged is not d:
                    out.devices_changed.append(d.id)
                    if judged.status is not d.status:
                        out.devices_suspended.append(d.id)
        self.bus.publish(TOPIC_REGISTRY, "policy")
        return out

    def update_firmware(self, device_id: str, firmware: Firmware, actor: Actor, why: str) -> str:
        """Record a firmware update with its SBOM and judge the device at once."""
        device = self.store.get_device(device_id)
        if device is None:
            raise NotFound(device_id)
        vendor = self.store.get_vendor(device.vendor_id)
        updated = device.model_copy(update={"firmware": firmware})
        with self.ledger.write() as w:
            w.tx.put_device(updated, w.now_ms)
            w.record(
                "device.firmware",
                actor,
                subject=device_id,
                version=firmware.version,
                components=len(firmware.components),
                why=why,
            )
            judged = enforce_device(w, self.policy, updated, vendor, actor, why)
        self.bus.publish(TOPIC_REGISTRY, device_id)
        return judged.status.value

    def check(self) -> list[Verdict]:
        """For each vendor and device: does it pass the policy as it stands now, and why not."""
        policy = self.policy
        out: list[Verdict] = []
        vendors = {v.id: v for v in self.store.list_vendors()}
        for v in vendors.values():
            trust, reasons = policy.evaluate(v)
            out.append(Verdict("vendor", v.id, trust is TrustStatus.TRUSTED, reasons))
        for d in self.store.list_devices():
            reasons = policy.evaluate_device(d, vendors.get(d.vendor_id))
            status, vendor = d.status.value, d.vendor_id
            out.append(Verdict("device", d.id, not reasons, reasons, status, vendor))
        return out


def _rules(policy: TrustPolicy) -> dict[str, object]:
    doc = canonical(policy.model_dump())
    assert isinstance(doc, dict)
    return doc
