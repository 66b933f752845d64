"""order_links.lines_fp: a digest of the retailer's LGL lines the LGL order was last matched to
(an order edit, a refund or a move is applied, or reported, once per change); and
order_links.reminded: how many held-order reminder steps a person was sent.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    columns = {c["name"] for c in inspector.get_columns("order_links")}
    if "lines_fp" not in columns:
        op.add_column("order_links", sa.Column("lines_fp", sa.Text))
    if "reminded" not in columns:
        op.add_column("order_links", sa.Column("reminded", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("order_links") as batch:
        batch.drop_column("lines_fp")
        batch.drop_column("reminded")
