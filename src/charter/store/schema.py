"""The schema, defined once. Migrations create it; stores query it.

Times are integers: milliseconds since the Unix epoch, UTC. Registry records
keep their full validated document as JSON beside the columns that are queried.

This module is the schema's one entry point: it defines the core tables
(register, readings and decisions, ledger, tokens, consultation, keys, the
two-person rule, city services, hazard alerts, door counts, sensor flags) and
re-exports the tables of its area modules, `schema_rights` (residents' rights)
and `schema_ngsild` (NGSI-LD), so that stores keep writing `schema.<table>`
and `metadata` (one object, from `schema_meta`) holds every table whenever
this module is imported — as Alembic's env.py and `metadata.create_all` do.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from charter.store.schema_meta import metadata
from charter.store.schema_ngsild import (
    ngsild_attr_instances,
    ngsild_attr_values,
    ngsild_contexts,
    ngsild_entities,
    ngsild_entity_types,
    ngsild_subscriptions,
    ngsild_tenants,
)
from charter.store.schema_rights import (
    access_log,
    access_requests,
    bulk_readers,
    bulk_reads,
    consent_receipts,
    consents,
    identifier_links,
    residents,
    retention_runs,
    rights_version,
)

vendors = Table(
    "vendors",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("trust", String(16), nullable=False),
    Column("doc", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("doc", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("vendor_id", String(200), nullable=False, index=True),
    Column("project_id", String(200), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("last_seq", BigInteger, nullable=False, server_default="-1"),
    Column("doc", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

readings = Table(
    "readings",
    metadata,
    # 64-bit on PostgreSQL (where the table is partitioned by observed_at, see
    # migration 0006); SQLite's INTEGER PRIMARY KEY is already 64-bit.
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("device_id", String(200), nullable=False),
    Column("project_id", String(200), nullable=False),
    Column("category", String(64), nullable=False),
    Column("observed_at", BigInteger, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("body", Text, nullable=False),
    # The resident a personal reading is about (pseudonymous id); its body is
    # then encrypted with that resident's key. Empty for non-personal readings.
    Column("subject", String(200), nullable=True),
    # One index only: every extra index on this table costs ingest throughput.
    # Queries by project go through the project's devices (see the stores).
    Index("readings_by_device", "device_id", "observed_at"),
)
# Subject access and erasure find a resident's readings (see charter.rights);
# only personal readings have a subject, so only they are indexed (0007).
Index(
    "readings_by_subject",
    readings.c.subject,
    postgresql_where=readings.c.subject.isnot(None),
    sqlite_where=readings.c.subject.isnot(None),
)

# Rejected readings that are certainly not personal, minimised (gate/hold.py) so an
# operator can replay them; purged by the retention job (0009).
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", BigInteger, nullable=False),
    Column("device_id", String(200), nullable=True, index=True),
    Column("seq", BigInteger, nullable=True),
    Column("kind", String(16), nullable=False),  # envelope | reading
    Column("stage", String(16), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    Column("status", String(16), nullable=False, server_default="held"),
    Column("payload", LargeBinary, nullable=False),
    # received_at + the shortest retention its project declares (0009)
    Column("expires_at", BigInteger, nullable=True),
    Index("quarantine_by_expiry", "expires_at"),
)

# The digest of decisions made on authenticated envelopes before revision 0009,
# which did not record one: such a decision matches its (device, seq) alone.
LEGACY_DIGEST = b""

# Every rejection, counted, without payload: what is left of a dropped reading.
decisions = Table(
    "decisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("device_id", String(200), nullable=True),
    Column("seq", BigInteger, nullable=True),
    Column("stage", String(16), nullable=False),
    Column("reason", String(32), nullable=False, index=True),
    Column("count", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),  # quarantined | dropped
    # device_id and seq are set only if the device's own key signed the envelope;
    # a stranger's claim is kept in claimed_device (0009), keyed to nothing.
    Column("claimed_device", String(200), nullable=True),
    # SHA-256 of the signed envelope: set when the decision settles the envelope
    # (not for a rate-limited one, which is sent again); b"" for decisions made
    # before 0009 on authenticated envelopes.
    Column("digest", LargeBinary, nullable=True),
    # Was this envelope decided? (redelivered copies and stragglers ask; 0008)
    Index("decisions_by_envelope", "device_id", "seq"),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("data", LargeBinary, nullable=False),
)

# Hashes of the perfect subtrees of the Merkle tree: (level, index) covers
# leaves [index * 2**level, (index + 1) * 2**level). Level 0 holds leaf hashes.
ledger_nodes = Table(
    "ledger_nodes",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
)

ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("at", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("note", Text, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked", Integer, nullable=False, server_default="0"),
    # Whom the token speaks for beyond its role: a resident's pseudonymous id,
    # a data consumer's id. Empty for staff roles.
    Column("subject", String(200), nullable=True),
)

# Public exhibitions of projects (initial) and of amendments to live projects.
consultations = Table(
    "consultations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", String(200), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("opened_at", BigInteger, nullable=False),
    Column("closes_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("proposal", Text, nullable=False),
    Column("changes", Text, nullable=False, server_default=""),
    Column("decided_at", BigInteger, nullable=True),
    Column("why", Text, nullable=False, server_default=""),
)

# Residents' comments: public text and stance, a keyed hash of the source (never the address).
comments = Table(
    "comments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consultation_id", Integer, nullable=False, index=True),
    Column("at", BigInteger, nullable=False),
    Column("stance", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("theme_id", Integer, nullable=True),
    Column("source", String(64), nullable=False),
    Index("comments_by_source", "source", "at"),
)

# Names and contact details, kept apart from the comments and never published.
comment_contacts = Table(
    "comment_contacts",
    metadata,
    Column("comment_id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=True),
    Column("contact", String(200), nullable=True),
)

# Staff group comments into themes and publish a response per theme.
themes = Table(
    "themes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("consultation_id", Integer, nullable=False, index=True),
    Column("created_at", BigInteger, nullable=False),
    Column("title", String(200), nullable=False),
    Column("summary", Text, nullable=False),
    Column("response", Text, nullable=True),
    Column("responded_at", BigInteger, nullable=True),
)


# A device's public keys over time (issue 5): rotation keeps the old key valid
# until `not_after`; revocation ends a key at once. A device with no rows here
# is judged by the enrolment key in its register document.
device_keys = Table(
    "device_keys",
    metadata,
    Column("device_id", String(200), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("not_before", BigInteger, nullable=False),
    Column("not_after", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)

# The embedded token issuer's signing keys (EdDSA JWTs); `kid` names the key.
issuer_keys = Table(
    "issuer_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("private_pem", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

# Two-person rule: an action proposed by one person, approved by another.
pending_actions = Table(
    "pending_actions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("proposed_by", String(200), nullable=False),
    Column("proposed_role", String(32), nullable=False),
    Column("proposed_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", BigInteger, nullable=True),
)

# City services switched off (or on again) by the two-person rule; a service not here runs.
service_states = Table(
    "service_states",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("status", String(16), nullable=False),  # disabled | enabled
    Column("changed_at", BigInteger, nullable=False),
)


# One row: bumped by every transaction that changes the register (vendors,
# projects, devices, device keys), whichever process makes it; each gate reads
# it once per batch and reloads its device directory when it moved (see
# charter.gate.directory).
register_version = Table(
    "register_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

# One row: the trust policy the city adopted last (`charter policy apply`, POST
# /policy/apply), which every process judges vendors and devices by. Absent
# until a policy is first applied: the configured one is used meanwhile.
trust_policy = Table(
    "trust_policy",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("rules", Text, nullable=False),  # JSON, as TrustPolicy.model_dump_json()
    Column("fingerprint", String(64), nullable=False),
    Column("adopted_at", BigInteger, nullable=False),
)

# The public algorithm register: one entry per city service (domain/algorithm.py).
algorithms = Table(
    "algorithms",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("project_id", String(200), nullable=False, index=True),
    Column("doc", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

# What each running service last reported (services/host.py), for `charter
# services list` in any process: its state and its actuators' states.
service_reports = Table(
    "service_reports",
    metadata,
    Column("service", String(64), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("detail", Text, nullable=False),  # JSON: {"actuators": {id: state}, "why": …}
    Column("updated_at", BigInteger, nullable=False),
)

# Each project's published hazard warning plan (services/hazard.py): its zones
# and thresholds, the same document as its `hazard.plan.published` ledger entry.
hazard_plans = Table(
    "hazard_plans",
    metadata,
    Column("project_id", String(200), primary_key=True),
    Column("doc", Text, nullable=False),  # JSON, as HazardPlan.model_dump_json()
    Column("published_at", BigInteger, nullable=False),
)

# Residents' opt-ins to a zone's alerts: no identity, no location; the id the
# resident keeps is stored only as its SHA-256. Deleted on withdrawal.
alert_subscriptions = Table(
    "alert_subscriptions",
    metadata,
    Column("id_sha256", String(64), primary_key=True),
    Column("project_id", String(200), nullable=False),
    Column("zone", String(64), nullable=False),
    Column("channel", Text, nullable=False),  # a webhook URL, or "mqtt" (the zone's topic)
    Column("created_at", BigInteger, nullable=False),
    Index("ix_alert_subscriptions_zone", "project_id", "zone"),
)

# How often an anonymous source (a keyed hash of a client address, never the
# address) came through a door in a window: counts only, linked to nothing else.
door_counts = Table(
    "door_counts",
    metadata,
    Column("door", String(32), primary_key=True),
    Column("source", String(64), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("n", Integer, nullable=False),
)

# Sensors a service flagged (stuck, out of range, jumping) and the operator's release.
sensor_flags = Table(
    "sensor_flags",
    metadata,
    Column("device_id", String(200), primary_key=True),
    Column("service", String(64), nullable=False),
    Column("why", String(32), nullable=False),
    Column("flagged_at", BigInteger, nullable=False),
    Column("released_at", BigInteger, nullable=True),
)

__all__ = [
    "LEGACY_DIGEST",
    "access_log",
    "access_requests",
    "alert_subscriptions",
    "algorithms",
    "bulk_readers",
    "bulk_reads",
    "comment_contacts",
    "comments",
    "consent_receipts",
    "consents",
    "consultations",
    "decisions",
    "device_keys",
    "devices",
    "door_counts",
    "hazard_plans",
    "identifier_links",
    "issuer_keys",
    "ledger_checkpoints",
    "ledger_entries",
    "ledger_nodes",
    "metadata",
    "ngsild_attr_instances",
    "ngsild_attr_values",
    "ngsild_contexts",
    "ngsild_entities",
    "ngsild_entity_types",
    "ngsild_subscriptions",
    "ngsild_tenants",
    "pending_actions",
    "projects",
    "quarantine",
    "readings",
    "register_version",
    "residents",
    "retention_runs",
    "rights_version",
    "sensor_flags",
    "service_reports",
    "service_states",
    "themes",
    "tokens",
    "trust_policy",
    "vendors",
]
