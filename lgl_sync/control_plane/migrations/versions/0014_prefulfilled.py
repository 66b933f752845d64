"""order_links.prefulfilled: {sku: units} fulfilled at the retailer's LGL location before the
order was imported, so a later edit never asks LGL to ship them again.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from lgl_sync.control_plane.tables import JSON

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("order_links")}
    if "prefulfilled" not in columns:
        op.add_column("order_links", sa.Column("prefulfilled", JSON))


def downgrade() -> None:
    with op.batch_alter_table("order_links") as batch:
        batch.drop_column("prefulfilled")
