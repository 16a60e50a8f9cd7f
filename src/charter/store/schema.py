"""The schema, defined once. Migrations create it; stores query it.

Times are integers: milliseconds since the Unix epoch, UTC. Registry records
keep their full validated document as JSON beside the columns that are queried.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

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
    # One index only: every extra index on this table costs ingest throughput.
    # Queries by project go through the project's devices (see the stores).
    Index("readings_by_device", "device_id", "observed_at"),
)

# Rejected readings that are not personal, kept whole so an operator can replay them.
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
)

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
