"""Decisions keyed to an envelope only if its device signed it.

A stranger's envelope names a real device and sequence number of its choosing.
Its refusal was recorded under that (device, seq), so a worker asking "was this
envelope already decided?" took the genuine envelope, redelivered or
straggling, for decided, and acknowledged it without storing it. From now on
`device_id` and `seq` are set only on decisions of authenticated envelopes,
with `digest` (SHA-256 of the signed envelope bytes) naming which envelope was
decided; a stranger's claim moves to `claimed_device`, keyed to nothing.

Existing decisions refused before the signature was checked (the decode
stage; the authenticate stage's NOT_REGISTERED, BAD_SIGNATURE, KEY_REVOKED,
KEY_EXPIRED; and RATE_LIMITED, which may have come before it) are moved to the
claim. The others were made on authenticated envelopes and get the legacy
digest b"", which matches their (device, seq) alone.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UNAUTHENTICATED = ("NOT_REGISTERED", "BAD_SIGNATURE", "KEY_REVOKED", "KEY_EXPIRED", "RATE_LIMITED")


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("claimed_device", sa.String(200), nullable=True))
        batch.add_column(sa.Column("digest", sa.LargeBinary(), nullable=True))
    d = sa.table(
        "decisions",
        sa.column("device_id", sa.String),
        sa.column("seq", sa.BigInteger),
        sa.column("stage", sa.String),
        sa.column("reason", sa.String),
        sa.column("claimed_device", sa.String),
        sa.column("digest", sa.LargeBinary),
    )
    stranger = sa.or_(
        d.c.stage == "decode",
        sa.and_(d.c.stage == "authenticate", d.c.reason.in_(UNAUTHENTICATED)),
    )
    op.execute(
        d.update().where(stranger).values(claimed_device=d.c.device_id, device_id=None, seq=None)
    )
    op.execute(
        d.update()
        .where(sa.not_(stranger), d.c.device_id.isnot(None))
        .values(digest=sa.literal(b"", sa.LargeBinary))
    )


def downgrade() -> None:
    d = sa.table(
        "decisions",
        sa.column("device_id", sa.String),
        sa.column("claimed_device", sa.String),
    )
    op.execute(d.update().where(d.c.device_id.is_(None)).values(device_id=d.c.claimed_device))
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("digest")
        batch.drop_column("claimed_device")
