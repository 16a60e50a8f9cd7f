"""Hazard warning plans, residents' alert subscriptions (zone and channel, never who
or where) and sensors flagged by a service with the operator's release.

Revision ID: 0016_alert_subscriptions
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_alert_subscriptions"
down_revision = "0015_ngsild_subs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hazard_plans",
        sa.Column("project_id", sa.String(200), primary_key=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("published_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alert_subscriptions",
        sa.Column("id_sha256", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(200), nullable=False),
        sa.Column("zone", sa.String(64), nullable=False),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_alert_subscriptions_zone", "alert_subscriptions", ["project_id", "zone"])
    op.create_table(
        "sensor_flags",
        sa.Column("device_id", sa.String(200), primary_key=True),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("why", sa.String(32), nullable=False),
        sa.Column("flagged_at", sa.BigInteger, nullable=False),
        sa.Column("released_at", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sensor_flags")
    op.drop_index("ix_alert_subscriptions_zone", "alert_subscriptions")
    op.drop_table("alert_subscriptions")
    op.drop_table("hazard_plans")
