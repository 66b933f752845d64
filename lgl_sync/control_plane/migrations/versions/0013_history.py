"""The history reports stand on: order_history, shipment_history, stock_levels and
stock_history (row-level security on Postgres like LGL Sync's other tables), and the retailer's
low-stock and reorder thresholds and usage-report copy address.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import HISTORY_TABLES

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

RETAILER_COLUMNS = (
    ("low_stock_days", sa.Integer, "14"),
    ("reorder_cover_days", sa.Integer, "30"),
    ("usage_copy_to", sa.Text, None),
)


def upgrade() -> None:
    bind = op.get_bind()
    existing = set(sa.inspect(bind).get_table_names())
    for table in HISTORY_TABLES:
        if table.name not in existing:
            table.create(bind)
        if bind.dialect.name == "postgresql":
            op.execute(f'ALTER TABLE "{table.name}" ENABLE ROW LEVEL SECURITY')
    columns = {c["name"] for c in sa.inspect(bind).get_columns("retailers")}
    for name, kind, default in RETAILER_COLUMNS:
        if name not in columns:
            op.add_column("retailers", sa.Column(name, kind, server_default=default))


def downgrade() -> None:
    with op.batch_alter_table("retailers") as batch:
        for name, _, _ in RETAILER_COLUMNS:
            batch.drop_column(name)
    for table in reversed(HISTORY_TABLES):
        op.drop_table(table.name)
