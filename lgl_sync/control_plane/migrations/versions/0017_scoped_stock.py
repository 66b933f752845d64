"""lgl_stock_reads and retailer_stock_items: what a webhook's inventory run scoped to the SKUs
that changed reads and needs; lgl_discontinued: SKUs LGL no longer sells, told once.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import lgl_discontinued, lgl_stock_reads, retailer_stock_items

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    present = set(sa.inspect(bind).get_table_names())
    for table in (lgl_stock_reads, retailer_stock_items, lgl_discontinued):
        if table.name not in present:
            table.create(bind)
        if bind.dialect.name == "postgresql":
            op.execute(f'ALTER TABLE "{table.name}" ENABLE ROW LEVEL SECURITY')


def downgrade() -> None:
    op.drop_table("lgl_discontinued")
    op.drop_table("retailer_stock_items")
    op.drop_table("lgl_stock_reads")
