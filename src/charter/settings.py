"""Settings: defaults, then an optional charter.toml, then CHARTER_* environment variables.

Read once, through one object. The embedded default needs no configuration.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, get_origin

from pydantic import BaseModel, ConfigDict, Field

from charter.domain.principles import DEFAULT_PRINCIPLES, DEFAULT_PROHIBITED

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
    ledger_witnesses: list[str] = Field(
        [],
        description="Verifier keys (cosignature/v1) of the witnesses whose cosignatures "
        "of checkpoints the ledger keeps and `charter ledger verify` checks.",
    )
    required_certifications: list[str] = Field(
        ["ISO/IEC 27001"], description="Certifications every vendor must hold."
    )
    denied_jurisdictions: list[str] = Field(
        [], description="Jurisdictions whose vendors fail the trust policy."
    )
    consultation_days: int = Field(
        60, ge=1, description="Shortest public consultation before a council may decide."
    )
    principles: list[str] = Field(
        DEFAULT_PRINCIPLES,
        description="The city's guiding principles, each `id: title`; every project "
        "states how it meets each one.",
    )
    prohibited_uses: list[str] = Field(
        DEFAULT_PROHIBITED,
        description="Technologies and purposes no project or device may use: known ids "
        "or words to look for.",
    )
    comment_max_chars: int = Field(4000, ge=1, description="Longest comment accepted.")
    comments_per_hour: int = Field(
        10, ge=1, description="Most comments one source may send in an hour."
    )

    # NGSI-LD subscriptions (charter.ngsild.subscriptions) ---------------------
    ngsild_notify_hosts: list[str] = Field(
        [],
        description="Hosts (`host` or `host:port`) NGSI-LD subscriptions may send HTTP "
        "notifications to; any other endpoint is refused (400). MQTT notifications go only "
        "through mqtt_url's broker.",
    )
    ngsild_notify_timeout_s: float = Field(
        3.0, gt=0, le=30, description="Time allowed to deliver one NGSI-LD HTTP notification."
    )

    # security (issue 5) ------------------------------------------------------
    trust_policy_file: Path | None = Field(
        None,
        description="TOML or JSON file with the trust policy's rules; unset: the two "
        "settings above.",
    )
    device_key_overlap_s: int = Field(
        86_400, description="How long a rotated-out device key still verifies."
    )
    device_rate_per_s: float = Field(20.0, description="Envelopes a device may send per second.")
    device_burst: int = Field(100, description="Envelopes a device may send in one burst.")
    token_rate_per_s: float = Field(50.0, description="API requests a token may make per second.")
    token_burst: int = Field(200, description="API requests a token may make in one burst.")
    token_ttl_s: int = Field(30 * 86_400, description="Lifetime of an embedded-issuer token.")
    auth_issuer: str = Field(
        "https://charter.example.city/auth", description="Issuer (iss) of embedded tokens."
    )
    auth_audience: str = Field(
        "charter", description="Audience (aud) a token must name: this city's tenant."
    )
    oidc_issuer: str | None = Field(
        None, description="An external OpenID Connect provider's issuer, e.g. Keycloak."
    )
    oidc_jwks_url: str | None = Field(None, description="Where the external provider's JWKS is.")
    oidc_role_claim: str = Field("roles", description="Claim of an external token with roles.")
    bulk_read_threshold: int = Field(
        10_000,
        description="Personal records one caller may read per window without a second "
        "person's approval.",
    )
    bulk_read_window_s: int = Field(3600, description="Window of the bulk-read threshold.")
    approval_ttl_s: int = Field(86_400, description="How long a two-person action may wait.")
    max_request_bytes: int = Field(
        256 * 1024, description="Largest request body of an API call other than /ingest."
    )
    command_ttl_s: int = Field(30, description="How long a signed actuator command is valid.")
    http_max_connections: int = Field(
        1000,
        description="Connections `charter serve` holds at once (kept below the open-file "
        "limit); past it the oldest idle one is closed.",
    )
    http_header_timeout_s: float = Field(
        10.0, description="Time a client has to send a whole request head before it is cut off."
    )
    http_body_timeout_s: float = Field(
        30.0, description="Time a client has to send a whole request body (408 after it)."
    )
    http_keep_alive_s: int = Field(
        5, description="How long an idle kept-alive connection is held between requests."
    )
    max_unauthenticated_bytes: int = Field(
        64 * 1024,
        description="How much of an /ingest body is read before the device it names must be "
        "a registered, active device.",
    )
    service_heartbeat_s: float = Field(
        1.0,
        gt=0,
        description="How often each running service sends its actuators a signed heartbeat.",
    )
    alert_webhook_hosts: list[str] = Field(
        [],
        description="Hosts residents' alert webhooks may be on (none: webhooks are refused, "
        "alerts reach residents by their zone's MQTT topic).",
    )
    alert_webhook_timeout_s: float = Field(
        2.0,
        gt=0,
        le=30,
        description="How long one alert webhook POST may take before it counts as failed.",
    )
    alert_topic_root: str = Field(
        "charter/alerts",
        pattern=r"^[A-Za-z0-9_./-]+$",
        description="MQTT topic root of the hazard alerts: each zone's on `<root>/<zone>`, "
        "on mqtt_url's broker.",
    )
    alert_subscriptions_per_hour: int = Field(
        20,
        ge=1,
        description="How many alert subscriptions one client address may make in an hour "
        "(counted by a keyed hash of the address, never the address).",
    )
    serve_services: bool = Field(
        False,
        description="`charter serve` also runs the service host in its process (as --services).",
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
    quarantine_retention_days: int = Field(
        30,
        ge=1,
        description="Longest a rejected reading waits in quarantine; shorter if its "
        "project declares a shorter retention for its category.",
    )
    pseudonym_grace_days: int = Field(
        30, description="Days a replaced pseudonymisation key still links identifiers."
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
    worker_small_batch: int = Field(
        16,
        description="Most envelopes a gate worker takes while the stream has no backlog"
        " (bounds publish → commit latency).",
    )
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

    ngsild_context_hosts: list[str] = Field(
        [],
        description="Hosts NGSI-LD @context documents may be fetched from; the core and "
        "Smart Data Models contexts are served from the local cache, any other is refused "
        "(503 LdContextNotAvailable) unless its host is listed.",
    )
    ngsild_context_timeout_s: float = Field(
        3.0, description="Time allowed to fetch the remote @contexts of one NGSI-LD request."
    )
    ngsild_context_max_bytes: int = Field(
        1024 * 1024, description="Largest remote @context document fetched."
    )
    ngsild_readings: bool = Field(
        True,
        description="Publish admitted readings as NGSI-LD entities of the types their "
        "categories declare (charter.ngsild.bridge), once the NGSI-LD interface is in use.",
    )
    ngsild_max_limit: int = Field(
        1000, description="Largest NGSI-LD page (limit); beyond it: 403 TooManyResults."
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
