"""The algorithm register, the services' reported states, ledger entries by kind.

Revision ID: svc_0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "svc_0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "algorithms",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("project_id", sa.String(200), nullable=False, index=True),
        sa.Column("doc", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "service_states",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )

    op.create_index("ledger_entries_by_kind", "ledger_entries", ["kind"])


def downgrade() -> None:
    op.drop_index("ledger_entries_by_kind", table_name="ledger_entries")
    op.drop_table("service_states")
    op.drop_table("algorithms")
