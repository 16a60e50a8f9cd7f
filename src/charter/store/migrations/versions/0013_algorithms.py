"""The public algorithm register and what each city service last reported.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
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
        "service_reports",
        sa.Column("service", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("service_reports")
    op.drop_table("algorithms")
