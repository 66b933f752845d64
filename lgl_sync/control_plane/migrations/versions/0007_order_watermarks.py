"""order_watermarks: each retailer's orders read by ``updated_at`` up to a mark.

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
    if "order_watermarks" not in sa.inspect(op.get_bind()).get_table_names():
        order_watermarks.create(op.get_bind())


def downgrade() -> None:
    op.drop_table("order_watermarks")
