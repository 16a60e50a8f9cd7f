"""The residents' rights tables (charter.rights): residents, their identifier
links, consents and receipts, access requests, the access log, retention runs,
the rights version and the bulk-read guard's windows.

Defined on the one `metadata` of `charter.store.schema`, which imports this
module so that migrations and `metadata.create_all` see these tables; stores
reach them as `schema.<table>` like every other.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from charter.store.schema_meta import metadata

residents = Table(
    "residents",
    metadata,
    Column("id", String(200), primary_key=True),  # pseudonymous: urn:ngsi-ld:Person:<random>
    Column("created_at", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # active | erased
    Column("erased_at", BigInteger, nullable=True),
)

# Keyed HMAC digests of identifiers devices see; the raw identifier is never stored.
identifier_links = Table(
    "identifier_links",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("key_version", Integer, nullable=False),
    Column("resident_id", String(200), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

consents = Table(
    "consents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("resident_id", String(200), nullable=False, index=True),
    Column("category", String(64), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("projects", Text, nullable=False),  # JSON list of project ids
    Column("granted_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),
    Column("withdrawn_at", BigInteger, nullable=True),
    Column("method", String(32), nullable=False),
)

consent_receipts = Table(
    "consent_receipts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("resident_id", String(200), nullable=False, index=True),
    Column("consent_id", String(64), nullable=False),
    Column("action", String(16), nullable=False),  # granted | withdrawn
    Column("at", BigInteger, nullable=False),
    Column("jws", Text, nullable=False),
)

access_requests = Table(
    "access_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("consumer", String(200), nullable=False, index=True),
    Column("dataset", String(200), nullable=False),  # a project id
    Column("categories", Text, nullable=False),  # JSON list
    Column("purpose", String(64), nullable=False),
    Column("why", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | granted | rejected | revoked
    Column("requested_at", BigInteger, nullable=False),
    Column("decided_at", BigInteger, nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("constraints", Text, nullable=False, server_default="{}"),
)

# Every read of personal data: who, what, when and why, per resident read.
access_log = Table(
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("resident_id", String(200), nullable=False, index=True),
    Column("consumer", String(200), nullable=False),
    Column("grant_id", String(64), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("category", String(64), nullable=False),
    Column("readings", Integer, nullable=False),
)

retention_runs = Table(
    "retention_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", BigInteger, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("detail", Text, nullable=False),  # JSON: {project: {category: n}}, keys
)

# One row: bumped by every change to links, consents or erasures, and read by
# the gate inside its write transaction (see charter.rights.index).
rights_version = Table(
    "rights_version",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("version", BigInteger, nullable=False),
)

# The bulk-read guard's sliding windows, shared by every process over the store:
# one row per reader (locked while a read is counted) and its recent reads.
bulk_readers = Table(
    "bulk_readers",
    metadata,
    Column("reader", String(300), primary_key=True),
)

bulk_reads = Table(
    "bulk_reads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("reader", String(300), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("records", Integer, nullable=False),
    Index("bulk_reads_by_reader", "reader", "at"),
)
