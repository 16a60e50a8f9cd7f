"""City services switched off by the two-person rule (`disable_service`).

The approved action used to leave only a ledger entry that nothing read; the
state is now a row a service (in any process) can query.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "service_states",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("changed_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_states")
