"""Settings: defaults, then an optional charter.toml, then CHARTER_* environment variables.

Read once, through one object. The embedded default needs no configuration.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, ConfigDict, Field

ENV_PREFIX = "CHARTER_"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Field(Path("charter-data"), description="Where the database and keys live.")
    database_url: str | None = Field(
        None,
        description="Where data is stored: unset means the SQLite file in data_dir; "
        "postgresql://… selects PostgreSQL.",
    )
    host: str = Field("127.0.0.1", description="Address the API listens on.")
    port: int = Field(8000, description="Port the API listens on.")
    sqlite_synchronous: str = Field(
        "NORMAL",
        description="SQLite synchronous mode: NORMAL survives a process crash, "
        "FULL also a power loss (slower).",
    )
    max_envelope_bytes: int = Field(4 * 1024 * 1024, description="Largest envelope accepted.")
    max_readings: int = Field(10_000, description="Most readings in one envelope.")
    max_envelope_age_s: int = Field(300, description="How old an envelope's sent_at may be.")
    max_clock_skew_s: int = Field(60, description="How far in the future sent_at may be.")
    max_reading_age_s: int = Field(
        7 * 24 * 3600, description="How long before sent_at a reading may have been observed."
    )
    ledger_origin: str = Field(
        "charter.example.city/ledger", description="Origin line of the ledger's checkpoints."
    )
    required_certifications: list[str] = Field(
        ["ISO/IEC 27001"], description="Certifications every vendor must hold."
    )
    denied_jurisdictions: list[str] = Field(
        [], description="Jurisdictions whose vendors fail the trust policy."
    )

    jurisdiction: str = Field(
        "NL", description="Jurisdiction named in consent receipts (ISO 3166 code)."
    )
    privacy_policy_url: str = Field(
        "https://charter.example.city/privacy",
        description="Privacy policy named in consent receipts.",
    )
    pseudonym_key_days: int = Field(
        90, description="Days before the retention job rotates the pseudonymisation key."
    )
    pseudonym_grace_days: int = Field(
        30, description="Days a replaced pseudonymisation key still links identifiers."
    )

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        path = config_file or Path(os.environ.get(f"{ENV_PREFIX}CONFIG", "charter.toml"))
        if path.exists():
            values.update(tomllib.loads(path.read_text()).get("charter", {}))
        for name, field in cls.model_fields.items():
            raw = os.environ.get(ENV_PREFIX + name.upper())
            if raw is not None:
                is_list = get_origin(field.annotation) is list
                values[name] = [x.strip() for x in raw.split(",") if x.strip()] if is_list else raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)

    @property
    def database_path(self) -> Path:
        return self.data_dir / "charter.db"

    @property
    def keystore_path(self) -> Path:
        """Residents' keys, apart from the data (see charter.privacy.keystore)."""
        return self.data_dir / "keys" / "keystore.db"
