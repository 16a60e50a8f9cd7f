"""The register's version and the adopted trust policy: one truth for every process.

`register_version` is bumped by every transaction that changes vendors,
projects, devices or device keys; each gate reads it once per batch and
reloads its device directory when it moved. `trust_policy` holds the policy
last applied, so every process (server, workers, CLI) judges by the same rules.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    version = op.create_table(
        "register_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    # The one row exists from the start, so concurrent first changes only update it.
    op.bulk_insert(version, [{"id": 1, "version": 0}])
    op.create_table(
        "trust_policy",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("rules", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("adopted_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("trust_policy")
    op.drop_table("register_version")
