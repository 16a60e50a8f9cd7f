"""The bulk-read guard's windows in the store, shared by every process.

Before, each API process counted its own callers' personal reads in memory, so
N processes allowed N times the threshold. A row per reader is locked while a
read is counted; its reads in the window are summed from `bulk_reads`.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("bulk_readers", sa.Column("reader", sa.String(300), primary_key=True))
    op.create_table(
        "bulk_reads",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("reader", sa.String(300), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
    )
    op.create_index("bulk_reads_by_reader", "bulk_reads", ["reader", "at"])


def downgrade() -> None:
    op.drop_index("bulk_reads_by_reader", table_name="bulk_reads")
    op.drop_table("bulk_reads")
    op.drop_table("bulk_readers")
