"""The city's vendor trust policy, as data: a vendor or device passes or fails with reasons.

The rules are declarative (see `charter.policy.loader` for the file format):
allow- or deny-lists of jurisdictions, required certifications, a required
data-governance attestation (where data may flow, no compellability by a state
security organ, no vendor remote access to raw data) and, per firmware, no SBOM
component on the city's list of known-bad versions.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict, Field

from charter.domain.model import Device, SbomComponent, TrustStatus, Vendor


class KnownBad(BaseModel):
    """A component version the city refuses: by name (and versions) or by exact package URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    versions: frozenset[str] | None = None  # None: every version
    purl: str | None = None
    why: str = ""

    def matches(self, c: SbomComponent) -> bool:
        if self.purl is not None and c.purl is not None and c.purl == self.purl:
            return True
        if self.name is None or c.name.lower() != self.name.lower():
            return False
        return self.versions is None or c.version in self.versions


class TrustPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_jurisdictions: frozenset[str] | None = None  # None: any not denied
    denied_jurisdictions: frozenset[str] = frozenset()
    required_certifications: frozenset[str] = frozenset({"ISO/IEC 27001"})
    forbid_remote_raw_access: bool = True
    require_attestation: bool = False
    allowed_data_flows: frozenset[str] | None = None  # None: anywhere
    forbid_state_compulsion: bool = False
    require_sbom: bool = False
    known_bad: tuple[KnownBad, ...] = Field(default=())

    def evaluate(self, vendor: Vendor) -> tuple[TrustStatus, list[str]]:
        """Why the vendor fails the policy; an empty list means it passes."""
        reasons: list[str] = []
        for cert in sorted(self.required_certifications - set(vendor.certifications)):
            reasons.append(f"missing certification {cert}")
        if vendor.jurisdiction in self.denied_jurisdictions:
            reasons.append(f"jurisdiction {vendor.jurisdiction} is on the city's deny-list")
        allowed = self.allowed_jurisdictions
        if allowed is not None and vendor.jurisdiction not in allowed:
            reasons.append(f"jurisdiction {vendor.jurisdiction} is not on the city's allow-list")
        att = vendor.attestation
        remote = vendor.remote_raw_access or (att is not None and att.remote_raw_access)
        if self.forbid_remote_raw_access and remote:
            reasons.append("vendor keeps remote access to raw data")
        if att is None:
            if self.require_attestation:
                reasons.append("no data-governance attestation")
        else:
            flows = self.allowed_data_flows
            if flows is not None:
                for place in sorted(set(att.data_flows) - flows):
                    reasons.append(f"data may flow to {place}, outside the allowed places")
            if self.forbid_state_compulsion and att.state_compellable:
                reasons.append("vendor can be compelled to hand data to a state security organ")
        return (TrustStatus.UNTRUSTED if reasons else TrustStatus.TRUSTED), reasons

    def evaluate_device(self, device: Device, vendor: Vendor | None) -> list[str]:
        """Why the device fails: its vendor's failure, or its firmware's SBOM."""
        reasons: list[str] = []
        if vendor is None:
            reasons.append(f"vendor {device.vendor_id} is not on the register")
        else:
            status, why = self.evaluate(vendor)
            if status is TrustStatus.UNTRUSTED:
                reasons.extend(f"vendor: {r}" for r in why)
        fw = device.firmware
        if fw is None:
            if self.require_sbom:
                reasons.append("no SBOM for the device's firmware")
            return reasons
        for c in fw.components:
            for bad in self.known_bad:
                if bad.matches(c):
                    label = f"{c.name} {c.version}".strip()
                    note = f" ({bad.why})" if bad.why else ""
                    reasons.append(
                        f"firmware {fw.version} contains known-bad component {label}{note}"
                    )
                    break
        return reasons

    def fingerprint(self) -> str:
        """A short hash of the rules, for the ledger."""
        doc = json.dumps(canonical(self.model_dump()), sort_keys=True)
        return hashlib.sha256(doc.encode()).hexdigest()[:16]


def canonical(value: object) -> object:
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(str(v) for v in value)
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value
