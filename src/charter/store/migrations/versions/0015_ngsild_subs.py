"""NGSI-LD subscriptions and hosted @contexts (charter.ngsild.subscriptions, .discovery).

Revision ID: 0015_ngsild_subs
Revises: 0015_ngsild (the coordinator may re-chain)
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_ngsild_subs"
down_revision = "0015_ngsild"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ngsild_subscriptions",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("id", sa.String(512), primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("expanded", sa.Text, nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(200), nullable=True),
        sa.Column("is_active", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("throttling_s", sa.Float, nullable=True),
        sa.Column("time_interval_s", sa.Float, nullable=True),
        sa.Column("times_sent", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("times_failed", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_notification", sa.BigInteger, nullable=True),
        sa.Column("last_success", sa.BigInteger, nullable=True),
        sa.Column("last_failure", sa.BigInteger, nullable=True),
        sa.Column("ended", sa.String(200), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("modified_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "ngsild_contexts",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("hits", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("last_usage", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("ngsild_contexts")
    op.drop_table("ngsild_subscriptions")
