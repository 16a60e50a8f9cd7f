"""The NGSI-LD tables (charter.ngsild): entities, their queryable attribute
values, types and tenants, the temporal history of attribute instances,
subscriptions and stored @contexts.

Defined on the one `metadata` of `charter.store.schema`, which imports this
module so that migrations and `metadata.create_all` see these tables; stores
reach them as `schema.<table>` like every other.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from charter.store.schema_meta import metadata

# NGSI-LD (charter.ngsild): entities in their expanded form, one row each per
# tenant ("" is the default tenant), the types of each (an entity may have
# several), the tenants that exist, and every attribute instance ever written
# (the temporal history, kept as long as the entity's category allows).
ngsild_entities = Table(
    "ngsild_entities",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("id", String(512), primary_key=True),
    Column("type", String(512), nullable=False),  # the first expanded type
    Column("doc", Text, nullable=False),  # JSON: {"type": [...], "scope": ..., "attrs": {...}}
    Column("created_at", BigInteger, nullable=False),
    Column("modified_at", BigInteger, nullable=False),
    # Rights: the project and data category the entity belongs to, the resident
    # (pseudonymous id) it is about, and when retention removes it (ms); null: none.
    Column("project_id", String(200), nullable=True),
    Column("category", String(200), nullable=True),
    Column("subject", String(200), nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Index("ngsild_entities_by_type", "tenant", "type"),
)

# The queryable value of each attribute of each entity (charter.ngsild.search): `q`
# terms are answered from here by index probes instead of parsing every entity's JSON.
# `simple` = 1: the attribute has one instance, a Property whose value is this number
# (`num`) or this string (`text`); 0: anything else (the exact evaluation decides).
# Queries probe it by its key from each candidate entity (no secondary index to keep up).
ngsild_attr_values = Table(
    "ngsild_attr_values",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("entity_id", String(512), primary_key=True),
    Column("attr", String(512), primary_key=True),  # expanded attribute name
    Column("simple", Integer, nullable=False),
    Column("num", Float, nullable=True),
    Column("text", String(256), nullable=True),
    sqlite_with_rowid=False,  # the key is the row: a probe by (entity, attr) reads one page
)

ngsild_entity_types = Table(
    "ngsild_entity_types",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("type", String(512), primary_key=True),
    Column("entity_id", String(512), primary_key=True),
)

ngsild_tenants = Table(
    "ngsild_tenants",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

ngsild_attr_instances = Table(
    "ngsild_attr_instances",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("tenant", String(100), nullable=False),
    Column("entity_id", String(512), nullable=False),
    Column("attr", String(512), nullable=False),  # expanded attribute name
    Column("dataset_id", String(512), nullable=False),  # "" for the default instance
    Column("instance_id", String(100), nullable=False, unique=True),
    Column("observed_at", BigInteger, nullable=True),  # ms; null: not observed
    Column("recorded_at", BigInteger, nullable=False),  # ms: when Charter stored it
    Column("value", Text, nullable=False),  # JSON: the instance as stored (expanded names)
    Column("deleted", Integer, nullable=False, server_default="0"),
    Column("expires_at", BigInteger, nullable=True),
    Index("ngsild_instances_by_attr", "tenant", "entity_id", "attr", "recorded_at"),
)

# NGSI-LD subscriptions (charter.ngsild.subscriptions): the subscription as its
# owner sent it (compacted, with its @context), the names it watches expanded,
# who owns it and for which purpose, and its delivery counters.
ngsild_subscriptions = Table(
    "ngsild_subscriptions",
    metadata,
    Column("tenant", String(100), primary_key=True),
    Column("id", String(512), primary_key=True),
    Column("doc", Text, nullable=False),  # JSON: the subscription, compacted
    Column("expanded", Text, nullable=False),  # JSON: types, attributes, q's names, expanded
    Column("owner", Text, nullable=False),  # JSON: the caller who created it (role, subject)
    Column("purpose", String(200), nullable=True),
    Column("is_active", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=True),  # ms
    Column("throttling_s", Float, nullable=True),
    Column("time_interval_s", Float, nullable=True),
    Column("times_sent", BigInteger, nullable=False, server_default="0"),
    Column("times_failed", BigInteger, nullable=False, server_default="0"),
    Column("last_notification", BigInteger, nullable=True),  # ms
    Column("last_success", BigInteger, nullable=True),
    Column("last_failure", BigInteger, nullable=True),
    Column("ended", String(200), nullable=True),  # why it stopped (grant or consent ended)
    Column("created_at", BigInteger, nullable=False),
    Column("modified_at", BigInteger, nullable=False),
)

# NGSI-LD @contexts clients stored on Charter (POST /ngsi-ld/v1/jsonldContexts),
# served to every process from here.
ngsild_contexts = Table(
    "ngsild_contexts",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("body", Text, nullable=False),  # JSON: {"@context": ...}
    Column("kind", String(20), nullable=False),  # Hosted
    Column("created_at", BigInteger, nullable=False),
    Column("hits", BigInteger, nullable=False, server_default="0"),
    Column("last_usage", BigInteger, nullable=True),
)
