"""NGSI-LD entities, their types, tenants and attribute instances (charter.ngsild).

Revision ID: 0015_ngsild
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_ngsild"
down_revision = "0014"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "ngsild_entities",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("id", sa.String(512), primary_key=True),
        sa.Column("type", sa.String(512), nullable=False),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("modified_at", sa.BigInteger, nullable=False),
        sa.Column("project_id", sa.String(200), nullable=True),
        sa.Column("category", sa.String(200), nullable=True),
        sa.Column("subject", sa.String(200), nullable=True),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ngsild_entities_by_type", "ngsild_entities", ["tenant", "type"])
    op.create_table(
        "ngsild_entity_types",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("type", sa.String(512), primary_key=True),
        sa.Column("entity_id", sa.String(512), primary_key=True),
    )
    op.create_table(
        "ngsild_tenants",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ngsild_attr_instances",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(100), nullable=False),
        sa.Column("entity_id", sa.String(512), nullable=False),
        sa.Column("attr", sa.String(512), nullable=False),
        sa.Column("dataset_id", sa.String(512), nullable=False),
        sa.Column("instance_id", sa.String(100), nullable=False, unique=True),
        sa.Column("observed_at", sa.BigInteger, nullable=True),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("deleted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
    )
    op.create_index(
        "ngsild_instances_by_attr",
        "ngsild_attr_instances",
        ["tenant", "entity_id", "attr", "recorded_at"],
    )


def downgrade() -> None:
    op.drop_index("ngsild_instances_by_attr", "ngsild_attr_instances")
    op.drop_table("ngsild_attr_instances")
    op.drop_table("ngsild_tenants")
    op.drop_table("ngsild_entity_types")
    op.drop_index("ngsild_entities_by_type", "ngsild_entities")
    op.drop_table("ngsild_entities")
