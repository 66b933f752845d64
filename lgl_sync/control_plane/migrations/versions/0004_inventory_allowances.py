"""inventory_allowances: a one-shot permission to zero many of a retailer's SKUs in one run.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import inventory_allowances

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if "inventory_allowances" not in sa.inspect(op.get_bind()).get_table_names():
        inventory_allowances.create(op.get_bind())


def downgrade() -> None:
    op.drop_table("inventory_allowances")
