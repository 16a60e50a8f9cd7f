"""Counts of anonymous sources at a door (alert subscriptions), per window: a keyed
hash of the client address and a number, linked to nothing else.

Revision ID: 0018_door_counts
Revises: 0017_ngsild_values
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_door_counts"
down_revision = "0017_ngsild_values"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "door_counts",
        sa.Column("door", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("door_counts")
