"""Index only the personal readings by resident.

Most readings are not about a person (their subject is empty), yet the
resident index held an entry for every one of them: a third of the index work
of every insert, for entries no query reads (subject access and erasure look
up one resident's readings, `subject = …`, which the partial index serves).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("readings_by_subject", table_name="readings")
    op.create_index(
        "readings_by_subject",
        "readings",
        ["subject"],
        postgresql_where=sa.text("subject IS NOT NULL"),
        sqlite_where=sa.text("subject IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("readings_by_subject", table_name="readings")
    op.create_index("readings_by_subject", "readings", ["subject"])
