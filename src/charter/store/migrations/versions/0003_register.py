"""The public register: consultations, comments (contacts apart) and themes.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consultations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("project_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("opened_at", sa.BigInteger, nullable=False),
        sa.Column("closes_at", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposal", sa.Text, nullable=False),
        sa.Column("changes", sa.Text, nullable=False, server_default=""),
        sa.Column("decided_at", sa.BigInteger, nullable=True),
        sa.Column("why", sa.Text, nullable=False, server_default=""),
    )
    op.create_index("ix_consultations_project_id", "consultations", ["project_id"])
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("consultation_id", sa.Integer, nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("stance", sa.String(16), nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("theme_id", sa.Integer, nullable=True),
        sa.Column("source", sa.String(64), nullable=False),
    )
    op.create_index("ix_comments_consultation_id", "comments", ["consultation_id"])
    op.create_index("comments_by_source", "comments", ["source", "at"])
    op.create_table(
        "comment_contacts",
        sa.Column("comment_id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("contact", sa.String(200), nullable=True),
    )
    op.create_table(
        "themes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("consultation_id", sa.Integer, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("response", sa.Text, nullable=True),
        sa.Column("responded_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_themes_consultation_id", "themes", ["consultation_id"])


def downgrade() -> None:
    for table in ("themes", "comment_contacts", "comments", "consultations"):
        op.drop_table(table)
