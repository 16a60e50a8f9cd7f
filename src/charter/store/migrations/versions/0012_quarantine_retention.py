"""Quarantine items expire: the shortest retention their project declares.

The retention job deletes items whose `expires_at` has passed, and every item
older than the `quarantine_retention_days` setting (items kept before this
revision have no `expires_at`: the setting alone bounds them).

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("quarantine", sa.Column("expires_at", sa.BigInteger(), nullable=True))
    op.create_index("quarantine_by_expiry", "quarantine", ["expires_at"])


def downgrade() -> None:
    op.drop_index("quarantine_by_expiry", table_name="quarantine")
    with op.batch_alter_table("quarantine") as batch:
        batch.drop_column("expires_at")
