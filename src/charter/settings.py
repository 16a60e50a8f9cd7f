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

    bus_url: str | None = Field(
        None,
        description="The bus: unset means in-process; nats://host:4222 selects NATS "
        "JetStream (comma-separate several servers of a cluster).",
    )
    bus_prefix: str = Field(
        "charter", description="Prefix of every NATS subject and of the ingest stream's name."
    )
    worker_batch: int = Field(256, description="Most envelopes a gate worker takes at once.")
    worker_ack_wait_s: float = Field(
        30.0, description="How long JetStream waits for a worker's ack before redelivering."
    )
    mqtt_url: str = Field(
        "mqtt://127.0.0.1:1883",
        description="The MQTT broker the device gateway uses (mqtts://… for TLS).",
    )
    mqtt_protocol: str = Field("5", description="MQTT protocol version: 5 or 3.1.1.")
    mqtt_client_id: str = Field(
        "charter-gateway", description="The gateway's client id (its persistent session)."
    )
    mqtt_username: str | None = Field(None, description="The gateway's MQTT user name.")
    mqtt_password: str | None = Field(None, description="The gateway's MQTT password.")
    mqtt_tls_ca: Path | None = Field(None, description="CA certificate file for mqtts://.")
    mqtt_tls_cert: Path | None = Field(
        None, description="Client certificate file, for brokers that require one."
    )
    mqtt_tls_key: Path | None = Field(None, description="Client key file for mqtt_tls_cert.")
    mqtt_topic_root: str = Field(
        "charter/v1/devices",
        description="Devices publish on <root>/<device-id>/up and receive commands "
        "on <root>/<device-id>/down.",
    )
    mqtt_share_group: str | None = Field(
        None,
        description="Subscribe as a shared subscription of this group, so several gateways "
        "split the devices' messages.",
    )
    mqtt_session_expiry_s: int = Field(
        3600, description="How long the broker keeps the gateway's session while it is away."
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
