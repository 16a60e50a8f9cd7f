"""Consent receipts with the fields of the Kantara Initiative Consent Receipt v1.1.

Every grant and every withdrawal yields one, signed by the platform as a
compact JWS so a resident can show it to anyone who has the platform's public
key. The receipt names the resident only by their pseudonymous id.
"""

from __future__ import annotations

from typing import Any

from charter.domain.clock import iso
from charter.domain.model import Project
from charter.store.rights import ConsentRecord

VERSION = "KI-CR-v1.1.0"
JWS_TYPE = "kantara-cr+jws"


def build(
    *,
    receipt_id: str,
    consent: ConsentRecord,
    action: str,
    at_ms: int,
    projects: list[Project],
    jurisdiction: str,
    policy_url: str,
    method: str,
    public_key_b64: str,
) -> dict[str, Any]:
    if consent.expires_at is not None:
        termination = f"expires {iso(consent.expires_at)}; may be withdrawn at any time"
    else:
        termination = "until withdrawn; may be withdrawn at any time"
    if action == "withdrawn":
        termination = f"withdrawn {iso(at_ms)}"
    controllers = sorted({p.accountable_organisation for p in projects})
    return {
        "version": VERSION,
        "jurisdiction": jurisdiction,
        "consentTimestamp": at_ms // 1000,
        "collectionMethod": method,
        "consentReceiptID": receipt_id,
        "publicKey": public_key_b64,
        "language": "en",
        "piiPrincipalId": consent.resident_id,
        "piiControllers": [
            {"piiController": name, "onBehalf": False, "contact": name, "address": policy_url}
            for name in controllers
        ],
        "policyUrl": policy_url,
        "services": [
            {
                "service": p.name,
                "serviceId": p.id,
                "purposes": [
                    {
                        "purpose": consent.purpose,
                        "purposeCategory": [consent.purpose],
                        "consentType": "EXPLICIT",
                        "piiCategory": [consent.category],
                        "primaryPurpose": True,
                        "termination": termination,
                        "thirdPartyDisclosure": True,
                        "thirdPartyName": "data consumers holding an access grant for this purpose",
                    }
                ],
            }
            for p in projects
        ],
        "sensitive": False,
        "spiCat": [],
        "charter": {"consentId": consent.id, "action": action},
    }
