"""Read the trust policy from a TOML or JSON file.

The file holds the rules at the top level (or under a `[trust]` table):

    allowed_jurisdictions = ["NL", "BE", "DE"]     # omit for "any not denied"
    denied_jurisdictions = ["XX"]
    required_certifications = ["ISO/IEC 27001", "IEC 62443-4-2"]
    forbid_remote_raw_access = true
    require_attestation = true
    allowed_data_flows = ["NL", "EU"]
    forbid_state_compulsion = true
    require_sbom = false

    [[known_bad]]
    name = "openssl"
    versions = ["1.0.1f"]
    why = "Heartbleed"
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from charter.domain.trust import TrustPolicy


class PolicyFileError(ValueError):
    pass


def parse_policy(doc: dict[str, Any]) -> TrustPolicy:
    rules = doc.get("trust", doc)
    try:
        return TrustPolicy.model_validate(rules)
    except ValueError as exc:
        raise PolicyFileError(f"the trust policy is not valid: {exc}") from None


def load_policy(path: Path) -> TrustPolicy:
    text = path.read_text()
    try:
        doc = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyFileError(f"{path} cannot be parsed: {exc}") from None
    if not isinstance(doc, dict):
        raise PolicyFileError(f"{path} must hold a table of rules")
    return parse_policy(doc)
