"""The first schema.

Revision ID: 0001
Revises:
"""

from alembic import op

from charter.store.migrations import frozen_0001 as schema

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Revision 0001 creates the schema frozen as it was then. Later revisions
    # change it with explicit op.* calls, and a test checks that the head
    # revision matches charter.store.schema.
    schema.metadata.create_all(op.get_bind())


def downgrade() -> None:
    schema.metadata.drop_all(op.get_bind())
