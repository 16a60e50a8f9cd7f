"""Residents' rights: residents, identifier links, consents and receipts, access
requests and the access log, retention runs; readings name their resident.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MS = sa.BigInteger


def upgrade() -> None:
    op.add_column("readings", sa.Column("subject", sa.String(200), nullable=True))
    op.create_index("readings_by_subject", "readings", ["subject"])
    op.create_table(
        "residents",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("created_at", MS, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("erased_at", MS, nullable=True),
    )
    op.create_table(
        "identifier_links",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("key_version", sa.Integer, nullable=False),
        sa.Column("resident_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", MS, nullable=False),
    )
    op.create_index("ix_identifier_links_resident_id", "identifier_links", ["resident_id"])
    op.create_table(
        "consents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("resident_id", sa.String(200), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("projects", sa.Text, nullable=False),
        sa.Column("granted_at", MS, nullable=False),
        sa.Column("expires_at", MS, nullable=True),
        sa.Column("withdrawn_at", MS, nullable=True),
        sa.Column("method", sa.String(32), nullable=False),
    )
    op.create_index("ix_consents_resident_id", "consents", ["resident_id"])
    op.create_table(
        "consent_receipts",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("resident_id", sa.String(200), nullable=False),
        sa.Column("consent_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", MS, nullable=False),
        sa.Column("jws", sa.Text, nullable=False),
    )
    op.create_index("ix_consent_receipts_resident_id", "consent_receipts", ["resident_id"])
    op.create_table(
        "access_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("dataset", sa.String(200), nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("why", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_at", MS, nullable=False),
        sa.Column("decided_at", MS, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("expires_at", MS, nullable=True),
        sa.Column("constraints", sa.Text, nullable=False, server_default="{}"),
    )
    op.create_index("ix_access_requests_consumer", "access_requests", ["consumer"])
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", MS, nullable=False),
        sa.Column("resident_id", sa.String(200), nullable=False),
        sa.Column("consumer", sa.String(200), nullable=False),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("readings", sa.Integer, nullable=False),
    )
    op.create_index("ix_access_log_resident_id", "access_log", ["resident_id"])
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", MS, nullable=False),
        sa.Column("removed", sa.Integer, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    version = op.create_table(
        "rights_version",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("version", MS, nullable=False),
    )
    # The one row exists from the start, so concurrent first changes only update it.
    op.bulk_insert(version, [{"id": 1, "version": 0}])


def downgrade() -> None:
    for table in (
        "rights_version",
        "retention_runs",
        "access_log",
        "access_requests",
        "consent_receipts",
        "consents",
        "identifier_links",
        "residents",
    ):
        op.drop_table(table)
    op.drop_index("readings_by_subject", "readings")
    with op.batch_alter_table("readings") as batch:
        batch.drop_column("subject")
