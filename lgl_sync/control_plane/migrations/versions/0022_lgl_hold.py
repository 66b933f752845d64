"""order_links.lgl_hold: whether LGL Sync may have put its mirror of a retailer's hold on the
LGL order (NULL: not known, as for rows from before this or rebuilt; the changes flow looks once).
Only such orders are looked at for a hold when their retailer order changes.

Revision ID: 0022
Revises: 0021
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("order_links")}
    if "lgl_hold" not in columns:
        op.add_column("order_links", sa.Column("lgl_hold", sa.Boolean))


def downgrade() -> None:
    with op.batch_alter_table("order_links") as batch:
        batch.drop_column("lgl_hold")
