"""NGSI-LD: the queryable value of each entity attribute (charter.ngsild.search), filled in
from the stored entities.

Revision ID: 0017_ngsild_values
Revises: 0016_alert_subscriptions (the coordinator may re-chain)
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0017_ngsild_values"
down_revision = "0016_alert_subscriptions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    values = op.create_table(
        "ngsild_attr_values",
        sa.Column("tenant", sa.String(100), primary_key=True),
        sa.Column("entity_id", sa.String(512), primary_key=True),
        sa.Column("attr", sa.String(512), primary_key=True),
        sa.Column("simple", sa.Integer, nullable=False),
        sa.Column("num", sa.Float, nullable=True),
        sa.Column("text", sa.String(256), nullable=True),
        sqlite_with_rowid=False,
    )
    # The entities stored before: their rows, by the rule of charter.store.ngsild.value_rows.
    from charter.store.ngsild import StoredEntity, value_rows

    conn = op.get_bind()
    rows = list(conn.execute(sa.text("SELECT tenant, id, doc FROM ngsild_entities")))
    batch: list[dict[str, object]] = []
    for tenant, entity_id, doc in rows:
        attrs = json.loads(doc).get("attrs") or {}
        batch.extend(value_rows(StoredEntity(tenant, entity_id, [], attrs, 0, 0)))
        if len(batch) >= 5000:
            conn.execute(values.insert(), batch)
            batch = []
    if batch:
        conn.execute(values.insert(), batch)


def downgrade() -> None:
    op.drop_table("ngsild_attr_values")
