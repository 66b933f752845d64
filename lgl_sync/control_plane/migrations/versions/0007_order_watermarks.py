"""order_watermarks: each retailer's orders read by ``updated_at`` up to a mark; and
order_links.address_fp, the shipping address an LGL order was given (to apply changes).

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import order_watermarks

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if "order_watermarks" not in inspector.get_table_names():
        order_watermarks.create(op.get_bind())
    if "address_fp" not in {c["name"] for c in inspector.get_columns("order_links")}:
        op.add_column("order_links", sa.Column("address_fp", sa.Text))


def downgrade() -> None:
    op.drop_table("order_watermarks")
    with op.batch_alter_table("order_links") as batch:
        batch.drop_column("address_fp")
