"""The first schema.

Revision ID: 0001
Revises:
"""

from alembic import op

from charter.store import schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # At revision 0001 the schema is exactly the metadata. Later revisions
    # change it with explicit op.* calls, and a test checks that the head
    # revision still matches schema.metadata.
    schema.metadata.create_all(op.get_bind())


def downgrade() -> None:
    schema.metadata.drop_all(op.get_bind())
