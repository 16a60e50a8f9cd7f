"""The city's vendor trust policy, as data: a vendor passes or fails with reasons."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from charter.domain.model import TrustStatus, Vendor


class TrustPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    required_certifications: frozenset[str] = frozenset({"ISO/IEC 27001"})
    denied_jurisdictions: frozenset[str] = frozenset()
    forbid_remote_raw_access: bool = True

    def evaluate(self, vendor: Vendor) -> tuple[TrustStatus, list[str]]:
        """Why the vendor fails the policy; an empty list means it passes."""
        reasons: list[str] = []
        for cert in sorted(self.required_certifications - set(vendor.certifications)):
            reasons.append(f"missing certification {cert}")
        if vendor.jurisdiction in self.denied_jurisdictions:
            reasons.append(f"jurisdiction {vendor.jurisdiction} is on the city's deny-list")
        if self.forbid_remote_raw_access and vendor.remote_raw_access:
            reasons.append("vendor keeps remote access to raw data")
        return (TrustStatus.UNTRUSTED if reasons else TrustStatus.TRUSTED), reasons
