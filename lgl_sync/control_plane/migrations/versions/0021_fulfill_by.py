"""order_links.fulfill_by and overdue_told_at: orders past the date the retailer must fulfil
them by, with nothing shipped, are told once.

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("order_links")}
    for name in ("fulfill_by", "overdue_told_at"):
        if name not in columns:
            op.add_column("order_links", sa.Column(name, sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("order_links") as batch:
        batch.drop_column("overdue_told_at")
        batch.drop_column("fulfill_by")
