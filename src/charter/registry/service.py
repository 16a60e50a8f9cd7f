"""Registering vendors, projects and devices, and changing their status.

Every change is committed together with its ledger entry (who, what, why), and
announced on the bus so the gate sees it at the next envelope.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime

from charter.bus.base import TOPIC_REGISTRY, Bus
from charter.domain.consultation import ConsultationStatus, Verdict
from charter.domain.disclosure_rules import (
    device_capabilities,
    device_problems,
    device_texts,
    prohibited,
)
from charter.domain.errors import Conflict, Invalid, InvalidTransition, NotFound
from charter.domain.model import (
    DEVICE_TRANSITIONS,
    PROJECT_TRANSITIONS,
    Actor,
    Device,
    DeviceStatus,
    Project,
    ProjectStatus,
    Vendor,
)
from charter.domain.reasons import Reason
from charter.domain.trust import TrustPolicy
from charter.ledger.log import Ledger
from charter.policy.enforce import enforce_fleet
from charter.policy.source import PolicySource
from charter.registry.feedback import Feedback
from charter.registry.lifecycle import Lifecycle
from charter.registry.rules import RegisterRules, check_not_backdated, refuse
from charter.registry.services import ServiceSwitch
from charter.store.base import DeviceKey, Store


def key_fingerprint(public_key_b64: str) -> str:
    """Short, public identifier of a device key for the ledger."""
    return hashlib.sha256(public_key_b64.encode()).hexdigest()[:16]


def check_public_key(public_key_b64: str) -> None:
    """A 32-byte Ed25519 public key, base64-encoded, or Invalid."""
    try:
        raw = base64.b64decode(public_key_b64, validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("public_key must be base64") from None
    if len(raw) != 32:
        raise Invalid("public_key must be a 32-byte Ed25519 public key, base64-encoded")


class Registry:
    def __init__(
        self,
        store: Store,
        ledger: Ledger,
        bus: Bus,
        policies: PolicySource,
        *,
        rules: RegisterRules | None = None,
        source_key: bytes = b"",
    ) -> None:
        self.store, self.ledger, self.bus, self.policies = store, ledger, bus, policies
        self.rules = rules or RegisterRules()
        # Consultation and residents' feedback (registry/lifecycle.py, registry/feedback.py).
        self.lifecycle = Lifecycle(store, ledger, self.rules, self._changed)
        self.feedback = Feedback(store, ledger, self.rules, self.lifecycle, source_key)
        # City services switched off by the two-person rule (registry/services.py).
        self.services = ServiceSwitch(store, ledger, self._changed)

    @property
    def policy(self) -> TrustPolicy:
        """The trust policy as adopted in the store: the same in every process."""
        return self.policies.current()

    def _changed(self, subject: str) -> None:
        self.bus.publish(TOPIC_REGISTRY, subject)

    def service_disabled(self, name: str) -> bool:
        """Is this city service switched off (by the two-person rule)? Read from the store."""
        return self.services.disabled(name)

    # vendors ------------------------------------------------------------------
    def register_vendor(self, vendor: Vendor, actor: Actor, why: str = "registered") -> Vendor:
        if self.store.get_vendor(vendor.id) is not None:
            raise Conflict(f"{vendor.id} is already registered")
        return self._put_vendor(vendor, actor, why, "vendor.registered")

    def update_vendor(self, vendor: Vendor, actor: Actor, why: str) -> Vendor:
        if self.store.get_vendor(vendor.id) is None:
            raise NotFound(vendor.id)
        return self._put_vendor(vendor, actor, why, "vendor.updated")

    def _put_vendor(self, vendor: Vendor, actor: Actor, why: str, kind: str) -> Vendor:
        policy = self.policy
        trust, reasons = policy.evaluate(vendor)
        judged = vendor.model_copy(update={"trust": trust, "trust_reasons": reasons})
        devices = self.store.list_devices()
        with self.ledger.write() as w:
            w.tx.put_vendor(judged, w.now_ms)
            w.record(kind, actor, subject=vendor.id, trust=trust.value, reasons=reasons, why=why)
            # Its devices are judged in the same transaction: one that fails is suspended.
            enforce_fleet(w, policy, judged, devices, actor, why)
        self._changed(vendor.id)
        return judged

    # projects -----------------------------------------------------------------
    def create_project(self, project: Project, actor: Actor, why: str = "created") -> Project:
        if self.store.get_project(project.id) is not None:
            raise Conflict(f"{project.id} is already registered")
        self._check_vendors(project)
        self.lifecycle.check(project, complete=False)
        draft = project.model_copy(update={"status": ProjectStatus.DRAFT})
        with self.ledger.write() as w:
            w.tx.put_project(draft, w.now_ms)
            w.record(
                "project.created",
                actor,
                subject=project.id,
                status=draft.status.value,
                categories=[c.name for c in draft.categories],
                why=why,
            )
        self._changed(project.id)
        return draft

    def update_project(self, project: Project, actor: Actor, why: str) -> Project:
        current = self._project(project.id)
        if current.status is not ProjectStatus.DRAFT:
            raise InvalidTransition(
                f"{project.id} is {current.status.value}: only a draft can be edited"
            )
        self._check_vendors(project)
        self.lifecycle.check(project, complete=False)
        updated = project.model_copy(update={"status": current.status})
        with self.ledger.write() as w:
            w.tx.put_project(updated, w.now_ms)
            w.record("project.updated", actor, subject=project.id, why=why)
        self._changed(project.id)
        return updated

    def open_consultation(
        self, project_id: str, actor: Actor, why: str, at: datetime | None = None
    ) -> Project:
        """Public exhibition: needs a complete disclosure and a statement per principle."""
        return self.lifecycle.open(project_id, actor, why, at)

    def decide(
        self,
        project_id: str,
        verdict: Verdict,
        actor: Actor,
        why: str,
        at: datetime | None = None,
    ) -> Project:
        """The council's decision, the one way a project or an amendment is approved.

        Only after the consultation ended and every theme is answered. A rejected
        project goes back to draft; a rejected amendment is dropped.
        """
        return self.lifecycle.decide(project_id, verdict, actor, why, at)

    def amend(
        self, project: Project, actor: Actor, why: str, at: datetime | None = None
    ) -> Project:
        """Change an approved project; material changes go to consultation first."""
        return self.lifecycle.amend(project, actor, why, at)[0]

    def set_project_status(
        self,
        project_id: str,
        status: ProjectStatus,
        actor: Actor,
        why: str,
        at: datetime | None = None,
    ) -> Project:
        if status in (ProjectStatus.APPROVED, ProjectStatus.CONSULTATION):
            raise InvalidTransition(f"use the {status.value} call to make a project {status.value}")
        return self._transition(project_id, status, actor, why, at)

    def _transition(
        self,
        project_id: str,
        status: ProjectStatus,
        actor: Actor,
        why: str,
        at: datetime | None = None,
    ) -> Project:
        current = self._project(project_id)
        if status not in PROJECT_TRANSITIONS[current.status]:
            raise InvalidTransition(
                f"{project_id} cannot go from {current.status.value} to {status.value}"
            )
        changed = current.model_copy(update={"status": status})
        pending = self.lifecycle.open_for(project_id)
        withdraw = pending is not None and status in (ProjectStatus.DRAFT, ProjectStatus.RETIRED)
        with self.ledger.write() as w:
            check_not_backdated(w.now_ms, self.store.project_updated_at(project_id), at)
            if withdraw and pending is not None:
                # Withdrawn from consultation, or retired with an amendment pending.
                w.tx.decide_consultation(
                    pending.id, ConsultationStatus.WITHDRAWN.value, w.now_ms, why
                )
            w.tx.put_project(changed, w.now_ms)
            w.record(
                "project.status",
                actor,
                subject=project_id,
                old=current.status.value,
                new=status.value,
                why=why,
                **({"withdrawn": pending.id} if withdraw and pending is not None else {}),
            )
        self._changed(project_id)
        return changed

    def _check_vendors(self, project: Project) -> None:
        for vendor_id in project.vendor_ids:
            if self.store.get_vendor(vendor_id) is None:
                raise NotFound(vendor_id)

    def _project(self, project_id: str) -> Project:
        project = self.store.get_project(project_id)
        if project is None:
            raise NotFound(project_id)
        return project

    # devices ------------------------------------------------------------------
    def register_device(self, device: Device, actor: Actor, why: str = "enrolled") -> Device:
        if self.store.get_device(device.id) is not None:
            raise Conflict(f"{device.id} is already registered")
        if self.store.get_vendor(device.vendor_id) is None:
            raise NotFound(device.vendor_id)
        project = self._project(device.project_id)
        if device.vendor_id not in project.vendor_ids:
            raise Invalid(f"{device.vendor_id} is not a vendor of {project.id}")
        undeclared = sorted(set(device.categories) - {c.name for c in project.categories})
        if undeclared:
            raise Invalid(f"{project.id} does not declare {', '.join(undeclared)}")
        if project.status is ProjectStatus.RETIRED:
            raise InvalidTransition(f"{project.id} is retired")
        uses = device_capabilities(device, project)
        refuse(Reason.PROHIBITED_USE, prohibited(self.rules.prohibited, device_texts(device), uses))
        today = self.ledger.clock.now().date()
        refuse(Reason.DISCLOSURE_INCOMPLETE, device_problems(device, project, today))
        trust_reasons = self.policy.evaluate_device(device, self.store.get_vendor(device.vendor_id))
        active = device.model_copy(
            update={"status": DeviceStatus.ACTIVE, "trust_reasons": trust_reasons}
        )
        with self.ledger.write() as w:
            w.tx.put_device(active, w.now_ms)
            w.record(
                "device.registered",
                actor,
                subject=device.id,
                vendor=device.vendor_id,
                project=device.project_id,
                key=key_fingerprint(device.public_key),
                trust="untrusted" if trust_reasons else "trusted",
                trust_reasons=trust_reasons,
                why=why,
            )
        self._changed(device.id)
        return active

    def set_device_status(
        self, device_id: str, status: DeviceStatus, actor: Actor, why: str
    ) -> Device:
        current = self.store.get_device(device_id)
        if current is None:
            raise NotFound(device_id)
        if status not in DEVICE_TRANSITIONS[current.status]:
            raise InvalidTransition(
                f"{device_id} cannot go from {current.status.value} to {status.value}"
            )
        changed = current.model_copy(update={"status": status})
        with self.ledger.write() as w:
            w.tx.put_device(changed, w.now_ms)
            w.record(
                "device.status",
                actor,
                subject=device_id,
                old=current.status.value,
                new=status.value,
                why=why,
            )
        self._changed(device_id)
        return changed

    def reenrol_device(self, device_id: str, public_key_b64: str, actor: Actor, why: str) -> Device:
        """Start a device over: a new key made on the device, and its sequence reset.

        For a device that lost its counter (a reset, a repair) or is locked out by
        a sequence number it cannot go beyond. Every earlier key stops verifying
        at once (it ends now; it is not revoked, so what the device sent before
        and is held in quarantine can still be replayed), so no envelope signed
        before the re-enrolment can be replayed under the new numbering. The
        ledger records the new key, the retired keys and the sequence number
        that was left behind.
        """
        check_public_key(public_key_b64)
        current = self.store.get_device(device_id)
        if current is None:
            raise NotFound(device_id)
        new_id = key_fingerprint(public_key_b64)
        keys = self.store.device_keys(device_id) or [
            DeviceKey(device_id, key_fingerprint(current.public_key), current.public_key, 0)
        ]
        if any(k.key_id == new_id for k in keys):
            raise Conflict("that key was already used by this device")
        with self.ledger.write() as w:
            now = w.now_ms
            retired = []
            for k in keys:
                if k.revoked_at is None and (k.not_after is None or k.not_after > now):
                    w.tx.put_device_key(
                        DeviceKey(k.device_id, k.key_id, k.public_key, k.not_before, now)
                    )
                    retired.append(k.key_id)
            w.tx.put_device_key(DeviceKey(device_id, new_id, public_key_b64, now))
            changed = current.model_copy(update={"public_key": public_key_b64})
            w.tx.put_device(changed, now)
            left_at = w.tx.reset_device_seq(device_id)
            w.record(
                "device.reenrolled",
                actor,
                subject=device_id,
                key=new_id,
                retired=retired,
                seq_was=left_at,
                why=why,
            )
        self._changed(device_id)
        return changed
