"""Find an envelope's rejection by (device, seq).

A worker asks whether an envelope was already decided for every redelivered
copy and every straggler (`transport/redelivery.py`). Without this index the
rejected side of that question read the whole decisions table, which a flood of
rejections makes as large as the flood.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("decisions_by_envelope", "decisions", ["device_id", "seq"])


def downgrade() -> None:
    op.drop_index("decisions_by_envelope", table_name="decisions")
